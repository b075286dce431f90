"""1,000 runs at once: what a thousand active jobs do to the tick, the reconciler, the API and Firestore's documents.

The stack (its own, "scale") runs with a deployment's heartbeat and reconcile intervals instead of the tests' short
ones, a Slurm node of --slots job slots (SlurmdParameters=config_overrides: the node claims more cores than the
machine has), and its usage proxy in front of Firestore alone, logging only the documents each commit writes
(devstack/usage_proxy.py --documents-only: the full count of bench/cost.py would make the proxy the bottleneck).
The jobs run the `load-test` flow (shared/domain/flows/load_test.py): the job kit fetches the design, holds the slot
for --hold seconds, writes a one-line metrics file, uploads it and reports like any run, so every part of the system
but the EDA tools takes its load.

--jobs uploads from --users users (limits opened to --jobs), all as fast as the stack takes them, into a Slurm
partition held DOWN (Slurm accepts, starts nothing), so that all of them are active at once however long ingest
takes; then the partition opens, the node starts --slots runs at once and Slurm holds the rest pending. While that
lasts ("the plateau": at least 90% of --jobs active in Firestore and 90% of the slots running, until runs end) it
measures:

  tick            each dispatcher tick's time (reconcile + dispatch), from the dispatcher's "tick handled" log line
  reconcile       the reconciler's part of it (the quiet active jobs read, Slurm asked about them in one scontrol)
  API             GET /v1/jobs (as one user after another) and GET /v1/queue, back to back from one client
  memory          the machine's used memory (MemTotal - MemAvailable), sampled each second, at its peak
and over the whole run, from the proxy's log: the most writes any one document took within one second, and within
ten seconds divided by ten (Firestore's limit is a sustained 1 write/s per document; short bursts are absorbed).
At the end every job must have SUCCEEDED exactly once: lost = jobs that did not, duplicated = Slurm jobs of one name
submitted more than once.

Last line: one JSON object (tick_p95_s, reconcile_s, api_jobs_p95_ms, api_queue_p95_ms, max_doc_writes_per_s, lost,
duplicated, peak_memory_mb, max_running, ...).
Usage: python bench/scale.py [--jobs 1000] [--users 50] [--slots 400] [--hold 180] [--keep-stack]
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from google.cloud import firestore
from percentiles import percentile  # bench/percentiles.py: scripts here run with bench/ first on sys.path

from devstack.load import design_archive, set_partition, set_quota_defaults, slurm_names, upload, wait_all_terminal
from devstack.process import log_file
from devstack.stack import DESIGNS_BUCKET, PROJECT_ID, REPO_ROOT, LocalStack, StackLayout
from devstack.usage_proxy import read_log
from shared.adapters.gcs_store import storage_client
from shared.domain.job import Phase
from shared.domain.upload import job_id_for

# A deployment's intervals (shared/config.py defaults), not the tests' short ones: a thousand jobs reporting every 3 s
# would measure the test settings.
DEPLOYMENT_SETTINGS = {"JOB_HEARTBEAT_S": "20", "RECONCILE_AFTER_S": "120", "DISPATCH_LEASE_S": "60"}
PLATEAU_SHARE = 0.9


def used_memory_mb() -> float:
    info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return (int(info["MemTotal"].split()[0]) - int(info["MemAvailable"].split()[0])) / 1024


def slurm_counts(slurm_conf: str) -> Counter[str]:
    out = subprocess.run(
        ["squeue", "-h", "-t", "PENDING,RUNNING,CONFIGURING,COMPLETING", "-o", "%T"],
        env={**os.environ, "SLURM_CONF": slurm_conf},
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return Counter(out.split())


@dataclass
class Samples:
    """Each second: used memory, jobs active in Firestore, jobs running and pending in Slurm."""

    times: list[float] = field(default_factory=list)
    memory_mb: list[float] = field(default_factory=list)
    active: list[int] = field(default_factory=list)
    running: list[int] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)

    def active_at(self, at: float) -> int:
        index = bisect.bisect_right(self.times, at) - 1
        return self.active[index] if index >= 0 else 0


class Sampler(threading.Thread):
    def __init__(self, db: firestore.Client, slurm_conf: str) -> None:
        super().__init__(daemon=True)
        self.samples = Samples()
        self._db = db
        self._slurm_conf = slurm_conf
        self.stop = threading.Event()

    def run(self) -> None:
        active_filter = firestore.FieldFilter("phase", "==", Phase.ACTIVE.value)
        while not self.stop.is_set():
            at = time.time()
            active = self._db.collection("jobs").where(filter=active_filter).count().get()[0][0].value
            slurm = slurm_counts(self._slurm_conf)
            s = self.samples
            s.times.append(at)
            s.memory_mb.append(used_memory_mb())
            s.active.append(int(active))
            s.running.append(slurm["RUNNING"])
            s.pending.append(slurm["PENDING"])
            self.stop.wait(1.0)


class ApiProbe(threading.Thread):
    """GET /v1/jobs (each user in turn) and GET /v1/queue, back to back: (time, ms) of each."""

    def __init__(self, layout: StackLayout, users: list[str]) -> None:
        super().__init__(daemon=True)
        self._api = layout.url("api")
        self._tokens = {u: layout.id_token(u) for u in users}
        self.jobs_ms: list[tuple[float, float]] = []
        self.queue_ms: list[tuple[float, float]] = []
        self.errors = 0
        self.stop = threading.Event()

    def _get(self, path: str, token: str | None) -> float:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(self._api + path, headers=headers)
        began = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as reply:
            reply.read()
        return (time.perf_counter() - began) * 1000

    def run(self) -> None:
        users = list(self._tokens)
        turn = 0
        while not self.stop.is_set():
            try:
                self.jobs_ms.append((time.time(), self._get("/v1/jobs", self._tokens[users[turn % len(users)]])))
                self.queue_ms.append((time.time(), self._get("/v1/queue", None)))
            except OSError:
                self.errors += 1
            turn += 1
            self.stop.wait(0.2)


def tick_lines(layout: StackLayout, since: float) -> list[dict[str, Any]]:
    """The dispatcher's "tick handled" log lines (shared/services/jobs_topic.py) written after `since`."""
    lines = []
    for raw in log_file(layout.state, "dispatcher").read_text(errors="replace").splitlines():
        if '"tick handled"' not in raw:
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        keys = ("active", "checked", "due", "reconcile_s")
        keys += ("reconcile_read_s", "reconcile_slurm_s", "reconcile_repair_s")
        figures = {key: line.get(key) for key in (*keys, "tick_s")}
        lines.append({"at": line.get("time"), **figures})
    return [x for x in lines if x["tick_s"] is not None and _epoch(x["at"]) >= since]


