"""olc commands about what a run produced: download, logs, metrics."""

from __future__ import annotations

import argparse
import fnmatch
import sys
import time
from pathlib import Path

from olc_cli import client, render
from olc_cli.client import ClientConfig, ClientError


def download(args: argparse.Namespace) -> int:
    """The whole run as one ZIP, or (with --artifact PATTERN) the matching files, each through its signed link."""
    config = ClientConfig.from_env(args.user)
    target = Path(args.output)
    if args.best:
        job = client.api_get(config, f"/v1/jobs/{args.job_id}")
        sweep = (job or {}).get("sweep")
        if not sweep:
            raise ClientError(f"job {args.job_id} is not a sweep: download it without --best")
        if sweep.get("best_run") is None:
            raise ClientError(f"job {args.job_id} has no best run (yet): `olc status {args.job_id}` says why")
        args.artifact = [f"runs/{sweep['best_run']}/*", "sweep/*", *(args.artifact or [])]
    if not args.artifact:
        archive = target / f"{args.job_id}.zip" if target.is_dir() else target
        size = client.download(config, f"/v1/jobs/{args.job_id}/download", archive)
        _report(args, [{"path": str(archive), "bytes": size}])
        return 0
    listing = client.job_call(config, args.job_id, suffix="/artifacts")
    chosen = [a for a in listing["artifacts"] if any(fnmatch.fnmatch(a["path"], p) for p in args.artifact)]
    if not chosen:
        names = ", ".join(a["path"] for a in listing["artifacts"][:20])
        raise ClientError(f"no file matches {' '.join(args.artifact)}; the run has: {names}")
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for artifact in chosen:
        path = target / artifact["path"]
        path.parent.mkdir(parents=True, exist_ok=True)
        written.append({"path": str(path), "bytes": client.download(config, artifact["url"], path, authorised=False)})
    _report(args, written)
    return 0


def _report(args: argparse.Namespace, written: list[dict[str, object]]) -> None:
    if args.json:
        render.print_json(written)
    else:
        for item in written:
            print(f"{item['path']}  ({item['bytes']} bytes)")


def logs(args: argparse.Namespace) -> int:
    config = ClientConfig.from_env(args.user)
    seen: list[str] = []
    while True:
        reply = client.job_call(config, args.job_id, suffix=f"/logs?lines={args.lines}")
        if args.json and not args.follow:
            render.print_json(reply)
            return 0
        fresh = _new_lines(seen, reply["lines"])
        for line in fresh:
            print(line)
        seen = reply["lines"]
        if not args.follow or reply["source"] != "live":
            return 0
        sys.stdout.flush()
        time.sleep(2)


def _new_lines(before: list[str], after: list[str]) -> list[str]:
    """The lines of `after` that follow the longest overlap with the end of `before` (tails shift as logs grow)."""
    for start in range(len(after), 0, -1):
        if before[-start:] == after[:start]:
            return after[start:]
    return after


def metrics(args: argparse.Namespace) -> int:
    config = ClientConfig.from_env(args.user)
    reply = client.job_call(config, args.job_id, suffix="/metrics")
    if args.json:
        render.print_json(reply)
    elif not reply["metrics"]:
        print(f"job {args.job_id} has no metrics ({reply['state']})")
    else:
        for key, value in reply["metrics"].items():
            print(f"{key:<20} {value}")
    return 0
