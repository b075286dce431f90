"""Use case: the cluster reports on a run — a stage started or is still running with the tail of its log (from the
job kit), or the job ended (from the epilog).

This is the completion hook: it authenticates the report and hands it on. The epilog cannot tell success, cancel
and timeout apart, so an end is decided from Slurm's final state and the run's manifest together, by the completion
use cases in shared/services/completion/ (single.py for a job, sweep.py for a run of a sweep). Everything here is
idempotent: a repeated or late call changes nothing once the job is final.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from shared.domain.callback_auth import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    CallbackAuthError,
    job_key,
    verify,
)
from shared.domain.job import Job, StepReport, record_stage
from shared.domain.upload import JOB_ID_PATTERN
from shared.services.completion.receipts import ReceiptedJobs, ReplayedCall
from shared.services.completion.run_end import CompletionDeps, Reply
from shared.services.completion.single import finish_job
from shared.services.completion.sweep import handle_run_report
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
    receipts = ReceiptedJobs(deps.jobs, job_id, str(signature), now)
    try:
        reply = _handle_report(job_id, kind, payload, replace(deps, jobs=receipts), now)
        if 200 <= reply.status < 300:
            receipts.record_receipt()
    except ReplayedCall:
        log.warning("refused a replayed callback", extra=fields(job_id=job_id, kind=kind))
        return Reply(409, "this exact call was already received; sign a new one to retry")
    return reply


def _handle_report(
    job_id: str, kind: str, payload: Mapping[str, Any], deps: CompletionDeps, now: Callable[[], datetime]
) -> Reply:
    slurm_job_id = payload.get("slurm_job_id")
    slurm_job_id = str(slurm_job_id) if slurm_job_id and str(slurm_job_id).isdigit() else None
    with job_context(job_id):
        run = payload.get("run")
        job = None
        if run is None and kind == "ended" and slurm_job_id:
            job = deps.jobs.get(job_id)  # read once: a sweep's run, or the single job finish_job ends
            run = _array_task_of(job, slurm_job_id, deps)
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
            return finish_job(
                job_id, slurm_job_id, deps, now, cluster_ended_at=_epoch(payload.get("epilog_at")), job=job
            )
    return Reply(400, f"unknown kind {kind!r}")


def step_report(value: Any) -> StepReport | None:
    """The `step` of a progress report ({"index", "total", "started_at"}), or None when absent or malformed."""
    if not isinstance(value, dict):
        return None

    def whole(key: str) -> int | None:
        number = value.get(key)
        return number if isinstance(number, int) and not isinstance(number, bool) else None

    return StepReport(whole("index"), whole("total"), _epoch(value.get("started_at")))


def _array_task_of(job: Job | None, slurm_job_id: str, deps: CompletionDeps) -> int | None:
    """Which run of a sweep a Slurm task was. Epilogs of Slurm 22.05 are not told (no SLURM_ARRAY_TASK_ID)."""
    if job is None or not job.is_sweep:
        return None
    status = deps.cluster.status([slurm_job_id]).get(slurm_job_id)
    return status.array_task_id if status else None


def _epoch(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError):
        return None