def _epoch(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return 0.0


def hot_documents(log: Path, since: float) -> list[tuple[str, int, float]]:
    """Per document: the most writes within any 1 s, and within any 10 s divided by 10; the hottest first."""
    times: dict[str, list[float]] = defaultdict(list)
    for event in read_log(log):
        if event["t"] >= since:
            for document in event.get("documents", ()):
                times[document].append(event["t"])
    found = []
    for document, moments in times.items():
        moments.sort()
        found.append((document, _most_within(moments, 1.0), _most_within(moments, 10.0) / 10.0))
    return sorted(found, key=lambda x: (x[1], x[2]), reverse=True)


def _most_within(moments: list[float], span: float) -> int:
    most = 0
    for index, start in enumerate(moments):
        most = max(most, bisect.bisect_left(moments, start + span, lo=index) - index)
    return most


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--slots", type=int, default=400, help="jobs the Slurm node runs at once")
    parser.add_argument("--hold", type=float, default=180, help="seconds each run holds its slot")
    parser.add_argument("--stack", default="scale", help="a stack of its own: it is restarted fresh")
    parser.add_argument("--keep-stack", action="store_true", help="leave the stack up afterwards")
    args = parser.parse_args()

    layout = StackLayout.for_name(
        args.stack, proxy_documents_only=True, node_slots=args.slots, settings=DEPLOYMENT_SETTINGS
    )
    stack = LocalStack(layout)
    stack.down()  # a fresh database, the proxy in front of everything, the node's slots
    for leftover in ("gcs", "mail", "pubsub", "logs"):
        shutil.rmtree(layout.state / leftover, ignore_errors=True)
    layout.usage_log.unlink(missing_ok=True)
    stack.up()
    os.environ.update(layout.client_env())
    slurm_conf = layout.client_env()["SLURM_CONF"]
    db = firestore.Client(project=PROJECT_ID)
    storage = storage_client(PROJECT_ID)
    set_quota_defaults(
        layout,
        {
            "global_concurrency": args.jobs,
            "user_concurrency": args.jobs,
            "user_max_queued": args.jobs,
            "user_monthly_core_hours": 1e9,
        },
    )
    archive = design_archive(REPO_ROOT / "examples" / "counter", OLC_FLOW="load-test", CLOCK_PERIOD=args.hold)
    users = [f"scale{i:02d}@example.com" for i in range(args.users)]
    baseline_mb = used_memory_mb()
    owner_of: dict[str, str] = {}

    def send(index: int) -> None:
        user = users[index % len(users)]
        source = upload(storage, DESIGNS_BUCKET, f"{user}/scale-{index:04d}.tar.gz", archive)
        owner_of[job_id_for(source)] = user

    print(f"{args.jobs} jobs of {args.users} users, {args.slots} slots, each run holds {args.hold:g} s")
    sampler = Sampler(db, slurm_conf)
    probe = ApiProbe(layout, users)
    began = time.time()
    sampler.start()
    probe.start()
    set_partition(slurm_conf, "DOWN")
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(send, range(args.jobs)))
        uploaded_s = time.time() - began
        print(f"uploaded in {uploaded_s:.1f} s; waiting for all to be submitted")
        deadline = time.monotonic() + 1800
        while sampler.samples.active[-1:] != [args.jobs]:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {sampler.samples.active[-1:]} of {args.jobs} jobs became active")
            time.sleep(1)
        submitted_s = time.time() - began
        print(f"all {args.jobs} submitted after {submitted_s:.1f} s; partition opened, waiting for every job to end")
        set_partition(slurm_conf, "UP")
        jobs = wait_all_terminal(db, set(owner_of), timeout_s=args.hold * (args.jobs / args.slots + 2) + 900)
    finally:
        set_partition(slurm_conf, "UP")
        probe.stop.set()
        sampler.stop.set()
        probe.join(timeout=60)
        sampler.join(timeout=60)
    ended_s = time.time() - began
    names = slurm_names(slurm_conf)
    s = sampler.samples
    busy = PLATEAU_SHARE * min(args.slots, args.jobs)
    plateau = [
        t
        for t, active, running in zip(s.times, s.active, s.running, strict=True)
        if active >= PLATEAU_SHARE * args.jobs and running >= busy
    ]
    plateau_from, plateau_to = (plateau[0], plateau[-1]) if plateau else (float("nan"), float("nan"))

    def in_plateau(at: float) -> bool:
        return bool(plateau) and plateau_from <= at <= plateau_to

    ticks = [t for t in tick_lines(layout, began) if in_plateau(_epoch(t["at"]))]
    slowest = max(ticks, key=lambda t: t["reconcile_s"] or 0) if ticks else {}
    jobs_ms = [ms for at, ms in probe.jobs_ms if in_plateau(at)]
    queue_ms = [ms for at, ms in probe.queue_ms if in_plateau(at)]
    hot = hot_documents(layout.usage_log, began)
    succeeded = sum(1 for j in jobs.values() if j["state"] == "SUCCEEDED")
    figures: dict[str, Any] = {
        "jobs": args.jobs,
        "users": args.users,
        "slots": args.slots,
        "hold_s": args.hold,
        "uploads_s": round(uploaded_s, 1),
        "all_submitted_s": round(submitted_s, 1),
        "all_ended_s": round(ended_s, 1),
        "max_active": max(s.active, default=0),
        "max_running": max(s.running, default=0),
        "max_pending": max(s.pending, default=0),
        "plateau_s": round(plateau_to - plateau_from, 1) if plateau else 0,
        "ticks_in_plateau": len(ticks),
        "tick_p50_s": round(percentile([t["tick_s"] for t in ticks], 0.5), 3) if ticks else None,
        "tick_p95_s": round(percentile([t["tick_s"] for t in ticks], 0.95), 3) if ticks else None,
        "reconcile_s": round(max(t["reconcile_s"] for t in ticks), 3) if ticks else None,
        "reconcile_checked_max": max((t["checked"] or 0 for t in ticks), default=0),
        "reconcile_due_max": max((t["due"] or 0 for t in ticks), default=0),  # of the checked, the ones read whole
        # The slowest pass, taken apart: reading the quiet jobs, asking Slurm, deciding and repairing.
        "reconcile_parts_s": {part: slowest.get(f"reconcile_{part}_s") for part in ("read", "slurm", "repair")},
        "api_jobs_p95_ms": round(percentile(jobs_ms, 0.95), 1) if jobs_ms else None,
        "api_queue_p95_ms": round(percentile(queue_ms, 0.95), 1) if queue_ms else None,
        "api_calls_in_plateau": len(jobs_ms) + len(queue_ms),
        "api_errors": probe.errors,
        "max_doc_writes_in_1s": hot[0][1] if hot else 0,
        "max_doc_writes_per_s": round(max((h[2] for h in hot), default=0.0), 2),
        "hottest_document": hot[0][0] if hot else None,
        "baseline_memory_mb": round(baseline_mb),
        "peak_memory_mb": round(max(s.memory_mb, default=0.0)),
        "memory_per_running_job_mb": round((max(s.memory_mb) - baseline_mb) / max(*s.running, 1), 1)
        if s.memory_mb
        else None,
        "succeeded": succeeded,
        "lost": args.jobs - succeeded,
        "duplicated": sum(1 for job_id in owner_of if names[f"olc-{job_id}"] > 1),
    }
    print("\nhottest documents (writes within 1 s / per s over 10 s):")
    for document, in_one_s, per_s in hot[:8]:
        print(f"  {document:<60}{in_one_s:>4}{per_s:>8.2f}")
    print(f"\n{'figure':<30}{'value':>14}")
    for key, value in figures.items():
        print(f"{key:<30}{value!s:>14}")
    if not args.keep_stack:
        stack.down()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
