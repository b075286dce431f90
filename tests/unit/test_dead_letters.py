"""Dead-lettered messages: recognised, recorded, and made visible on the job or as a REJECTED upload."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from shared.domain.events import DeadLetter, EventShapeError, pubsub_message_from_cloudevent
from shared.domain.job import JobState, SourceObject
from shared.domain.messages import decode
from shared.domain.upload import job_id_for
from shared.services.dead_letters import record_dead_letter
from shared.services.notify import Notifier
from tests.unit.fakes import FakeJobs, FakeMailer
from tests.unit.test_services import queued_job

NOW = datetime(2026, 11, 25, tzinfo=UTC)
PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"


class Letters:
    def __init__(self) -> None:
        self.kept: dict[str, tuple] = {}

    def record(self, key, letter, job_id, at) -> None:
        self.kept[key] = (letter, job_id, at)


def dead_letter_from_cloudevent(event_type: str, data: dict) -> DeadLetter | None:
    """The dead letter a delivery carries, read the one way every message is (None: anything else)."""
    try:
        message = decode(pubsub_message_from_cloudevent(event_type, data))
    except EventShapeError:
        return None
    return message if isinstance(message, DeadLetter) else None


def push(data: dict, attributes: dict, message_id: str = "m1") -> dict:
    encoded = base64.b64encode(json.dumps(data).encode()).decode()
    return {"message": {"data": encoded, "attributes": attributes, "messageId": message_id}, "subscription": "s"}


DEAD = {
    "CloudPubSubDeadLetterSourceSubscription": "olc-jobs-to-dispatcher",
    "CloudPubSubDeadLetterSourceDeliveryCount": "5",
}


def test_ordinary_messages_are_not_dead_letters():
    assert dead_letter_from_cloudevent(PUBLISHED, push({"kind": "tick"}, {"kind": "tick"})) is None
    assert dead_letter_from_cloudevent("google.cloud.storage.object.v1.finalized", {"bucket": "b"}) is None


def test_a_dead_letter_about_a_job_is_recorded_and_shown_on_the_job():
    job = queued_job(1)
    jobs, letters = FakeJobs(job), Letters()
    letter = dead_letter_from_cloudevent(PUBLISHED, push({"kind": "queued", "job_id": job.id}, {**DEAD}))
    assert letter is not None and letter.delivery_attempts == 5
    assert record_dead_letter(letter, letters, jobs, Notifier(jobs, FakeMailer(), "r"), lambda: NOW) == job.id
    assert letters.kept["m1"][1] == job.id
    stored = jobs.get(job.id)
    assert (
        stored.state is JobState.QUEUED
        and "'queued' message" in stored.last_error
        and "5 attempts" in stored.last_error
    )


def test_a_dead_lettered_upload_event_becomes_a_rejected_job_and_a_mail():
    source = SourceObject("designs", "ada@example.com/spm.tar.gz", 7)
    attributes = {
        **DEAD,
        "eventType": "OBJECT_FINALIZE",
        "bucketId": source.bucket,
        "objectId": source.name,
        "objectGeneration": "7",
    }
    jobs, letters, mailer = FakeJobs(), Letters(), FakeMailer()
    letter = dead_letter_from_cloudevent(PUBLISHED, push({"name": source.name}, attributes))
    record_dead_letter(letter, letters, jobs, Notifier(jobs, mailer, "r"), lambda: NOW)
    job = jobs.get(job_id_for(source))
    assert job.state is JobState.REJECTED and job.owner == "ada@example.com"
    assert "upload it again" in job.reason
    assert len(mailer.sent) == 1
    # The same dead letter again changes nothing and mails nobody twice.
    record_dead_letter(letter, letters, jobs, Notifier(jobs, mailer, "r"), lambda: NOW)
    assert len(mailer.sent) == 1
