"""Issue 4: nothing lost, nothing run twice, under injected faults on the real local stack.

Each test prints one line: submitted / correct terminal state / lost / duplicated runs.
"""

from __future__ import annotations

import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from google.cloud import firestore, pubsub_v1

from devstack import process
from devstack.load import design_archive, redeliver, slurm_names, upload, wait_all_terminal
from devstack.stack import DESIGNS_BUCKET, JOBS_TOPIC, MAX_DELIVERY_ATTEMPTS, PROJECT_ID
from shared.domain.upload import job_id_for
from tests.e2e.callback_faults import end_reports_dropped

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FAST = {"OLC_FLOW": "yosys-osu035"}


def _burst(stack, tag: str, count: int, users: int = 5) -> tuple[list, set[str]]:
    archive = design_archive(EXAMPLES / "counter", **FAST)
    storage = stack.storage()

    def one(index: int):
        return upload(storage, DESIGNS_BUCKET, f"{tag}{index % users}@example.com/{tag}-{index:03d}.tar.gz", archive)

    with ThreadPoolExecutor(max_workers=8) as pool:
        sources = list(pool.map(one, range(count)))
    return sources, {job_id_for(s) for s in sources}


def _report(stack, name: str, job_ids: set[str], timeout_s: float = 300):
    """Every job must end SUCCEEDED: the faults may delay runs but never lose or repeat them."""
    jobs = wait_all_terminal(stack.firestore(), job_ids, timeout_s)
    names = slurm_names(stack.layout.client_env()["SLURM_CONF"])
    correct = sum(1 for j in job_ids if jobs[j]["state"] == "SUCCEEDED")
    lost = len(job_ids) - len(jobs)
    duplicated = sum(1 for j in job_ids if names[f"olc-{j}"] > 1)
    print(f"\n{name}: submitted {len(job_ids)} / correct {correct} / lost {lost} / duplicated {duplicated}")
    wrong = {j: (jobs[j]["state"], jobs[j].get("reason")) for j in job_ids if jobs[j]["state"] != "SUCCEEDED"}
    assert (lost, duplicated, wrong) == (0, 0, {})


def test_every_event_delivered_one_to_four_times_in_random_order(stack):
    sources, job_ids = _burst(stack, "dup", 50)
    publisher = pubsub_v1.PublisherClient()
    rng = random.Random(4)
    extra = [s for s in sources for _ in range(rng.randint(0, 3))]
    extra += [None] * 40  # stray "queued" announcements for random jobs, out of order
    rng.shuffle(extra)
    for source in extra:
        if source is None:
            job_id = rng.choice(sorted(job_ids))
            topic = publisher.topic_path(PROJECT_ID, JOBS_TOPIC)
            publisher.publish(topic, json.dumps({"kind": "queued", "job_id": job_id}).encode(), kind="queued")
        else:
            redeliver(publisher, source)
        time.sleep(rng.random() * 0.05)
    _report(stack, "events x1-4, shuffled", job_ids)


def test_sshd_down_for_twenty_seconds_during_a_burst(stack):
    sshd = stack.stack._sshd()
    _, job_ids = _burst(stack, "ssh", 20)
    time.sleep(1.0)
    sshd.down()
    time.sleep(20)
    sshd.up()
    _report(stack, "sshd down 20 s", job_ids)


def test_slurmctld_restarted_while_jobs_run(stack):
    slurm = stack.stack._slurm()
    _, job_ids = _burst(stack, "ctld", 20)
    time.sleep(3.0)
    process.stop_daemon(stack.layout.cluster / "slurm", "slurmctld")
    time.sleep(2.0)
    slurm.up()
    _report(stack, "slurmctld restarted", job_ids)


def test_half_of_the_completion_callbacks_dropped(stack):
    with end_reports_dropped(stack, every=2) as proxy:
        _, job_ids = _burst(stack, "drop", 20)
        _report(stack, "half the callbacks dropped", job_ids)
        assert proxy.counter >= 20  # every job's end went through the proxy


def test_dispatcher_killed_after_sbatch_before_recording(stack):
    faults = stack.layout.state / "faults.json"
    faults.write_text(json.dumps({"crash-after-sbatch": 3}))
    try:
        _, job_ids = _burst(stack, "kill", 15)
        _report(stack, "dispatcher killed after sbatch", job_ids)
        assert json.loads(faults.read_text())["crash-after-sbatch"] < 3  # at least one crash really happened
    finally:
        faults.unlink(missing_ok=True)


def test_an_event_that_keeps_failing_is_dead_lettered_recorded_and_answered(stack):
    """An upload that cannot be read (Cloud Storage failing, injected at the store) fails ingest on every delivery:
    after the fifth, Pub/Sub dead-letters it, the dispatcher records it and the owner gets a REJECTED job saying to
    upload again."""
    faults = stack.layout.state / "faults.json"
    faults.write_text(json.dumps({"storage-read-error": MAX_DELIVERY_ATTEMPTS}))
    try:
        owner = f"ghost-{random.randrange(10**6)}@example.com"
        ghost = upload(
            stack.storage(), DESIGNS_BUCKET, f"{owner}/unreadable.tar.gz", design_archive(EXAMPLES / "counter", **FAST)
        )
        job_id = job_id_for(ghost)
        job = wait_all_terminal(stack.firestore(), {job_id}, timeout_s=120)[job_id]
    finally:
        faults.unlink(missing_ok=True)
    assert job["state"] == "REJECTED" and "could not be processed (5 attempts failed)" in job["reason"]
    letters = (
        stack.firestore().collection("dead_letters").where(filter=firestore.FieldFilter("job_id", "==", job_id)).get()
    )
    assert len(letters) == 1
    assert letters[0].to_dict()["source_subscription"].endswith("olc-design-events-to-ingest")
    print(f"\ndead-lettered upload event: recorded, job {job_id} REJECTED")
