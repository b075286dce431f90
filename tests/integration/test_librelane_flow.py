"""The real LibreLane (PyPI, native mode) through the librelane-osu035 plan, run by the job kit's own stage loop.

The kit (infra/slurm/olc_job.py) runs the stages, watches LibreLane's run folder for steps and cuts the failing step's
excerpt; only its completion-hook client is replaced, by a recorder of what it would have sent.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from devstack import librelane
from shared.domain.design import Resources
from shared.domain.flows.base import DESIGN_DIR, FlowPlan
from shared.domain.flows.openlane import FRONT_END_STEPS, LibreLaneRunner
from shared.domain.flows.registry import LIBRELANE_OSU035, ContainerImages, flow_runners
from shared.domain.job_script import _plan_spec
from shared.domain.metrics import Metrics
from tests.integration.stages import design_spec
from tests.unit.render_script import RENDER_SCRIPT

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="module")
def runner() -> LibreLaneRunner:
    # `make test` installs LibreLane (make system-deps); a missing install must fail loudly, not skip.
    assert librelane.python().exists(), "LibreLane is not installed: run `make system-deps`"
    images = ContainerImages(
        openlane_image="/unused",
        openlane_pdk_root="/unused",
        librelane_image="/unused",
        librelane_pdk_root=str(librelane.pdk_root()),
        librelane_runtime="native",
        librelane_python=str(librelane.python()),
    )
    found = flow_runners(images, render_script=RENDER_SCRIPT)[LIBRELANE_OSU035]
    assert isinstance(found, LibreLaneRunner)
    return found


@pytest.fixture(scope="module")
def kit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("olc_job_librelane", REPO / "infra" / "slurm" / "olc_job.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class RecordingHook:
    """Stands in for the kit's HTTP client of the completion hook: keeps what it would have sent."""

    def __init__(self) -> None:
        self.reports: list[dict[str, Any]] = []
        self.run_index = None

    def report(self, payload: dict[str, Any]) -> None:
        self.reports.append({**payload, "received_at": time.time()})


def run_with_kit(
    kit: ModuleType, runner: LibreLaneRunner, folder: Path, base: Path, **config: Any
) -> tuple[FlowPlan, Any, RecordingHook, Metrics, tuple[int, str | None, str | None]]:
    design_dir = base / "work" / DESIGN_DIR
    shutil.copytree(folder, design_dir)
    if config:
        settings = json.loads((design_dir / "config.json").read_text()) | config
        (design_dir / "config.json").write_text(json.dumps(settings))
    plan = runner.plan(design_spec(design_dir, LIBRELANE_OSU035), Resources())
    spec = {
        "job_id": "jtest",
        "storage": {"endpoint": "http://127.0.0.1:9"},
        "hook": {"url": "http://127.0.0.1:9", "key": "k"},
        "heartbeat_s": 1,
        **_plan_spec(plan),
    }
    run = kit.Run(spec, str(base))
    hook = RecordingHook()
    run.hook = hook
    (base / "work" / "logs").mkdir()
    outcome = run.run_stages()
    work = base / "work"
    files = {p: (work / p).read_text(errors="replace") for p in plan.metrics_files if (work / p).is_file()}
    return plan, run, hook, runner.parse_metrics(files), outcome


