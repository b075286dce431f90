"""Design-space sweeps on the real stack: one upload, one Slurm job array, a run per setting, a summary."""

from __future__ import annotations

import io
import json
import subprocess
import time
import uuid
from typing import TYPE_CHECKING, Any

from PIL import Image

from devstack.load import design_archive
from devstack.stack import REPO_ROOT, RESULTS_BUCKET
from olc_cli import client
from tests.e2e.callback_faults import end_reports_dropped

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack

SPM = REPO_ROOT / "examples" / "spm"


def submit_sweep(
    stack: RunningStack, user: str, sweep: dict[str, Any], **config_values: Any
) -> tuple[client.ClientConfig, str]:
    config = stack.client(user)
    archive = design_archive(SPM, OLC_SWEEP=sweep, **config_values)
    source = client.upload(config, "spm-sweep.tar.gz", archive, reuse=False)
    return config, client.expected_job_id(source)


def wait_until(config: client.ClientConfig, job_id: str, test: Any, timeout_s: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.api_get(config, f"/v1/jobs/{job_id}")
        if job is not None and test(job):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id}: condition not met in {timeout_s} s: {job}")


def ended(job: dict[str, Any]) -> bool:
    return job["state"] in ("SUCCEEDED", "FAILED", "CANCELLED", "TIMEOUT", "REJECTED")


def test_a_2x3_sweep_runs_as_one_array_and_reports_every_run(stack: RunningStack) -> None:
    user = f"sweep-{uuid.uuid4().hex[:6]}@example.com"
    sweep = {"parameters": {"PL_TARGET_DENSITY": [0.5, 0.7], "CLOCK_PERIOD": [4, 8, 16]}, "strategy": "grid"}
    began = time.monotonic()
    config, job_id = submit_sweep(stack, user, sweep)
    job = wait_until(config, job_id, ended)
    wall_s = time.monotonic() - began
    print(f"\n2x3 sweep of spm: {wall_s:.1f} s from upload to the end")
    assert job["state"] == "SUCCEEDED", job["reason"]
    runs = job["sweep"]["runs"]
    assert [r["state"] for r in runs] == ["SUCCEEDED"] * 6
    assert [(r["settings"]["PL_TARGET_DENSITY"], r["settings"]["CLOCK_PERIOD"]) for r in runs] == [
        (d, p) for d in (0.5, 0.7) for p in (4, 8, 16)
    ]
    # One sbatch: every run is a task of the same Slurm array job.
    bucket = stack.storage().bucket(RESULTS_BUCKET)
    prefix = f"{user}/{job_id}/"
    table = json.loads(bucket.blob(prefix + "sweep/comparison.json").download_as_bytes())
    csv_rows = bucket.blob(prefix + "sweep/comparison.csv").download_as_text().strip().splitlines()
    assert len(csv_rows) == 7 and len(table["runs"]) == 6
    for row in table["runs"]:
        manifest = json.loads(bucket.blob(f"{prefix}runs/{row['run']}/manifest.json").download_as_bytes())
        assert manifest["run_index"] == row["run"] and manifest["flow_exit_code"] == 0
        assert row["metrics"]["runtime_s"] == manifest["runtime_s"]  # the row is that run's own result
        assert row["settings"] == runs[row["run"]]["settings"]
    submitted = [
        line
        for line in (stack.layout.state / "logs" / "dispatcher.log").read_text().splitlines()
        if job_id in line and '"submitted to Slurm"' in line
    ]
    assert len(submitted) == 1, "a sweep is one sbatch (one job array), not one per run"
    # The best run is the one the objective picks: smallest area among feasible runs, lowest index on ties.
    feasible = [
        r
        for r in table["runs"]
        if r["metrics"].get("wns_ns", -1) >= 0 and r["metrics"].get("drc_errors") == 0 and r["metrics"].get("lvs_match")
    ]
    expected = min(feasible, key=lambda r: (r["metrics"]["area_um2"], r["run"]))["run"]
    assert table["best_run"] == expected == job["sweep"]["best_run"]
    plot = Image.open(io.BytesIO(bucket.blob(prefix + "sweep/pareto.png").download_as_bytes()))
    assert plot.format == "PNG" and plot.size[0] >= 400 and len(plot.getcolors(1 << 16) or []) > 3
    assert {"pareto", "comparison_csv", "layout"} <= set(job["links"])


def run_state(job: dict[str, Any], index: int) -> str:
    runs = (job.get("sweep") or {}).get("runs") or []
    return runs[index]["state"] if index < len(runs) else "PENDING"


