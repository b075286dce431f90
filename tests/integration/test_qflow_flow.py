"""The qflow-osu035 plan run for real, stage by stage, the way the job kit runs it (argv, no shell)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shared.domain.design import Resources
from shared.domain.flows import render
from shared.domain.flows.base import DESIGN_DIR, FlowPlan
from shared.domain.flows.qflow import QflowOsu035Runner
from shared.domain.metrics import Metrics
from tests.integration.stages import StageResult, design_spec, read_png, run_stages
from tests.unit.render_script import RENDER_SCRIPT

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module", autouse=True)
def _qflow_installed() -> None:
    # `make test` installs these (make system-deps); a missing tool must fail loudly, not skip.
    assert shutil.which("qflow") and Path("/usr/share/qflow/tech/osu035").is_dir(), (
        "qflow and qflow-tech-osu035 are missing: run `make system-deps`"
    )
    assert shutil.which("klayout"), "klayout is missing: run `make system-deps`"


def run_example(name: str, work: Path) -> tuple[FlowPlan, list[StageResult], Metrics]:
    folder = EXAMPLES / name
    shutil.copytree(folder, work / DESIGN_DIR)
    runner = QflowOsu035Runner(render_script=RENDER_SCRIPT)
    plan = runner.plan(design_spec(folder, "qflow-osu035"), Resources())
    results = run_stages(plan, work)
    files = {p: (work / p).read_text(errors="replace") for p in plan.metrics_files if (work / p).is_file()}
    return plan, results, runner.parse_metrics(files)


# qflow is deterministic, so each design always maps to the same cells (spm: see tests/unit/fixtures/qflow).
@pytest.mark.parametrize(("example", "cells", "area_um2"), [("spm", 377, 77920.0), ("counter", 58, 11284.0)])
def test_clean_design_goes_from_rtl_to_gds(example: str, cells: int, area_um2: float, tmp_path: Path) -> None:
    plan, results, metrics = run_example(example, tmp_path)

    failed = [r for r in results if r.returncode != 0]
    assert not failed, f"{failed[0].name} failed:\n{failed[0].output[-3000:]}"
    assert [r.name for r in results] == [s.name for s in plan.stages]
    for kind, path in plan.primary_outputs.items():
        assert (tmp_path / path).stat().st_size > 0, kind
    assert (metrics.cell_count, metrics.area_um2) == (cells, area_um2)
    assert metrics.lvs_match is True
    assert metrics.drc_errors == 0
    assert metrics.routing_failures == 0
    assert metrics.clock_period_ns == 10.0
    assert metrics.wns_ns == 0.0
    assert metrics.max_frequency_mhz is not None and metrics.max_frequency_mhz > 100
    assert_layout_pictures(tmp_path, plan, results[-1])


def assert_layout_pictures(work: Path, plan: FlowPlan, rendered: StageResult) -> None:
    assert rendered.name == "render" and "render failed" not in rendered.output, rendered.output
    for kind, size in (("layout_png", render.PNG_SIZE), ("layout_thumb_png", render.THUMB_SIZE)):
        path = work / plan.primary_outputs[kind]
        assert path.is_file(), f"{kind} missing:\n{rendered.output}"
        assert plan.primary_outputs[kind] in plan.artifacts
        picture = read_png(path.read_bytes())
        assert (picture.width, picture.height) == (size, size)
        # A blank picture (a black background, perhaps a grid) has a handful of colours; a drawn layout hundreds.
        assert len(picture.colours) > 32, f"{kind} looks blank: {len(picture.colours)} colours"
    assert not list((work / render.RENDER_DIR).glob("*.partial*"))


def test_syntax_error_stops_the_flow_at_synthesis(tmp_path: Path) -> None:
    _, results, metrics = run_example("broken-synth", tmp_path)

    assert [r.name for r in results] == ["prepare", "synthesis"]
    synthesis = results[-1]
    assert synthesis.returncode != 0
    assert "blinky.v:14: ERROR: syntax error" in synthesis.output
    assert metrics.cell_count is None
    assert not list(tmp_path.rglob("*.gds"))


def test_render_without_a_layout_says_why_and_does_not_fail(tmp_path: Path) -> None:
    """The stage as the plan has it, with real KLayout, when the GDS is not there: no picture, exit 0."""
    (render_stage,) = [
        s
        for s in QflowOsu035Runner(render_script=RENDER_SCRIPT)
        .plan(design_spec(EXAMPLES / "spm", "qflow-osu035"), Resources())
        .stages
        if s.name == "render"
    ]
    plan = FlowPlan(runner="render-only", stages=(render_stage,), artifacts=(), metrics_files=())
    (result,) = run_stages(plan, tmp_path)
    assert result.returncode == 0
    assert "render failed: RenderError: no layout file matches 'qflow/layout/spm.gds'" in result.output
    assert "warning: no layout picture: the renderer exited with status 1" in result.output
    assert not (tmp_path / render.LAYOUT_PNG).exists() and not (tmp_path / render.LAYOUT_THUMB_PNG).exists()
