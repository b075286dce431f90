"""How olc shows jobs in a terminal: tables, summaries and the live progress line."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from shared.domain.metrics import KEY_METRICS, NOT_MEASURED

BAR_WIDTH = 24


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))


def ago(stamp: str | None, now: datetime | None = None) -> str:
    if not stamp:
        return "-"
    then = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    seconds = int(((now or datetime.now(UTC)) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{max(seconds, 0)} s ago"


def detail(job: dict[str, Any]) -> str:
    if job.get("state") == "FETCHING":
        git = job.get("git") or {}
        return " ".join(["fetching", *(part for part in (git.get("url"), git.get("ref")) if part)])
    if job.get("queue_position"):
        start = (job.get("estimated_start_at") or "?")[11:19]
        return f"#{job['queue_position']} in queue, start ~{start}"
    return job.get("reason") or job.get("last_error") or job.get("stage") or ""


def job_table(jobs: list[dict[str, Any]], out: TextIO = sys.stdout) -> None:
    print(f"{'JOB':<21} {'STATE':<10} {'DESIGN':<16} {'CREATED':<12} DETAIL", file=out)
    for job in jobs:
        print(
            f"{job['id']:<21} {job['state']:<10} {(job.get('design_name') or '-')[:16]:<16} "
            f"{ago(job.get('created_at')):<12} {detail(job)[:70]}",
            file=out,
        )


def progress_line(job: dict[str, Any]) -> str:
    """e.g. `RUNNING  [#########---------------] 3/8 placement`."""
    progress = job.get("progress") or {}
    total = int(progress.get("stages_total") or 0)
    done = int(progress.get("stages_done") or 0)
    state = job["state"]
    if state == "FETCHING":  # e.g. `FETCHING   fetching https://host/repo.git main`: no stages known yet
        return f"{state:<10} {detail(job)}"
    if not total:
        return f"{state:<10} {job.get('stage') or detail(job)}"
    filled = round(BAR_WIDTH * done / total)
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    label = progress.get("current") or job.get("stage") or ""
    if state == "QUEUED":
        label = detail(job) or "waiting"
    return f"{state:<10} [{bar}] {done}/{total} {label}"


def job_summary(job: dict[str, Any], out: TextIO = sys.stdout) -> None:
    print(f"job      {job['id']}\nstate    {job['state']}", file=out)
    for line in _field_lines(job):
        print(line, file=out)
    if job.get("git"):
        print(f"git      {git_line(job['git'])}", file=out)
    for line in lineage_lines(job):
        print(line, file=out)
    if job.get("queue_position"):
        print(f"queue    #{job['queue_position']}, estimated start {job.get('estimated_start_at') or '?'}", file=out)
    print(f"page     {(job.get('links') or {}).get('page', '-')}", file=out)
    if job.get("timeline"):
        print("timeline", file=out)
        for event in job["timeline"]:
            print(f"  {event['at'][:19].replace('T', ' ')}  {timeline_label(event)}", file=out)
    if job.get("metrics"):
        print("metrics", file=out)
        for line in metric_lines(job["metrics"]):
            print(f"  {line}", file=out)
    if job.get("sweep"):
        sweep_table(job["sweep"], out)
    for warning in job.get("warnings") or ():
        print(f"warning  {warning}", file=out)
    if job.get("error_excerpt"):
        print("error excerpt:\n" + job["error_excerpt"], file=out)


def _field_lines(job: dict[str, Any]) -> list[str]:
    current = (job.get("progress") or {}).get("current")
    reused = job.get("reused_from")
    lines = []
    for key in ("design_name", "stage", "flow", "slurm_job_id", "reason", "last_error"):
        value = current if key == "stage" and current else job.get(key)
        if key == "reason" and reused and value and reused in value:
            continue  # the reuse line says it
        if value:
            lines.append(f"{key.split('_')[0]:<8} {value}")
    return lines


def short_commit(commit: str | None) -> str:
    return (commit or "")[:12]


def git_line(git: dict[str, Any]) -> str:
    """e.g. `https://host/examples.git  main @ 1a2b3c4d5e6f  (path spm)`; the ref alone while it is being fetched."""
    where = f"{git.get('ref')} @ {short_commit(git['commit'])}" if git.get("commit") else f"{git.get('ref')}"
    path = f"  (path {git['path']})" if git.get("path") else ""
    return f"{git.get('url')}  {where}{path}"


def lineage_lines(job: dict[str, Any]) -> list[str]:
    """The job whose results this one reused, and the job it reruns, each with the command that shows it."""
    lines = []
    if job.get("reused_from"):
        lines.append(
            f"reused   same inputs as job {job['reused_from']}: results reused (olc status {job['reused_from']})"
        )
    if job.get("parent_job"):
        lines.append(f"rerun    rerun of job {job['parent_job']} (olc status {job['parent_job']})")
    return lines


def timeline_label(event: dict[str, Any]) -> str:
    """e.g. `QUEUED`, `stage synthesis (0.4 s)`, `step 6 of 10 Yosys.Synthesis (0.8 s)`."""
    if event["kind"] == "state":
        return event["name"]
    if event.get("step"):
        of = f" of {event['steps']}" if event.get("steps") else ""
        label = f"step {event['step']}{of} {event['name']}"
    else:
        label = f"stage {event['name']}"
    duration = event.get("duration_s")
    return f"{label} ({duration:.1f} s)" if isinstance(duration, int | float) else label


def metric_lines(metrics: dict[str, Any]) -> list[str]:
    """`name  value` lines of a run's metrics (the API's dict, which leaves out what was not measured): KEY_METRICS
    always, "not measured" where absent (never 0); the other figures measured; one line per timing corner."""
    others = [key for key in metrics if key not in KEY_METRICS and key != "corners"]
    width = max(len(key) for key in (*KEY_METRICS, *others))
    lines = [f"{key:<{width}} {NOT_MEASURED if metrics.get(key) is None else metrics[key]}" for key in KEY_METRICS]
    lines += [f"{key:<{width}} {metrics[key]}" for key in others]
    corners = metrics.get("corners")
    if isinstance(corners, dict) and corners:
        lines.append("corners")
        for name, figures in sorted(corners.items()):
            shown = _corner_text(figures) if isinstance(figures, dict) else str(figures)
            lines.append(f"  {name:<{width - 2}} {shown}")
    return lines


def _corner_text(figures: dict[str, Any]) -> str:
    """e.g. `setup ws -0.21 wns -0.21 tns -1.48 vio 9 | hold ws 0.91 wns 0.0 tns 0.0 vio 0` (slacks in ns)."""
    sides = []
    for side in ("setup", "hold"):
        items = [
            f"{key[len(side) + 1 :].removesuffix('_ns').replace('violations', 'vio')} {value}"
            for key, value in figures.items()
            if key.startswith(side + "_")
        ]
        if items:
            sides.append(" ".join([side, *items]))
    return " | ".join(sides)


def sweep_table(sweep: dict[str, Any], out: TextIO = sys.stdout) -> None:
    search = sweep.get("search")
    if search:
        wanted = ", ".join(f"{s} {m}" for o in search["objectives"] for s, m in o.items())
        print(
            f"search   {search['strategy']} (seed {search['seed']}): {search['progress']} in batches of "
            f"{search['batch']}; {wanted}",
            file=out,
        )
    print(f"sweep    {sweep['objective']}; best run: {sweep.get('best_run')}", file=out)
    names = list(sweep["parameters"])
    print("  " + "  ".join(["RUN", "STATE     ", *names, "AREA_UM2", "WNS_NS", "DRC", "LVS"]), file=out)
    for run in sweep["runs"]:
        metrics = run.get("metrics") or {}
        missing = NOT_MEASURED if metrics else "-"  # "-": the run has no figures (yet)
        cells = [str(run["settings"].get(n)) for n in names] + [
            str(metrics.get(k, missing)) for k in ("area_um2", "wns_ns", "drc_errors", "lvs_match")
        ]
        marker = " *" if run["run"] == sweep.get("best_run") else ""
        print(f"  {run['run']:<3}  {run['state']:<10}  " + "  ".join(cells) + marker, file=out)
