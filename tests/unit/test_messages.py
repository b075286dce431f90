"""The dispatcher's messages: one encode/decode, the wire format messages in flight already use, and the one service
that routes them (including what it does with a message it cannot read)."""

from __future__ import annotations

import base64
import json
import logging
from datetime import timedelta

import pytest

from shared.domain.events import (
    DEAD_LETTER_COUNT,
    DEAD_LETTER_SOURCE,
    DeadLetter,
    EventShapeError,
    PubSubMessage,
    pubsub_message_from_cloudevent,
)
from shared.domain.job import JobState
from shared.domain.messages import Cancel, Message, MessageError, Queued, SlotFreed, Tick, decode, encode
from shared.services.dead_letters import DeadLetterDeps
from shared.services.jobs_topic import JobsTopicDeps, receive
from shared.services.notify import Notifier
from tests.unit.fakes import FakeMailer, FakePublisher
from tests.unit.test_services import SLURM_ID, Completion, Dispatch, queued_job

JOB_ID = "j0123456789abcdef012"
PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"
DEAD = {DEAD_LETTER_SOURCE: "olc-jobs-to-dispatcher", DEAD_LETTER_COUNT: "5"}

EVERY_KIND: list[Message] = [
    Queued(JOB_ID),
    SlotFreed(JOB_ID),
    Cancel(JOB_ID),
    Tick(),
    Tick(at=1796000000.25),
    DeadLetter("m-7", {**DEAD, "kind": "queued"}, {"kind": "queued", "job_id": JOB_ID}),
    DeadLetter("m-8", {**DEAD, "eventType": "OBJECT_FINALIZE"}, {"name": "ada@example.com/spm.tar.gz"}),
    DeadLetter("m-9", dict(DEAD), None),  # its data was not JSON: still a letter, the attributes tell
]


@pytest.mark.parametrize("message", EVERY_KIND, ids=repr)
def test_every_kind_encodes_and_decodes_to_an_equal_value(message: Message) -> None:
    assert decode(encode(message)) == message


@pytest.mark.parametrize("message", EVERY_KIND, ids=repr)
def test_every_kind_survives_a_push_delivery(message: Message) -> None:
    """What the functions receive: the Pub/Sub message, its data base64 inside a CloudEvent."""
    wire = encode(message)
    assert decode(pubsub_message_from_cloudevent(PUBLISHED, push(wire))) == message


@pytest.mark.parametrize(
    ("message", "data", "attributes"),
    [
        (Queued(JOB_ID), {"kind": "queued", "job_id": JOB_ID}, {"kind": "queued"}),
        (SlotFreed(JOB_ID), {"kind": "slot-freed", "job_id": JOB_ID}, {"kind": "slot-freed"}),
        (Cancel(JOB_ID), {"kind": "cancel", "job_id": JOB_ID}, {"kind": "cancel"}),
        (Tick(at=12.5), {"kind": "tick", "at": 12.5}, {"kind": "tick"}),
        (Tick(), {"kind": "tick"}, {"kind": "tick"}),  # what Cloud Scheduler sends (terraform/modules/scheduler)
    ],
)
def test_the_wire_format_is_the_one_messages_in_flight_use(message: Message, data: dict, attributes: dict) -> None:
    wire = encode(message)
    assert (json.loads(wire.data), dict(wire.attributes)) == (data, attributes)
    assert wire.data == json.dumps(data, separators=(",", ":")).encode()
    # Written the old way (spaces, no attribute, unknown extra fields): still read.
    assert decode(PubSubMessage(json.dumps({**data, "sent_by": "v0"}).encode())) == message


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"not json", "not a JSON object"),
        (b"[1, 2]", "not a JSON object"),
        (b"", "not a JSON object"),
        (b"\xff\xfe", "not a JSON object"),
        (b'{"job_id": "j0123456789abcdef012"}', "unknown kind None"),
        (b'{"kind": "explode", "job_id": "j0123456789abcdef012"}', "unknown kind 'explode'"),
        (b'{"kind": "queued"}', "needs a job id"),
        (b'{"kind": "cancel", "job_id": "../etc"}', "needs a job id"),
        (b'{"kind": "cancel", "job_id": "j0123456789abcdef012\\n"}', "needs a job id"),
        (b'{"kind": "tick", "at": "noon"}', "must be a number"),
        (b'{"kind": "tick", "at": true}', "must be a number"),
    ],
)
def test_what_cannot_be_decoded_raises_a_clear_error(data: bytes, error: str) -> None:
    with pytest.raises(MessageError, match=error):
        decode(PubSubMessage(data, {"kind": "queued"}))


def test_a_message_error_is_an_event_shape_error() -> None:
    assert issubclass(MessageError, EventShapeError)


