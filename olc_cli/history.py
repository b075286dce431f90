"""`olc history DESIGN`: the runs of one design, newest first, with what each was made from (the git ref and commit,
or the uploaded file) and its key figures, like the page /designs/DESIGN."""

from __future__ import annotations

import argparse
import sys
import urllib.parse
from typing import Any, TextIO

from olc_cli import client, render
from olc_cli.client import ClientConfig, ClientError
from shared.domain.config_schema import IDENTIFIER as DESIGN_NAME  # config.json's DESIGN_NAME, as the API checks it
from shared.domain.metrics import KEY_METRICS, NOT_MEASURED

MAX_PAGE = 500  # the API's largest page
NO_FIGURES = "-"  # the run has no figures (yet); a figure it did not measure reads NOT_MEASURED
# Column headings of the key figures: short, so the table fits a terminal.
_HEADINGS = {
    "cell_count": "CELLS",
    "area_um2": "AREA_UM2",
    "wns_ns": "WNS_NS",
    "tns_ns": "TNS_NS",
    "hold_wns_ns": "HOLD_WNS",
    "drc_errors": "DRC",
    "lvs_match": "LVS",
    "power_total_w": "POWER_W",
    "wire_length_um": "WIRE_UM",
    "utilization_pct": "UTIL_PCT",
}


def history(args: argparse.Namespace) -> int:
    if not DESIGN_NAME.fullmatch(args.design):
        raise ClientError(f"{args.design!r} is not a design name (its DESIGN_NAME: letters, digits and _)")
    if args.limit < 1:
        raise ClientError("--limit must be at least 1")
    jobs = design_runs(ClientConfig.from_env(args.user), args.design, args.limit)
    if args.json:
        render.print_json(jobs)
    else:
        history_table(args.design, jobs)
    return 0


def design_runs(config: ClientConfig, design: str, limit: int) -> list[dict[str, Any]]:
    """The caller's newest `limit` jobs of `design`, a page of the API at a time."""
    jobs: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(jobs) < limit:
        query = {"design": design, "limit": str(min(limit - len(jobs), MAX_PAGE))}
        if cursor:
            query["cursor"] = cursor
        reply = client.api_get(config, "/v1/jobs?" + urllib.parse.urlencode(query)) or {"jobs": []}
        jobs += reply["jobs"]
        cursor = reply.get("next_cursor")
        if not cursor:
            break
    return jobs[:limit]


def source_text(job: dict[str, Any]) -> str:
    """`main @ 1a2b3c4d5e6f` for a design from git (the ref alone while fetching), else the uploaded file's name."""
    git = job.get("git")
    if git:
        return f"{git.get('ref')} @ {render.short_commit(git['commit'])}" if git.get("commit") else str(git.get("ref"))
    name = (job.get("upload") or {}).get("name") or ""
    return name.rsplit("/", 1)[-1] or "-"


def figure_text(key: str, metrics: dict[str, Any] | None) -> str:
    if not metrics:
        return NO_FIGURES
    value = metrics.get(key)
    if value is None:
        return NOT_MEASURED  # never 0
    if isinstance(value, bool):
        return "match" if value else "MISMATCH"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.6g}"
    return str(value)


def history_table(design: str, jobs: list[dict[str, Any]], out: TextIO | None = None) -> None:
    """e.g.
    runs of spm by commit, newest first
    JOB                   CREATED     STATE      SOURCE               CELLS  AREA_UM2  ...
    j0123456789abcdef012  3 min ago   SUCCEEDED  main @ 1a2b3c4d5e6f  377    77920     ...
    """
    out = out or sys.stdout
    if not jobs:
        print(f"no runs of {design} yet", file=out)
        return
    print(f"runs of {design} by commit, newest first", file=out)
    headings = ["JOB", "CREATED", "STATE", "SOURCE", *(_HEADINGS.get(key, key.upper()) for key in KEY_METRICS)]
    rows = [
        [
            job["id"],
            render.ago(job.get("created_at")),
            job["state"],
            source_text(job),
            *(figure_text(key, job.get("metrics")) for key in KEY_METRICS),
        ]
        for job in jobs
    ]
    widths = [max(len(row[i]) for row in (headings, *rows)) for i in range(len(headings))]
    for row in (headings, *rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip(), file=out)
    for job in jobs:
        if job.get("reused_from"):
            print(f"{job['id']}: same inputs as job {job['reused_from']}: results reused", file=out)
