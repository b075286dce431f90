"""`make demo`: bring up the local stack and push examples/spm through the whole pipeline, then say where to look."""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime

from shared.cli import client
from shared.cli.client import ClientConfig
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

    history = {c["state"]: _parse(c["at"]) for c in job["history"]}
    terminal_at = _parse(job["history"][-1]["at"])
    print()
    print(f"job id        {job_id}")
    print(f"state         {job['state']}" + (f" ({job['reason']})" if job.get("reason") else ""))
    print(f"results       gs://{os.environ['RESULTS_BUCKET']}/{job.get('results_prefix')}")
    print(f"              on disk: {layout.state / 'gcs' / os.environ['RESULTS_BUCKET']}")
    for kind, uri in (job.get("artifacts") or {}).items():
        print(f"  {kind:<10}  {uri}")
    print("metrics")
    for key, value in (job.get("metrics") or {}).items():
        print(f"  {key:<18}  {value}")
    print(f"e-mail        {mail_path}")
    if "SUBMITTED" in history:
        print(f"latency       upload -> sbatch accepted: {(history['SUBMITTED'] - uploaded_at).total_seconds():.2f} s")
    if job.get("cluster_ended_at"):
        epilog = _parse(job["cluster_ended_at"])
        print(f"latency       epilog -> terminal state recorded: {(terminal_at - epilog).total_seconds():.2f} s")
    print(f'\nfollow it yourself:  eval "$(.venv/bin/olc stack env)"; OLC_USER={DEMO_USER} .venv/bin/olc jobs list')
    print("stop the stack:      make stack-down")
    return 0 if job["state"] == "SUCCEEDED" else 1


def _print_progress(job: dict[str, str]) -> None:
    print(f"  {job['state']:<10} {job.get('stage') or ''}", flush=True)


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"demo finished in {time.monotonic() - started:.1f} s")
    sys.exit(code)
