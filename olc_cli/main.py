"""`olc`: the OpenLane Cloud command line. `olc --help` lists the commands."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from olc_cli import client, compare, history, jobs, repos, results
from olc_cli.client import ClientConfig, ClientError


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (ClientError, RuntimeError) as exc:
        print(f"olc: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="olc",
        description="OpenLane Cloud: run RTL-to-GDS flows on Slurm from your terminal.",
        epilog='Sign-in: OLC_ID_TOKEN, else the local stack\'s development issuer (`eval "$(olc stack env)"`), '
        "else `gcloud auth print-identity-token`. Every command takes --json for scripts.",
    )
    parser.add_argument("--user", help=_USER_HELP)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    _job_commands(commands)
    _result_commands(commands)
    _repo_commands(commands)
    _account_and_stack_commands(commands)
    return parser


def _job_commands(commands: Any) -> None:
    """Submit and follow jobs."""
    submit = _command(
        commands, "submit", "upload a design folder or archive, or submit a git repository; prints the job and its page"
    )
    submit.add_argument(
        "source",
        metavar="PATH_OR_GIT_URL",
        help="design folder (config.json + sources), .tar.gz/.tgz/.tar/.zip, or https:// URL of a git repository",
    )
    submit.add_argument("--ref", default="main", help="git: branch, tag or full commit SHA (default main)")
    submit.add_argument("--path", dest="git_path", default="", help="git: the design folder in the repository")
    submit.add_argument("--no-cache", action="store_true", help="run even if a run with the same inputs succeeded")
    submit.add_argument("--watch", "--wait", dest="watch", action="store_true", help="then follow it to the end")
    submit.add_argument("--timeout", type=float, default=3600, help="seconds --watch waits (default 3600)")
    submit.add_argument("--no-email", action="store_true", help="no e-mails about this job")
    submit.add_argument("--via-bucket", action="store_true", help="upload straight to the bucket (gsutil rights)")
    submit.set_defaults(handler=jobs.submit, wait=False)
    again = _command(commands, "rerun", "run a job again from the same source (upload or commit), with changes")
    again.add_argument("job_id")
    again.add_argument(
        "--set",
        dest="changes",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config.json setting to change (repeatable); VALUE is read as JSON when it can be, else as text",
    )
    again.add_argument("--watch", "--wait", dest="watch", action="store_true", help="then follow it to the end")
    again.add_argument("--timeout", type=float, default=3600, help="seconds --watch waits (default 3600)")
    again.add_argument("--no-email", action="store_true", help="no e-mails about the new job")
    again.add_argument("--no-cache", action="store_true", help="run even if a run with the same inputs succeeded")
    again.set_defaults(handler=jobs.rerun, wait=False)

    watch = _command(commands, "watch", "follow a job live; exit 0 if it SUCCEEDED, 1 if it ended otherwise")
    watch.add_argument("job_id")
    watch.add_argument("--timeout", type=float, default=3600, help="give up after this many seconds (exit 3)")
    watch.set_defaults(handler=jobs.watch)

    status = _command(commands, "status", "one job: state, stage, timeline, metrics, page link")
    status.add_argument("job_id")
    status.set_defaults(handler=jobs.status)

    listing = _command(commands, "list", "your jobs, newest first (also those uploaded with gsutil)")
    listing.add_argument("--state", help="only these states, e.g. RUNNING or QUEUED,RUNNING")
    listing.add_argument("--limit", type=int, default=50, help="jobs per page (default 50)")
    listing.add_argument("--all", action="store_true", help="every page")
    listing.set_defaults(handler=jobs.list_jobs)

    cancel = _command(commands, "cancel", "cancel a job (waiting: at once; running: stopped in Slurm)")
    cancel.add_argument("job_id")
    cancel.set_defaults(handler=jobs.cancel)

    delete = _command(commands, "delete", "delete a finished job and its results (your upload stays)")
    delete.add_argument("job_id")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(handler=jobs.delete)


def _result_commands(commands: Any) -> None:
    """What a run left behind."""
    download = _command(commands, "download", "the whole run as a ZIP, or selected files (--artifact)")
    download.add_argument("job_id")
    download.add_argument("--artifact", action="append", metavar="GLOB", help="only files matching, e.g. '*.gds'")
    download.add_argument("--output", "-o", default=".", help="folder (or .zip file name) to write to")
    download.add_argument("--best", action="store_true", help="a sweep's best run and its comparison table and plot")
    download.set_defaults(handler=results.download)

    logs = _command(commands, "logs", "the end of the run's log")
    logs.add_argument("job_id")
    logs.add_argument("--lines", "-n", type=int, default=100, help="how many lines (default 100, at most 500)")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing while the run goes on")
    logs.set_defaults(handler=results.logs)

    metrics = _command(commands, "metrics", "the run's metrics (area, timing, DRC, LVS ...)")
    metrics.add_argument("job_id")
    metrics.set_defaults(handler=results.metrics)

    runs = _command(commands, "history", "the runs of one design by commit, newest first, with their key figures")
    runs.add_argument("design", help="the design's name (DESIGN_NAME in its config.json)")
    runs.add_argument("--limit", type=int, default=20, help="how many runs (default 20)")
    runs.set_defaults(handler=history.history)

    side = _command(commands, "compare", "jobs or sweep runs side by side: every metric, differences to the first")
    side.add_argument(
        "entries",
        nargs="+",
        metavar="JOB[:RUN]",
        help="2 to 10 of your jobs, the first as the reference; JOB:RUN is run RUN of a sweep job",
    )
    side.add_argument("--csv", action="store_true", help="the table as CSV (for a spreadsheet)")
    side.set_defaults(handler=compare.compare)


def _repo_commands(commands: Any) -> None:
    """Run on every push: registered repositories."""
    repo = commands.add_parser("repo", help="run the design on every push to a repository's branch")
    actions = repo.add_subparsers(required=True, metavar="ACTION")
    add = _command(actions, "add", "register a repository; prints the webhook's URL and secret to add in GitHub")
    add.add_argument("url", help="the repository's https:// URL, e.g. https://github.com/owner/repo.git")
    add.add_argument("--branch", default="main", help="pushes to this branch run the design (default main)")
    add.add_argument("--path", default="", help="the design folder inside the repository (default: its root)")
    add.set_defaults(handler=repos.add)
    listing = _command(actions, "list", "your registered repositories (secrets are never shown again)")
    listing.set_defaults(handler=repos.list_repos)
    remove = _command(actions, "remove", "stop running pushes of a registered repository")
    remove.add_argument("repo_id", help="the registration's id (r...), as `olc repo list` shows it")
    remove.set_defaults(handler=repos.remove)


def _account_and_stack_commands(commands: Any) -> None:
    """The old `jobs` spelling, quotas and the local stack."""
    # Kept from the first CLI: `olc jobs list|get`.
    old = commands.add_parser("jobs", help="same as list / status").add_subparsers(required=True, metavar="ACTION")
    old_list = _command(old, "list", "your jobs")
    old_list.add_argument("--limit", type=int, default=50)
    old_list.set_defaults(handler=jobs.list_jobs, state=None, all=False)
    old_get = _command(old, "get", "one job")
    old_get.add_argument("job_id")
    old_get.set_defaults(handler=jobs.status)

    quota = commands.add_parser("quota", help="show or (admins) change quotas").add_subparsers(
        required=True, metavar="ACTION"
    )
    quota_show = _command(quota, "show", "limits and this month's usage (yours, or USER's for admins)")
    quota_show.add_argument("target", nargs="?", help="user e-mail, or _defaults")
    quota_show.set_defaults(handler=_quota_show)
    quota_set = _command(quota, "set", "admins: override a user's limits, or the defaults with _defaults")
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

    stack = commands.add_parser(
        "stack", help="the local stack (emulators, Slurm, functions)", parents=[_GLOBAL_OPTIONS]
    )
    stack.add_argument("action", choices=["up", "down", "status", "env", "open"])
    stack.add_argument("--name", default="demo", help="stack name (default demo; the tests use 'test')")
    stack.set_defaults(handler=_stack)


_USER_HELP = "your e-mail (default $OLC_USER): your upload folder and local sign-in"
# The global options, accepted after the command too (`olc list --user X` as well as `olc --user X list`). SUPPRESS:
# a command that does not repeat an option keeps the value given before it.
_GLOBAL_OPTIONS = argparse.ArgumentParser(add_help=False)
_GLOBAL_OPTIONS.add_argument("--user", default=argparse.SUPPRESS, help=_USER_HELP)


def _command(commands: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    command = commands.add_parser(name, help=help_text, description=help_text, parents=[_GLOBAL_OPTIONS])
    command.add_argument("--json", action="store_true", help="machine-readable output")
    return command


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
    from devstack.stack import LocalStack, StackLayout, load_layout

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
    elif args.action == "open":
        user = (args.user or os.environ.get("OLC_USER") or "").lower()
        if not user:
            raise ClientError("whose page? pass --user EMAIL or set OLC_USER")
        # The local stack's pages take a development ID token from the URL fragment (never sent to the server).
        print(f"{layout.url('api')}/#token={layout.id_token(user)}")
    else:
        for key, value in layout.client_env().items():
            print(f"export {key}='{value}'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
