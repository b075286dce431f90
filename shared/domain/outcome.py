"""How a run ended: the run's own result manifest read together with what Slurm says.

The epilog cannot tell success from cancel or timeout (it sees exit 0 for all three, see docs/architecture.md),
so Slurm's final JobState decides those, and the manifest decides between success and flow failure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shared.domain.job import JobState
from shared.domain.slurm import LAUNCH_FAILED, MAX_LAUNCHES

# Slurm states in which the job has not finished yet: ask again later.
_NOT_FINAL = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "SUSPENDED",
        "REQUEUED",
        "RESIZING",
        "STAGE_OUT",
        "SIGNALING",
    }
)
_FAILURE_WORDS = {
    "OUT_OF_MEMORY": "the run ran out of memory; ask for more memory or simplify the design",
    "NODE_FAIL": "the compute node failed during the run; upload again to retry",
    "BOOT_FAIL": "the compute node could not be started; upload again to retry",
    "PREEMPTED": "the run was preempted by the cluster; upload again to retry",
    "DEADLINE": "the run missed its scheduling deadline",
    LAUNCH_FAILED: f"the cluster could not start the run on a compute node ({MAX_LAUNCHES} tries); upload again "
    "to retry",
}


class ManifestError(ValueError):
    pass


@dataclass(frozen=True)
class StageRecord:
    name: str
    exit_code: int | None
    runtime_s: float


@dataclass(frozen=True)
class RunManifest:
    """What the job kit wrote at the end of a run (results/<prefix>manifest.json)."""

    flow_exit_code: int | None
    stage_reached: str | None
    failed_stage: str | None
    stages: tuple[StageRecord, ...]
    runtime_s: float | None
    peak_memory_mb: float | None
    error_excerpt: str | None
    files: tuple[str, ...]
    terminated: bool = False
    terminated_reason: str | None = None  # "time-limit" (Slurm's warning signal) or "signal"
    steps: tuple[str, ...] = ()  # the steps a multi-step flow (OpenLane) started, in order

    @property
    def failed_step(self) -> str | None:
        """The flow's step the run failed in, when it failed inside a multi-step flow."""
        return self.failed_stage if self.failed_stage is not None and self.failed_stage in self.steps else None

    @property
    def succeeded(self) -> bool:
        return self.flow_exit_code == 0 and not self.terminated


@dataclass(frozen=True)
class Outcome:
    state: JobState
    reason: str | None = None


def parse_manifest(text: str) -> RunManifest:
    try:
        data: dict[str, Any] = json.loads(text)
        return RunManifest(
            flow_exit_code=data.get("flow_exit_code"),
            stage_reached=data.get("stage_reached"),
            failed_stage=data.get("failed_stage"),
            stages=tuple(
                StageRecord(s["name"], s.get("exit_code"), float(s.get("runtime_s", 0))) for s in data.get("stages", [])
            ),
            runtime_s=data.get("runtime_s"),
            peak_memory_mb=data.get("peak_memory_mb"),
            error_excerpt=data.get("error_excerpt"),
            files=tuple(data.get("files", [])),
            terminated=bool(data.get("terminated", False)),
            terminated_reason=data.get("terminated_reason"),
            steps=tuple(str(s["id"]) for s in data.get("steps") or () if isinstance(s, dict) and "id" in s),
        )
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ManifestError(f"unreadable result manifest: {exc}") from exc


def is_final_slurm_state(slurm_state: str) -> bool:
    return _base_state(slurm_state) not in _NOT_FINAL


def _base_state(slurm_state: str) -> str:
    """`CANCELLED by 0` -> `CANCELLED`; `COMPLETED+` -> `COMPLETED`."""
    return slurm_state.split(maxsplit=1)[0].rstrip("+") if slurm_state else ""


def decide_outcome(  # noqa: PLR0911 - a decision list: the first rule that applies decides, in order
    slurm_state: str | None, manifest: RunManifest | None, time_limit_minutes: int
) -> Outcome | None:
    """The terminal state of a run, or None while Slurm says it has not finished."""
    state = _base_state(slurm_state or "")
    if state in _NOT_FINAL:
        return None
    if state == "CANCELLED":
        return Outcome(JobState.CANCELLED, "the run was cancelled")
    if state == "TIMEOUT":
        return Outcome(JobState.TIMEOUT, f"the run hit its time limit of {time_limit_minutes} min")
    if state in _FAILURE_WORDS:
        return Outcome(JobState.FAILED, _FAILURE_WORDS[state])
    if manifest is None:
        return Outcome(JobState.FAILED, "the run ended without writing its result manifest (see the Slurm log)")
    if manifest.succeeded:
        return Outcome(JobState.SUCCEEDED)
    if manifest.terminated and manifest.terminated_reason == "time-limit":
        return Outcome(JobState.TIMEOUT, f"the run hit its time limit of {time_limit_minutes} min")
    if manifest.terminated:
        return Outcome(JobState.FAILED, "the run was stopped by a signal before the flow finished")
    if manifest.failed_step is not None:
        return Outcome(
            JobState.FAILED, f"the flow failed in step '{manifest.failed_step}' (exit code {manifest.flow_exit_code})"
        )
    stage = manifest.failed_stage or manifest.stage_reached or "setup"
    return Outcome(JobState.FAILED, f"the flow failed in stage '{stage}' (exit code {manifest.flow_exit_code})")
