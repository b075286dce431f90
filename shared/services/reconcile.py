"""Use case: repair jobs whose end was never reported.

Callbacks can be lost (hook down longer than the sender retries, a drained node), and Slurm runs no epilog at all
for a job cancelled while pending. On each tick the reconciler takes the active jobs that have not changed for a
while, asks Slurm about all of them in one query, and finishes those Slurm says are over through the same code
path as the completion hook. Bounded work per tick.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.domain.job import ACTIVE_STATES, Job
from shared.domain.outcome import is_final_slurm_state
from shared.services.complete import CompletionDeps, finish_job
from shared.structured_log import fields, get

log = get(__name__)


@dataclass
class ReconcileReport:
    checked: int = 0
    repaired: dict[str, str] = field(default_factory=dict)


def reconcile(
    deps: CompletionDeps, now: Callable[[], datetime], quiet_for_s: float, max_jobs: int = 100
) -> ReconcileReport:
    report = ReconcileReport()
    cutoff = now() - timedelta(seconds=quiet_for_s)
    stale = sorted(
        # A sweep's runs are array tasks that report one by one; Slurm's view of a whole array is not one job's
        # (see docs/architecture.md, "Sweeps"), so the single-run repair below does not apply to them.
        (
            j
            for j in deps.jobs.in_states(ACTIVE_STATES)
            if j.slurm_job_id and not j.is_sweep and _last_change(j) < cutoff
        ),
        key=_last_change,
    )[:max_jobs]
    if not stale:
        return report
    statuses = deps.cluster.status([j.slurm_job_id for j in stale if j.slurm_job_id])
    report.checked = len(stale)
    for job in stale:
        assert job.slurm_job_id is not None
        status = statuses.get(job.slurm_job_id)
        if status is not None and not is_final_slurm_state(status.state):
            continue  # still pending or running: nothing was lost
        reply = finish_job(job.id, job.slurm_job_id, deps, now, known_status=status)
        if reply.message.startswith("already"):
            continue  # the end report arrived while we looked: nothing was lost
        report.repaired[job.id] = reply.message
        log.warning(
            "reconciled a job whose end was not reported",
            extra=fields(
                job_id=job.id, slurm_state=status.state if status else "unknown to Slurm", result=reply.message
            ),
        )
    return report


def _last_change(job: Job) -> datetime:
    return job.history[-1].at if job.history else job.created_at
