"""`olc repo add|list|remove`: run the design on every push to a repository's branch (POST/GET/DELETE /v1/repos)."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from olc_cli import client, render
from olc_cli.client import ClientConfig, ClientError
from shared.domain.webhooks import REPO_ID


def add(args: argparse.Namespace) -> int:
    config = ClientConfig.from_env(args.user)
    body = {"url": args.url, "branch": args.branch, "path": args.path or ""}
    registration = client.api_call(config, "POST", "/v1/repos", body)
    if registration is None:
        raise ClientError("the API offers no repository registrations here")
    if args.json:
        render.print_json(registration)
    else:
        print_registration(registration)
    return 0


def print_registration(registration: dict[str, Any], out: TextIO | None = None) -> None:
    out = out or sys.stdout
    folder = registration.get("path") or "the repository's root"
    print(
        f"registered {registration['id']}: {registration['url']}, branch {registration['branch']}, design in {folder}",
        file=out,
    )
    print("Now add the webhook in GitHub (the repository's Settings > Webhooks > Add webhook):", file=out)
    print(f"  Payload URL   {registration['webhook_url']}", file=out)
    print(f"  Content type  {registration.get('content_type', 'application/json')}", file=out)
    print(f"  Secret        {registration['secret']}", file=out)
    print("  Events        Just the push event", file=out)
    print(
        "The secret is shown only now. Every push to that branch then runs the design: `olc list` shows the jobs.",
        file=out,
    )


def list_repos(args: argparse.Namespace) -> int:
    reply = client.api_get(ClientConfig.from_env(args.user), "/v1/repos") or {"repos": []}
    if args.json:
        render.print_json(reply["repos"])
    else:
        repos_table(reply["repos"])
    return 0


def repos_table(repos: list[dict[str, Any]], out: TextIO | None = None) -> None:
    out = out or sys.stdout
    if not repos:
        print("no repositories registered; add one with `olc repo add URL --branch main`", file=out)
        return
    headings = ["ID", "URL", "BRANCH", "PATH", "CREATED"]
    rows = [[r["id"], r["url"], r["branch"], r.get("path") or "/", render.ago(r.get("created_at"))] for r in repos]
    widths = [max(len(row[i]) for row in (headings, *rows)) for i in range(len(headings))]
    for row in (headings, *rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip(), file=out)
    print(f"webhook URL for all of them: {repos[0]['webhook_url']}", file=out)


def remove(args: argparse.Namespace) -> int:
    if not REPO_ID.match(args.repo_id):
        raise ClientError(
            f"{args.repo_id!r} is not a registration id (r and 19 hex digits): `olc repo list` shows them"
        )
    reply = client.api_call(ClientConfig.from_env(args.user), "DELETE", f"/v1/repos/{args.repo_id}")
    if reply is None:
        raise ClientError(f"no repository registration {args.repo_id} of yours: `olc repo list` shows them")
    if args.json:
        render.print_json(reply)
    else:
        print(f"removed {args.repo_id}: its pushes start nothing any more (delete the webhook in GitHub too)")
    return 0
