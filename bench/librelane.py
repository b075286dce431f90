"""The real LibreLane flow (librelane-osu035) through the local stack: N runs of examples/spm, one after another.

For each run it polls the API (GET /v1/jobs/{id}, every 50 ms) and notes when each LibreLane step first shows there;
the step's start is what the job kit read from the step's folder (its oldest file), recorded in the job's timeline.
Prints a table of p50/p95/max for
  flow runtime                 (the stages' own runtime, from the run's manifest)
  whole-job overhead           (upload -> terminal state, minus the flow runtime)
  peak memory of the run       (the flow's processes, from the manifest)
  step folder -> step in API   (a step's start -> the API first showing it)
and, as its last line, one JSON object with the same figures.
Usage: python bench/librelane.py [--runs 10] [--design spm] [--stack demo]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime

from percentiles import percentile  # bench/percentiles.py: scripts here run with bench/ first on sys.path

from devstack.load import design_archive, job_record
from devstack.stack import REPO_ROOT, LocalStack, StackLayout
from olc_cli import client
from olc_cli.client import ClientConfig

USER = "bench-librelane@example.com"
FLOW = "librelane-osu035"
POLL_S = 0.05
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED", "TIMEOUT", "REJECTED")


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def run_one(config: ClientConfig, design: str) -> dict[str, object]:
    archive = design_archive(REPO_ROOT / "examples" / design, OLC_FLOW=FLOW)
    source = client.upload(config, f"{design}-librelane.tar.gz", archive, notify=False, reuse=False)
    uploaded = datetime.now(UTC).timestamp()
    job_id = client.expected_job_id(source)
    first_seen: dict[str, float] = {}
    deadline = time.monotonic() + 300
    job = None
    while time.monotonic() < deadline:
        job = client.api_get(config, f"/v1/jobs/{job_id}")
        now = time.time()
        if job is not None:
            for event in job["timeline"]:
                if event.get("step"):
                    first_seen.setdefault(event["name"], now)
            if job["state"] in TERMINAL:
                break
        time.sleep(POLL_S)
    if job is None or job["state"] != "SUCCEEDED":
        raise RuntimeError(f"job {job_id} ended {job and job['state']}: {job and job.get('reason')}")
    record = job_record(job_id)
    ended = record.entered_at(record.state)
    assert ended is not None and record.flow_runtime_s is not None
    steps = [e for e in job["timeline"] if e.get("step")]
    # Only steps seen while the job was still running: after the end every step is there at once.
    lags = [first_seen[e["name"]] - _epoch(e["at"]) for e in steps if first_seen[e["name"]] < ended.timestamp()]
    return {
        "flow_runtime_s": record.flow_runtime_s,
        "overhead_s": (ended.timestamp() - uploaded) - record.flow_runtime_s,
        "peak_memory_mb": float((job.get("metrics") or {}).get("peak_memory_mb") or 0.0),
        "step_to_api_s": lags,
        "steps": len(steps),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--design", default="spm")
    parser.add_argument("--stack", default="demo")
    args = parser.parse_args()

    layout = StackLayout.for_name(args.stack)
    LocalStack(layout).up()
    os.environ.update(layout.client_env())
    config = ClientConfig.from_env(USER)
    samples = []
    for index in range(args.runs):
        sample = run_one(config, args.design)
        samples.append(sample)
        figures = f"flow {sample['flow_runtime_s']:.2f} s, overhead {sample['overhead_s']:.2f} s"
        live = len(sample["step_to_api_s"])  # type: ignore[arg-type]
        print(f"run {index + 1}/{args.runs}: {figures}, {sample['steps']} steps, {live} seen live", flush=True)

    series: dict[str, list[float]] = {
        "flow_runtime_s": [float(s["flow_runtime_s"]) for s in samples],  # type: ignore[arg-type]
        "overhead_s": [float(s["overhead_s"]) for s in samples],  # type: ignore[arg-type]
        "peak_memory_mb": [float(s["peak_memory_mb"]) for s in samples],  # type: ignore[arg-type]
        "step_to_api_s": [lag for s in samples for lag in s["step_to_api_s"]],  # type: ignore[attr-defined]
    }
    print()
    print(f"{'measure':<30}{'p50':>9}{'p95':>9}{'max':>9}  n")
    labels = {
        "flow_runtime_s": "flow runtime (s)",
        "overhead_s": "whole-job overhead (s)",
        "peak_memory_mb": "peak memory of the run (MB)",
        "step_to_api_s": "step folder -> step in API (s)",
    }
    rows = {}
    for key, values in series.items():
        rows[key] = (statistics.median(values), percentile(values, 0.95), max(values))
        p50, p95, top = rows[key]
        print(f"{labels[key]:<30}{p50:>9.3f}{p95:>9.3f}{top:>9.3f}  {len(values)}")
    figures = {
        "runs": args.runs,
        "design": args.design,
        "flow": FLOW,
        "flow_runtime_p50_s": round(rows["flow_runtime_s"][0], 3),
        "flow_runtime_p95_s": round(rows["flow_runtime_s"][1], 3),
        "overhead_p50_s": round(rows["overhead_s"][0], 3),
        "overhead_p95_s": round(rows["overhead_s"][1], 3),
        "peak_memory_mb": round(rows["peak_memory_mb"][2], 1),
        "step_to_api_p50_s": round(rows["step_to_api_s"][0], 3),
        "step_to_api_p95_s": round(rows["step_to_api_s"][1], 3),
        "steps_seen_live": len(series["step_to_api_s"]),
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
