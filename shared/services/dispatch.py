"""Use case: admit queued jobs to Slurm while fewer than JOB_CONCURRENCY are active.

One dispatcher at a time holds a lease (locks/dispatcher) and submits a whole batch in one SSH round trip.
An invocation that finds the lease taken returns at once; the holder re-checks for work after releasing it, so a
job queued while the lease was held is never left waiting for the next tick.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from shared.domain.callback_auth import job_key
from shared.domain.flows.base import FlowRunner
from shared.domain.job import ACTIVE_STATES, Job, JobState, advance, record_submission
from shared.domain.job_script import ClusterTarget, RenderError, kit_spec, render_job_script
from shared.ports import Cluster, JobRepository, Lease, SlurmSubmission
from shared.structured_log import fields, get

log = get(__name__)
_MAX_ROUNDS = 50


@dataclass(frozen=True)
class ScriptFactory:
    template: str
    kit_source: str
    target: ClusterTarget
    runners: Mapping[str, FlowRunner]
    hook_master_key: Callable[[], str]

    def render(self, job: Job) -> str:
        if job.design is None:
            raise RenderError(f"job {job.id} has no validated design")
        runner = self.runners.get(job.flow or "")
        if runner is None:
            raise RenderError(f"flow {job.flow!r} is not available on this deployment")
        plan = runner.plan(job.design, job.resources)
        spec = kit_spec(job, plan, self.target, job_key(self.hook_master_key(), job.id))
        return render_job_script(self.template, self.kit_source, job, job.resources, spec, self.target)


@dataclass(frozen=True)
class DispatchDeps:
    jobs: JobRepository
    lease: Lease
    cluster: Cluster
    scripts: ScriptFactory
    concurrency: int
    lease_ttl_s: float = 120


@dataclass
class DispatchReport:
    submitted: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    lease_busy: bool = False


def dispatch(deps: DispatchDeps, holder: str, now: Callable[[], datetime]) -> DispatchReport:
    report = DispatchReport()
    for _ in range(_MAX_ROUNDS):
        if not deps.lease.acquire(holder, deps.lease_ttl_s):
            report.lease_busy = True
            return report
        try:
            _admit_while_free(deps, now, report)
        finally:
            deps.lease.release(holder)
        if not _work_waiting(deps):
            return report
    log.warning("dispatcher stopped after many rounds; the next tick continues", extra=fields(rounds=_MAX_ROUNDS))
    return report


def _work_waiting(deps: DispatchDeps) -> bool:
    free = deps.concurrency - deps.jobs.count_in_states(ACTIVE_STATES)
    return free > 0 and bool(deps.jobs.oldest_in_state(JobState.QUEUED, 1))


def _admit_while_free(deps: DispatchDeps, now: Callable[[], datetime], report: DispatchReport) -> None:
    while True:
        free = deps.concurrency - deps.jobs.count_in_states(ACTIVE_STATES)
        if free <= 0:
            return
        batch = deps.jobs.oldest_in_state(JobState.QUEUED, free)
        if not batch:
            return
        submissions = []
        for job in batch:
            try:
                submissions.append(SlurmSubmission(job.id, deps.scripts.render(job)))
            except RenderError as exc:
                _fail(deps, job.id, f"could not prepare the run: {exc}", now(), report)
        result = deps.cluster.submit(submissions)
        for job_id, slurm_id in result.accepted.items():
            deps.jobs.mutate(job_id, lambda j, s=slurm_id: record_submission(j, s, now()))
            report.submitted[job_id] = slurm_id
            log.info("submitted to Slurm", extra=fields(job_id=job_id, slurm_job_id=slurm_id))
        for job_id, error in result.refused.items():
            _fail(deps, job_id, f"Slurm refused the run: {error}", now(), report)
        if len(batch) < free:
            return


def _fail(deps: DispatchDeps, job_id: str, reason: str, at: datetime, report: DispatchReport) -> None:
    deps.jobs.mutate(job_id, lambda j: advance(j, JobState.FAILED, at, reason))
    report.failed[job_id] = reason
    log.error("job failed before reaching Slurm", extra=fields(job_id=job_id, reason=reason))
