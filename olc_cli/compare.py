"""`olc compare JOB[:RUN] JOB[:RUN] ...`: jobs and sweep runs side by side, the first as the reference, like the page
/compare?jobs=...; --json and --csv print the API's own export."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, TextIO

from olc_cli import client, history, render
from olc_cli.client import ClientConfig, ClientError
from shared.domain.compare import CompareError, EntryRef, parse_entries

_VERDICT_WORDS = {
    "better": "better",
    "worse": "worse",
    "equal": "same",
    "different": "different",
    "reference_not_measured": "reference not measured",
}


def entries(args: argparse.Namespace) -> tuple[EntryRef, ...]:
    """The command line's JOB[:RUN] arguments, checked as the API checks them (every problem at once)."""
    try:
        return parse_entries(args.entries)
    except CompareError as exc:
        raise ClientError("; ".join(exc.problems)) from exc


def compare(args: argparse.Namespace) -> int:
    if args.json and args.csv:
        raise ClientError("choose --json or --csv, not both")
    refs = entries(args)
    config = ClientConfig.from_env(args.user)
    query = urllib.parse.urlencode({"jobs": ",".join(str(r) for r in refs), "format": "csv" if args.csv else "json"})
    text = _get_text(config, f"/v1/compare?{query}")
    if args.csv:
        sys.stdout.write(text)
    elif args.json:
        render.print_json(json.loads(text))
    else:
        comparison_table(json.loads(text))
    return 0


def _get_text(config: ClientConfig, path: str) -> str:
    """GET an API path as text; the API's own message (e.g. "you have no job j…") as a ClientError otherwise."""
    if not config.api_url.startswith(("http://", "https://")):
        raise ClientError(f"OLC_API_URL must be an http(s) URL, not {config.api_url!r}")
    headers = {"Authorization": f"Bearer {config.bearer_token()}", "Accept": "application/json, text/csv"}
    request = urllib.request.Request(config.api_url + path, headers=headers)  # noqa: S310 - http(s) checked above
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310 - http(s) checked above
            return reply.read().decode()
    except urllib.error.HTTPError as exc:
        code, message = client._api_error(exc)
        raise ClientError(f"{message} (HTTP {exc.code} {code})") from exc
    except urllib.error.URLError as exc:
        raise ClientError(f"cannot reach the API at {config.api_url}: {exc.reason}") from exc


def comparison_table(data: dict[str, Any], out: TextIO | None = None) -> None:
    """The API's comparison as a terminal table: a column per entry, the reference first; each other figure with
    its difference (and in percent) and the verdict."""
    out = out or sys.stdout
    entries_ = data["entries"]
    print(f"{len(entries_)} runs side by side; the reference is {data['reference']}, the first column", file=out)
    table = [
        ["", "BETTER", *(e["ref"] for e in entries_)],
        ["design", "", *(e.get("design_name") or "-" for e in entries_)],
        ["state", "", *(e["state"] for e in entries_)],
    ]
    table += [
        [setting["name"], "setting", *(_setting_text(v) for v in setting["values"])] for setting in data["settings"]
    ]
    table += [
        [row["metric"], row["better"] or "", *(_cell_text(row["metric"], cell) for cell in row["cells"])]
        for row in data["rows"]
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip(), file=out)


def _cell_text(metric: str, cell: dict[str, Any]) -> str:
    value = history.figure_text(metric, {metric: cell["value"]})  # "not measured", never 0
    if cell["value"] is None or cell["verdict"] == "reference":
        return value
    word = _VERDICT_WORDS.get(cell["verdict"], cell["verdict"])
    if cell.get("difference") is None:
        return f"{value} {word}"
    change = _signed(cell["difference"])
    if cell.get("percent") is not None:
        change += f", {_signed(cell['percent'])}%"
    return f"{value} ({change}) {word}"


def _signed(number: float) -> str:
    text = history.figure_text("", {"": abs(number)})
    return ("+" if number > 0 else "-" if number < 0 else "±") + text


def _setting_text(value: Any) -> str:
    if value is None:
        return "not set"
    return json.dumps(value) if isinstance(value, dict | list) else str(value)
