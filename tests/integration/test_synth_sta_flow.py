"""The yosys-osu035 plan run for real, stage by stage, the way the job kit runs it (argv, no shell)."""

from __future__ import annotations

import dataclasses
import glob
import shutil
from pathlib import Path

import pytest

from shared.domain.design import DesignSpec, Resources
from shared.domain.flows.base import DESIGN_DIR, FlowPlan
from shared.domain.flows.osu035 import LIBERTY
from shared.domain.flows.synth_sta import SynthStaOsu035Runner
from shared.domain.metrics import Metrics
from tests.integration.stages import StageResult, design_spec, run_stages

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FLOW = "yosys-osu035"


@pytest.fixture(scope="module", autouse=True)
def _tools_installed() -> None:
    # `make test` installs these with qflow (make system-deps); a missing tool must fail loudly, not skip.
    assert shutil.which("yosys") and shutil.which("sta") and Path(LIBERTY).is_file(), (
        "yosys, OpenSTA or the OSU 0.35 Liberty is missing: run `make system-deps`"
    )


def run_design(design: DesignSpec, work: Path) -> tuple[FlowPlan, list[StageResult], Metrics]:
    runner = SynthStaOsu035Runner()
    plan = runner.plan(design, Resources())
    results = run_stages(plan, work)
    files = {p: (work / p).read_text(errors="replace") for p in plan.metrics_files if (work / p).is_file()}
    return plan, results, runner.parse_metrics(files)


def run_example(name: str, work: Path) -> tuple[FlowPlan, list[StageResult], Metrics]:
    folder = EXAMPLES / name
    shutil.copytree(folder, work / DESIGN_DIR)
    return run_design(design_spec(folder, FLOW), work)


def assert_passed(plan: FlowPlan, results: list[StageResult]) -> None:
    failed = [r for r in results if r.returncode != 0]
    assert not failed, f"{failed[0].name} failed:\n{failed[0].output[-3000:]}"
    assert [r.name for r in results] == [s.name for s in plan.stages]


# yosys and OpenSTA are deterministic, so each design always maps to the same cells and slack
# (spm: see tests/unit/fixtures/synth_sta).
@pytest.mark.parametrize(
    ("example", "cells", "area_um2", "fmax_mhz"),
    [("spm", 254, 71700.0, 922.509), ("counter", 27, 8672.0, 495.786)],
)
def test_clean_design_is_synthesised_and_timed(
    example: str, cells: int, area_um2: float, fmax_mhz: float, tmp_path: Path
) -> None:
    plan, results, metrics = run_example(example, tmp_path)

    assert_passed(plan, results)
    for kind, path in plan.primary_outputs.items():
        assert (tmp_path / path).stat().st_size > 0, kind
    for pattern in plan.artifacts:
        assert glob.glob(str(tmp_path / pattern)), f"artifact {pattern} was not written"
    assert metrics == Metrics(
        cell_count=cells,
        area_um2=area_um2,
        wns_ns=0.0,
        tns_ns=0.0,
        clock_period_ns=10.0,
        max_frequency_mhz=fmax_mhz,
    )
    # The "fast tier": well under a second each on a laptop; the bound only catches a flow gone wrong.
    assert sum(r.seconds for r in results) < 20


def test_violated_timing_is_reported_not_failed(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "spm", tmp_path / DESIGN_DIR)
    design = dataclasses.replace(design_spec(EXAMPLES / "spm", FLOW), clock_period_ns=1.0)

    plan, results, metrics = run_design(design, tmp_path)

    assert_passed(plan, results)
    assert metrics.wns_ns is not None and metrics.wns_ns < 0
    assert metrics.tns_ns is not None and metrics.tns_ns <= metrics.wns_ns
    assert metrics.clock_period_ns == 1.0
    assert metrics.max_frequency_mhz == 922.509  # the same netlist as at 10 ns
    assert "slack (VIOLATED)" in results[-1].output


def test_nasty_file_names_are_synthesised_from_copies(tmp_path: Path) -> None:
    nasty = "src/my counter[1];$(touch x).v"
    (tmp_path / DESIGN_DIR / "src").mkdir(parents=True)
    (tmp_path / DESIGN_DIR / nasty).write_text((EXAMPLES / "counter" / "src" / "counter.v").read_text())
    # What yosys would read instead if it were handed the name: its glob expansion of `[1]`.
    (tmp_path / DESIGN_DIR / "src" / "my counter1;$(touch x).v").write_text("module decoy; endmodule\n")
    design = DesignSpec(design_name="counter", top_module="counter", verilog_files=(nasty,), clock_port="clk")

    plan, results, metrics = run_design(design, tmp_path)

    assert_passed(plan, results)
    assert metrics.cell_count == 27
    assert not list(tmp_path.rglob("x")), "the file name was executed"


def test_syntax_error_stops_the_flow_at_lint(tmp_path: Path) -> None:
    plan, results, metrics = run_example("broken-synth", tmp_path)

    assert [r.name for r in results] == ["lint"]
    assert results[0].returncode != 0
    assert "design/src/blinky.v:14: ERROR: syntax error" in results[0].output
    assert metrics == Metrics()
    assert not (tmp_path / plan.primary_outputs["netlist"]).exists()


def test_missing_module_stops_the_flow_at_lint(tmp_path: Path) -> None:
    (tmp_path / DESIGN_DIR / "src").mkdir(parents=True)
    top = "module top(input a, output y); helper u(.a(a), .y(y)); endmodule\n"
    (tmp_path / DESIGN_DIR / "src" / "top.v").write_text(top)
    design = DesignSpec(design_name="top", top_module="top", verilog_files=("src/top.v",))

    _, results, _ = run_design(design, tmp_path)

    assert [(r.name, r.returncode != 0) for r in results] == [("lint", True)]
    assert "ERROR: Module `\\helper' referenced in module `\\top' in cell `\\u' is not part" in results[0].output
