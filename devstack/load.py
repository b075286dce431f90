"""Load generation against a local stack, shared by the end-to-end tests and the benchmarks."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.cloud import firestore, pubsub_v1, storage

from devstack.stack import DESIGN_EVENTS_TOPIC, LOCAL_ADMIN, PROJECT_ID, StackLayout
from shared.domain.job import TERMINAL_STATES, Job, Phase, SourceObject
from shared.domain.job_codec import job_from_dict


def set_quota_defaults(layout: StackLayout, values: dict[str, Any]) -> int:
    """As the stack's admin, change the quota defaults through the API (None restores the configured value)."""
    request = urllib.request.Request(  # noqa: S310 - the stack's own loopback URL
        layout.url("api") + "/v1/quotas/_defaults",
        data=json.dumps(values).encode(),
        headers={"Authorization": f"Bearer {layout.id_token(LOCAL_ADMIN)}", "Content-Type": "application/json"},
        method="PUT",
    )
    with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310 - the stack's own loopback URL
        return reply.status


def design_archive(design_dir: Path, **config_overrides: Any) -> bytes:
    """A .tar.gz of a design folder, with config.json keys replaced (e.g. OLC_FLOW="yosys-osu035")."""
    config = json.loads((design_dir / "config.json").read_text())
    config.update(config_overrides)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(design_dir.rglob("*")):
            if path.is_file() and path.name != "config.json":
                tar.add(path, arcname=f"{design_dir.name}/{path.relative_to(design_dir).as_posix()}")
        data = json.dumps(config, indent=2).encode()
        info = tarfile.TarInfo(f"{design_dir.name}/config.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# What `upload` sets on every object, and so what each delivery of its event carries.
LOAD_METADATA = {"cache": "false"}


def upload(client: storage.Client, bucket: str, name: str, data: bytes) -> SourceObject:
    """An upload that runs even when an identical design succeeded before (`cache=false`): load tests and benchmarks
    measure runs, which reusing earlier results would skip."""
    blob = client.bucket(bucket).blob(name)
    blob.metadata = dict(LOAD_METADATA)
    blob.upload_from_string(data, content_type="application/gzip")
    return SourceObject(bucket, name, int(blob.generation), len(data))


def redeliver(publisher: pubsub_v1.PublisherClient, source: SourceObject) -> None:
    """Publish the bucket notification for `source` once more, exactly as the storage emulator does."""
    resource: dict[str, object] = {
        "bucket": source.bucket,
        "name": source.name,
        "generation": str(source.generation),
        "metadata": LOAD_METADATA,  # as `upload` set it: every delivery of an event carries the object's metadata
    }
    if source.size is not None:
        resource["size"] = str(source.size)
    publisher.publish(
        publisher.topic_path(PROJECT_ID, DESIGN_EVENTS_TOPIC),
        json.dumps(resource).encode(),
        eventType="OBJECT_FINALIZE",
        bucketId=source.bucket,
        objectId=source.name,
        objectGeneration=str(source.generation),
        payloadFormat="JSON_API_V1",
    ).result(timeout=30)


def job_record(job_id: str) -> Job:
    """The job as stored (internal fields too: timestamps for latency figures), read from the Firestore emulator."""
    snapshot = firestore.Client(project=PROJECT_ID).collection("jobs").document(job_id).get()
    if not snapshot.exists:
        raise LookupError(f"no job {job_id} in Firestore")
    return job_from_dict(snapshot.to_dict())


def job_states(db: firestore.Client, job_ids: set[str]) -> dict[str, dict[str, Any]]:
    refs = [db.collection("jobs").document(j) for j in job_ids]
    found = {}
    for start in range(0, len(refs), 300):
        for snapshot in db.get_all(refs[start : start + 300]):
            if snapshot.exists:
                found[snapshot.id] = snapshot.to_dict()
    return found


def wait_all_terminal(db: firestore.Client, job_ids: set[str], timeout_s: float) -> dict[str, dict[str, Any]]:
    terminal = {s.value for s in TERMINAL_STATES}
    deadline = time.monotonic() + timeout_s
    while True:
        jobs = job_states(db, job_ids)
        if len(jobs) == len(job_ids) and all(j["state"] in terminal for j in jobs.values()):
            return jobs
        if time.monotonic() > deadline:
            waiting = Counter(j["state"] for j in jobs.values())
            raise TimeoutError(f"{len(job_ids) - len(jobs)} jobs missing, states {dict(waiting)} after {timeout_s} s")
        time.sleep(0.5)


def set_partition(slurm_conf: str, state: str) -> None:
    """UP or DOWN: a DOWN partition queues what is submitted and starts nothing."""
    from devstack.slurm import LocalSlurm

    subprocess.run(
        ["scontrol", "update", f"PartitionName={LocalSlurm.PARTITION}", f"State={state}"],
        env={**os.environ, "SLURM_CONF": slurm_conf},
        check=True,
    )


def slurm_names(slurm_conf: str) -> Counter[str]:
    """How many Slurm jobs carry each name (all states Slurm still remembers)."""
    out = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%j"],
        env={**os.environ, "SLURM_CONF": slurm_conf},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return Counter(out.split())


@dataclass
class ConcurrencySampler:
    """Samples active jobs in a background thread: SUBMITTED + RUNNING in Firestore (in total and per user) and,
    given a SLURM_CONF, the jobs Slurm holds pending or running."""

    db: firestore.Client
    slurm_conf: str | None = None
    interval_s: float = 0.1
    max_total: int = 0
    max_in_slurm: int = 0
    max_per_user: Counter[str] = field(default_factory=Counter)
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> ConcurrencySampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            # The owners alone (a field mask): reading every active job whole five times a second took most of a
            # core, on two, from the orchestration being measured.
            active = self.db.collection("jobs").where(filter=firestore.FieldFilter("phase", "==", Phase.ACTIVE.value))
            owners = Counter(s.get("owner") for s in active.select(["owner"]).stream())
            self.max_total = max(self.max_total, sum(owners.values()))
            for owner, count in owners.items():
                self.max_per_user[owner] = max(self.max_per_user[owner], count)
            if self.slurm_conf:
                out = subprocess.run(
                    ["squeue", "-h", "-t", "PENDING,RUNNING,CONFIGURING", "-o", "%j"],
                    env={**os.environ, "SLURM_CONF": self.slurm_conf},
                    capture_output=True,
                    text=True,
                    check=False,
                ).stdout
                self.max_in_slurm = max(self.max_in_slurm, sum(1 for n in out.split() if n.startswith("olc-")))
            self.samples += 1
            self._stop.wait(self.interval_s)
