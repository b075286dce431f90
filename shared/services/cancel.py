"""Use case: a user cancels a job.

Jobs that have not reached Slurm (FETCHING, QUEUED) end at once. For jobs in Slurm the request goes to the
dispatcher over the jobs topic (so the public API never holds the cluster's SSH key); it runs `scancel`, and the job
ends as CANCELLED when Slurm confirms (through the epilog and the completion hook, or the reconciler for a job
cancelled while pending, which runs no epilog). Cancelling a finished job changes nothing and says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from shared.domain.job import ACTIVE_STATES, JobState, advance
from shared.domain.messages import Cancel
from shared.domain.sweeps import runs as sweep_runs
from shared.ports import Cluster, JobRepository, MessagePublisher, QuotaStore
from shared.services.notify import Notifier
from shared.services.queries import NotFound
from shared.structured_log import fields, get

log = get(__name__)
CANCELLED_BY_OWNER = "cancelled by its owner"


@dataclass(frozen=True)
class CancelDeps:
    jobs: JobRepository
    publisher: MessagePublisher
    jobs_topic: str
    quotas: QuotaStore
    notifier: Notifier


@dataclass(frozen=True)
class CancelResult:
    job_id: str
    state: str
    message: str


def cancel_job(deps: CancelDeps, caller: str, job_id: str, now: Callable[[], datetime]) -> CancelResult:
    job = deps.jobs.get(job_id)
    if job is None or (job.owner != caller and not deps.quotas.is_admin(caller)):
        raise NotFound(job_id)
    if job.state.is_terminal:
        return CancelResult(job.id, job.state.value, f"job already ended as {job.state.value}; nothing to cancel")
    if job.state in (JobState.FETCHING, JobState.QUEUED):
        updated = deps.jobs.mutate(job_id, lambda j: advance(j, JobState.CANCELLED, now(), CANCELLED_BY_OWNER))
        if updated is not None and updated.state is JobState.CANCELLED:
            log.info("cancelled while queued", extra=fields(job_id=job_id, by=caller))
            deps.notifier.job_ended(updated)
            return CancelResult(job.id, updated.state.value, "cancelled before it started")
        job = updated or job  # the dispatcher submitted it meanwhile: cancel it in Slurm below
    if job.state in ACTIVE_STATES:
        deps.publisher.publish(deps.jobs_topic, Cancel(job_id))
        log.info("cancel requested", extra=fields(job_id=job_id, slurm_job_id=job.slurm_job_id, by=caller))
        return CancelResult(job.id, job.state.value, "stopping: the run is being cancelled in Slurm")
    return CancelResult(job.id, job.state.value, f"job is {job.state.value}; try again in a moment")


def stop_in_slurm(jobs: JobRepository, cluster: Cluster, job_id: str) -> bool:
    """The dispatcher's half of a cancel: scancel the job's run if it is still active. Idempotent."""
    job = jobs.get(job_id)
    if job is None or job.state not in ACTIVE_STATES or not job.slurm_job_id:
        return False
    cluster.cancel([job.slurm_job_id])
    log.info("scancel sent", extra=fields(job_id=job_id, slurm_job_id=job.slurm_job_id))
    if job.is_sweep:
        # scancel of the array removes its waiting tasks, which never start and so never report.
        jobs.mutate(job_id, sweep_runs.cancel_waiting_runs)
    return True
