"""Deadline-night burst: B uploads from U users at once against the real local stack.

Prints admission latency (upload -> sbatch accepted) p50/p95/max, sustained submissions/s into Slurm, the highest
concurrency observed against each limit, the longest wait of any user's first job, and the raw rate of a plain
sbatch loop over SSH on the same machine with the ratio between the two. Last line: one JSON object of the figures.
Jobs use the fast real flow (yosys-osu035 on examples/counter). Runs still going when every job has been admitted
are cancelled at the end (they then end CANCELLED through the normal path).

With --hold-flows the Slurm partition is taken down for the burst (`scontrol update PartitionName=debug
State=DOWN`: Slurm still accepts jobs, it starts none), so the figures are orchestration alone, not orchestration
sharing two cores with the flows. Then it also measures ingest: uploads -> QUEUED per second against its floor (the
same job documents written straight into the emulator from 16 threads), and dispatch: QUEUED -> SUBMITTED per
second against the raw sbatch loop, with the fairness checks: no Slurm job name twice, and the submissions' order
round-robin across the users waiting at each moment (the most any such user was ahead of another).

While the burst goes through, the bench reads only what it counts (the owners of active jobs, each job's state) and
reads the jobs whole once at the end: its own reads compete for the same two cores as what it measures.

Usage: python bench/dispatch.py [--uploads 100] [--users 10] [--global-limit 100] [--user-limit 0 (= no limit)]
       python bench/dispatch.py --hold-flows --uploads 500 --users 25 --global-limit 1000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import paramiko
from google.cloud import firestore

from devstack.load import (
    ConcurrencySampler,
    design_archive,
    job_states,
    set_partition,
    set_quota_defaults,
    slurm_names,
    upload,
)
from devstack.stack import DESIGNS_BUCKET, PROJECT_ID, REPO_ROOT, TICK_TOPIC, LocalStack, StackLayout
from shared.adapters.gcs_store import storage_client
from shared.adapters.pubsub_publisher import PubSubPublisher
from shared.adapters.ssh_slurm import load_private_key
from shared.domain.job import SourceObject, new_job
from shared.domain.job_codec import job_to_dict
from shared.domain.messages import Tick
from shared.domain.upload import job_id_for

ADMITTED = {"SUBMITTED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "TIMEOUT"}


def ssh(layout: StackLayout) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    key = load_private_key((layout.secrets_dir / "olc-ssh-key").read_text())
    client.connect("127.0.0.1", port=layout.sshd_port, username=layout.login_user, pkey=key, look_for_keys=False)
    return client


def remote(client: paramiko.SSHClient, script: str) -> str:
    stdin, stdout, _ = client.exec_command("bash -s")
    stdin.write(script)
    stdin.channel.shutdown_write()
    return stdout.read().decode()


def raw_sbatch_rate(layout: StackLayout, count: int) -> float:
    """Plain `sbatch --hold` in one remote shell loop: the ceiling for submissions over SSH here."""
    client = ssh(layout)
    try:
        began = time.monotonic()
        remote(client, f"for i in $(seq {count}); do sbatch --hold --parsable -J bench-raw --wrap true; done\n")
        elapsed = time.monotonic() - began
        remote(client, "scancel --name=bench-raw\n")
    finally:
        client.close()
    return count / elapsed


def ingest_floor(db: firestore.Client, count: int) -> float:
    """Job documents of the burst's shape written straight into the emulator, 16 at a time: per second. They go to
    a collection of their own, where no dispatcher or page ever looks."""
    at = datetime.now(UTC)
    floor = db.collection("bench-ingest-floor")
    docs = [
        job_to_dict(
            new_job(
                job_id=f"j{i:019x}",
                owner="floor@example.com",
                source=SourceObject("b", f"floor@example.com/{i}.tgz", 1),
                at=at,
            )
        )
        for i in range(count)
    ]
    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda doc: floor.document(doc["id"]).create(doc), docs))
    rate = count / (time.monotonic() - began)
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda doc: floor.document(doc["id"]).delete(), docs))
    return rate


def round_robin_lead(queued: dict[str, float], submitted: dict[str, float], owner_of: dict[str, str]) -> int:
    """The most one waiting user was ahead of another in submissions at any moment: 1 for a strict round robin.
    A user counts while they have a job queued and not yet submitted."""
    counts: Counter[str] = Counter()
    lead = 0
    for job_id in sorted(submitted, key=submitted.__getitem__):
        at = submitted[job_id]
        counts[owner_of[job_id]] += 1
        waiting = {owner_of[j] for j, q in queued.items() if q <= at and submitted.get(j, float("inf")) > at}
        waiting.add(owner_of[job_id])
        lead = max(lead, max(counts[u] for u in waiting) - min(counts[u] for u in waiting))
    return lead


def wait_until_idle(db: firestore.Client, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    active = firestore.FieldFilter("state", "in", ["QUEUED", "SUBMITTED", "RUNNING"])
    while db.collection("jobs").where(filter=active).count().get()[0][0].value:
        if time.monotonic() > deadline:
            raise SystemExit("jobs of an earlier run are still active; restart the stack (make stack-down)")
        time.sleep(1)


def states_of(db: firestore.Client, job_ids: set[str]) -> dict[str, str]:
    """Each job's state alone (a field mask), for the polls while the burst goes through; whole jobs once after."""
    refs = [db.collection("jobs").document(j) for j in job_ids]
    found = {}
    for start in range(0, len(refs), 300):
        for snapshot in db.get_all(refs[start : start + 300], field_paths=["state"]):
            if snapshot.exists:
                found[snapshot.id] = snapshot.get("state")
    return found


