"""Pipeline latency on the real local stack: N jobs one after another, and where each one's overhead goes.

Default: 20 x examples/spm on the fast `yosys-osu035` flow (synthesis and STA in well under a second), after the
first job after a restart of the stack's functions has been timed on its own, --cold-starts times (cold functions).

The per-phase breakdown comes from timestamps the system records anyway: the job's history (QUEUED, SUBMITTED,
terminal), the run manifest's `timings` (written by the job kit, infra/slurm/olc_job.py: batch script start, kit
start, design fetched, stages ended, results uploaded) and the epilog's record (`cluster_ended_at`):

  ingest             upload finished (client)     -> QUEUED recorded
  dispatch           QUEUED                       -> SUBMITTED recorded (sbatch answered)
  slurm start        SUBMITTED                    -> the batch script's first line ran
  kit start-up       batch script                 -> the kit's Python is running
  design fetch       kit running                  -> design downloaded and unpacked
  stages             design fetched               -> last stage ended, minus the flow's own runtime (reports, forks)
  results upload     last stage ended             -> every result file uploaded
  manifest + exit    results uploaded             -> Slurm's epilog started (manifest upload, exit, job end)
  epilog -> terminal the epilog's record          -> terminal state recorded

Slurm starts a submitted job only on its next scheduler tick (about every second: docs/architecture.md), so jobs
sent back to back lock onto that tick and the "slurm start" phase comes out the same for all, by the length of a
job rather than by Slurm. Each upload therefore waits a random 0 to --gap seconds first (default 1: every phase of
the tick equally likely, as for uploads that arrive on their own). "own overhead" is the whole-job overhead without
the slurm start: the part this service's code and its other parts take.

Prints the table of p50/p95/max for each and, as its last line, one JSON object with overhead_p50_s,
overhead_p95_s, own_overhead_p50_s, own_overhead_p95_s, upload_to_sbatch_p95_s, first_upload_to_sbatch_s and the
breakdown.
Usage: python bench/latency.py [--flow yosys-osu035] [--jobs 20] [--design spm] [--stack demo] [--cold-starts 1]
       [--gap 1.0]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

from google.cloud import storage
from percentiles import percentile  # bench/percentiles.py: scripts here run with bench/ first on sys.path

from devstack.load import design_archive, job_record
from devstack.mailbox import wait_for_mail
from devstack.stack import REPO_ROOT, RESULTS_BUCKET, LocalStack, StackLayout
from olc_cli import client
from olc_cli.client import ClientConfig
from shared.domain.job import JobState

USER = "bench@example.com"
PHASES = (
    ("ingest_s", "ingest"),
    ("dispatch_s", "dispatch"),
    ("slurm_start_s", "slurm start"),
    ("kit_startup_s", "kit start-up"),
    ("design_fetch_s", "design fetch"),
    ("stages_overhead_s", "stages (minus flow)"),
    ("results_upload_s", "results upload"),
    ("manifest_and_exit_s", "manifest + exit"),
    ("epilog_to_terminal_s", "epilog -> terminal"),
)


def run_one(config: ClientConfig, layout: StackLayout, design: str, flow: str) -> dict[str, float]:
    data = design_archive(REPO_ROOT / "examples" / design, OLC_FLOW=flow)
    source = client.upload(config, f"{design}.tar.gz", data, reuse=False)  # every job runs: reuse would skip it
    uploaded = datetime.now(UTC).timestamp()
    job_id = client.expected_job_id(source)
    job = client.wait_for_job(config, job_id, 300, lambda _: None)
    if job["state"] != "SUCCEEDED":
        raise RuntimeError(f"job {job_id} ended {job['state']}: {job.get('reason')}")
    mail_path, _ = wait_for_mail(layout.maildir, job_id)
    record = job_record(job_id)  # the stored job: its timestamps, as the API shows only what users need
    queued, submitted = record.entered_at(JobState.QUEUED), record.entered_at(JobState.SUBMITTED)
    ended = record.entered_at(record.state)
    assert queued and submitted and ended and record.cluster_ended_at and record.flow_runtime_s is not None
    epilog, terminal = record.cluster_ended_at.timestamp(), ended.timestamp()
    timings = manifest_timings(record.results_prefix)
    figures = {
        "upload_to_sbatch_s": submitted.timestamp() - uploaded,
        "epilog_to_email_s": mail_path.stat().st_mtime - epilog,
        "overhead_s": (terminal - uploaded) - record.flow_runtime_s,
        "flow_runtime_s": float(record.flow_runtime_s),
        "ingest_s": queued.timestamp() - uploaded,
        "dispatch_s": submitted.timestamp() - queued.timestamp(),
        "epilog_to_terminal_s": terminal - epilog,
    }
    if timings:
        figures |= {
            "slurm_start_s": timings["script_started_at"] - submitted.timestamp(),
            "kit_startup_s": timings["kit_started_at"] - timings["script_started_at"],
            "design_fetch_s": timings["design_fetched_at"] - timings["kit_started_at"],
            "stages_overhead_s": timings["stages_ended_at"] - timings["design_fetched_at"] - record.flow_runtime_s,
            "results_upload_s": timings["results_uploaded_at"] - timings["stages_ended_at"],
            "manifest_and_exit_s": epilog - timings["results_uploaded_at"],
        }
        figures["own_overhead_s"] = figures["overhead_s"] - figures["slurm_start_s"]
    return figures


def manifest_timings(results_prefix: str) -> dict[str, float]:
    """The kit's timestamps from the run's manifest (empty for a kit that records none)."""
    blob = storage.Client(project="olc-local").bucket(RESULTS_BUCKET).blob(f"{results_prefix}manifest.json")
    timings = json.loads(blob.download_as_bytes()).get("timings") or {}
    return {key: float(value) for key, value in timings.items() if value is not None}


def first_job_after_start(layout: StackLayout, config: ClientConfig, design: str, flow: str) -> float:
    """Upload -> sbatch of the first job after the functions (re)started: cold imports, clients and connections.
    Only the functions restart: a restarted emulator (a JVM) is slow to answer at first, which production's
    Firestore and Pub/Sub never are."""
    LocalStack(layout).restart_functions()
    first = run_one(config, layout, design, flow)
    print(
        f"first job after start: upload -> sbatch {first['upload_to_sbatch_s']:.2f} s"
        f" (ingest {first['ingest_s']:.2f} s, dispatch {first['dispatch_s']:.2f} s)",
        flush=True,
    )
    return first["upload_to_sbatch_s"]


def row(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(values), 3),
        "p95": round(percentile(values, 0.95), 3),
        "max": round(max(values), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--design", default="spm")
    parser.add_argument("--flow", default="yosys-osu035")
    parser.add_argument("--stack", default="demo")
    parser.add_argument("--cold-starts", type=int, default=1, help="restarts of the stack, each timing its first job")
    parser.add_argument("--gap", type=float, default=1.0, help="most seconds to wait, at random, before each upload")
    args = parser.parse_args()

    layout = StackLayout.for_name(args.stack)
    LocalStack(layout).up()
    os.environ.update(layout.client_env())
    config = ClientConfig.from_env(USER)
    # One job first, untimed: a stack that up() has just started has fresh emulators (JVMs, slow to answer at first)
    # and a fresh slurmctld, which production's managed services and long-running cluster never are.
    run_one(config, layout, args.design, args.flow)
    firsts = [first_job_after_start(layout, config, args.design, args.flow) for _ in range(args.cold_starts)]

    samples: list[dict[str, float]] = []
    began = time.monotonic()
    for index in range(args.jobs):
        time.sleep(random.uniform(0, args.gap))  # not locked onto Slurm's scheduler tick (see above)
        samples.append(run_one(config, layout, args.design, args.flow))
        shown = ("upload_to_sbatch_s", "overhead_s", "flow_runtime_s")
        print(f"job {index + 1}/{args.jobs}: " + ", ".join(f"{k} {samples[-1][k]:.2f}" for k in shown), flush=True)
    wall = time.monotonic() - began

    figures: dict[str, Any] = {
        "jobs": args.jobs,
        "design": args.design,
        "flow": args.flow,
        "wall_s": round(wall, 1),
        "first_upload_to_sbatch_s": round(max(firsts), 3) if firsts else None,
    }
    print()
    print(f"{'measure':<30}{'p50 s':>9}{'p95 s':>9}{'max s':>9}")
    measures = [
        ("upload_to_sbatch_s", "upload -> sbatch accepted"),
        ("epilog_to_email_s", "epilog -> e-mail received"),
        ("overhead_s", "whole-job overhead"),
        ("own_overhead_s", "own overhead (- slurm start)"),
        ("flow_runtime_s", "(flow runtime itself)"),
    ]
    for key, label in measures:
        values = [s[key] for s in samples if key in s]
        if not values:
            continue
        figures[key] = row(values)
        print(f"{label:<30}{figures[key]['p50']:>9.3f}{figures[key]['p95']:>9.3f}{figures[key]['max']:>9.3f}")
    print("overhead by phase:")
    breakdown = {}
    for key, label in PHASES:
        values = [s[key] for s in samples if key in s]
        if values:
            breakdown[key] = row(values)
            cells = breakdown[key]
            print(f"  {label:<28}{cells['p50']:>9.3f}{cells['p95']:>9.3f}{cells['max']:>9.3f}")
    figures["overhead_p50_s"] = figures["overhead_s"]["p50"]
    figures["overhead_p95_s"] = figures["overhead_s"]["p95"]
    if "own_overhead_s" in figures:
        figures["own_overhead_p50_s"] = figures["own_overhead_s"]["p50"]
        figures["own_overhead_p95_s"] = figures["own_overhead_s"]["p95"]
    figures["upload_to_sbatch_p95_s"] = figures["upload_to_sbatch_s"]["p95"]
    figures["breakdown_p50_s"] = {key: cells["p50"] for key, cells in breakdown.items()}
    figures["breakdown"] = breakdown
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
