"""What a job costs in billed operations, counted on the real local stack: Firestore document reads and writes,
Pub/Sub messages published and function invocations, for

  plain job     examples/spm with OLC_FLOW yosys-osu035 (the fast flow), from the upload (through the API's
                signed URL, as `olc submit` does) to its terminal state and its e-mail
  sweep (6)     the same design with OLC_SWEEP {"parameters": {"CLOCK_PERIOD": [5, 10, 15, 20, 25, 30]}}
  LibreLane     the same plain job on librelane-osu035 (the real LibreLane, up to synthesis here), which reports
                each of its steps as it starts: what a step costs (--no-librelane skips it)
  idle tick     one tick of the dispatcher and reconciler with no job active (the median of --ticks)
  status poll   one GET /v1/jobs/{id} by its owner (what `olc watch` and the job page repeat)

How it counts: the stack runs with its usage proxy (StackLayout.usage_proxy, devstack/usage_proxy.py) on the
usual Firestore, Pub/Sub and function ports, with the real emulators and functions behind it. Every call any
process makes passes through it unchanged and is logged with what it costs by Firestore's billing rules and with
the process that made it:
  read         each document a get, batch-get or query returns; a query that returns nothing is one; a lookup of
               a document that does not exist is one too (printed apart, as "(missing)"); a count is one per
               1000 documents counted; a transaction's reads alike
  write        each document a successful commit creates, sets, updates or deletes (a field transform on the
               same document is part of that write)
  publish      each message a successful Publish carries (the storage notification's included)
  invocation   each HTTP request to a function: a Pub/Sub push, a report of the cluster's, an API call
No service code is involved in counting.

Each case is the calls logged from its start until the stack has been quiet for --quiet seconds after its end.
The stack's ticker is slowed to one tick a day, so no tick falls into a job's window; the idle ticks are published
by this script, as Cloud Scheduler would. (A deployment ticks every minute, and each job active during a tick adds
the reads of it that the tick's queries of active jobs return.) A first job, not counted, creates the documents
that exist in any deployment that has run a job (the dispatch lease, the user's monthly usage); the database is
otherwise fresh, so queries of active, queued or recent jobs return only these. The yosys flow ends within one
heartbeat (JOB_HEARTBEAT_S), so the job kit reports each stage once: a longer run adds one report per heartbeat in
which its log grew.

Prints the table, where the plain job's reads and writes come from (per function, per invocation and per RPC
method and target), and, as its last line, one JSON object (plain_job_reads, plain_job_writes, sweep6_reads, ...).
Usage: python bench/cost.py [--stack cost] [--ticks 3] [--quiet 3] [--keep-stack]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devstack.load import design_archive
from devstack.mailbox import wait_for_mail
from devstack.stack import PROJECT_ID, REPO_ROOT, TICK_TOPIC, LocalStack, StackLayout
from devstack.usage_proxy import read_log
from olc_cli import client
from olc_cli.client import ClientConfig
from shared.adapters.pubsub_publisher import PubSubPublisher
from shared.domain.messages import Tick

FLOW = "yosys-osu035"
LIBRELANE_FLOW = "librelane-osu035"
SWEEP = {"parameters": {"CLOCK_PERIOD": [5, 10, 15, 20, 25, 30]}}
TICK_ONCE_A_DAY_S = 86_400.0
JOB_TIMEOUT_S = 600
# What the processes the proxy names stand for in a deployment.
ROLES = {
    "fake-gcs-server-linux-amd64": "storage notification",
    "devstack.ticker": "scheduler",
    "cost.py": "this bench (user, scheduler)",
    "pubsub-emulator": "Pub/Sub push",
    "python3 (stdin)": "cluster: job kit",  # infra/slurm/job.sh.tmpl pipes the kit into python3
    "olc_notify.py": "cluster: epilog",
}


# Each case's key in the JSON line, and its name in the tables.
CASE_NAMES = {
    "plain_job": "plain job",
    "sweep6": "sweep (6 runs)",
    "librelane_job": "LibreLane job",
    "idle_tick": "idle tick",
    "status_poll": "status poll (GET)",
}


@dataclass
class Case:
    key: str
    events: list[dict[str, Any]]
    began: float
    job_id: str | None = None

    @property
    def name(self) -> str:
        return CASE_NAMES[self.key]

    def total(self, key: str) -> int:
        return sum(e.get(key, 0) for e in self.events if e["service"] != "http")

    @property
    def invocations(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["service"] == "http"]

    def absent_reads(self) -> int:
        """Reads that were lookups of documents that do not exist (counted as reads: see the docstring)."""
        return sum(
            count
            for e in self.events
            for target, count in e.get("read_targets", {}).items()
            if target.endswith("(missing)")
        )

    def figures(self) -> dict[str, int]:
        return {
            "reads": self.total("reads"),
            "writes": self.total("writes"),
            "publishes": self.total("messages"),
            "invocations": len(self.invocations),
            # The job kit's progress reports (one read and two writes each) and the epilog's end report: a run of
            # more steps, or longer than a heartbeat, sends more.
            "cluster_reports": sum(1 for e in self.invocations if e["function"] == "completion"),
        }


@dataclass
class Invocation:
    """One function call and the calls its function made while it ran."""

    event: dict[str, Any]
    calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def function(self) -> str:
        return str(self.event["function"])

    def trigger(self) -> str:
        event = self.event
        if (event["kind"] or "").startswith("push "):
            return str(event["kind"])
        caller = ROLES.get(event["caller"], event["caller"])
        what = event["kind"] or f"{event['method']} {_short_path(event['path'])}"
        return f"{what} ({caller})"

    def total(self, key: str) -> int:
        return sum(c.get(key, 0) for c in self.calls)


def _short_path(path: str) -> str:
    parts = ["{id}" if len(p) >= 16 and p[:1] == "j" else p for p in path.split("/")]
    return "/".join(parts) or "/"


# ---------------------------------------------------------------------------------------------- measuring
def wait_quiet(layout: StackLayout, quiet_s: float, timeout_s: float = 120) -> int:
    """Wait until the usage log has not grown for `quiet_s`; returns its length then."""
    deadline = time.monotonic() + timeout_s
    seen, since = len(read_log(layout.usage_log)), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = len(read_log(layout.usage_log))
        if now != seen:
            seen, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return seen
    raise RuntimeError(f"the stack did not go quiet within {timeout_s} s")


def measure(layout: StackLayout, key: str, action: Callable[[], str | None], quiet_s: float) -> Case:
    start = wait_quiet(layout, quiet_s)
    began = time.time()
    job_id = action()
    end = wait_quiet(layout, quiet_s)
    return Case(key, read_log(layout.usage_log)[start:end], began, job_id)


def run_job(config: ClientConfig, layout: StackLayout, archive: bytes, label: str) -> str:
    """Upload as `olc submit` does and wait for the job's end e-mail; returns the job id."""
    source = client.upload_via_api(config, f"{label}.tar.gz", archive, reuse=False)  # reuse would skip the run
    job_id = client.expected_job_id(source)
    wait_for_mail(layout.maildir, job_id, timeout_s=JOB_TIMEOUT_S)
    return job_id


