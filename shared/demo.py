"""`make demo`: bring up the local stack and push examples/spm through the whole pipeline, then say where to look."""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime

from shared.cli import client
from shared.cli.client import ClientConfig
from shared.domain.job import JobState
from shared.localstack.load import job_record
from shared.localstack.mailbox import wait_for_mail
from shared.localstack.stack import REPO_ROOT, LocalStack, StackLayout

DEMO_USER = "designer@example.com"


def main() -> int:
    layout = StackLayout.for_name("demo")
    print("bringing up the local stack (emulators, Cloud Storage, SMTP, Slurm, sshd, functions)...", flush=True)
    timings = LocalStack(layout).up()
    print("  " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
    os.environ.update(layout.client_env())
    config = ClientConfig.from_env(DEMO_USER)

    name, data = client.pack_design(REPO_ROOT / "examples" / "spm")
    source = client.upload(config, name, data)
    uploaded_at = datetime.now(UTC)
    job_id = client.expected_job_id(source)
    print(f"uploaded {source.uri}\njob {job_id}", flush=True)
    job = client.wait_for_job(config, job_id, 600, _print_progress)
    mail_path, _ = wait_for_mail(layout.maildir, job_id)

    record = job_record(job_id)  # the stored job, for the internal timestamps the API does not show
    print()
    print(f"job id        {job_id}")
    print(f"state         {job['state']}" + (f" ({job['reason']})" if job.get("reason") else ""))
    print(f"job page      {job['links']['page']}  (sign in: OLC_USER={DEMO_USER} .venv/bin/olc stack open)")
    print(f"results       gs://{os.environ['RESULTS_BUCKET']}/{record.results_prefix}")
    print(f"              on disk: {layout.state / 'gcs' / os.environ['RESULTS_BUCKET']}")
    for kind, uri in record.artifacts.items():
        print(f"  {kind:<16}  {uri}")
    print("metrics")
    for key, value in (job.get("metrics") or {}).items():
        print(f"  {key:<18}  {value}")
    print(f"e-mail        {mail_path}")
    submitted, ended = record.entered_at(JobState.SUBMITTED), record.entered_at(record.state)
    if submitted:
        print(f"latency       upload -> sbatch accepted: {(submitted - uploaded_at).total_seconds():.2f} s")
    if record.cluster_ended_at and ended:
        recorded = (ended - record.cluster_ended_at).total_seconds()
        print(f"latency       epilog -> terminal state recorded: {recorded:.2f} s")
    print(f'\nfollow it yourself:  eval "$(.venv/bin/olc stack env)"; export OLC_USER={DEMO_USER}')
    print("                     .venv/bin/olc list; .venv/bin/olc status " + job_id)
    print("stop the stack:      make stack-down")
    return 0 if job["state"] == "SUCCEEDED" else 1


def _print_progress(job: dict[str, str]) -> None:
    print(f"  {job['state']:<10} {job.get('stage') or ''}", flush=True)


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"demo finished in {time.monotonic() - started:.1f} s")
    sys.exit(code)
