"""Cancellation on the real stack: while queued, while pending in Slurm (no epilog runs), while running."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from devstack.load import design_archive, upload, wait_all_terminal
from devstack.stack import DESIGNS_BUCKET
from olc_cli import client
from shared.domain.upload import job_id_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _wait_for(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_cancel_while_queued_pending_and_running(stack, tight_quotas):
    run_tag = uuid.uuid4().hex[:6]
    users = [f"cancel{i}-{run_tag}@example.com" for i in range(4)]
    archive = design_archive(EXAMPLES / "spm")  # the full flow: ~6 s a run, 2 at a time on this node
    storage, db = stack.storage(), stack.firestore()
    # Three users with two jobs each fill the global limit of 6; Slurm runs 2 and holds 4 pending.
    ids = []
    for index in range(6):
        source = upload(storage, DESIGNS_BUCKET, f"{users[index % 3]}/spm-{index}.tar.gz", archive)
        ids.append((users[index % 3], job_id_for(source)))

    def job(owner: str, job_id: str) -> dict:
        return client.api_get(stack.client(owner), f"/v1/jobs/{job_id}") or {}

    def cancel(owner: str, job_id: str) -> dict:
        return client.api_call(stack.client(owner), "POST", f"/v1/jobs/{job_id}/cancel", {})

    # While running: the first job to report a flow stage.
    running = _wait_for(
        lambda: next((p for p in ids if job(*p).get("state") == "RUNNING" and job(*p).get("stage")), None),
        120,
        "a running job",
    )
    # While pending in Slurm: a submitted job that Slurm has not started.
    pending = _wait_for(
        lambda: next(
            (
                p
                for p in ids
                if p != running
                and job(*p).get("state") == "SUBMITTED"
                and stack.slurm_state(job(*p)["slurm_job_id"]) == "PENDING"
            ),
            None,
        ),
        60,
        "a job pending in Slurm",
    )
    # While queued: all six slots are taken, so a seventh upload waits.
    source = upload(storage, DESIGNS_BUCKET, f"{users[3]}/spm-queued.tar.gz", archive)
    queued = (users[3], job_id_for(source))
    _wait_for(lambda: job(*queued).get("state") == "QUEUED", 30, "the seventh job to be queued")
    _wait_for(lambda: (job(*queued).get("queue_position") or 0) >= 1, 30, "its queue position")
    assert job(*queued)["estimated_start_at"]

    reply = cancel(*queued)
    assert reply["state"] == "CANCELLED" and job(*queued)["state"] == "CANCELLED"
    assert cancel(*pending)["message"].startswith("stopping")
    assert cancel(*running)["message"].startswith("stopping")
    # Strangers cannot cancel (and learn nothing: the job is "not found" for them).
    assert client.api_call(stack.client("mallory@example.com"), "POST", f"/v1/jobs/{running[1]}/cancel", {}) is None

    final = wait_all_terminal(db, {j for _, j in ids} | {queued[1]}, timeout_s=240)
    assert final[queued[1]]["state"] == "CANCELLED" and final[queued[1]].get("slurm_job_id") is None
    assert final[pending[1]]["state"] == "CANCELLED"  # no epilog ran: the reconciler found it
    assert final[running[1]]["state"] == "CANCELLED"
    assert all(final[j]["state"] == "SUCCEEDED" for _, j in ids if j not in (pending[1], running[1]))
    # Cancelling a finished job is a clear no-op.
    assert "already ended as CANCELLED" in cancel(*running)["message"]


SLOW_DESIGN = """module slow(input clk, input [95:0] a, input [95:0] b, output reg [191:0] p);
  always @(posedge clk) p <= a * b;  // minutes of logic optimisation for the local flows
endmodule
"""


def test_a_run_that_hits_its_time_limit_ends_as_timeout_naming_the_limit(stack, tmp_path):
    design = tmp_path / "slow"
    (design / "src").mkdir(parents=True)
    (design / "src" / "slow.v").write_text(SLOW_DESIGN)
    config = {
        "DESIGN_NAME": "slow",
        "VERILOG_FILES": "dir::src/*.v",
        "CLOCK_PORT": "clk",
        "CLOCK_PERIOD": 10,
        "OLC_FLOW": "yosys-osu035",
        "OLC_TIME_LIMIT_MINUTES": 1,
    }
    (design / "config.json").write_text(json.dumps(config))
    user = f"slow-{uuid.uuid4().hex[:6]}@example.com"
    source = upload(stack.storage(), DESIGNS_BUCKET, f"{user}/slow.tar.gz", design_archive(design))
    job_id = job_id_for(source)
    final = wait_all_terminal(stack.firestore(), {job_id}, timeout_s=240)[job_id]
    assert final["state"] == "TIMEOUT", final
    assert "time limit of 1 min" in final["reason"]
    assert final["resources"]["time_limit_minutes"] == 1
