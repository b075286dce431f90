"""Use cases: what a user may read about jobs. Owners see their own jobs only; admins see every job."""

from __future__ import annotations

from collections.abc import Callable

from shared.domain.job import Job
from shared.ports import JobRepository

MAX_LIST = 500


class NotFound(LookupError):
    pass


def list_jobs(jobs: JobRepository, caller: str, limit: int = 100) -> list[Job]:
    return jobs.list_for_owner(caller, min(max(limit, 1), MAX_LIST))


def get_job(jobs: JobRepository, caller: str, job_id: str, is_admin: Callable[[str], bool]) -> Job:
    job = jobs.get(job_id)
    # Someone else's job answers exactly like a missing one, so ids cannot be probed.
    if job is None or (job.owner != caller and not is_admin(caller)):
        raise NotFound(job_id)
    return job
