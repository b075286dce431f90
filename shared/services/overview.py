"""Use case: the public picture of the queue — how busy it is and how long jobs wait. No personal data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from statistics import median

from shared.domain.job import JobState
from shared.ports import JobRepository

SAMPLE = 100
_ENDED = (JobState.SUCCEEDED, JobState.FAILED, JobState.TIMEOUT, JobState.CANCELLED)


@dataclass(frozen=True)
class QueueOverview:
    at: datetime
    queued: int
    submitted: int
    running: int
    median_wait_s: float | None  # upload to Slurm, over the latest finished jobs
    p90_wait_s: float | None
    median_run_s: float | None
    sample_size: int


def queue_overview(jobs: JobRepository, now: datetime) -> QueueOverview:
    waits, runs = [], []
    for job in jobs.recent_in_states(_ENDED, SAMPLE):
        submitted, started = job.entered_at(JobState.SUBMITTED), job.entered_at(JobState.RUNNING)
        ended = job.entered_at(job.state)
        if submitted:
            waits.append((submitted - job.created_at).total_seconds())
        if started and ended:
            runs.append((ended - started).total_seconds())
    waits.sort()
    return QueueOverview(
        at=now,
        queued=jobs.count_in_state(JobState.QUEUED),
        submitted=jobs.count_in_state(JobState.SUBMITTED),
        running=jobs.count_in_state(JobState.RUNNING),
        median_wait_s=round(median(waits), 1) if waits else None,
        p90_wait_s=round(waits[int(0.9 * (len(waits) - 1))], 1) if waits else None,
        median_run_s=round(median(runs), 1) if runs else None,
        sample_size=len(waits),
    )
