"""The real LibreLane flow (librelane-osu035) through the whole local stack: upload, Slurm, live steps, results."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devstack.load import design_archive
from devstack.stack import REPO_ROOT
from olc_cli import client
from shared.domain.flows.openlane import FRONT_END_STEPS

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack

EXAMPLES = REPO_ROOT / "examples"
FLOW = "librelane-osu035"
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED", "TIMEOUT", "REJECTED")


def submit(stack: RunningStack, example: str, **config: Any) -> tuple[client.ClientConfig, str]:
    user = f"ll-{uuid.uuid4().hex[:6]}@example.com"
    settings = stack.client(user)
    archive = design_archive(EXAMPLES / example, OLC_FLOW=FLOW, **config)
    source = client.upload(settings, f"{example}-librelane.tar.gz", archive, notify=False, reuse=False)
    return settings, client.expected_job_id(source)


def watch(settings: client.ClientConfig, job_id: str, timeout_s: float = 180) -> tuple[dict[str, Any], list[str]]:
    """The job at its end, and every distinct "current" progress text seen while polling the API."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.api_get(settings, f"/v1/jobs/{job_id}")
        if job is not None:
            current = (job.get("progress") or {}).get("current")
            if current and (not seen or seen[-1] != current):
                seen.append(current)
            if job["state"] in TERMINAL:
                return job, seen
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not end in {timeout_s} s")


def test_spm_on_librelane_succeeds_with_steps_metrics_and_artifacts(stack: RunningStack, tmp_path: Path) -> None:
    settings, job_id = submit(stack, "spm")
    job, seen = watch(settings, job_id)

    assert job["state"] == "SUCCEEDED", (job["reason"], job["error_excerpt"])
    assert job["flow"] == FLOW
    # Each of LibreLane's steps was recorded, in order, numbered of 10, each with its start time.
    steps = [e for e in job["timeline"] if e["kind"] == "stage" and e.get("step")]
    assert [e["name"] for e in steps] == list(FRONT_END_STEPS)
    assert [(e["step"], e["steps"]) for e in steps] == [(i, 10) for i in range(1, 11)]
    assert all(e["at"] for e in steps) and [e["at"] for e in steps] == sorted(e["at"] for e in steps)
    assert any(text.startswith("step ") and " of 10: " in text for text in seen), seen
    # Figures from LibreLane's metrics.json (and OpenSTA for timing); nothing it did not measure.
    metrics = job["metrics"]
    assert metrics["cell_count"] > 0 and metrics["area_um2"] > 0 and metrics["lint_errors"] == 0
    assert metrics["wns_ns"] == 0.0 and metrics["clock_period_ns"] == 10.0
    assert "drc_errors" not in metrics and "lvs_match" not in metrics and "power_total_w" not in metrics
    assert job["warnings"] == []
    # The outputs a designer downloads: netlist, metrics.json, the resolved configuration, every step's log.
    listed = client.job_call(settings, job_id, suffix="/artifacts")["artifacts"]
    paths = {a["path"] for a in listed}
    assert "files/design/runs/olc/final/nl/spm.nl.v" in paths
    assert "files/design/runs/olc/final/metrics.json" in paths
    assert "files/design/runs/olc/resolved.json" in paths
    assert "files/design/runs/olc/06-yosys-synthesis/yosys-synthesis.log" in paths
    target = tmp_path / "metrics.json"
    client.download(settings, f"/v1/jobs/{job_id}/download?path=files/design/runs/olc/final/metrics.json", target)
    assert json.loads(target.read_text())["design__instance__count"] == metrics["cell_count"]


def test_a_broken_design_fails_naming_the_librelane_step(stack: RunningStack) -> None:
    settings, job_id = submit(stack, "broken-synth")
    job, _seen = watch(settings, job_id)

    assert job["state"] == "FAILED"
    assert job["stage"] in ("Verilator.Lint", "Yosys.Synthesis")
    assert f"step '{job['stage']}'" in job["reason"]
    assert "syntax error" in job["error_excerpt"] and "blinky.v" in job["error_excerpt"]
    assert job["progress"]["current"].startswith("step 1 of 10: ")


def test_a_2x2_sweep_of_librelane_variables_shows_a_real_trade_off(stack: RunningStack) -> None:
    sweep = {"parameters": {"SYNTH_STRATEGY": ["AREA 0", "DELAY 4"], "CLOCK_PERIOD": [0.8, 10]}}
    settings, job_id = submit(stack, "spm", OLC_SWEEP=sweep)
    job, _seen = watch(settings, job_id, timeout_s=300)

    assert job["state"] == "SUCCEEDED", job["reason"]
    runs = job["sweep"]["runs"]
    assert [r["state"] for r in runs] == ["SUCCEEDED"] * 4
    figures = {(r["settings"]["SYNTH_STRATEGY"], r["settings"]["CLOCK_PERIOD"]): r["metrics"] for r in runs}
    # The strategies map to different cells, and the tight clock is violated where the relaxed one is met.
    assert figures[("AREA 0", 10)]["area_um2"] != figures[("DELAY 4", 10)]["area_um2"]
    assert figures[("AREA 0", 0.8)]["wns_ns"] < 0 <= figures[("AREA 0", 10)]["wns_ns"]
    assert len({(m["area_um2"], m["wns_ns"]) for m in figures.values()}) >= 3
    assert job["sweep"]["best_run"] is not None
    assert job["sweep"]["objective"] == "minimize area_um2 subject to wns_ns >= 0"
