"""What the reconciler reads of each quiet active job to decide whether to look closer, and no more.

Every pass reads every active job that has been quiet for a while: with a thousand runs at once, hundreds of them
sit pending in Slurm and stay quiet for as long as they wait. Reading those whole on every tick (history, stages, log
tails) was most of a pass, so a job store reads only the fields a QuietJob comes from (QUIET_JOB_FIELDS), Slurm is
asked about all of them at once, and only the jobs it says are over (and sweeps, whose runs need the whole job to
judge) are read whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.domain.admission_inputs import ANY_JOB_FIELDS
from shared.domain.job import Job, JobState

QUIET_JOB_FIELDS = (*ANY_JOB_FIELDS, "history", "slurm_job_id", "design")


@dataclass(frozen=True)
class QuietJob:
    job_id: str
    slurm_job_id: str | None
    is_sweep: bool
    changed_at: datetime  # its last state change (the job document's updated_at)
    running_since: datetime | None = None  # when its run reported that it started, if it did

    def ended_at(self, elapsed_s: float | None) -> datetime | None:
        """When its run ended, from how long Slurm says it ran (our clock, not the cluster's: no time zones)."""
        if self.running_since is None or elapsed_s is None:
            return None
        return self.running_since + timedelta(seconds=elapsed_s)


def quiet_job(job: Job) -> QuietJob:
    return QuietJob(job.id, job.slurm_job_id, job.is_sweep, job.changed_at, job.entered_at(JobState.RUNNING))
