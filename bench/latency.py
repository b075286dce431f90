"""Pipeline latency on the real local stack: N jobs one after another (default 20 x examples/spm).

Prints a table of p50/p95/max for
  upload -> sbatch accepted        (client upload finished -> SUBMITTED recorded)
  epilog -> terminal recorded      (epilog's timestamp -> terminal state in Firestore)
  epilog -> e-mail received        (epilog's timestamp -> message file written by the SMTP server)
  whole-job overhead               (upload -> terminal, minus the flow's own runtime from the manifest)
and, as its last line, one JSON object with the same figures.
Usage: python bench/latency.py [--jobs 20] [--design spm] [--stack demo]
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

from devstack.load import job_record
from devstack.mailbox import wait_for_mail
from devstack.stack import REPO_ROOT, LocalStack, StackLayout
from olc_cli import client
from olc_cli.client import ClientConfig
from shared.domain.job import JobState

USER = "bench@example.com"


def run_one(config: ClientConfig, layout: StackLayout, design: str) -> dict[str, float]:
    name, data = client.pack_design(REPO_ROOT / "examples" / design)
    source = client.upload(config, name, data, reuse=False)  # every job runs: reuse would skip the flow
    uploaded = datetime.now(UTC).timestamp()
    job_id = client.expected_job_id(source)
    job = client.wait_for_job(config, job_id, 300, lambda _: None)
    if job["state"] != "SUCCEEDED":
        raise RuntimeError(f"job {job_id} ended {job['state']}: {job.get('reason')}")
    mail_path, _ = wait_for_mail(layout.maildir, job_id)
    record = job_record(job_id)  # the stored job: its timestamps, as the API shows only what users need
    submitted, ended = record.entered_at(JobState.SUBMITTED), record.entered_at(record.state)
    assert submitted and ended and record.cluster_ended_at and record.flow_runtime_s is not None
    epilog = record.cluster_ended_at.timestamp()
    terminal = ended.timestamp()
    return {
        "upload_to_sbatch_s": submitted.timestamp() - uploaded,
        "epilog_to_terminal_s": terminal - epilog,
        "epilog_to_email_s": mail_path.stat().st_mtime - epilog,
        "overhead_s": (terminal - uploaded) - record.flow_runtime_s,
        "flow_runtime_s": float(job["flow_runtime_s"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--design", default="spm")
    parser.add_argument("--stack", default="demo")
    args = parser.parse_args()

    layout = StackLayout.for_name(args.stack)
    LocalStack(layout).up()
    os.environ.update(layout.client_env())
    config = ClientConfig.from_env(USER)
    samples = []
    began = time.monotonic()
    for index in range(args.jobs):
        samples.append(run_one(config, layout, args.design))
        print(f"job {index + 1}/{args.jobs}: " + ", ".join(f"{k} {v:.2f}" for k, v in samples[-1].items()), flush=True)
    wall = time.monotonic() - began

    figures: dict[str, object] = {"jobs": args.jobs, "design": args.design, "wall_s": round(wall, 1)}
    print()
    print(f"{'measure':<28}{'p50 s':>9}{'p95 s':>9}{'max s':>9}")
    for key, label in (
        ("upload_to_sbatch_s", "upload -> sbatch accepted"),
        ("epilog_to_terminal_s", "epilog -> terminal recorded"),
        ("epilog_to_email_s", "epilog -> e-mail received"),
        ("overhead_s", "whole-job overhead"),
        ("flow_runtime_s", "(flow runtime itself)"),
    ):
        values = [s[key] for s in samples]
        row = {
            "p50": round(statistics.median(values), 3),
            "p95": round(percentile(values, 0.95), 3),
            "max": round(max(values), 3),
        }
        figures[key] = row
        print(f"{label:<28}{row['p50']:>9.2f}{row['p95']:>9.2f}{row['max']:>9.2f}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