def check_succeeded(config: ClientConfig, job_id: str) -> None:
    job = client.api_get(config, f"/v1/jobs/{job_id}") or {}
    if job.get("state") != "SUCCEEDED":
        raise RuntimeError(f"job {job_id} ended {job.get('state')}: {job.get('reason')}")


def tick() -> None:
    """What Cloud Scheduler (devstack/ticker.py locally) publishes."""
    PubSubPublisher(PROJECT_ID).publish(TICK_TOPIC, Tick(at=time.time()))


def poll_status(config: ClientConfig, job_id: str) -> None:
    client.api_get(config, f"/v1/jobs/{job_id}")


# ---------------------------------------------------------------------------------------------- reporting
def by_invocation(case: Case) -> tuple[list[Invocation], list[dict[str, Any]]]:
    """Each Firestore or Pub/Sub call of a function, given to the one call of that function running when it
    began; the others (not made by a function, or while two calls of it overlapped) are returned apart."""
    invocations = [Invocation(e) for e in case.invocations]
    apart = []
    for call in (e for e in case.events if e["service"] != "http"):
        running = [
            i for i in invocations if i.function == call["caller"] and i.event["began"] <= call["began"] <= i.event["t"]
        ]
        if len(running) == 1:
            running[0].calls.append(call)
        else:
            apart.append(call)
    return invocations, apart


