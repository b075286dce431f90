"""Render the Slurm batch script for one job.

The script is a fixed template (infra/slurm/job.sh.tmpl) whose only variable parts are values we generated or
validated (job id, resource numbers, partition) plus the run's specification as base64 JSON, so nothing a user
wrote is ever parsed by a shell. The job kit (infra/slurm/olc_job.py, stdlib only) is embedded in the script, so the
cluster needs nothing of ours installed beyond the epilog; the first run of each kit version leaves it beside the job
folders, named by its digest, where Python keeps its bytecode for the next runs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.domain.design import Resources
from shared.domain.flows.base import FlowPlan
from shared.domain.job import Job
from shared.domain.upload import JOB_ID_PATTERN

SLURM_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
JOB_NAME_PREFIX = "olc-"
COMMENT_PREFIX = "olc:"
KIT_END_MARKER = "OLC_KIT_END"
_PLACEHOLDER = re.compile(r"\{\{([a-z0-9_]+)\}\}")


class RenderError(ValueError):
    pass


@dataclass(frozen=True)
class ClusterTarget:
    """Where the run executes and how it reaches the services (from configuration, not from users)."""

    partition: str
    results_bucket: str
    storage_endpoint: str
    storage_auth: str  # "none" (local emulator) or "metadata" (compute node's service account)
    hook_url: str
    hook_auth: str  # "none" or "google-id-token"
    keep_workdir: bool = False
    heartbeat_s: float = 20.0  # how often a running stage reports with the tail of its log


@dataclass(frozen=True)
class ArrayTasks:
    """A Slurm job array: `count` tasks with ids from `first`, at most `throttle` at once; `batch` numbers a
    search's arrays (its later batches are Slurm jobs of their own names)."""

    count: int
    throttle: int
    first: int = 0
    batch: int = 0


def slurm_job_name(job_id: str, batch: int = 0) -> str:
    """The Slurm job name of a job's run (a search's later batches each get their own: `-b<batch>`), by which a
    resubmission finds what is already there."""
    return JOB_NAME_PREFIX + job_id + (f"-b{batch}" if batch else "")


def _plan_spec(plan: FlowPlan) -> dict[str, Any]:
    return {
        "stages": [{"name": s.name, "argv": list(s.argv), "cwd": s.cwd, "env": dict(s.env)} for s in plan.stages],
        "artifacts": list(plan.artifacts),
        "metrics_files": list(plan.metrics_files),
        "progress": plan.progress.to_spec() if plan.progress else None,
    }


def sweep_spec(
    spec: dict[str, Any], run_plans: Sequence[FlowPlan], settings: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """A sweep's spec: the kit picks `runs[SLURM_ARRAY_TASK_ID]` and writes below `runs/<index>/`."""
    runs = [
        {"index": i, "settings": dict(values), **_plan_spec(plan)}
        for i, (plan, values) in enumerate(zip(run_plans, settings, strict=True))
    ]
    return {**spec, "runs": runs}


def kit_spec(job: Job, plan: FlowPlan, target: ClusterTarget, hook_key: str) -> dict[str, Any]:
    """What the job kit needs to run this job, as plain JSON."""
    if job.results_prefix is None:
        raise RenderError(f"job {job.id} has no results prefix")
    return {
        "version": 1,
        "job_id": job.id,
        "design": {
            "bucket": job.source.bucket,
            "name": job.source.name,
            "generation": job.source.generation,
            "root": job.design_root,
        },
        "results": {"bucket": target.results_bucket, "prefix": job.results_prefix},
        "storage": {"endpoint": target.storage_endpoint, "auth": target.storage_auth},
        "hook": {"url": target.hook_url, "auth": target.hook_auth, "key": hook_key},
        **_plan_spec(plan),
        "keep_workdir": target.keep_workdir,
        "heartbeat_s": target.heartbeat_s,
        "time_limit_minutes": job.resources.time_limit_minutes,
    }


def render_job_script(
    template: str,
    kit_source: str,
    job: Job,
    resources: Resources,
    spec: dict[str, Any],
    target: ClusterTarget,
    array: ArrayTasks | None = None,
) -> str:
    """`array` makes the script a Slurm job array (a sweep's runs, or one batch of a search's)."""
    if not JOB_ID_PATTERN.match(job.id):
        raise RenderError(f"job id {job.id!r} is not one we generate")
    if not SLURM_NAME.match(target.partition):
        raise RenderError(f"partition {target.partition!r} is not a valid Slurm partition name")
    # The substring test first: it rules out almost every kit at C speed (a line scan cost ms per job).
    if KIT_END_MARKER in kit_source and any(line.strip() == KIT_END_MARKER for line in kit_source.splitlines()):
        raise RenderError("the job kit contains the heredoc end marker")
    for number in (resources.cpus, resources.memory_mb, resources.time_limit_minutes):
        if not isinstance(number, int) or number <= 0:
            raise RenderError(f"resource request {number!r} is not a positive whole number")
    results_bucket = spec.get("results", {}).get("bucket")
    if not results_bucket:
        raise RenderError("the run specification names no results bucket")
    if array is not None:
        numbers = (array.count, array.throttle, array.first + 1, array.batch + 1)
        if not all(isinstance(n, int) and n > 0 for n in numbers):
            raise RenderError(f"array {array!r} is not made of positive whole numbers")
        last = array.first + array.count - 1
        array_line = f"#SBATCH --array={array.first}-{last}%{min(array.throttle, array.count)}"
    else:
        array_line = "# one run (no job array)"
    values = {
        "array": array_line,
        "job_name": slurm_job_name(job.id, array.batch if array else 0),
        "comment": COMMENT_PREFIX + job.id,
        "partition": target.partition,
        "cpus": str(resources.cpus),
        "memory_mb": str(resources.memory_mb),
        "time_limit_minutes": str(resources.time_limit_minutes),
        "spec_b64": base64.b64encode(json.dumps(spec, sort_keys=True).encode()).decode(),
        "kit_source": kit_source.rstrip("\n"),
        "kit_digest": hashlib.sha256(kit_source.encode()).hexdigest()[:16],
        "kit_end": KIT_END_MARKER,
    }

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise RenderError(f"job script template uses unknown placeholder {{{{{key}}}}}")
        return values[key]

    return _PLACEHOLDER.sub(substitute, template)
