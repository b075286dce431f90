"""Use case: a single job's run has ended (its end report from the epilog, or the reconciler finding it over).

Slurm's final state and the run's manifest decide how (run_end.read_run_end); the job records it with its metrics
and links, the owner is e-mailed and the slot is freed. Idempotent: a repeated or late call changes nothing once the
job is final.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from shared.domain.flows.base import FlowPlan, FlowRunner
from shared.domain.job import Job, JobState, advance
from shared.domain.messages import SlotFreed
from shared.domain.outcome import RunManifest
from shared.domain.slurm import SlurmJobStatus
from shared.services.completion.run_end import (
    CompletionDeps,
    Reply,
    missing_metric_warnings,
    quick_links,
    read_metrics,
    read_run_end,
)
from shared.structured_log import fields, get

log = get(__name__)


def finish_job(
    job_id: str,
    slurm_job_id: str,
    deps: CompletionDeps,
    now: Callable[[], datetime],
    cluster_ended_at: datetime | None = None,
    known_status: SlurmJobStatus | None = None,
    job: Job | None = None,
) -> Reply:
    """Decide and record how the run ended, e-mail the owner and free the slot. Also the reconciler's path, with
    Slurm's record of the job as `known_status`. `job`: the job as the caller just read it (else it is read here);
    the end itself is recorded on the stored job."""
    job = job or deps.jobs.get(job_id)
    if job is None:
        return Reply(404, "no such job")
    if job.state.is_terminal:
        deps.notifier.job_ended(job)  # a no-op unless an earlier call recorded the end but died before mailing
        return Reply(200, f"already {job.state.value}")
    end = read_run_end(job, deps, prefix=job.results_prefix, status=known_status, slurm_job_id=slurm_job_id)
    if end is None:
        return Reply(503, "Slurm has not finished the job yet; retry")
    outcome, status, manifest = end.outcome, end.status, end.manifest
    runner, plan = _runner_and_plan(job, deps)
    metrics = read_metrics(manifest, runner, plan, deps, job.results_prefix)
    artifacts = quick_links(manifest, plan, deps, job.results_prefix)
    warnings = missing_metric_warnings(plan, metrics) if outcome.state is JobState.SUCCEEDED else ()
    ended_at = now()
    core_hours = _core_hours(job, status, manifest)
    applied: list[Job] = []

    def change(current: Job) -> Job | None:
        moved = advance(
            current,
            outcome.state,
            ended_at,
            outcome.reason,
            slurm_job_id=current.slurm_job_id or slurm_job_id,
            metrics=metrics,
            artifacts=artifacts,
            error_excerpt=manifest.error_excerpt if manifest and outcome.state is not JobState.SUCCEEDED else None,
            flow_runtime_s=manifest.runtime_s if manifest else None,
            stage=(manifest.failed_stage or manifest.stage_reached) if manifest else current.stage,
            cluster_ended_at=cluster_ended_at,
            core_hours=core_hours,
            warnings=warnings,
        )
        applied[:] = [moved] if moved else []
        return moved

    final = deps.jobs.mutate(job_id, change)
    if final is None:
        return Reply(404, "no such job")
    if applied and core_hours:
        # Only the call that recorded the end counts the usage, so a repeated call cannot count it twice.
        deps.quotas.add_usage(final.owner, ended_at.strftime("%Y-%m"), core_hours)
    # run_s feeds the log-based metric <prefix>/run_time (terraform/modules/monitoring): Slurm's elapsed time, else
    # the flow's own runtime from the manifest.
    run_s = status.elapsed_s if status and status.elapsed_s is not None else (manifest.runtime_s if manifest else None)
    log.info(
        "job ended",
        extra=fields(state=final.state.value, reason=final.reason, slurm_job_id=slurm_job_id, run_s=run_s),
    )
    deps.notifier.job_ended(final)
    if applied:
        deps.publisher.publish(deps.jobs_topic, SlotFreed(job_id))
    return Reply(200, final.state.value)


def _core_hours(job: Job, status: SlurmJobStatus | None, manifest: RunManifest | None) -> float | None:
    """Actual usage: Slurm's elapsed time x allocated CPUs; the manifest's runtime when Slurm forgot the job."""
    if status and status.elapsed_s is not None:
        return round(status.elapsed_s * (status.cpus or job.resources.cpus) / 3600, 6)
    if manifest and manifest.runtime_s is not None:
        return round(manifest.runtime_s * job.resources.cpus / 3600, 6)
    return None


def _runner_and_plan(job: Job, deps: CompletionDeps) -> tuple[FlowRunner | None, FlowPlan | None]:
    """The plan the run was rendered from (plans are pure, so re-deriving it gives the same files)."""
    runner = deps.runners.get(job.flow or "")
    if runner is None or job.design is None:
        return runner, None
    return runner, runner.plan(job.design, job.resources)
