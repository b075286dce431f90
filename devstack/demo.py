"""`make demo`: bring up the local stack and push examples/spm through the whole pipeline twice, through the layout flow
(qflow: RTL to GDS and a picture) and through the real LibreLane (lint to synthesis, then OpenSTA); then submit the
same design from the stack's git server, which reuses the layout run's results; then say where to look."""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

from devstack.load import design_archive, job_record
from devstack.mailbox import wait_for_mail
from devstack.stack import REPO_ROOT, LocalStack, StackLayout
from olc_cli import client, render
from olc_cli.client import ClientConfig
from shared.domain.job import JobState

DEMO_USER = "designer@example.com"
SPM = REPO_ROOT / "examples" / "spm"
# What each demo job shows: the local layout flow, and LibreLane itself.
FLOWS = {
    "qflow-osu035": "layout flow (qflow: synthesis, placement, routing, DRC, LVS, GDS)",
    "librelane-osu035": "LibreLane 3.0 (its own steps from lint to synthesis checks, then OpenSTA)",
}


def main(stack: str = "demo") -> int:
    layout = StackLayout.for_name(stack)
    print("bringing up the local stack (emulators, Cloud Storage, SMTP, Slurm, sshd, functions)...", flush=True)
    timings = LocalStack(layout).up()
    print("  " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
    os.environ.update(layout.client_env())
    config = ClientConfig.from_env(DEMO_USER)

    submitted = {}
    for flow in FLOWS:
        # Reuse off: the demo shows the flows running (an earlier demo's identical run would be reused otherwise).
        data = design_archive(SPM, OLC_FLOW=flow)
        source = client.upload(config, f"spm-{flow}.tar.gz", data, reuse=False)
        submitted[flow] = (client.expected_job_id(source), datetime.now(UTC))
        print(f"uploaded {source.uri}\n  job {submitted[flow][0]} ({flow})", flush=True)
    jobs = {}
    for flow, (job_id, _) in submitted.items():
        print(f"following {job_id} ({flow}):", flush=True)
        jobs[flow] = client.wait_for_job(config, job_id, 600, _print_progress)

    for flow, job in jobs.items():
        job_id, uploaded_at = submitted[flow]
        _report(layout, job, flow, uploaded_at)
    from_git = _from_git(config, layout)
    first = submitted["qflow-osu035"][0]
    named = "" if stack == "demo" else f" --name {stack}"
    print(f'\nfollow them yourself:  eval "$(.venv/bin/olc stack env{named})"; export OLC_USER={DEMO_USER}')
    print(f"                       .venv/bin/olc list; .venv/bin/olc status {first}")
    print("the status page:       .venv/bin/olc stack open")
    print(f"stop the stack:        .venv/bin/olc stack down{named}")
    return 0 if all(job["state"] == "SUCCEEDED" for job in [*jobs.values(), from_git]) else 1


def _from_git(config: ClientConfig, layout: StackLayout) -> dict[str, Any]:
    """spm again, from git this time: the same inputs as the layout run, so its results are reused."""
    url = f"{layout.git_url}/examples.git"
    began = time.monotonic()
    body = {"git": {"url": url, "ref": "main", "path": "spm"}}
    reply = client.api_call(config, "POST", "/v1/jobs", body) or {}
    job = client.wait_for_job(config, reply["job_id"], 600, lambda _: None)
    seconds = time.monotonic() - began
    git = job.get("git") or {}
    print(f"\n=== from git: {url} {git.get('ref')} (path {git.get('path')})")
    print(f"job id        {job['id']}")
    print(f"state         {job['state']}" + (f" ({job['reason']})" if job.get("reason") else ""))
    print(f"commit        {git.get('commit')}")
    print(f"job page      {job['links']['page']}")
    print(f"submitted -> {job['state']} in {seconds:.2f} s, {job.get('core_hours') or 0} core-hours")
    return job


def _report(layout: StackLayout, job: dict[str, Any], flow: str, uploaded_at: datetime) -> None:
    job_id = job["id"]
    mail_path, _ = wait_for_mail(layout.maildir, job_id)
    record = job_record(job_id)  # the stored job, for the internal timestamps the API does not show
    print(f"\n=== {flow}: {FLOWS[flow]}")
    print(f"job id        {job_id}")
    print(f"state         {job['state']}" + (f" ({job['reason']})" if job.get("reason") else ""))
    print(f"job page      {job['links']['page']}  (sign in: OLC_USER={DEMO_USER} .venv/bin/olc stack open)")
    print(f"results       gs://{os.environ['RESULTS_BUCKET']}/{record.results_prefix}")
    print(f"              on disk: {layout.state / 'gcs' / os.environ['RESULTS_BUCKET']}")
    for kind, uri in record.artifacts.items():
        print(f"  {kind:<16}  {uri}")
    print("timeline")
    for event in job.get("timeline") or ():
        print(f"  {event['at'][11:23]}  {render.timeline_label(event)}")
    print("metrics")
    for line in render.metric_lines(job.get("metrics") or {}):
        print(f"  {line}")
    for warning in job.get("warnings") or ():
        print(f"warning       {warning}")
    print(f"e-mail        {mail_path}")
    submitted, ended = record.entered_at(JobState.SUBMITTED), record.entered_at(record.state)
    if submitted:
        print(f"latency       upload -> sbatch accepted: {(submitted - uploaded_at).total_seconds():.2f} s")
    if record.cluster_ended_at and ended:
        recorded = (ended - record.cluster_ended_at).total_seconds()
        print(f"latency       epilog -> terminal state recorded: {recorded:.2f} s")


def _print_progress(job: dict[str, Any]) -> None:
    current = (job.get("progress") or {}).get("current") or job.get("stage") or ""
    print(f"  {job['state']:<10} {current}", flush=True)


if __name__ == "__main__":
    started = time.monotonic()
    code = main(sys.argv[1] if len(sys.argv) > 1 else "demo")
    print(f"demo finished in {time.monotonic() - started:.1f} s")
    sys.exit(code)