def ts(value: datetime | str) -> float:
    return value.timestamp() if isinstance(value, datetime) else datetime.fromisoformat(value).timestamp()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=100)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--global-limit", type=int, default=100)
    parser.add_argument("--user-limit", type=int, default=0, help="0: as many as the global limit")
    parser.add_argument("--stack", default="demo")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--hold-flows", action="store_true", help="Slurm accepts the jobs but starts none")
    args = parser.parse_args()
    user_limit = args.user_limit or args.global_limit

    layout = StackLayout.for_name(args.stack)
    LocalStack(layout).up()
    os.environ.update(layout.client_env())
    db = firestore.Client(project=PROJECT_ID)
    storage = storage_client(PROJECT_ID)
    wait_until_idle(db, 120)  # a previous run's jobs would count against the limits
    raw_rate = raw_sbatch_rate(layout, 100)
    floor_rate = ingest_floor(db, args.uploads) if args.hold_flows else float("nan")
    if args.hold_flows:
        set_partition(layout.client_env()["SLURM_CONF"], "DOWN")
    # Held flows: the queue first fills with the whole burst behind a limit of one, so that ingest and dispatch are
    # each measured on their own (dispatch fed by a slower ingest would only measure ingest twice).
    set_quota_defaults(
        layout,
        {
            "global_concurrency": 1 if args.hold_flows else args.global_limit,
            "user_concurrency": user_limit,
            "user_max_queued": args.uploads,
            "user_monthly_core_hours": 1e9,
        },
    )
    archive = design_archive(REPO_ROOT / "examples" / "counter", OLC_FLOW="yosys-osu035")
    users = [f"burst{i:02d}@example.com" for i in range(args.users)]
    run = datetime.now().strftime("%H%M%S")
    uploaded_at: dict[str, float] = {}
    owner_of: dict[str, str] = {}

    def send(index: int) -> None:
        user = users[index % len(users)]
        source = upload(storage, DESIGNS_BUCKET, f"{user}/burst-{run}-{index:04d}.tar.gz", archive)
        job_id = job_id_for(source)
        uploaded_at[job_id] = time.time()
        owner_of[job_id] = user

    print(
        f"burst: {args.uploads} uploads from {args.users} users, limits global {args.global_limit} / user {user_limit}"
    )
    began = time.time()
    with ConcurrencySampler(db, slurm_conf=layout.client_env()["SLURM_CONF"], interval_s=0.2) as sampler:
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(send, range(args.uploads)))
        upload_s = time.time() - began
        deadline = time.monotonic() + args.timeout
        if args.hold_flows:
            while len(states_of(db, set(uploaded_at))) < args.uploads and time.monotonic() < deadline:
                time.sleep(0.2)
            set_quota_defaults(layout, {"global_concurrency": args.global_limit})
            PubSubPublisher(PROJECT_ID).publish(TICK_TOPIC, Tick(at=time.time()))  # as Cloud Scheduler would
        while True:
            states = states_of(db, set(uploaded_at))
            if sum(1 for s in states.values() if s in ADMITTED) == args.uploads or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    jobs = job_states(db, set(uploaded_at))
    admitted = {j: d for j, d in jobs.items() if d["state"] in ADMITTED}
    names = slurm_names(layout.client_env()["SLURM_CONF"])
    client = ssh(layout)
    remote(client, f"scancel -u {layout.login_user}\n")
    client.close()
    if args.hold_flows:
        set_partition(layout.client_env()["SLURM_CONF"], "UP")
    # Cancelled runs stay active in Firestore until the reconciler sees them end: wait, so the next run starts clean.
    wait_until_idle(db, args.timeout)
    set_quota_defaults(
        layout,
        {
            "global_concurrency": None,
            "user_concurrency": None,
            "user_max_queued": None,
            "user_monthly_core_hours": None,
        },
    )

    submitted = {
        j: next(ts(c["at"]) for c in d["history"] if c["state"] == "SUBMITTED")
        for j, d in admitted.items()
        if any(c["state"] == "SUBMITTED" for c in d["history"])
    }
    queued = {
        j: next(ts(c["at"]) for c in d["history"] if c["state"] == "QUEUED")
        for j, d in jobs.items()
        if any(c["state"] == "QUEUED" for c in d["history"])
    }
    ingest_span = max(queued.values()) - min(uploaded_at.values()) if queued else float("nan")
    twice = sum(1 for name, count in names.items() if name.startswith("olc-") and count > 1)
    latencies = sorted(submitted[j] - uploaded_at[j] for j in submitted)
    # Held flows: the one job the limit of one let through went before the queue had filled; the rest is dispatch.
    timed = sorted(submitted.values())[1:] if args.hold_flows else list(submitted.values())
    span = max(timed) - min(timed) if len(timed) > 1 else float("nan")
    rate = (len(timed) - 1) / span if span and span == span and span > 0 else float("nan")
    first_wait = {}
    for user in users:
        mine = [j for j in submitted if owner_of[j] == user]
        if mine:
            first_wait[user] = min(submitted[j] for j in mine) - min(
                uploaded_at[j] for j in uploaded_at if owner_of[j] == user
            )
    figures = {
        "uploads": args.uploads,
        "users": args.users,
        "global_limit": args.global_limit,
        "user_limit": user_limit,
        "admitted": len(submitted),
        "upload_burst_s": round(upload_s, 2),
        "admission_p50_s": round(statistics.median(latencies), 3),
        "admission_p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
        "admission_max_s": round(latencies[-1], 3),
        "submissions_per_s": round(rate, 1),
        "raw_sbatch_per_s": round(raw_rate, 1),
        "ratio_to_raw": round(rate / raw_rate, 3),
        "max_active": sampler.max_total,
        "max_in_slurm": sampler.max_in_slurm,
        "max_active_one_user": max(sampler.max_per_user.values(), default=0),
        "longest_first_job_wait_s": round(max(first_wait.values()), 3),
        "samples": sampler.samples,
        "hold_flows": args.hold_flows,
        "ingest_per_s": round(len(queued) / ingest_span, 1) if ingest_span > 0 else float("nan"),
        "ingest_floor_per_s": round(floor_rate, 1),
        "dispatch_per_s": round(rate, 1),
        "dispatch_ratio": round(rate / raw_rate, 3),
        "submitted_twice": twice,
        "round_robin_max_lead": round_robin_lead(queued, submitted, owner_of),
    }
    print()
    print(f"{'figure':<34}{'value':>12}  limit")
    for key, value in figures.items():
        limit = {"max_active": args.global_limit, "max_in_slurm": args.global_limit, "max_active_one_user": user_limit}
        print(f"{key:<34}{value!s:>12}  {limit.get(key, '')}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
