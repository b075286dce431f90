"""Use case: the cluster reports on a run — a stage started or is still running with the tail of its log (from the
job kit), or the job ended (from the epilog).

The epilog cannot tell success, cancel and timeout apart, so the end is decided from Slurm's final state and the
run's manifest together (shared/domain/outcome.py). Everything here is idempotent: a repeated or late call changes
nothing once the job is final.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.domain.callback_auth import (
    MAX_SKEW_S,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    CallbackAuthError,
    job_key,
    verify,
)
from shared.domain.flows.base import FlowPlan, FlowRunner
from shared.domain.job import Job, JobState, StepReport, advance, record_stage
from shared.domain.outcome import RunManifest, decide_outcome
from shared.domain.slurm import SlurmJobStatus
from shared.domain.upload import JOB_ID_PATTERN
from shared.services.run_results import (
    CompletionDeps,
    Reply,
    missing_metric_warnings,
    quick_links,
    read_manifest,
    read_metrics,
    wait_for_outcome,
)
from shared.services.sweep_completion import handle_run_report
from shared.structured_log import fields, get, job_context

log = get(__name__)


def handle_callback(
    body: bytes, headers: Mapping[str, str], deps: CompletionDeps, now: Callable[[], datetime]
) -> Reply:
    try:
        payload: dict[str, Any] = json.loads(body)
        job_id = str(payload["job_id"])
        kind = str(payload["kind"])
    except (ValueError, KeyError, TypeError):
        return Reply(400, "body must be JSON with job_id and kind")
    if not JOB_ID_PATTERN.match(job_id):
        return Reply(400, "unknown job id format")
    signature = headers.get(SIGNATURE_HEADER)
    try:
        key = job_key(deps.hook_master_key(), job_id)
        verify(key, headers.get(TIMESTAMP_HEADER), signature, body, now().timestamp())
    except CallbackAuthError as exc:
        log.warning("refused an unauthenticated callback", extra=fields(job_id=job_id, why=str(exc)))
        return Reply(403, "not authenticated")
    # A signature is valid for MAX_SKEW_S either side of its timestamp; remembering it that long refuses replays.
    if not deps.replays.first_use(f"{job_id}.{signature}", now() + timedelta(seconds=2 * MAX_SKEW_S)):
        log.warning("refused a replayed callback", extra=fields(job_id=job_id, kind=kind))
        return Reply(409, "this exact call was already received; sign a new one to retry")
    slurm_job_id = payload.get("slurm_job_id")
    slurm_job_id = str(slurm_job_id) if slurm_job_id and str(slurm_job_id).isdigit() else None
    with job_context(job_id):
        run = payload.get("run")
        if run is None and kind == "ended" and slurm_job_id:
            run = _array_task_of(job_id, slurm_job_id, deps)
        if run is not None:
            return handle_run_report(job_id, run, kind, payload, slurm_job_id, deps, now)
        if kind == "progress":
            stage = str(payload.get("stage", ""))[:80]
            # Heartbeats carry the running stage's log tail; record_stage bounds and cleans it.
            tail = payload.get("log_tail")
            step = step_report(payload.get("step"))
            job = deps.jobs.mutate(
                job_id,
                lambda j: record_stage(
                    j, stage, now(), slurm_job_id, tail if isinstance(tail, str) else None, step=step
                ),
            )
            return Reply(200, "recorded") if job else Reply(404, "no such job")
        if kind == "ended":
            if slurm_job_id is None:
                return Reply(400, "an end report needs slurm_job_id")
            return finish_job(job_id, slurm_job_id, deps, now, cluster_ended_at=_epoch(payload.get("epilog_at")))
    return Reply(400, f"unknown kind {kind!r}")


def step_report(value: Any) -> StepReport | None:
    """The `step` of a progress report ({"index", "total", "started_at"}), or None when absent or malformed."""
    if not isinstance(value, dict):
        return None

    def whole(key: str) -> int | None:
        number = value.get(key)
        return number if isinstance(number, int) and not isinstance(number, bool) else None

    return StepReport(whole("index"), whole("total"), _epoch(value.get("started_at")))


def _array_task_of(job_id: str, slurm_job_id: str, deps: CompletionDeps) -> int | None:
    """Which run of a sweep a Slurm task was. Epilogs of Slurm 22.05 are not told (no SLURM_ARRAY_TASK_ID)."""
    job = deps.jobs.get(job_id)
    if job is None or not job.is_sweep:
        return None
    status = deps.cluster.status([slurm_job_id]).get(slurm_job_id)
    return status.array_task_id if status else None


def finish_job(
    job_id: str,
    slurm_job_id: str,
    deps: CompletionDeps,
    now: Callable[[], datetime],
    cluster_ended_at: datetime | None = None,
    known_status: SlurmJobStatus | None = None,
) -> Reply:
    """Decide and record how the run ended, e-mail the owner and free the slot. Also the reconciler's path."""
    job = deps.jobs.get(job_id)
    if job is None:
        return Reply(404, "no such job")
    if job.state.is_terminal:
        deps.notifier.job_ended(job)  # a no-op unless an earlier call recorded the end but died before mailing
        return Reply(200, f"already {job.state.value}")
    manifest = read_manifest(job, deps)
    status = known_status
    outcome = decide_outcome(status.state, manifest, job.resources.time_limit_minutes) if status else None
    if outcome is None:
        outcome, status = wait_for_outcome(job, slurm_job_id, manifest, deps)
    if outcome is None:
        return Reply(503, "Slurm has not finished the job yet; retry")
    if manifest is None:
        manifest = read_manifest(job, deps)  # may have landed while Slurm was finishing
    runner, plan = _runner_and_plan(job, deps)
    metrics = read_metrics(job, manifest, runner, plan, deps)
    artifacts = quick_links(job, manifest, plan, deps)
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
        deps.publisher.publish(deps.jobs_topic, {"kind": "slot-freed", "job_id": job_id}, kind="slot-freed")
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


def _epoch(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError):
        return None