# ------------------------------------------------------------------------------------------------ routing
def push(message: PubSubMessage, message_id: str | None = None) -> dict:
    """A push delivery of `message` as functions-framework hands it on (a messagePublished CloudEvent's data)."""
    encoded = base64.b64encode(message.data).decode()
    message_id = message.message_id if message_id is None else message_id
    body = {"data": encoded, "attributes": dict(message.attributes), "messageId": message_id}
    return {"message": body, "subscription": "projects/p/subscriptions/olc-jobs-to-dispatcher"}


class Letters:
    def __init__(self) -> None:
        self.kept: dict[str, tuple] = {}

    def record(self, key, letter, job_id, at) -> None:
        self.kept[key] = (letter, job_id, at)


class Routing:
    """The dispatcher's dependencies: a queue to admit from and a job running in Slurm."""

    def __init__(self, *waiting) -> None:
        self.dispatch = Dispatch(*waiting)
        self.completion = Completion(JobState.RUNNING)
        self.letters = Letters()
        jobs = self.completion.jobs
        self.deps = JobsTopicDeps(
            dispatch=self.dispatch.deps,
            completion=self.completion.deps,
            dead_letters=DeadLetterDeps(self.letters, jobs, Notifier(jobs, FakeMailer(), "results")),
            reconcile_after_s=600,
        )

    def receive(self, data: object, event_type: str = PUBLISHED) -> Message | None:
        return receive(event_type, data, "event-1", self.deps, self.completion.clock)


def test_an_undecodable_message_is_logged_at_error_with_its_id_and_does_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    job = queued_job(1)
    routing = Routing(job)
    assert routing.receive(push(PubSubMessage(b"\x00 garbage"), message_id="8123")) is None
    (record,) = [r for r in caplog.records if r.name == "shared.services.jobs_topic"]
    assert record.levelno == logging.ERROR
    assert record.fields["message_id"] == "8123"
    assert "not a JSON object" in record.fields["error"]
    # Nothing was read as a trigger: no dispatch round, no scancel.
    assert routing.dispatch.lease.acquired == 0 and routing.dispatch.state(job) is JobState.QUEUED
    assert routing.completion.cluster.cancelled == []


def test_a_delivery_that_is_no_pubsub_message_is_logged_with_the_event_id(caplog: pytest.LogCaptureFixture) -> None:
    routing = Routing()
    assert routing.receive({"bucket": "designs"}, "google.cloud.storage.object.v1.finalized") is None
    (record,) = [r for r in caplog.records if r.name == "shared.services.jobs_topic"]
    assert record.levelno == logging.ERROR and record.fields["message_id"] == "event-1"


@pytest.mark.parametrize("message", [Queued(JOB_ID), SlotFreed(JOB_ID), Tick()], ids=repr)
def test_queued_slot_freed_and_tick_admit_what_fits(message: Message) -> None:
    job = queued_job(1)
    routing = Routing(job)
    assert routing.receive(push(encode(message))) == message
    assert routing.dispatch.state(job) is JobState.SUBMITTED


def test_a_tick_first_repairs_lost_ends_then_admits() -> None:
    waiting = queued_job(1)
    routing = Routing(waiting)
    completion = routing.completion
    completion.clock.advance(timedelta(hours=1).total_seconds())  # quiet for longer than reconcile_after_s
    completion.cluster.states[SLURM_ID] = ["CANCELLED"]
    routing.receive(push(encode(Tick())))
    assert completion.stored().state is JobState.CANCELLED
    assert routing.dispatch.lease.acquired >= 1 and routing.dispatch.state(waiting) is JobState.SUBMITTED


def test_cancel_scancels_the_run_and_admits_nothing() -> None:
    waiting = queued_job(5)
    routing = Routing(waiting)
    running = routing.completion.job
    routing.receive(push(encode(Cancel(running.id))))
    assert routing.completion.cluster.cancelled == [SLURM_ID]
    assert routing.dispatch.lease.acquired == 0 and routing.dispatch.state(waiting) is JobState.QUEUED


def test_a_dead_letter_is_recorded_on_its_job() -> None:
    routing = Routing()
    running = routing.completion.job
    letter = DeadLetter("", {**DEAD, "kind": "slot-freed"}, {"kind": "slot-freed", "job_id": running.id})
    assert routing.receive(push(encode(letter), message_id="m-42")) == DeadLetter(
        "m-42", letter.attributes, letter.data
    )
    assert routing.letters.kept["m-42"][1] == running.id
    assert "'slot-freed' message" in routing.completion.stored().last_error
    assert routing.dispatch.lease.acquired == 0


def test_publishers_send_the_typed_message_on_the_wire() -> None:
    publisher = FakePublisher()
    publisher.publish("olc-jobs", Cancel(JOB_ID))
    assert publisher.messages == [("olc-jobs", {"kind": "cancel", "job_id": JOB_ID}, {"kind": "cancel"})]
