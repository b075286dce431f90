"""Issue 3 acceptance: a burst from many users under tight quotas, every event delivered twice."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from google.cloud import pubsub_v1

from devstack.load import ConcurrencySampler, design_archive, redeliver, slurm_names, upload, wait_all_terminal
from devstack.stack import DESIGNS_BUCKET
from shared.domain.upload import job_id_for
from tests.e2e.conftest import GLOBAL_LIMIT, USER_LIMIT

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _burst(stack, users: list[str], uploads: int, tag: str):
    """Upload `uploads` designs round-robin from `users`, delivering every storage event twice; wait for all."""
    archive = design_archive(EXAMPLES / "counter", OLC_FLOW="yosys-osu035")
    storage = stack.storage()
    publisher = pubsub_v1.PublisherClient()
    db = stack.firestore()

    def upload_and_redeliver(index: int):
        user = users[index % len(users)]
        source = upload(storage, DESIGNS_BUCKET, f"{user}/{tag}-{index:03d}.tar.gz", archive)
        redeliver(publisher, source)  # the second delivery of the same event
        return job_id_for(source)

    with ConcurrencySampler(db, slurm_conf=stack.layout.client_env()["SLURM_CONF"]) as sampler:
        with ThreadPoolExecutor(max_workers=8) as pool:
            job_ids = set(pool.map(upload_and_redeliver, range(uploads)))
        jobs = wait_all_terminal(db, job_ids, timeout_s=600)
    return job_ids, jobs, sampler


def test_hundred_uploads_ten_users_twice_delivered_stay_within_limits(stack, tight_quotas):
    users = [f"student{i}@example.com" for i in range(10)]
    job_ids, jobs, sampler = _burst(stack, users, 100, "counter")

    states = {j["state"] for j in jobs.values()}
    names = slurm_names(stack.layout.client_env()["SLURM_CONF"])
    submitted_twice = [j for j in job_ids if names[f"olc-{j}"] > 1]
    never_submitted = [j for j in job_ids if names[f"olc-{j}"] == 0]
    print(
        f"\njobs {len(jobs)}, states {states}, samples {sampler.samples}, max active {sampler.max_total} "
        f"(in Slurm {sampler.max_in_slurm}), max per user {max(sampler.max_per_user.values())}"
    )
    assert len(job_ids) == 100 and len(jobs) == 100
    assert states == {"SUCCEEDED"}
    assert submitted_twice == [] and never_submitted == []
    assert sampler.samples > 20
    assert sampler.max_total <= GLOBAL_LIMIT
    assert sampler.max_in_slurm <= GLOBAL_LIMIT
    assert max(sampler.max_per_user.values()) <= USER_LIMIT
    # The limits were actually reached, so the test exercised them.
    assert sampler.max_total == GLOBAL_LIMIT


def test_per_user_limit_binds_when_few_users_flood(stack, tight_quotas):
    """Two users with ten uploads each: the per-user limit (2), not the global one (6), is what binds."""
    users = ["flood-a@example.com", "flood-b@example.com"]
    _, jobs, sampler = _burst(stack, users, 20, "flood")
    assert {j["state"] for j in jobs.values()} == {"SUCCEEDED"}
    assert max(sampler.max_per_user.values()) == USER_LIMIT
    assert sampler.max_total <= len(users) * USER_LIMIT
