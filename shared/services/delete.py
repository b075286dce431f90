"""Use case: a user deletes a finished job — its results and its record. Their upload stays (it is theirs).

Deleting is final, so the caller must confirm by repeating the job id; active jobs must be cancelled first.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain.job import Job
from shared.ports import JobRepository, ResultsStore
from shared.structured_log import fields, get

log = get(__name__)


class NeedsConfirmation(ValueError):
    pass


class StillActive(RuntimeError):
    pass


@dataclass(frozen=True)
class DeleteDeps:
    jobs: JobRepository
    store: ResultsStore
    results_bucket: str


@dataclass(frozen=True)
class Deleted:
    job_id: str
    objects_removed: int


def delete_job(deps: DeleteDeps, job: Job, confirm: str | None, caller: str) -> Deleted:
    if confirm != job.id:
        raise NeedsConfirmation(f"deleting removes the results for good: repeat the job id as confirm={job.id}")
    if not job.state.is_terminal:
        raise StillActive(f"job {job.id} is {job.state.value}: cancel it first, then delete it")
    removed = deps.store.delete_prefix(deps.results_bucket, job.results_prefix) if job.results_prefix else 0
    deps.jobs.delete(job.id)
    log.info("job deleted", extra=fields(job_id=job.id, by=caller, objects_removed=removed))
    return Deleted(job.id, removed)
