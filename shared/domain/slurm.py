"""What the cluster is told and what it answers, as values: a submission, a job's status, a batch's result.

The Cluster port (shared/ports.py) speaks in these; the SSH/Slurm adapter makes them from Slurm's output."""

from __future__ import annotations

from dataclasses import dataclass


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


@dataclass(frozen=True)
class SubmitResult:
    accepted: dict[str, str]  # job id -> Slurm job id (new, or found already submitted)
    refused: dict[str, str]  # job id -> Slurm's error message