def test_spm_runs_every_front_end_step_and_is_timed(kit: ModuleType, runner: LibreLaneRunner, tmp_path: Path) -> None:
    plan, run, hook, metrics, (code, failed, excerpt) = run_with_kit(kit, runner, EXAMPLES / "spm", tmp_path)

    assert (code, failed, excerpt) == (0, None, None), excerpt
    assert [s["name"] for s in run.stages] == ["run-config", "flow", "timing"]
    # Every step of LibreLane's own, in order, each reported once with its number, the total and a start time.
    steps = [r for r in hook.reports if "step" in r]
    assert [r["stage"] for r in steps] == list(FRONT_END_STEPS)
    assert [r["step"]["index"] for r in steps] == list(range(1, 11))
    assert {r["step"]["total"] for r in steps} == {10}
    starts = [r["step"]["started_at"] for r in steps]
    assert starts == sorted(starts)
    assert [s["id"] for s in run.steps] == list(FRONT_END_STEPS)
    # Real figures from LibreLane's metrics.json and OpenSTA; what the flow does not measure stays unmeasured.
    assert metrics.cell_count and metrics.cell_count > 0
    assert metrics.area_um2 and metrics.area_um2 > 0
    assert (metrics.lint_errors, metrics.unmapped_cells, metrics.synthesis_check_errors) == (0, 0, 0)
    assert metrics.wns_ns == 0.0 and metrics.clock_period_ns == 10.0 and metrics.max_frequency_mhz
    assert (metrics.drc_errors, metrics.lvs_match, metrics.power_total_w, metrics.die_area_um2) == (None,) * 4
    work = tmp_path / "work"
    for kind in ("netlist", "metrics_json", "resolved_config"):
        pattern = plan.primary_outputs[kind]
        assert list(work.glob(pattern)), kind
    # LibreLane got the design's own variables, without OpenLane Cloud's keys, and exactly the front-end steps.
    written = json.loads((work / DESIGN_DIR / "olc-run-config.json").read_text())
    assert written["meta"]["flow"] == list(FRONT_END_STEPS)
    assert written["CLOCK_PERIOD"] == 10 and not any(key.startswith("OLC_") for key in written)


def test_a_syntax_error_names_verilator_lint_with_its_own_log(
    kit: ModuleType, runner: LibreLaneRunner, tmp_path: Path
) -> None:
    _plan, _run, _hook, metrics, (code, failed, excerpt) = run_with_kit(
        kit, runner, EXAMPLES / "broken-synth", tmp_path
    )

    assert code != 0
    assert failed == "Verilator.Lint"
    assert "--- verilator-lint.log ---" in excerpt
    assert "blinky.v:14" in excerpt and "syntax error" in excerpt
    assert metrics.cell_count is None  # never 0


def test_a_missing_top_module_fails_in_the_step_that_finds_it(
    kit: ModuleType, runner: LibreLaneRunner, tmp_path: Path
) -> None:
    _plan, _run, _hook, _metrics, (code, failed, excerpt) = run_with_kit(
        kit, runner, EXAMPLES / "spm", tmp_path, DESIGN_NAME="no_such_top"
    )

    assert code != 0
    assert failed in FRONT_END_STEPS
    assert "no_such_top" in excerpt


def test_timing_violation_with_quit_on_timing_violations_fails_the_timing_stage(
    kit: ModuleType, runner: LibreLaneRunner, tmp_path: Path
) -> None:
    _plan, run, _hook, _metrics, (code, failed, excerpt) = run_with_kit(
        kit, runner, EXAMPLES / "spm", tmp_path, CLOCK_PERIOD=0.5, QUIT_ON_TIMING_VIOLATIONS=True
    )

    assert code != 0
    assert failed == "timing"
    assert "setup timing violated" in excerpt and "QUIT_ON_TIMING_VIOLATIONS" in excerpt
    assert [s["id"] for s in run.steps] == list(FRONT_END_STEPS)  # LibreLane itself went through


def test_without_quit_on_timing_violations_a_violation_is_a_figure(
    kit: ModuleType, runner: LibreLaneRunner, tmp_path: Path
) -> None:
    _plan, _run, _hook, metrics, (code, _failed, excerpt) = run_with_kit(
        kit, runner, EXAMPLES / "spm", tmp_path, CLOCK_PERIOD=0.5
    )

    assert code == 0, excerpt
    assert metrics.wns_ns is not None and metrics.wns_ns < 0
    assert metrics.tns_ns is not None and metrics.tns_ns < 0