def targets(calls: list[dict[str, Any]]) -> str:
    counted: Counter[str] = Counter()
    for call in calls:
        for key in ("read_targets", "write_targets", "message_targets"):
            for target, count in call.get(key, {}).items():
                prefix = {"read_targets": "R", "write_targets": "W", "message_targets": "P"}[key]
                counted[f"{prefix} {target}"] += count
    return ", ".join(f"{target} x{count}" for target, count in sorted(counted.items()))


def print_summary(cases: list[Case]) -> None:
    print(f"{'case':<22}{'invocations':>12}{'(cluster reports)':>18}{'publishes':>10}{'reads':>8}{'writes':>8}")
    for case in cases:
        f = case.figures()
        print(
            f"{case.name:<22}{f['invocations']:>12}{f['cluster_reports']:>18}{f['publishes']:>10}"
            f"{f['reads']:>8}{f['writes']:>8}"
        )


def print_by_function(case: Case) -> None:
    """Per process: what it cost, and how often each function was invoked."""
    rows: dict[str, Counter[str]] = defaultdict(Counter)
    for event in case.events:
        if event["service"] == "http":
            rows[event["function"]]["invocations"] += 1
        else:
            row = rows[ROLES.get(event["caller"], event["caller"])]
            row["reads"] += event["reads"]
            row["writes"] += event["writes"]
            row["publishes"] += event["messages"]
    print(f"\n{case.name}, by function (or other caller):")
    print(f"  {'function':<30}{'invocations':>12}{'publishes':>10}{'reads':>8}{'writes':>8}")
    for name, row in sorted(rows.items(), key=lambda item: -(item[1]["reads"] + item[1]["writes"])):
        print(f"  {name:<30}{row['invocations']:>12}{row['publishes']:>10}{row['reads']:>8}{row['writes']:>8}")


def print_by_invocation(case: Case) -> None:
    invocations, apart = by_invocation(case)
    print(f"\n{case.name}, by invocation (R read, W write, P publish; seconds after the case began):")
    for invocation in invocations:
        event = invocation.event
        print(
            f"  +{event['began'] - case.began:6.2f}s {invocation.function:<11}{invocation.trigger():<48}"
            f"R{invocation.total('reads'):>3} W{invocation.total('writes'):>3} P{invocation.total('messages'):>2}"
        )
        detail = targets(invocation.calls)
        if detail:
            print(f"{'':23}{detail}")
    for call in apart:
        who = ROLES.get(call["caller"], call["caller"])
        print(
            f"  +{call['began'] - case.began:6.2f}s {who:<59}R{call['reads']:>3} W{call['writes']:>3} "
            f"P{call['messages']:>2}  {targets([call])}"
        )


def print_by_rpc(case: Case) -> None:
    rows: Counter[tuple[str, str, str, str]] = Counter()
    for event in case.events:
        if event["service"] == "http":
            continue
        who = ROLES.get(event["caller"], event["caller"])
        for key, unit in (("read_targets", "reads"), ("write_targets", "writes"), ("message_targets", "publishes")):
            for target, count in event.get(key, {}).items():
                rows[(who, event["method"], unit, target)] += count
    print(f"\n{case.name}, by RPC method and target:")
    print(f"  {'caller':<22}{'method':<20}{'unit':<10}{'count':>6}  target")
    for (who, method, unit, target), count in sorted(rows.items(), key=lambda item: (item[0][0], -item[1])):
        print(f"  {who:<22}{method:<20}{unit:<10}{count:>6}  {target}")


