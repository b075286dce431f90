"""Use case: compare the caller's own jobs and sweep runs side by side (shared/domain/compare.py draws the table)."""

from __future__ import annotations

from collections.abc import Sequence

from shared.domain.compare import Comparison, EntryRef, compare, entry_for
from shared.domain.job import Job
from shared.ports import JobRepository
from shared.services.queries import get_job


def _nobody_else(_caller: str) -> bool:
    return False


def compare_runs(jobs: JobRepository, caller: str, refs: Sequence[EntryRef]) -> Comparison:
    """The comparison of `refs` (the first is the reference), each read once through the repository.

    Only the caller's own jobs, admins included: a job of someone else's answers queries.NotFound exactly like a
    missing one, before anything is said about any job's runs. A run the caller's job does not have raises
    compare.NoSuchRun.
    """
    loaded: dict[str, Job] = {}
    for ref in refs:
        if ref.job_id not in loaded:
            loaded[ref.job_id] = get_job(jobs, caller, ref.job_id, is_admin=_nobody_else)
    return compare([entry_for(loaded[ref.job_id], ref.run) for ref in refs])
