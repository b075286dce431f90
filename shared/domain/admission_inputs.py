"""What the dispatcher reads of each job to plan an admission, and no more: an active job's load (the runs it may
have in Slurm at once and the core-hours reserved for them until their real usage is counted) and a waiting job's
queue entry. Every round reads every active and every waiting job, so a job store reads only the fields these come
from (RUN_LOAD_FIELDS, QUEUE_ENTRY_FIELDS), not whole jobs with their history, stages and log tails; the few jobs a
round admits are then read whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.domain.job import Job, max_core_hours
from shared.domain.quota import WaitingJob
from shared.domain.sweeps import runs as sweep_runs

# job_codec.job_from_dict needs id, source, state and created_at to build a Job at all.
ANY_JOB_FIELDS = ("id", "owner", "source", "state", "created_at")
RUN_LOAD_FIELDS = (*ANY_JOB_FIELDS, "resources", "design", "runs", "array_throttle")
QUEUE_ENTRY_FIELDS = (*ANY_JOB_FIELDS, "resources", "design", "queue_position", "estimated_start_at")


@dataclass(frozen=True)
class RunLoad:
    owner: str
    slots: int
    reserved_core_hours: float


def run_load(job: Job) -> RunLoad:
    return RunLoad(
        owner=job.owner,
        slots=sweep_runs.slots(job),
        reserved_core_hours=sweep_runs.run_count(job) * max_core_hours(job.resources),
    )


@dataclass(frozen=True)
class QueueEntry:
    """A waiting job as admission sees it, with the queue position and estimated start it was last shown."""

    waiting: WaitingJob
    queue_position: int | None
    estimated_start_at: datetime | None

    @property
    def job_id(self) -> str:
        return self.waiting.job_id


def queue_entry(job: Job) -> QueueEntry:
    runs = sweep_runs.run_count(job)
    waiting = WaitingJob(job.id, job.owner, job.created_at, runs * max_core_hours(job.resources), slots=runs)
    return QueueEntry(waiting, job.queue_position, job.estimated_start_at)
