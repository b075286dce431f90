"""What every completion shares: its dependencies, its reply, and reading how a run ended from what it left behind
below its results prefix.

A completion learns the end of a run in one order (read_run_end): Slurm's final state first (the epilog runs while
Slurm still shows the job COMPLETING, and the kit's manifest is its last upload), then the run's manifest, read once,
then the outcome (shared/domain/outcome.py). The metrics files and quick links come from that one manifest.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from shared.domain.flows.base import FlowPlan, FlowRunner
from shared.domain.job import Job
from shared.domain.metrics import Metrics
from shared.domain.outcome import (
    ManifestError,
    Outcome,
    RunManifest,
    decide_outcome,
    is_final_slurm_state,
    parse_manifest,
)
from shared.domain.slurm import SlurmJobStatus
from shared.ports import (
    Cluster,
    JobRepository,
    MessagePublisher,
    ObjectStore,
    ParetoPlotter,
    QuotaStore,
    SearchSampler,
)
from shared.services.notify import Notifier
from shared.services.scripts import ScriptFactory
from shared.structured_log import fields, get

log = get(__name__)


@dataclass(frozen=True)
class Reply:
    status: int
    message: str


@dataclass(frozen=True)
class CompletionDeps:
    jobs: JobRepository
    cluster: Cluster
    store: ObjectStore
    publisher: MessagePublisher
    notifier: Notifier
    runners: Mapping[str, FlowRunner]
    hook_master_key: Callable[[], str]
    quotas: QuotaStore
    plotter: ParetoPlotter
    results_bucket: str
    jobs_topic: str
    wait_for_slurm_s: float = 10
    # A search's next batches: proposed by the sampler, rendered and submitted like the dispatcher's first array.
    sampler: SearchSampler | None = None
    scripts: ScriptFactory | None = None


@dataclass(frozen=True)
class RunEnd:
    """How a run ended, and what that was decided from."""

    outcome: Outcome
    status: SlurmJobStatus | None  # Slurm's final record of the run; None once Slurm no longer knows it
    manifest: RunManifest | None  # None when the run wrote none (or an unreadable one)


def read_run_end(
    job: Job,
    deps: CompletionDeps,
    *,
    prefix: str,
    status: SlurmJobStatus | None = None,
    slurm_job_id: str | None = None,
) -> RunEnd | None:
    """How the run whose results are below `prefix` ended, or None while Slurm has not finished it.

    Slurm's final state comes first: `status` when the caller has Slurm's record already, else (or while that
    record is not final) what Slurm says of `slurm_job_id`, polled for up to `wait_for_slurm_s`. Only then is the
    manifest read, once: the outcome, the metrics and the links all come from that one reading.
    """
    if slurm_job_id is not None and (status is None or not is_final_slurm_state(status.state)):
        status = _final_status(slurm_job_id, deps)
    if status is not None and not is_final_slurm_state(status.state):
        return None
    manifest = read_manifest(deps, prefix)
    outcome = decide_outcome(status.state if status else None, manifest, job.resources.time_limit_minutes)
    assert outcome is not None  # Slurm's state is final (or unknown): the manifest decides the rest
    return RunEnd(outcome, status, manifest)


def _final_status(slurm_job_id: str, deps: CompletionDeps) -> SlurmJobStatus | None:
    """Slurm's record of the job once final (None when Slurm does not know it), or its last record at the deadline."""
    deadline = time.monotonic() + deps.wait_for_slurm_s
    delay = 0.1
    while True:
        status = deps.cluster.status([slurm_job_id]).get(slurm_job_id)
        if status is None or is_final_slurm_state(status.state) or time.monotonic() > deadline:
            return status
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def read_manifest(deps: CompletionDeps, prefix: str) -> RunManifest | None:
    """The manifest below `prefix`. Only read_run_end reads a run's own manifest; a sweep's summary reads its best
    run's for the links when that run ended in an earlier call."""
    text = deps.store.read_text(deps.results_bucket, f"{prefix}manifest.json")
    if text is None:
        return None
    try:
        return parse_manifest(text)
    except ManifestError as exc:
        log.error("unreadable manifest", extra=fields(error=str(exc)))
        return None


def read_metrics(
    manifest: RunManifest | None,
    runner: FlowRunner | None,
    plan: FlowPlan | None,
    deps: CompletionDeps,
    prefix: str,
) -> Metrics | None:
    if manifest is None:
        return None
    measured = Metrics(runtime_s=manifest.runtime_s, peak_memory_mb=manifest.peak_memory_mb)
    if runner is None or plan is None:
        return measured
    files = {}
    for path in plan.metrics_files:
        if path in manifest.files:
            text = deps.store.read_text(deps.results_bucket, f"{prefix}files/{path}", max_bytes=8 << 20)
            if text is not None:
                files[path] = text
    return runner.parse_metrics(files).merged(measured)


def missing_metric_warnings(plan: FlowPlan | None, metrics: Metrics | None) -> tuple[str, ...]:
    """A succeeded run whose step exited 0 but did not produce the metric it exists for (an OpenSTA whose Tcl failed
    prints "?" and exits 0): the figure is shown as not measured, and the job says which step to look at."""
    if plan is None:
        return ()
    return tuple(
        f"{step} finished without reporting {field.replace('_', ' ')}: shown as not measured; see that step's log"
        for field, step in plan.expected_metrics.items()
        if metrics is None or getattr(metrics, field, None) is None
    )


def quick_links(
    manifest: RunManifest | None, plan: FlowPlan | None, deps: CompletionDeps, prefix: str
) -> dict[str, str]:
    """Quick links to the main outputs, e.g. {"gds": "gs://results/owner/job/files/.../spm.gds"}."""
    if manifest is None or plan is None:
        return {}
    links = {}
    for kind, pattern in plan.primary_outputs.items():
        match = next((f for f in manifest.files if fnmatch.fnmatchcase(f, pattern)), None)
        if match:
            links[kind] = f"gs://{deps.results_bucket}/{prefix}files/{match}"
    links["manifest"] = f"gs://{deps.results_bucket}/{prefix}manifest.json"
    return links
