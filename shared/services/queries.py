"""Use cases: what a user may read about jobs. Owners see their own jobs only; admins see every job."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shared.domain.job import Job, JobState
from shared.domain.paging import PageCursor
from shared.ports import JobRepository

MAX_LIST = 500


class NotFound(LookupError):
    pass


@dataclass(frozen=True)
class JobPage:
    jobs: list[Job]
    next_cursor: str | None  # None: this was the last page


def list_jobs(
    jobs: JobRepository,
    caller: str,
    limit: int = 100,
    states: Sequence[JobState] = (),
    cursor: str | None = None,
    *,
    design: str | None = None,
) -> JobPage:
    """The caller's jobs newest first, a page at a time; only those in `states`, and of design `design`, if given."""
    limit = min(max(limit, 1), MAX_LIST)
    before = PageCursor.decode(cursor).created_at if cursor else None
    # One more than asked tells whether another page exists without a second query.
    found = jobs.list_for_owner(caller, limit + 1, states=states, before=before, design=design)
    page = found[:limit]
    more = len(found) > limit
    return JobPage(page, PageCursor(page[-1].created_at).encode() if more else None)


def get_job(jobs: JobRepository, caller: str, job_id: str, is_admin: Callable[[str], bool]) -> Job:
    job = jobs.get(job_id)
    # Someone else's job answers exactly like a missing one, so ids cannot be probed.
    if job is None or (job.owner != caller and not is_admin(caller)):
        raise NotFound(job_id)
    return job
