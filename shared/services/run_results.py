"""What the completion hook and a sweep's completion share: their dependencies, their reply, and reading what a
run left behind (its manifest, its metrics files, its quick links) below a results prefix.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from shared.domain.flows.base import FlowPlan, FlowRunner
from shared.domain.job import Job
from shared.domain.metrics import Metrics
from shared.domain.outcome import ManifestError, Outcome, RunManifest, decide_outcome, parse_manifest
from shared.domain.slurm import SlurmJobStatus
from shared.ports import Cluster, JobRepository, MessagePublisher, ObjectStore, QuotaStore, ReplayGuard
from shared.services.notify import Notifier
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
    replays: ReplayGuard
    results_bucket: str
    jobs_topic: str
    wait_for_slurm_s: float = 10


def wait_for_outcome(
    job: Job, slurm_job_id: str, manifest: RunManifest | None, deps: CompletionDeps
) -> tuple[Outcome | None, SlurmJobStatus | None]:
    """The epilog runs while Slurm still shows the job COMPLETING: poll briefly for its final state."""
    deadline = time.monotonic() + deps.wait_for_slurm_s
    delay = 0.1
    while True:
        status = deps.cluster.status([slurm_job_id]).get(slurm_job_id)
        outcome = decide_outcome(status.state if status else None, manifest, job.resources.time_limit_minutes)
        if outcome is not None or time.monotonic() > deadline:
            return outcome, status
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def read_manifest(job: Job, deps: CompletionDeps, prefix: str | None = None) -> RunManifest | None:
    text = deps.store.read_text(deps.results_bucket, f"{prefix or job.results_prefix}manifest.json")
    if text is None:
        return None
    try:
        return parse_manifest(text)
    except ManifestError as exc:
        log.error("unreadable manifest", extra=fields(error=str(exc)))
        return None


def read_metrics(
    job: Job,
    manifest: RunManifest | None,
    runner: FlowRunner | None,
    plan: FlowPlan | None,
    deps: CompletionDeps,
    prefix: str | None = None,
) -> Metrics | None:
    if manifest is None:
        return None
    measured = Metrics(runtime_s=manifest.runtime_s, peak_memory_mb=manifest.peak_memory_mb)
    if runner is None or plan is None:
        return measured
    files = {}
    for path in plan.metrics_files:
        if path in manifest.files:
            name = f"{prefix or job.results_prefix}files/{path}"
            text = deps.store.read_text(deps.results_bucket, name, max_bytes=8 << 20)
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
    job: Job, manifest: RunManifest | None, plan: FlowPlan | None, deps: CompletionDeps, prefix: str | None = None
) -> dict[str, str]:
    """Quick links to the main outputs, e.g. {"gds": "gs://results/owner/job/files/.../spm.gds"}."""
    if manifest is None or plan is None:
        return {}
    prefix = prefix or job.results_prefix
    links = {}
    for kind, pattern in plan.primary_outputs.items():
        match = next((f for f in manifest.files if fnmatch.fnmatchcase(f, pattern)), None)
        if match:
            links[kind] = f"gs://{deps.results_bucket}/{prefix}files/{match}"
    links["manifest"] = f"gs://{deps.results_bucket}/{prefix}manifest.json"
    return links
