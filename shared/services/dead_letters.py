"""Use case: a message Pub/Sub could not deliver reached the dead-letter topic. Record it and make it visible.

Recording needs only Firestore, so it works while the cause (cluster, storage) is still broken. A dead-lettered
upload event whose job was never written becomes a REJECTED job telling the owner to upload again, so no upload
goes unanswered; a message about an existing job leaves the reason on that job.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from shared.domain.events import DeadLetter
from shared.domain.job import Job, JobState, advance, new_job
from shared.domain.upload import JOB_ID_PATTERN, UploadNameError, job_id_for, job_named_by, owner_of
from shared.ports import DeadLetterStore, JobRepository
from shared.services.notify import Notifier
from shared.structured_log import fields, get

log = get(__name__)


@dataclass(frozen=True)
class DeadLetterDeps:
    store: DeadLetterStore
    jobs: JobRepository
    notifier: Notifier


def record_dead_letter(
    letter: DeadLetter, store: DeadLetterStore, jobs: JobRepository, notifier: Notifier, now: Callable[[], datetime]
) -> str | None:
    """Returns the id of the job the letter concerns, if any."""
    key = letter.message_id or hashlib.sha256(repr(sorted(letter.attributes.items())).encode()).hexdigest()[:20]
    job_id = _job_id(letter)
    store.record(key, letter, job_id, now())
    log.error(
        "message dead-lettered",
        extra=fields(
            job_id=job_id,
            source_subscription=letter.source_subscription,
            delivery_attempts=letter.delivery_attempts,
            message_id=letter.message_id,
            data_is_json=letter.data is not None,
        ),
    )
    if job_id is None:
        return None
    reason = (
        f"a '{_field(letter, 'kind') or letter.attributes.get('eventType') or 'message'}' message for this job could "
        f"not be processed after {letter.delivery_attempts} attempts; operators have been alerted"
    )
    if jobs.get(job_id) is None and letter.upload is not None:
        _reject_unprocessed_upload(letter, job_id, jobs, notifier, now())
    else:
        at = now()
        ended = jobs.mutate(job_id, lambda j: _show_on_job(j, reason, at))
        if ended is not None and ended.state is JobState.REJECTED:
            notifier.job_ended(ended)
    return job_id


def _show_on_job(job: Job, reason: str, at: datetime) -> Job | None:
    """A git submission whose design could not be fetched ends REJECTED (nothing else would move it on); any other
    job that has not ended shows the reason and carries on."""
    if job.state is JobState.FETCHING:
        return advance(job, JobState.REJECTED, at, f"the design could not be fetched: {reason}")
    return None if job.state.is_terminal else replace(job, last_error=reason)


def _job_id(letter: DeadLetter) -> str | None:
    if letter.upload is not None:
        return job_named_by(letter.upload.name) or job_id_for(letter.upload)
    named = _field(letter, "job_id")
    return named if JOB_ID_PATTERN.match(named) else None


def _field(letter: DeadLetter, name: str) -> str:
    """A field of the original message, or "" (also when its data was not JSON: the attributes still tell)."""
    return str(letter.data.get(name) or "") if letter.data is not None else ""


def _reject_unprocessed_upload(
    letter: DeadLetter, job_id: str, jobs: JobRepository, notifier: Notifier, at: datetime
) -> None:
    assert letter.upload is not None
    try:
        owner = owner_of(letter.upload.name)
    except UploadNameError:
        owner = ""
    reason = (
        f"your upload could not be processed ({letter.delivery_attempts} attempts failed); it is kept unchanged: "
        "please upload it again, and operators have been alerted"
    )
    job = new_job(job_id=job_id, owner=owner, source=letter.upload, at=at, rejected_reason=reason)
    if jobs.create(job):
        notifier.job_ended(job)
