"""What the API shows of a job: the user-facing fields and links (the Firestore document holds more)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from shared.domain.job import Job, JobState
from shared.services.overview import QueueOverview
from shared.services.results import Artifact, LogTail


def _time(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def job_links(job: Job, base_url: str) -> dict[str, str]:
    api = f"{base_url}/v1/jobs/{job.id}"
    links = {"self": api, "page": f"{base_url}/jobs/{job.id}", "cancel": f"{api}/cancel"}
    if job.results_prefix and job.state.is_terminal:
        links |= {
            "artifacts": f"{api}/artifacts",
            "download": f"{api}/download",
            "metrics": f"{api}/metrics",
        }
        if "layout_png" in job.artifacts:
            links["layout"] = f"{api}/layout.png"
        if "layout_thumb_png" in job.artifacts:
            links["thumbnail"] = f"{api}/layout.png?size=thumb"
    # A sweep's summary; a search writes it after each batch too, so it is there while the job still runs.
    if job.results_prefix and "pareto_png" in job.artifacts:
        links["pareto"] = f"{api}/download?path=sweep/pareto.png"
        if "pareto_svg" in job.artifacts:  # the same plot, each run's point a link to its row on the page
            links["pareto_svg"] = f"{api}/download?path=sweep/pareto.svg"
        links["comparison_csv"] = f"{api}/download?path=sweep/comparison.csv"
        links["comparison_json"] = f"{api}/download?path=sweep/comparison.json"
    if job.results_prefix:
        links["logs"] = f"{api}/logs"
    return links


def progress(job: Job, planned_stages: Sequence[str]) -> dict[str, Any]:
    """How far the run is through its flow's stages, for progress bars: stages finished of the total."""
    if job.design is not None and job.design.sweep is not None:
        runs = len(job.design.sweep.runs)
        done = runs if job.state.is_terminal else sum(1 for r in job.runs if r.ended)
        return {"stages_done": done, "stages_total": runs, "planned_stages": [], "unit": "runs"}
    mark = job.stages[-1] if job.stages else None
    current = mark.describe() if mark is not None and mark.name == job.stage else job.stage
    if mark is not None and mark.step is not None and mark.steps and not job.state.is_terminal:
        # Inside a multi-step flow (OpenLane): its steps are the progress, "step 7 of 10: Yosys.Synthesis".
        done = min(mark.step - 1, mark.steps)
        return {
            "stages_done": done,
            "stages_total": mark.steps,
            "planned_stages": list(planned_stages),
            "unit": "steps",
            "current": current,
        }
    total = len(planned_stages)
    if job.state is JobState.SUCCEEDED:
        done = total
    elif job.stage in planned_stages:
        done = planned_stages.index(job.stage)  # the current stage is under way, not finished
    else:
        done = 0
    return {"stages_done": done, "stages_total": total, "planned_stages": list(planned_stages), "current": current}


def job_view(job: Job, base_url: str, planned_stages: Sequence[str] = ()) -> dict[str, Any]:
    return {
        "id": job.id,
        "owner": job.owner,
        "state": job.state.value,
        "stage": job.stage,
        "design_name": job.design_name,
        "flow": job.flow,
        "upload": {"name": job.source.name, "size": job.source.size},
        "git": _git_view(job),
        "reused_from": job.reused_from,
        # The design's settings as validated (config.json), e.g. for the page's "run again with changes" form.
        "design": {"flow_variables": dict(job.design.flow_variables)} if job.design else None,
        "parent_job": job.parent_job,
        "created_at": _time(job.created_at),
        "updated_at": _time(job.changed_at),
        "timeline": timeline(job),
        "progress": progress(job, planned_stages),
        "queue_position": job.queue_position,
        "estimated_start_at": _time(job.estimated_start_at),
        "reason": job.reason,
        "last_error": job.last_error,
        "error_excerpt": job.error_excerpt,
        "warnings": list(job.warnings),
        "metrics": job.metrics.to_dict() if job.metrics else None,
        "resources": {
            "cpus": job.resources.cpus,
            "memory_mb": job.resources.memory_mb,
            "time_limit_minutes": job.resources.time_limit_minutes,
        },
        "core_hours": job.core_hours,
        "flow_runtime_s": job.flow_runtime_s,
        "slurm_job_id": job.slurm_job_id,
        "notifications_enabled": job.notifications_enabled,
        "links": job_links(job, base_url),
        "sweep": sweep_view(job),
    }