# ---------------------------------------------------------------------------------------------------- main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", default="cost", help="a stack of its own: it is restarted with the usage proxy")
    parser.add_argument("--ticks", type=int, default=3)
    parser.add_argument("--quiet", type=float, default=3.0, help="seconds without a call that end a case")
    parser.add_argument("--keep-stack", action="store_true", help="leave the stack up afterwards")
    parser.add_argument("--no-librelane", action="store_true", help="skip the LibreLane job")
    args = parser.parse_args()

    layout = StackLayout.for_name(args.stack, tick_seconds=TICK_ONCE_A_DAY_S, usage_proxy=True)
    stack = LocalStack(layout)
    stack.down()  # a fresh database, and the proxy in front of everything
    for leftover in ("gcs", "mail", "pubsub"):
        shutil.rmtree(layout.state / leftover, ignore_errors=True)
    layout.usage_log.unlink(missing_ok=True)
    try:
        stack.up()
        os.environ.update(layout.client_env())
        config = ClientConfig.from_env(f"cost-{uuid.uuid4().hex[:6]}@example.com")
        spm = REPO_ROOT / "examples" / "spm"
        plain_archive = design_archive(spm, OLC_FLOW=FLOW)
        sweep_archive = design_archive(spm, OLC_FLOW=FLOW, OLC_SWEEP=SWEEP)

        warm_up = run_job(config, layout, plain_archive, "spm-warm-up")
        check_succeeded(config, warm_up)
        plain = measure(layout, "plain_job", lambda: run_job(config, layout, plain_archive, "spm-plain"), args.quiet)
        sweep = measure(layout, "sweep6", lambda: run_job(config, layout, sweep_archive, "spm-sweep"), args.quiet)
        jobs = [plain, sweep]
        if not args.no_librelane:
            librelane_archive = design_archive(spm, OLC_FLOW=LIBRELANE_FLOW)
            jobs.append(
                measure(
                    layout,
                    "librelane_job",
                    lambda: run_job(config, layout, librelane_archive, "spm-librelane"),
                    args.quiet,
                )
            )
        for case in jobs:
            assert case.job_id is not None
            check_succeeded(config, case.job_id)
        ticks = [measure(layout, "idle_tick", tick, args.quiet) for _ in range(args.ticks)]
        poll = measure(layout, "status_poll", lambda: poll_status(config, str(plain.job_id)), args.quiet)
    finally:
        if not args.keep_stack:
            stack.down()

    idle = sorted(ticks, key=lambda c: (c.total("reads"), c.total("writes")))[len(ticks) // 2]
    tick_reads = [t.total("reads") for t in ticks]
    cases = [*jobs, idle, poll]
    print()
    print_summary(cases)
    print(f"(of the plain job's {plain.total('reads')} reads, {plain.absent_reads()} were lookups of absent documents)")
    if len(set(tick_reads)) > 1:
        print(f"(idle ticks differed: reads {tick_reads}; the median is shown)")
    print_by_function(plain)
    print_by_invocation(plain)
    print_by_rpc(plain)
    for case in jobs[1:]:
        print_by_function(case)
    print_by_invocation(idle)

    errors = sum(1 for case in (*cases, *ticks) for e in case.events if "count_error" in e.get("detail", {}))
    if errors:
        print(f"\nWARNING: {errors} calls could not be counted (count_error in {layout.usage_log})")
    figures: dict[str, Any] = {"stack": layout.name, "flow": FLOW, "count_errors": errors}
    for case in cases:
        for measure_name, value in case.figures().items():
            figures[f"{case.key}_{measure_name}"] = value
    figures["plain_job_reads_of_absent_documents"] = plain.absent_reads()
    figures["idle_tick_reads_each"] = tick_reads
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
