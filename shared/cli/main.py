"""`olc`: the OpenLane Cloud command line. `olc --help` lists the commands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from shared.cli import client
from shared.cli.client import ClientConfig, ClientError


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (ClientError, RuntimeError) as exc:
        print(f"olc: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="olc", description="OpenLane Cloud: run RTL-to-GDS flows on Slurm.")
    parser.add_argument("--user", help="your e-mail (local stack identity; default $OLC_USER)")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    submit = commands.add_parser("submit", help="upload a design folder or archive and create a job")
    submit.add_argument("path", type=Path, help="design folder (config.json + src/) or .tar.gz/.zip archive")
    submit.add_argument("--wait", action="store_true", help="follow the job until it ends; exit 0 only on success")
    submit.add_argument("--json", action="store_true", help="print the job document as JSON")
    submit.add_argument("--timeout", type=float, default=900, help="seconds --wait waits (default 900)")
    submit.add_argument("--no-email", action="store_true", help="do not e-mail me about this job")
    submit.set_defaults(handler=_submit)

    jobs = commands.add_parser("jobs", help="list or show your jobs").add_subparsers(required=True, metavar="ACTION")
    listing = jobs.add_parser("list", help="your jobs, newest first")
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(handler=_jobs_list)
    show = jobs.add_parser("get", help="one job")
    show.add_argument("job_id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_jobs_get)

    quota = commands.add_parser("quota", help="show or (admins) change quotas").add_subparsers(
        required=True, metavar="ACTION"
    )
    quota_show = quota.add_parser("show", help="limits and this month's usage (yours, or USER's for admins)")
    quota_show.add_argument("target", nargs="?", help="user e-mail, or _defaults")
    quota_show.add_argument("--json", action="store_true")
    quota_show.set_defaults(handler=_quota_show)
    quota_set = quota.add_parser("set", help="admins: override a user's limits, or the defaults with _defaults")
    quota_set.add_argument("target", help="user e-mail, or _defaults")
    quota_set.add_argument("--concurrency", type=int, help="user: most active jobs")
    quota_set.add_argument("--max-queued", type=int, help="user: most waiting jobs")
    quota_set.add_argument("--monthly-core-hours", type=float, help="user: core-hours per month")
    quota_set.add_argument("--global-concurrency", type=int, help="_defaults: most active jobs in all")
    quota_set.add_argument("--user-concurrency", type=int, help="_defaults: per-user active jobs")
    quota_set.add_argument("--user-max-queued", type=int, help="_defaults: per-user waiting jobs")
    quota_set.add_argument("--user-monthly-core-hours", type=float, help="_defaults: per-user core-hours")
    quota_set.add_argument("--budget-action", choices=["wait", "reject"], help="_defaults: over budget")
    quota_set.set_defaults(handler=_quota_set)

    cancel = commands.add_parser("cancel", help="cancel a job (queued: at once; running: scancel)")
    cancel.add_argument("job_id")
    cancel.add_argument("--json", action="store_true")
    cancel.set_defaults(handler=_cancel)

    stack = commands.add_parser("stack", help="the local stack (emulators, Slurm, functions)")
    stack.add_argument("action", choices=["up", "down", "status", "env"])
    stack.add_argument("--name", default="demo", help="stack name (default demo; the tests use 'test')")
    stack.set_defaults(handler=_stack)
    return parser


def _submit(args: argparse.Namespace) -> int:
    config = ClientConfig.from_env(args.user)
    name, data = client.pack_design(args.path)
    source = client.upload(config, name, data, notify=not args.no_email)
    job_id = client.expected_job_id(source)
    if not args.json:
        print(f"uploaded {source.uri} ({len(data)} bytes)\njob {job_id}")
    if not args.wait:
        if args.json:
            print(json.dumps({"job_id": job_id, "upload": source.uri}))
        return 0

    def show(job: dict[str, Any]) -> None:
        if not args.json:
            stage = f" ({job['stage']})" if job.get("stage") else ""
            print(f"  {job['state']}{stage}", flush=True)

    job = client.wait_for_job(config, job_id, args.timeout, show)
    if args.json:
        print(json.dumps(job, indent=2))
    else:
        _print_summary(job)
    return 0 if job["state"] == "SUCCEEDED" else 1


def _jobs_list(args: argparse.Namespace) -> int:
    config = ClientConfig.from_env(args.user)
    reply = client.api_get(config, f"/v1/jobs?limit={args.limit}") or {"jobs": []}
    if args.json:
        print(json.dumps(reply["jobs"], indent=2))
        return 0
    print(f"{'JOB':<21} {'STATE':<10} {'DESIGN':<16} {'CREATED':<20} DETAIL")
    for job in reply["jobs"]:
        detail = job.get("reason") or job.get("stage") or ""
        if job.get("queue_position"):
            detail = f"#{job['queue_position']} in queue, start ~{(job.get('estimated_start_at') or '?')[11:19]}"
        print(
            f"{job['id']:<21} {job['state']:<10} {(job.get('design_name') or '-'):<16} "
            f"{job['created_at'][:19]:<20} {detail[:60]}"
        )
    return 0


def _jobs_get(args: argparse.Namespace) -> int:
    config = ClientConfig.from_env(args.user)
    job = client.api_get(config, f"/v1/jobs/{args.job_id}")
    if job is None:
        raise ClientError(f"no job {args.job_id} of yours")
    if args.json:
        print(json.dumps(job, indent=2))
    else:
        _print_summary(job)
    return 0


def _print_summary(job: dict[str, Any]) -> None:
    print(f"job      {job['id']}\nstate    {job['state']}")
    for key in ("design_name", "stage", "slurm_job_id", "reason"):
        if job.get(key):
            print(f"{key.split('_')[0]:<8} {job[key]}")
    if job.get("queue_position"):
        print(f"queue    position {job['queue_position']}, estimated start {job.get('estimated_start_at') or '?'}")
    for change in job.get("history", []):
        print(f"  {change['at']}  {change['state']}")
    for key, value in (job.get("metrics") or {}).items():
        print(f"  {key:<20} {value}")
    for key, value in (job.get("artifacts") or {}).items():
        print(f"  {key:<8} {value}")
    if job.get("error_excerpt"):
        print("error excerpt:\n" + job["error_excerpt"])


def _cancel(args: argparse.Namespace) -> int:
    config = ClientConfig.from_env(args.user)
    reply = client.api_call(config, "POST", f"/v1/jobs/{args.job_id}/cancel", {})
    if reply is None:
        raise ClientError(f"no job {args.job_id} of yours")
    print(json.dumps(reply, indent=2) if args.json else f"{reply['job_id']}: {reply['message']}")
    return 0


def _quota_show(args: argparse.Namespace) -> int:
    config = ClientConfig.from_env(args.user)
    path = f"/v1/quotas/{args.target}" if args.target else "/v1/quota"
    reply = client.api_call(config, "GET", path) or {}
    if args.json:
        print(json.dumps(reply, indent=2))
    else:
        for key, value in (reply.get("defaults") or reply).items():
            print(f"{key:<22} {value}")
    return 0


_USER_FIELDS = ("concurrency", "max_queued", "monthly_core_hours")
_DEFAULT_FIELDS = (
    "global_concurrency",
    "user_concurrency",
    "user_max_queued",
    "user_monthly_core_hours",
    "budget_action",
)


def _quota_set(args: argparse.Namespace) -> int:
    config = ClientConfig.from_env(args.user)
    wanted = _DEFAULT_FIELDS if args.target == "_defaults" else _USER_FIELDS
    values = {name: getattr(args, name) for name in wanted if getattr(args, name) is not None}
    if not values:
        raise ClientError(f"nothing to set; options for {args.target}: {', '.join(wanted)}")
    reply = client.api_call(config, "PUT", f"/v1/quotas/{args.target}", values) or {}
    print(json.dumps(reply, indent=2))
    return 0


def _stack(args: argparse.Namespace) -> int:
    from shared.localstack.stack import LocalStack, StackLayout, load_layout

    layout = StackLayout.for_name(args.name) if args.action == "up" else load_layout(args.name)
    stack = LocalStack(layout)
    if args.action == "up":
        timings = stack.up()
        print("local stack up: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
        print(f'use it: eval "$(olc stack env --name {args.name})"')
    elif args.action == "down":
        stack.down()
        print(f"local stack {args.name} stopped")
    elif args.action == "status":
        for part, state in stack.status().items():
            print(f"{part:<12} {state}")
    else:
        for key, value in layout.client_env().items():
            print(f"export {key}='{value}'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