def test_one_failing_run_leaves_the_others_and_the_summary_intact(stack: RunningStack) -> None:
    user = f"sweep-{uuid.uuid4().hex[:6]}@example.com"
    config, job_id = submit_sweep(stack, user, {"parameters": {"CLOCK_PERIOD": [5, 10, 20]}})
    running = wait_until(config, job_id, lambda j: run_state(j, 1) == "RUNNING")
    victim = running["sweep"]["runs"][1]
    # The fault: run 1's Slurm task is killed while it runs (as a node failure or an admin would).
    subprocess.run(
        ["scancel", victim_slurm_id(stack, config, job_id)],
        check=True,
        env={"SLURM_CONF": stack.layout.client_env()["SLURM_CONF"], "PATH": "/usr/bin:/bin"},
    )
    job = wait_until(config, job_id, ended)
    states = [r["state"] for r in job["sweep"]["runs"]]
    assert states[1] in ("CANCELLED", "FAILED") and states[0] == states[2] == "SUCCEEDED", states
    assert job["state"] == "SUCCEEDED", job["reason"]
    assert "1 cancelled" in job["reason"] or "1 failed" in job["reason"], job["reason"]
    assert job["sweep"]["best_run"] in (0, 2)
    assert victim["settings"] == {"CLOCK_PERIOD": 10}
    listing = client.api_get(config, f"/v1/jobs/{job_id}/artifacts")
    assert listing is not None and {"sweep/comparison.csv", "sweep/pareto.png"} <= {
        a["path"] for a in listing["artifacts"]
    }


def victim_slurm_id(stack: RunningStack, config: client.ClientConfig, job_id: str) -> str:
    """The Slurm id of run 1's task: `<array id>_1`, which scancel understands."""
    job = client.api_get(config, f"/v1/jobs/{job_id}")
    assert job is not None and job["slurm_job_id"]
    return f"{job['slurm_job_id']}_1"


def test_cancelling_a_sweep_stops_every_run(stack: RunningStack) -> None:
    user = f"sweep-{uuid.uuid4().hex[:6]}@example.com"
    config, job_id = submit_sweep(stack, user, {"parameters": {"CLOCK_PERIOD": [5, 6, 7, 8, 9, 10]}})
    wait_until(config, job_id, lambda j: j["state"] == "RUNNING")
    reply = client.api_call(config, "POST", f"/v1/jobs/{job_id}/cancel", {})
    assert reply is not None and reply["state"] in ("SUBMITTED", "RUNNING")
    job = wait_until(config, job_id, ended, timeout_s=120)
    states = [r["state"] for r in job["sweep"]["runs"]]
    assert "RUNNING" not in states and "PENDING" not in states, states
    assert states.count("CANCELLED") >= 3, states  # at most the throttle's first runs could finish first
    assert job["state"] in ("CANCELLED", "SUCCEEDED"), job["reason"]
    left = stack.squeue(f"--name=olc-{job_id}", "-o", "%T").split()
    assert not {"PENDING", "RUNNING", "CONFIGURING"} & set(left), left


def test_a_sweep_whose_end_reports_are_all_lost_is_finished_by_the_reconciler(stack: RunningStack) -> None:
    """No run's end report reaches the hook (the sender is told 410 and gives up): the tick's reconciler asks Slurm
    about the quiet array, ends each run from Slurm's record and the run's manifest, and ends the sweep."""
    user = f"sweep-{uuid.uuid4().hex[:6]}@example.com"
    config = stack.client(user)
    archive = design_archive(SPM, OLC_FLOW="yosys-osu035", OLC_SWEEP={"parameters": {"CLOCK_PERIOD": [5, 10, 20]}})
    with end_reports_dropped(stack, every=1) as proxy:
        job_id = client.expected_job_id(client.upload(config, "spm-lost-ends.tar.gz", archive, reuse=False))
        job = wait_until(config, job_id, ended, timeout_s=180)
        assert proxy.counter >= 3, "every run's end report went to the proxy and was dropped"
    assert job["state"] == "SUCCEEDED", job["reason"]
    assert [r["state"] for r in job["sweep"]["runs"]] == ["SUCCEEDED"] * 3
    assert all(r["metrics"] for r in job["sweep"]["runs"]), job["sweep"]["runs"]
    bucket = stack.storage().bucket(RESULTS_BUCKET)
    assert bucket.blob(f"{user}/{job_id}/sweep/comparison.csv").exists()
    repaired = [
        line
        for line in (stack.layout.state / "logs" / "dispatcher.log").read_text().splitlines()
        if job_id in line and "reconciled a job whose end was not reported" in line
    ]
    assert repaired, "the reconciler ended the runs"