def _git_view(job: Job) -> dict[str, Any] | None:
    if job.git is None:
        return None
    return {"url": job.git.url, "ref": job.git.ref, "path": job.git.path, "commit": job.git.commit}


def sweep_view(job: Job) -> dict[str, Any] | None:
    """A sweep's runs with their settings, state and figures; the best run once the job has ended."""
    if job.design is None or job.design.sweep is None:
        return None
    sweep = job.design.sweep
    runs = {r.index: r for r in job.runs}
    best = job.artifacts.get("best_run")
    search = sweep.search
    ended = sum(1 for r in job.runs if r.ended)
    return {
        "parameters": {name: list(values) for name, values in sweep.parameters.items()},
        "objective": sweep.objective.describe(),
        "throttle": job.array_throttle,
        # A search: its plan and how far it got, e.g. "14 of 30 runs" (runs lists the runs proposed so far).
        "search": None
        if search is None
        else {
            "strategy": search.strategy,
            "budget": search.budget,
            "batch": search.batch,
            "seed": search.seed,
            "objectives": [{sense: metric} for sense, metric in search.objectives],
            "parameters": {d.name: d.describe() for d in search.dimensions},
            "runs_ended": ended,
            "batches_submitted": len(job.arrays),
            "progress": f"{ended} of {search.budget} runs",
        },
        "best_run": int(best.rstrip("/").rsplit("/", 1)[-1]) if best else None,
        "runs": [
            {
                "run": i,
                "settings": dict(settings),
                "state": runs[i].state if i in runs else "PENDING",
                "stage": runs[i].stage if i in runs else None,
                "metrics": runs[i].metrics.to_dict() if i in runs and runs[i].metrics else None,
                "error": runs[i].error if i in runs else None,
            }
            for i, settings in enumerate(sweep.runs)
        ],
    }


def timeline(job: Job) -> list[dict[str, Any]]:
    """State changes and flow stages in the order they happened."""
    events = [
        {"kind": "state", "name": change.state.value, "at": change.at, "reason": change.reason}
        for change in job.history
    ]
    events += [
        {"kind": "stage", "name": mark.name, "at": mark.at, "reason": None, "step": mark.step, "steps": mark.steps}
        for mark in job.stages
    ]
    events.sort(key=lambda e: (e["at"], e["kind"] == "stage"))
    shown = []
    for index, event in enumerate(events):
        following = events[index + 1]["at"] if index + 1 < len(events) else None
        duration = round((following - event["at"]).total_seconds(), 3) if following else None
        shown.append({**event, "at": _time(event["at"]), "duration_s": duration})
    return shown


def artifact_view(artifact: Artifact) -> dict[str, Any]:
    return {
        "path": artifact.path,
        "size": artifact.size,
        "url": artifact.url,
        "expires_at": _time(artifact.expires_at),
    }


def log_view(job: Job, tail: LogTail) -> dict[str, Any]:
    return {"job_id": job.id, "state": job.state.value, "source": tail.source, "lines": tail.lines}


def overview_view(overview: QueueOverview) -> dict[str, Any]:
    return {
        "at": _time(overview.at),
        "jobs": {"queued": overview.queued, "submitted": overview.submitted, "running": overview.running},
        "wait_seconds": {"median": overview.median_wait_s, "p90": overview.p90_wait_s},
        "median_run_seconds": overview.median_run_s,
        "sample_size": overview.sample_size,
    }
