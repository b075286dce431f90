"""Result reuse on the real local stack: examples/spm run in full, then resubmitted unchanged.

Measures, each from the moment the client starts the submission to SUCCEEDED as the API shows it (polled every
20 ms):
  full run         the design with reuse off (`--no-cache`), --full times
  reused upload    the same archive uploaded again, --resubmit times (reuses a full run's results)
  reused git       the same design submitted from the stack's git server, --git times (fetch + reuse)
Prints a table and, as its last line, one JSON object with reused_p50_s, reused_p95_s, full_run_p50_s and more.
Usage: python bench/cache.py [--resubmit 20] [--full 3] [--git 5] [--flow librelane-osu035] [--stack demo]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from percentiles import percentile  # bench/percentiles.py: scripts here run with bench/ first on sys.path

from devstack.load import design_archive
from devstack.stack import REPO_ROOT, LocalStack, StackLayout
from olc_cli import client
from olc_cli.client import ClientConfig
from shared.domain.job import TERMINAL_STATES

POLL_S = 0.02
_TERMINAL = {s.value for s in TERMINAL_STATES}


def until_ended(
    config: ClientConfig, job_id: str, began: float, timeout_s: float = 600
) -> tuple[float, dict[str, Any]]:
    """Seconds from `began` (time.monotonic) to the job's end as the API shows it, and the job."""
    deadline = began + timeout_s
    while time.monotonic() < deadline:
        job = client.api_get(config, f"/v1/jobs/{job_id}")
        if job is not None and job["state"] in _TERMINAL:
            if job["state"] != "SUCCEEDED":
                raise RuntimeError(f"job {job_id} ended {job['state']}: {job.get('reason')}")
            return time.monotonic() - began, job
        time.sleep(POLL_S)
    raise RuntimeError(f"job {job_id} did not end within {timeout_s} s")


def upload_and_wait(config: ClientConfig, data: bytes, *, reuse: bool) -> tuple[float, dict[str, Any]]:
    began = time.monotonic()
    source = client.upload(config, "spm.tar.gz", data, notify=False, reuse=reuse)
    return until_ended(config, client.expected_job_id(source), began)


def git_and_wait(config: ClientConfig, url: str) -> tuple[float, dict[str, Any]]:
    began = time.monotonic()
    body = {"git": {"url": url, "ref": "main", "path": "spm"}, "notify": False}
    reply = client.api_call(config, "POST", "/v1/jobs", body) or {}
    return until_ended(config, reply["job_id"], began)


def sample(label: str, count: int, one: Callable[[], tuple[float, dict[str, Any]]]) -> list[tuple[float, dict]]:
    taken = []
    for index in range(count):
        seconds, job = one()
        taken.append((seconds, job))
        how = f"reused {job['reused_from']}" if job.get("reused_from") else f"ran (slurm {job.get('slurm_job_id')})"
        print(f"{label} {index + 1}/{count}: {seconds:.3f} s, {how}", flush=True)
    return taken


def row(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(values), 3),
        "p95": round(percentile(values, 0.95), 3),
        "max": round(max(values), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resubmit", type=int, default=20)
    parser.add_argument("--full", type=int, default=3)
    parser.add_argument("--git", type=int, default=5)
    parser.add_argument("--flow", default="librelane-osu035")
    parser.add_argument("--stack", default="demo")
    args = parser.parse_args()

    layout = StackLayout.for_name(args.stack)
    LocalStack(layout).up()
    os.environ.update(layout.client_env())
    config = ClientConfig.from_env(f"bench-cache-{uuid.uuid4().hex[:6]}@example.com")  # a user with no history
    data = design_archive(REPO_ROOT / "examples" / "spm", OLC_FLOW=args.flow)

    full = sample("full run", args.full, lambda: upload_and_wait(config, data, reuse=False))
    reused = sample("reused upload", args.resubmit, lambda: upload_and_wait(config, data, reuse=True))
    examples = f"{layout.git_url}/examples.git"
    git_user = ClientConfig.from_env(f"bench-cache-git-{uuid.uuid4().hex[:6]}@example.com")
    git_full = sample("git full run", 1, lambda: git_and_wait(git_user, examples)) if args.git else []
    git_reused = sample("reused git", args.git, lambda: git_and_wait(git_user, examples)) if args.git else []

    not_reused = [job["id"] for _, job in reused + git_reused if not job.get("reused_from")]
    if not_reused:
        raise RuntimeError(f"these resubmissions ran instead of reusing: {not_reused}")
    print()
    print(f"{'submission (-> SUCCEEDED seen)':<34}{'n':>4}{'p50 s':>9}{'p95 s':>9}{'max s':>9}")
    figures: dict[str, Any] = {"flow": args.flow, "resubmissions": args.resubmit}
    rows = [
        ("full run (reuse off)", "full_run", full),
        ("reused upload", "reused", reused),
        ("git, first (fetch + run)", "git_full_run", git_full),
        ("git, reused (fetch + reuse)", "git_reused", git_reused),
    ]
    for label, key, taken in rows:
        if not taken:
            continue
        figures_row = row([seconds for seconds, _ in taken])
        print(
            f"{label:<34}{len(taken):>4}{figures_row['p50']:>9.3f}{figures_row['p95']:>9.3f}{figures_row['max']:>9.3f}"
        )
        figures |= {f"{key}_p50_s": figures_row["p50"], f"{key}_p95_s": figures_row["p95"]}
    figures["reused_vs_full_ratio"] = round(figures["reused_p50_s"] / figures["full_run_p50_s"], 4)
    figures["reused_core_hours"] = sum(float(job.get("core_hours") or 0) for _, job in reused)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
