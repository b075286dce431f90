"""Use case: a run of a sweep reports (a stage, or its end). The job ends when every run has ended; then the
comparison table, the best run and the Pareto plot are written next to the runs' results.

Each run is one Slurm array task with its own results folder (`runs/<index>/`) and manifest; its outcome is decided
exactly like a single job's (run_end.read_run_end: Slurm's final state, then the manifest, read once), and a failed
run stays a fact about that run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from shared.domain.job import Job, advance
from shared.domain.messages import SlotFreed
from shared.domain.outcome import RunManifest
from shared.domain.slurm import SlurmJobStatus
from shared.domain.sweeps import runs as sweep_runs
from shared.domain.sweeps.judging import best_run, chart_axes, pareto_chart, pareto_front
from shared.domain.sweeps.run_settings import apply_run_settings
from shared.domain.sweeps.table import comparison_table
from shared.services.completion.run_end import (
    CompletionDeps,
    Reply,
    RunEnd,
    quick_links,
    read_manifest,
    read_metrics,
    read_run_end,
)
from shared.services.search import continue_search, search_over, unsubmitted_batch
from shared.structured_log import fields, get, job_context

log = get(__name__)
SUMMARY_FOLDER = "sweep/"


def handle_run_report(
    job_id: str,
    run: Any,
    kind: str,
    payload: Mapping[str, Any],
    slurm_job_id: str | None,
    deps: CompletionDeps,
    now: Callable[[], datetime],
) -> Reply:
    job = deps.jobs.get(job_id)
    if job is None:
        return Reply(404, "no such job")
    index = sweep_runs.valid_index(job, run)
    if index is None or not job.is_sweep:
        return Reply(400, f"job {job_id} has no run {run!r}")
    with job_context(job_id):
        if kind == "progress":
            stage = str(payload.get("stage", ""))[:80]
            deps.jobs.mutate(job_id, lambda j: sweep_runs.record_run_stage(j, index, stage, now(), slurm_job_id))
            return Reply(200, "recorded")
        if kind == "ended":
            if slurm_job_id is None:
                return Reply(400, "an end report needs slurm_job_id")
            return finish_run(job, index, slurm_job_id, deps, now)
    return Reply(400, f"unknown kind {kind!r}")


def finish_run(job: Job, index: int, slurm_job_id: str, deps: CompletionDeps, now: Callable[[], datetime]) -> Reply:
    """A run's end report: Slurm's final state of its task and its manifest decide how it ended."""
    end = read_run_end(job, deps, prefix=_run_prefix(job, index), slurm_job_id=slurm_job_id)
    if end is None:
        return Reply(503, "Slurm has not finished the run yet; retry")
    return _record_run_end(job, index, end, slurm_job_id, deps, now)


def repair_run(
    job: Job, index: int, task: SlurmJobStatus | None, deps: CompletionDeps, now: Callable[[], datetime]
) -> Reply:
    """The reconciler's path for a run whose end report was lost: Slurm's record of its task, which has ended (None
    when Slurm has forgotten the task), and the run's manifest decide, as for a report."""
    end = read_run_end(job, deps, prefix=_run_prefix(job, index), status=task)
    if end is None:
        return Reply(503, f"run {index} has not ended in Slurm")
    slurm_job_id = task.slurm_job_id if task else sweep_runs.run(job, index).slurm_job_id
    return _record_run_end(job, index, end, slurm_job_id, deps, now)


def _record_run_end(
    job: Job,
    index: int,
    end: RunEnd,
    slurm_job_id: str | None,
    deps: CompletionDeps,
    now: Callable[[], datetime],
) -> Reply:
    prefix = _run_prefix(job, index)
    outcome, manifest = end.outcome, end.manifest
    runner = deps.runners.get(job.flow or "")
    plan = None
    if runner is not None and job.design is not None and job.design.sweep is not None:
        plan = runner.plan(apply_run_settings(job.design, job.design.sweep.runs[index]), job.resources)
    metrics = read_metrics(manifest, runner, plan, deps, prefix)
    links = quick_links(manifest, plan, deps, prefix)
    error = manifest.error_excerpt if manifest and outcome.state.value != "SUCCEEDED" else None
    recorded = deps.jobs.mutate(
        job.id,
        lambda j: sweep_runs.record_run_end(
            j, index, outcome.state.value, metrics, error or outcome.reason, slurm_job_id, links
        ),
    )
    log.info("sweep run ended", extra=fields(run=index, state=outcome.state.value, slurm_job_id=slurm_job_id))
    if recorded is None:
        return Reply(404, "no such job")
    if sweep_runs.all_ended(recorded) or unsubmitted_batch(recorded):
        return batch_ended(recorded, deps, now, manifests={index: manifest})
    deps.publisher.publish(deps.jobs_topic, SlotFreed(job.id))
    return Reply(200, f"run {index} {outcome.state.value}")


def run_page_link(job_id: str, index: int) -> str:
    """Where the Pareto plot's point for run `index` leads: that run's row on the job page (relative to the site, as
    the page shows the plot inline)."""
    return f"/jobs/{job_id}?run={index}#run-{index}"


def _run_prefix(job: Job, index: int) -> str:
    return f"{job.results_prefix}runs/{index}/"


def batch_ended(
    job: Job,
    deps: CompletionDeps,
    now: Callable[[], datetime],
    manifests: Mapping[int, RunManifest | None] | None = None,
) -> Reply:
    """Every run proposed so far has ended (or a search's batch waits to be submitted): a search goes on with its
    next batch (shared/services/search.py) until its budget is spent or it is cancelled; then the sweep ends."""
    reply = continue_search(job, deps)
    if reply is None:
        return finish_sweep(deps.jobs.get(job.id) or job, deps, now, manifests)
    if reply.status == 200:
        _show_search_so_far(job, deps, manifests or {})
    return reply


