"""Jobs as plain dictionaries: the Firestore document and the API's JSON share this one shape."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Any

from shared.domain.design import DesignSpec, Resources
from shared.domain.job import GitOrigin, Job, JobState, RunProgress, SourceObject, StageMark, StateChange
from shared.domain.metrics import Metrics
from shared.domain.sweeps.spec import SweepSpec


def job_to_dict(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "owner": job.owner,
        "source": {
            "bucket": job.source.bucket,
            "name": job.source.name,
            "generation": str(job.source.generation),
            "size": job.source.size,
        },
        "state": job.state.value,
        "phase": job.state.phase.value,  # derived, for queries: one equality instead of `state in` over a phase
        "created_at": job.created_at,
        "updated_at": job.changed_at,
        "history": [{"state": c.state.value, "at": c.at, "reason": c.reason} for c in job.history],
        "design_name": job.design_name,
        "flow": job.flow,
        "design_root": job.design_root,
        "design": _design_dict(job.design) if job.design else None,
        "resources": asdict(job.resources),
        "notifications_enabled": job.notifications_enabled,
        "slurm_job_id": job.slurm_job_id,
        "stage": job.stage,
        "stages": [_mark(m) for m in job.stages],
        "log_tail": job.log_tail,
        "reason": job.reason,
        "error_excerpt": job.error_excerpt,
        "warnings": list(job.warnings),
        "metrics": job.metrics.to_dict() if job.metrics else None,
        "results_prefix": job.results_prefix,
        "artifacts": job.artifacts,
        "flow_runtime_s": job.flow_runtime_s,
        "cluster_ended_at": job.cluster_ended_at,
        "queue_position": job.queue_position,
        "estimated_start_at": job.estimated_start_at,
        "core_hours": job.core_hours,
        "last_error": job.last_error,
        "submit_failing_since": job.submit_failing_since,
        "notified": list(job.notified),
        "runs": [
            {**asdict(replace(r, metrics=None)), "metrics": r.metrics.to_dict() if r.metrics else None}
            for r in job.runs
        ],
        "array_throttle": job.array_throttle,
        "arrays": list(job.arrays),
        "git": asdict(job.git) if job.git else None,
        "content_key": job.content_key,
        "reused_from": job.reused_from,
        "parent_job": job.parent_job,
        "reuse_allowed": job.reuse_allowed,
        "call_receipts": job.call_receipts,
    }


def job_from_dict(data: dict[str, Any]) -> Job:
    source = data["source"]
    return Job(
        id=data["id"],
        owner=data["owner"],
        source=SourceObject(source["bucket"], source["name"], int(source["generation"]), source.get("size")),
        state=JobState(data["state"]),
        created_at=_utc(data["created_at"]),
        history=tuple(
            StateChange(JobState(c["state"]), _utc(c["at"]), c.get("reason")) for c in data.get("history", [])
        ),
        design_name=data.get("design_name"),
        flow=data.get("flow"),
        design_root=data.get("design_root") or "",
        design=_design(data.get("design")),
        resources=Resources(**data["resources"]) if data.get("resources") else Resources(),
        notifications_enabled=data.get("notifications_enabled", True),
        slurm_job_id=data.get("slurm_job_id"),
        stage=data.get("stage"),
        stages=tuple(
            StageMark(str(m["name"]), _utc(m["at"]), m.get("step"), m.get("steps")) for m in data.get("stages") or ()
        ),
        log_tail=data.get("log_tail"),
        reason=data.get("reason"),
        error_excerpt=data.get("error_excerpt"),
        warnings=tuple(str(w) for w in data.get("warnings") or ()),
        metrics=Metrics.from_dict(data["metrics"]) if data.get("metrics") else None,
        results_prefix=data.get("results_prefix"),
        artifacts=data.get("artifacts") or {},
        flow_runtime_s=data.get("flow_runtime_s"),
        cluster_ended_at=_utc(data["cluster_ended_at"]) if data.get("cluster_ended_at") else None,
        notified=tuple(data.get("notified") or ()),
        runs=tuple(
            RunProgress(**{**r, "metrics": Metrics.from_dict(r["metrics"]) if r.get("metrics") else None})
            for r in data.get("runs") or ()
        ),
        array_throttle=data.get("array_throttle"),
        arrays=tuple(str(a) for a in data.get("arrays") or ()),
        git=GitOrigin(**data["git"]) if data.get("git") else None,
        content_key=data.get("content_key"),
        reused_from=data.get("reused_from"),
        parent_job=data.get("parent_job"),
        reuse_allowed=data.get("reuse_allowed", True),
        call_receipts=data.get("call_receipts") or {},
        queue_position=data.get("queue_position"),
        estimated_start_at=_utc(data["estimated_start_at"]) if data.get("estimated_start_at") else None,
        core_hours=data.get("core_hours"),
        last_error=data.get("last_error"),
        submit_failing_since=_utc(data["submit_failing_since"]) if data.get("submit_failing_since") else None,
    )


def job_to_json(job: Job) -> dict[str, Any]:
    """The API view: timestamps as ISO 8601 strings."""
    return _isoformat(job_to_dict(job))


def _isoformat(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: _isoformat(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_isoformat(v) for v in value]
    return value


def _utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _design_dict(design: DesignSpec) -> dict[str, Any]:
    # asdict cannot copy the sweep's read-only mappings; the sweep has its own JSON form.
    data = asdict(replace(design, sweep=None))
    data["sweep"] = design.sweep.to_dict() if design.sweep else None
    return data


def _design(data: dict[str, Any] | None) -> DesignSpec | None:
    if not data:
        return None
    sweep = SweepSpec.from_dict(data["sweep"]) if data.get("sweep") else None
    return DesignSpec(**{**data, "verilog_files": tuple(data.get("verilog_files", ())), "sweep": sweep})


def _mark(mark: StageMark) -> dict[str, Any]:
    data: dict[str, Any] = {"name": mark.name, "at": mark.at}
    if mark.step is not None:
        data["step"] = mark.step
    if mark.steps is not None:
        data["steps"] = mark.steps
    return data
