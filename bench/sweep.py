"""A design-space sweep against the same runs as separate jobs, on the real local stack.

Uploads examples/spm once with a 2x3 OLC_SWEEP (PL_TARGET_DENSITY x CLOCK_PERIOD) and, separately, the same six
settings as six ordinary jobs uploaded together; measures the wall time from upload to the last end for each, and
prints the sweep's comparison table. The last line is one JSON object of the figures.
Usage: python bench/sweep.py [--stack demo]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from typing import Any

from devstack.load import design_archive
from devstack.stack import REPO_ROOT, LocalStack, StackLayout
from olc_cli import client
from olc_cli.client import ClientConfig

DENSITIES = (0.5, 0.7)
PERIODS = (4, 8, 16)
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED", "TIMEOUT", "REJECTED")


def wait_all(config: ClientConfig, job_ids: list[str], timeout_s: float = 900) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    done: dict[str, dict[str, Any]] = {}
    while len(done) < len(job_ids) and time.monotonic() < deadline:
        for job_id in job_ids:
            if job_id not in done:
                job = client.api_get(config, f"/v1/jobs/{job_id}")
                if job and job["state"] in TERMINAL:
                    done[job_id] = job
        time.sleep(0.5)
    if len(done) < len(job_ids):
        raise RuntimeError(f"{len(job_ids) - len(done)} jobs did not end in {timeout_s} s")
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", default="demo")
    args = parser.parse_args()
    layout = StackLayout.for_name(args.stack)
    LocalStack(layout).up()
    os.environ.update(layout.client_env())
    config = ClientConfig.from_env(f"bench-sweep-{uuid.uuid4().hex[:6]}@example.com")
    spm = REPO_ROOT / "examples" / "spm"

    sweep = {"parameters": {"PL_TARGET_DENSITY": list(DENSITIES), "CLOCK_PERIOD": list(PERIODS)}}
    began = time.monotonic()
    source = client.upload(config, "spm-sweep.tar.gz", design_archive(spm, OLC_SWEEP=sweep), reuse=False)
    job = wait_all(config, [client.expected_job_id(source)])[client.expected_job_id(source)]
    sweep_wall = time.monotonic() - began

    began = time.monotonic()
    separate = []
    for density in DENSITIES:
        for period in PERIODS:
            archive = design_archive(spm, PL_TARGET_DENSITY=density, CLOCK_PERIOD=period)
            source = client.upload(config, f"spm-{density}-{period}.tar.gz", archive, reuse=False)
            separate.append(client.expected_job_id(source))
    singles = wait_all(config, separate)
    separate_wall = time.monotonic() - began

    print(f"sweep {job['id']}: {job['state']} ({job['reason']})")
    print(f"{'run':<5}{'state':<11}{'density':>9}{'period ns':>11}{'area um2':>11}{'WNS ns':>8}{'DRC':>5}{'LVS':>6}")
    for run in job["sweep"]["runs"]:
        m = run.get("metrics") or {}
        best = "  <- best" if run["run"] == job["sweep"]["best_run"] else ""
        print(
            f"{run['run']:<5}{run['state']:<11}{run['settings']['PL_TARGET_DENSITY']:>9}"
            f"{run['settings']['CLOCK_PERIOD']:>11}{m.get('area_um2', '-'):>11}{m.get('wns_ns', '-'):>8}"
            f"{m.get('drc_errors', '-'):>5}{m.get('lvs_match', '-')!s:>6}{best}"
        )
    print()
    print(f"{'':<34}{'wall s':>8}")
    print(f"{'one sweep (1 upload, 1 sbatch)':<34}{sweep_wall:>8.1f}")
    print(f"{'6 separate jobs (6 uploads)':<34}{separate_wall:>8.1f}")
    figures = {
        "runs": len(job["sweep"]["runs"]),
        "sweep_state": job["state"],
        "best_run": job["sweep"]["best_run"],
        "throttle": job["sweep"]["throttle"],
        "sweep_wall_s": round(sweep_wall, 1),
        "separate_jobs_wall_s": round(separate_wall, 1),
        "separate_jobs_succeeded": sum(1 for j in singles.values() if j["state"] == "SUCCEEDED"),
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
