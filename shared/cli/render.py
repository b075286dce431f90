"""How olc shows jobs in a terminal: tables, summaries and the live progress line."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

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
    if not total:
        return f"{state:<10} {job.get('stage') or detail(job)}"
    filled = round(BAR_WIDTH * done / total)
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    label = job.get("stage") or ""
    if state == "QUEUED":
        label = detail(job) or "waiting"
    return f"{state:<10} [{bar}] {done}/{total} {label}"


def job_summary(job: dict[str, Any], out: TextIO = sys.stdout) -> None:
    print(f"job      {job['id']}\nstate    {job['state']}", file=out)
    for key in ("design_name", "stage", "flow", "slurm_job_id", "reason", "last_error"):
        if job.get(key):
            print(f"{key.split('_')[0]:<8} {job[key]}", file=out)
    if job.get("queue_position"):
        print(f"queue    #{job['queue_position']}, estimated start {job.get('estimated_start_at') or '?'}", file=out)
    print(f"page     {(job.get('links') or {}).get('page', '-')}", file=out)
    if job.get("timeline"):
        print("timeline", file=out)
        for event in job["timeline"]:
            kind = "" if event["kind"] == "state" else "stage "
            print(f"  {event['at'][:19].replace('T', ' ')}  {kind}{event['name']}", file=out)
    if job.get("metrics"):
        print("metrics", file=out)
        for key, value in job["metrics"].items():
            print(f"  {key:<20} {value}", file=out)
    if job.get("sweep"):
        sweep_table(job["sweep"], out)
    if job.get("error_excerpt"):
        print("error excerpt:\n" + job["error_excerpt"], file=out)


def sweep_table(sweep: dict[str, Any], out: TextIO = sys.stdout) -> None:
    print(f"sweep    {sweep['objective']}; best run: {sweep.get('best_run')}", file=out)
    names = list(sweep["parameters"])
    print("  " + "  ".join(["RUN", "STATE     ", *names, "AREA_UM2", "WNS_NS", "DRC", "LVS"]), file=out)
    for run in sweep["runs"]:
        metrics = run.get("metrics") or {}
        cells = [str(run["settings"].get(n)) for n in names] + [
            str(metrics.get(k, "-")) for k in ("area_um2", "wns_ns", "drc_errors", "lvs_match")
        ]
        marker = " *" if run["run"] == sweep.get("best_run") else ""
        print(f"  {run['run']:<3}  {run['state']:<10}  " + "  ".join(cells) + marker, file=out)
