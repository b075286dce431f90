"""olc commands about jobs: submit, watch, status, list, cancel, delete."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from olc_cli import client, render
from olc_cli.client import ClientConfig, ClientError
from shared.domain.job import TERMINAL_STATES

_TERMINAL = {s.value for s in TERMINAL_STATES}
POLL_S = 1.0


def submit(args: argparse.Namespace) -> int:
    config = ClientConfig.from_env(args.user)
    if _is_url(args.source):
        return _submit_git(config, args)
    if args.git_path or args.ref != "main":
        raise ClientError("--ref and --path are for git submissions: give an https:// repository URL")
    name, data = client.pack_design(Path(args.source))
    notify, reuse = not args.no_email, not args.no_cache
    if args.via_bucket:
        source = client.upload(config, name, data, notify=notify, reuse=reuse)
    else:
        source = client.upload_via_api(config, name, data, notify=notify, reuse=reuse)
    job_id = client.expected_job_id(source)
    summary = {"job_id": job_id, "upload": source.uri, "size": len(data), "page": f"{config.api_url}/jobs/{job_id}"}
    return _started(config, args, summary, f"uploaded {source.uri} ({len(data)} bytes)")


def _submit_git(config: ClientConfig, args: argparse.Namespace) -> int:
    body = {
        "git": {"url": args.source, "ref": args.ref, "path": args.git_path},
        "notify": not args.no_email,
        "reuse": not args.no_cache,
    }
    reply = client.api_call(config, "POST", "/v1/jobs", body) or {}
    git = reply.get("git") or {}
    where = f"{git.get('url')} {git.get('ref')}" + (f" (path {git['path']})" if git.get("path") else "")
    summary = {"job_id": reply["job_id"], "git": git, "page": reply["page"]}
    return _started(config, args, summary, f"submitted {where}: fetching")


def rerun(args: argparse.Namespace) -> int:
    config = ClientConfig.from_env(args.user)
    body = {"overrides": _changes(args.changes), "reuse": not args.no_cache}
    if args.no_email:
        body["notify"] = False
    reply = client.job_call(config, args.job_id, "POST", "/rerun", body)
    summary = {"job_id": reply["job_id"], "parent_job": reply["parent_job"], "page": reply["page"]}
    return _started(config, args, summary, f"rerun of {reply['parent_job']} from {reply['upload']}")


def _started(config: ClientConfig, args: argparse.Namespace, summary: dict[str, Any], what: str) -> int:
    """Print the new job (JSON with --json), then follow it with --watch."""
    text = f"{what}\njob {summary['job_id']}\npage {summary['page']}"
    if not args.watch:
        if args.json:
            render.print_json(summary)
        else:
            print(text)
        return 0
    print(text, file=sys.stderr)
    return _follow(config, summary["job_id"], args.timeout, args.json)


def _is_url(source: str) -> bool:
    # Any scheme counts as a URL here, so file://, ssh:// and the like reach the API and get its reason for refusing.
    return "://" in source or source.startswith(("git@", "ext::"))


def _changes(pairs: list[str]) -> dict[str, Any]:
    """KEY=VALUE pairs as settings: VALUE as JSON when it parses (12, true, ["a"]), else as text ("AREA 1")."""
    changes: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ClientError(f"--set {pair!r}: write KEY=VALUE, e.g. --set CLOCK_PERIOD=12")
        try:
            changes[key.strip()] = json.loads(value)
        except ValueError:
            changes[key.strip()] = value
    return changes


def watch(args: argparse.Namespace) -> int:
    return _follow(ClientConfig.from_env(args.user), args.job_id, args.timeout, args.json)


def _follow(config: ClientConfig, job_id: str, timeout_s: float, as_json: bool) -> int:
    """Show the job's progress until it ends; exit 0 on SUCCEEDED, 1 on any other end, 3 on timeout."""
    live = sys.stderr.isatty() and not as_json
    deadline = time.monotonic() + timeout_s
    last_line = ""
    job: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        job = client.api_get(config, f"/v1/jobs/{job_id}")
        if job is not None:
            line = render.progress_line(job)
            if line != last_line:  # progress goes to stderr, so --json output on stdout stays clean
                # A terminal gets one line redrawn in place; a pipe or log file gets one line per change.
                print(("\r\x1b[2K" + line) if live else line, end="" if live else "\n", file=sys.stderr, flush=True)
                last_line = line
            if job["state"] in _TERMINAL:
                break
        time.sleep(POLL_S)
    if live:
        print(file=sys.stderr)
    if job is None:
        raise ClientError(f"no job {job_id} of yours (yet): is the id right? `olc list` shows your jobs")
    if job["state"] not in _TERMINAL:
        print(f"olc: job {job_id} is still {job['state']} after {timeout_s:.0f} s; `olc watch {job_id}` goes on")
        return 3
    if as_json:
        render.print_json(job)
    else:
        render.job_summary(job)
    return 0 if job["state"] == "SUCCEEDED" else 1


def status(args: argparse.Namespace) -> int:
    config = ClientConfig.from_env(args.user)
    job = client.job_call(config, args.job_id)
    if args.json:
        render.print_json(job)
    else:
        render.job_summary(job)
    return 0


def list_jobs(args: argparse.Namespace) -> int:
    config = ClientConfig.from_env(args.user)
    query = f"/v1/jobs?limit={min(args.limit, 500)}" + (f"&state={args.state.upper()}" if args.state else "")
    jobs: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        reply = client.api_get(config, query + (f"&cursor={cursor}" if cursor else "")) or {"jobs": []}
        jobs += reply["jobs"]
        cursor = reply.get("next_cursor")
        if not (args.all and cursor):
            break
    if args.json:
        render.print_json(jobs)
    else:
        render.job_table(jobs)
        if cursor and not args.all:
            print(f"(more: olc list --all, or --limit {args.limit * 2})")
    return 0


def cancel(args: argparse.Namespace) -> int:
    config = ClientConfig.from_env(args.user)
    reply = client.job_call(config, args.job_id, "POST", "/cancel")
    if args.json:
        render.print_json(reply)
    else:
        print(f"{reply['job_id']}: {reply['message']}")
    return 0


def delete(args: argparse.Namespace) -> int:
    config = ClientConfig.from_env(args.user)
    if not args.yes:
        if not sys.stdin.isatty():
            raise ClientError("deleting removes the results for good: add --yes to confirm")
        answer = input(f"Delete job {args.job_id} and all its results for good? Type the job id to confirm: ")
        if answer.strip() != args.job_id:
            print("not deleted")
            return 1
    reply = client.job_call(config, args.job_id, "DELETE", f"?confirm={args.job_id}")
    if args.json:
        render.print_json(reply)
    else:
        print(f"{reply['job_id']}: deleted ({reply['objects_removed']} result files removed; your upload stays)")
    return 0
