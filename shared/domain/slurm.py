"""What the cluster is told and what it answers, as values: a submission, a job's status, a batch's result.

The Cluster port (shared/ports.py) speaks in these; the SSH/Slurm adapter makes them from Slurm's output."""

from __future__ import annotations

from dataclasses import dataclass, replace

# Slurm's Reason for a batch job whose launch on its node failed: Slurm requeues it held, and a held job never
# starts again until it is released (`scontrol release`).
LAUNCH_FAILED_HELD = "launch_failed_requeued_held"
# After this many launches Slurm could not complete, the run is given up: LAUNCH_FAILED is the final state it is
# then decided from (shared/domain/outcome.py).
MAX_LAUNCHES = 3
LAUNCH_FAILED = "LAUNCH_FAILED"


@dataclass(frozen=True)
class SlurmSubmission:
    job_id: str
    script: str
    batch: int = 0  # a search's batch: its own Slurm job (slurm_job_name)


@dataclass(frozen=True)
class SlurmJobStatus:
    slurm_job_id: str
    state: str  # Slurm's JobState, e.g. COMPLETED, FAILED, CANCELLED, TIMEOUT, COMPLETING, RUNNING
    exit_code: str | None = None  # "exit:signal"
    reason: str | None = None
    elapsed_s: float | None = None
    cpus: int | None = None
    array_task_id: int | None = None  # a job array's task: which run of a sweep this is
    array_job_id: str | None = None  # a job array's task: the array it belongs to (the id sbatch answered)
    restarts: int = 0  # how often Slurm requeued the job (e.g. after a failed launch)

    @property
    def held_after_failed_launch(self) -> bool:
        return self.state == "PENDING" and self.reason == LAUNCH_FAILED_HELD


def to_release(statuses: list[SlurmJobStatus]) -> list[str]:
    """The jobs Slurm holds after a failed launch that get another try."""
    return [s.slurm_job_id for s in statuses if s.held_after_failed_launch and s.restarts < MAX_LAUNCHES]


def given_up(status: SlurmJobStatus) -> SlurmJobStatus:
    """`status`, final (LAUNCH_FAILED) when Slurm holds the job after its last allowed failed launch."""
    if status.held_after_failed_launch and status.restarts >= MAX_LAUNCHES:
        return replace(status, state=LAUNCH_FAILED)
    return status


@dataclass(frozen=True)
class SubmitResult:
    accepted: dict[str, str]  # job id -> Slurm job id (new, or found already submitted)
    refused: dict[str, str]  # job id -> Slurm's error message