def _show_search_so_far(job: Job, deps: CompletionDeps, manifests: Mapping[int, RunManifest | None]) -> None:
    """Between batches: the current Pareto front, table and best run on the job, which is still RUNNING."""
    current = deps.jobs.get(job.id) or job
    if current.state.is_terminal or current.design is None or current.design.sweep is None:
        return
    best = best_run(current.design.sweep, sweep_runs.results(current)) if any(r.ended for r in current.runs) else None
    artifacts = write_summary(current, best, deps)
    if best is not None:
        artifacts |= _best_run_links(current, best, deps, manifests)
    deps.jobs.mutate(
        job.id, lambda j: None if j.state.is_terminal else replace(j, artifacts={**j.artifacts, **artifacts})
    )


def finish_sweep(
    job: Job,
    deps: CompletionDeps,
    now: Callable[[], datetime],
    manifests: Mapping[int, RunManifest | None] | None = None,
) -> Reply:
    """Every run has ended: write the summary, then end the job with the best run's figures and links.

    `manifests`: the runs' manifests this call has read already (the run that just ended), by run index.
    """
    if job.state.is_terminal:
        deps.notifier.job_ended(job)
        return Reply(200, f"already {job.state.value}")
    if not search_over(deps.jobs.get(job.id) or job):
        return _still_to_come(job)
    assert job.design is not None and job.design.sweep is not None
    state, reason, best = sweep_runs.outcome(job)
    artifacts = write_summary(job, best, deps)
    best_metrics = None
    if best is not None:
        artifacts |= _best_run_links(job, best, deps, manifests or {})
        best_metrics = job.runs[best].metrics if best < len(job.runs) else None
    ended_at = now()
    applied: list[Job] = []

    def change(current: Job) -> Job | None:
        if not search_over(current):
            return None  # the stored job has runs still to come (a view older than the search's next batch)
        moved = advance(current, state, ended_at, reason, metrics=best_metrics, artifacts=artifacts)
        applied[:] = [moved] if moved else []
        return moved

    final = deps.jobs.mutate(job.id, change) or deps.jobs.get(job.id) or job
    if not final.state.is_terminal:
        return _still_to_come(final)
    log.info("sweep ended", extra=fields(state=final.state.value, reason=reason, best_run=best))
    deps.notifier.job_ended(final)
    if applied:
        deps.publisher.publish(deps.jobs_topic, SlotFreed(job.id))
    return Reply(200, final.state.value)


def _still_to_come(job: Job) -> Reply:
    """The stored job has runs still to come: the caller's view was older than the search's next batch."""
    log.info("sweep goes on: runs still to come")
    return Reply(202, "the sweep has runs still to come")


def write_summary(job: Job, best: int | None, deps: CompletionDeps) -> dict[str, str]:
    """The comparison table (CSV, JSON) and the Pareto plot (PNG, and SVG linking its points to the runs) of the runs
    so far, next to their results; returns them as artifacts."""
    assert job.design is not None and job.design.sweep is not None
    results = sweep_runs.results(job)
    x, y = chart_axes(job.design.sweep)
    front = pareto_front(results, x, y)
    csv_text, table = comparison_table(job.design.sweep, results, best)
    summary = f"{job.results_prefix}{SUMMARY_FOLDER}"
    bucket = deps.results_bucket
    deps.store.write_bytes(bucket, summary + "comparison.csv", csv_text.encode(), "text/csv")
    deps.store.write_bytes(
        bucket, summary + "comparison.json", json.dumps(table, indent=2).encode(), "application/json"
    )
    chart = pareto_chart(job.design.sweep, results, best, front, x, y)
    deps.store.write_bytes(bucket, summary + "pareto.png", deps.plotter.draw_png(chart), "image/png")
    plot = deps.plotter.draw_svg(chart, lambda run: run_page_link(job.id, run))
    deps.store.write_bytes(bucket, summary + "pareto.svg", plot, "image/svg+xml")
    return {
        "comparison_csv": f"gs://{bucket}/{summary}comparison.csv",
        "comparison_json": f"gs://{bucket}/{summary}comparison.json",
        "pareto_png": f"gs://{bucket}/{summary}pareto.png",
        "pareto_svg": f"gs://{bucket}/{summary}pareto.svg",
    }


def _best_run_links(
    job: Job, best: int, deps: CompletionDeps, manifests: Mapping[int, RunManifest | None]
) -> dict[str, str]:
    """The best run's layout and picture as the job's own quick links (the page and e-mail show them): the links its
    end recorded; its manifest is read only for a run recorded before runs kept their links."""
    assert job.design is not None and job.design.sweep is not None
    runner = deps.runners.get(job.flow or "")
    if runner is None:
        return {}
    prefix = _run_prefix(job, best)
    recorded = next((r.links for r in job.runs if r.index == best and r.links), None)
    if recorded is not None:
        return {k: v for k, v in recorded.items() if k != "manifest"} | {"best_run": prefix}
    plan = runner.plan(apply_run_settings(job.design, job.design.sweep.runs[best]), job.resources)
    manifest = manifests[best] if best in manifests else read_manifest(deps, prefix)
    links = quick_links(manifest, plan, deps, prefix)
    return {k: v for k, v in links.items() if k != "manifest"} | {"best_run": prefix}


def finish_cancelled_sweep(job_id: str, deps: CompletionDeps, now: Callable[[], datetime]) -> None:
    """A cancelled sweep whose runs had all ended or never started: no run will report, so end it here."""
    job = deps.jobs.get(job_id)
    if job is not None and job.is_sweep and not job.state.is_terminal and sweep_runs.all_ended(job):
        finish_sweep(job, deps, now)
