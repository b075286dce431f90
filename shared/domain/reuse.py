"""A queued job whose content key matches a job that succeeded ends at once with that job's results instead of running.

The results themselves are copied to the new job's own prefix first (shared/services/ingest.py), so the new job's
links point at its own files and deleting the original loses nothing of it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from shared.domain.job import Job, JobState, advance


def reused_reason(original_id: str) -> str:
    return f"same inputs as job {original_id}: results reused"


def may_reuse(original: Job, owner: str, across_users: bool) -> bool:
    """Only a run that succeeded, with results to copy; another user's only where the deployment widened reuse."""
    return (
        original.state is JobState.SUCCEEDED
        and original.results_prefix is not None
        and (across_users or original.owner == owner)
    )


def reuse_results(job: Job, original: Job, at: datetime) -> Job:
    """`job` (QUEUED, with its own results prefix) ended SUCCEEDED with `original`'s figures and links, moved to its
    own prefix. It used no cluster time: core-hours 0."""
    old, new = original.results_prefix or "", job.results_prefix or ""

    def moved(uri: str) -> str:
        return uri.replace(old, new, 1) if old and old in uri else uri

    runs = tuple(
        replace(run, slurm_job_id=None, links={kind: moved(uri) for kind, uri in run.links.items()})
        for run in original.runs
    )
    ended = advance(
        job,
        JobState.SUCCEEDED,
        at,
        reused_reason(original.id),
        reused_from=original.id,
        metrics=original.metrics,
        artifacts={kind: moved(uri) for kind, uri in original.artifacts.items()},
        runs=runs,
        warnings=original.warnings,
        flow_runtime_s=original.flow_runtime_s,
        core_hours=0.0,
        stage=original.stage,
        array_throttle=original.array_throttle,
    )
    assert ended is not None  # a QUEUED job always moves to a terminal state
    return ended
