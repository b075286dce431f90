"""The load-test flow bench/scale.py runs a thousand of: a whole job through the real pipeline that holds its slot for
CLOCK_PERIOD seconds and reports like any run."""

from __future__ import annotations

import time
import uuid

from devstack.load import design_archive
from devstack.stack import REPO_ROOT
from olc_cli import client


def test_a_load_test_job_holds_its_slot_then_reports_like_a_run(stack) -> None:
    config = stack.client(f"load-{uuid.uuid4().hex[:8]}@example.com")
    archive = design_archive(REPO_ROOT / "examples" / "counter", OLC_FLOW="load-test", CLOCK_PERIOD=2)
    began = time.monotonic()
    source = client.upload(config, "counter.tar.gz", archive, notify=False, reuse=False)
    job = client.wait_for_job(config, client.expected_job_id(source), 120, lambda _: None)

    assert job["state"] == "SUCCEEDED", job
    assert time.monotonic() - began >= 2  # it held its slot for the clock period, in seconds
    kinds = [(e["kind"], e["name"]) for e in job["timeline"]]
    assert [name for kind, name in kinds if kind == "state"] == ["QUEUED", "SUBMITTED", "RUNNING", "SUCCEEDED"]
    assert {"hold", "report"} <= {name for kind, name in kinds if kind == "stage"}
    assert 2 <= job["metrics"]["runtime_s"] < 30  # the run as the job kit timed it
