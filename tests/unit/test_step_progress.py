"""Per-step progress of OpenLane-family flows: the job kit reading run folders, the job recording steps, the views.

The OpenLane 1 tree is made from OpenLane 1's documented output layout (runs/<tag>/logs/<stage>/<N>-<step>.log);
the LibreLane one from what LibreLane 3.0 writes (NN-<step-slug>/ folders and flow.log's "Running '<id>' at ..." lines,
as tests/integration/test_librelane_flow.py sees for real).
"""

from __future__ import annotations

import importlib.util
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest

from shared.domain.design import DesignSpec, Resources
from shared.domain.flows.base import StepProgress
from shared.domain.flows.openlane import (
    CLASSIC_STEP_COUNT,
    FRONT_END_STEPS,
    NATIVE_SCRIPT,
    ContainerCommand,
    FixedSteps,
    LibreLaneRunner,
    NativeCommand,
    OpenLane1Runner,
)
from shared.domain.job import Job, JobState, SourceObject, StageMark, StateChange, StepReport, record_stage
from shared.domain.metrics import Metrics
from shared.services.complete import step_report
from shared.services.completion.run_end import missing_metric_warnings
from shared.web.views import progress, timeline
from tests.unit.render_script import RENDER_SCRIPT

SLURM_DIR = Path(__file__).resolve().parents[2] / "infra" / "slurm"
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def kit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("olc_job_steps", SLURM_DIR / "olc_job.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def spm(**changes: object) -> DesignSpec:
    base = {
        "design_name": "spm",
        "top_module": "spm",
        "verilog_files": ("src/spm.v",),
        "clock_port": "clk",
        "flow": "librelane",
        "pdk": "",
        "flow_variables": {"DESIGN_NAME": "spm", "VERILOG_FILES": "dir::src/*.v", "CLOCK_PERIOD": 10},
    }
    return DesignSpec(**{**base, **changes})  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ the job kit
def test_librelane_steps_are_named_from_flow_log_in_folder_order(kit: ModuleType, tmp_path: Path) -> None:
    run = tmp_path / "design" / "runs" / "olc"
    watcher = kit.StepWatcher(
        {"stage": "flow", "layout": "librelane", "run_dir": "design/runs/olc", "steps": [], "total": 80}, str(tmp_path)
    )
    assert watcher.poll() == []  # no run folder yet
    (run / "01-verilator-lint").mkdir(parents=True)
    (run / "tmp").mkdir()  # not a step
    (run / "flow.log").write_text("Running 'Verilator.Lint' at 'runs/olc/01-verilator-lint'…\n")
    first = watcher.poll()
    assert [(s["id"], s["index"], s["total"]) for s in first] == [("Verilator.Lint", 1, 80)]
    (run / "02-openroad-stamidpnr-1").mkdir()
    (run / "03-checker-linterrors").mkdir()
    with (run / "flow.log").open("a") as log:
        log.write("Running 'OpenROAD.STAMidPNR-1' at 'runs/olc/02-openroad-stamidpnr-1'…\n")
    # A folder that flow.log does not name yet still shows, by its folder name.
    assert [s["id"] for s in watcher.poll()] == ["OpenROAD.STAMidPNR-1", "checker-linterrors"]
    assert watcher.poll() == []  # each step once
    assert watcher.current["id"] == "checker-linterrors"


def test_librelane_planned_steps_name_folders_before_flow_log_does(kit: ModuleType, tmp_path: Path) -> None:
    watcher = kit.StepWatcher(
        {"stage": "flow", "layout": "librelane", "run_dir": "r", "steps": list(FRONT_END_STEPS), "total": 10},
        str(tmp_path),
    )
    (tmp_path / "r" / "06-yosys-synthesis").mkdir(parents=True)
    assert [(s["id"], s["index"]) for s in watcher.poll()] == [("Yosys.Synthesis", 6)]


def test_openlane1_stages_come_from_its_log_folders(kit: ModuleType, tmp_path: Path) -> None:
    """OpenLane 1: runs/<tag>/logs/<stage>/<N>-<step>.log, stage folders made as the flow reaches them."""
    logs = tmp_path / "design" / "runs" / "olc" / "logs"
    spec = {
        "stage": "flow",
        "layout": "openlane1",
        "run_dir": "design/runs/olc",
        "steps": ["synthesis", "floorplan", "placement", "cts", "routing", "signoff"],
        "total": 6,
    }
    watcher = kit.StepWatcher(spec, str(tmp_path))
    (logs / "synthesis").mkdir(parents=True)
    (logs / "synthesis" / "1-synthesis.log").write_text("yosys ...")
    (logs / "synthesis" / "2-sta.log").write_text("sta ...")
    assert [(s["id"], s["index"], s["total"]) for s in watcher.poll()] == [("synthesis", 1, 6)]
    (logs / "floorplan").mkdir()
    (logs / "placement").mkdir()
    (logs / "placement" / "7-global.log").write_text("error: overflow")
    assert [(s["id"], s["index"]) for s in watcher.poll()] == [("floorplan", 2), ("placement", 3)]
    assert [Path(p).name for p in watcher.step_logs(watcher.current)] == ["7-global.log"]


def test_a_failed_steps_excerpt_is_its_own_log_not_the_flows_tail(kit: ModuleType, tmp_path: Path) -> None:
    stage_log = tmp_path / "flow.log"
    stage_log.write_text(
        "\n".join(f"line {i} of a long combined log" for i in range(10_000))
        + "\n[04:10:03] ERROR    1 Lint errors found.                                       checker.py:127\n"
    )
    step_log = tmp_path / "verilator-lint.log"
    step_log.write_text("%Error: src/a.v:3:1: syntax error, unexpected end\n%Error: Cannot continue\n")
    excerpt = kit.step_excerpt(str(stage_log), [str(step_log)])
    assert "ERROR  1 Lint errors found.  checker.py:127" in excerpt
    assert "--- verilator-lint.log ---" in excerpt and "src/a.v:3:1: syntax error" in excerpt
    assert "line 9999" not in excerpt


# ------------------------------------------------------------------------------------------ the plans
def test_every_openlane_plan_says_where_its_steps_appear() -> None:
    classic = LibreLaneRunner(ContainerCommand("/apps/ll.sif", "/apps/pdks"), render_script=RENDER_SCRIPT).plan(
        spm(), Resources()
    )
    assert classic.progress == StepProgress("flow", "librelane", "design/runs/olc", (), CLASSIC_STEP_COUNT)
    own_steps = spm(flow_variables={"meta": {"version": 2, "flow": ["Yosys.Synthesis", "OpenROAD.Floorplan"]}})
    listed = LibreLaneRunner(ContainerCommand("/apps/ll.sif", "/apps/pdks"), render_script=RENDER_SCRIPT).plan(
        own_steps, Resources()
    )
    assert listed.progress is not None and listed.progress.total == 2
    ol1 = OpenLane1Runner("/apps/ol.sif", "/apps/pdks", render_script=RENDER_SCRIPT).plan(
        spm(flow="openlane1"), Resources()
    )
    assert ol1.progress is not None and ol1.progress.layout == "openlane1" and ol1.progress.total == 6


def test_native_mode_runs_the_same_command_with_the_nodes_librelane(tmp_path: Path) -> None:
    """Same argv as in the image, but started by the node's interpreter, with its bin folder first on PATH."""
    python = tmp_path / "env" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text('#!/bin/sh\necho "PATH=$PATH"; echo "PDK_ROOT=$PDK_ROOT"; for a in "$@"; do echo "<$a>"; done\n')
    python.chmod(0o755)
    native = LibreLaneRunner(NativeCommand(str(python), "/opt/pdks"), run_tag="t $(id)", render_script=RENDER_SCRIPT)
    contained = LibreLaneRunner(
        ContainerCommand("/apps/ll.sif", "/opt/pdks"), run_tag="t $(id)", render_script=RENDER_SCRIPT
    )
    stage = next(s for s in native.plan(spm(), Resources()).stages if s.name == "flow")
    assert stage.argv[:4] == ("sh", "-c", NATIVE_SCRIPT, "olc-native")
    container_argv = next(s for s in contained.plan(spm(), Resources()).stages if s.name == "flow").argv
    command = container_argv[container_argv.index("/apps/ll.sif") + 2 :]  # after the image and "python3"
    assert stage.argv[stage.argv.index("--") + 2 :] == command

    out = subprocess.run(stage.argv, capture_output=True, text=True, check=True, cwd=tmp_path).stdout.splitlines()
    assert out[0].startswith(f"PATH={python.parent}:")
    assert out[1] == "PDK_ROOT=/opt/pdks"
    assert "<t $(id)>" in out  # a value stays one word, never expanded


def test_native_mode_refuses_a_relative_interpreter() -> None:
    with pytest.raises(ValueError, match="absolute"):
        NativeCommand("python3", "/opt/pdks")


def test_librelane_osu035_refuses_another_pdk() -> None:
    runner = LibreLaneRunner(
        NativeCommand("/opt/ll/bin/python", "/opt/pdks"),
        fixed=FixedSteps(FRONT_END_STEPS, "osu035"),
        render_script=RENDER_SCRIPT,
    )
    with pytest.raises(ValueError, match="sky130A"):
        runner.plan(spm(pdk="sky130A"), Resources())


def test_run_config_drops_keys_librelane_would_refuse_and_keeps_the_designs() -> None:
    runner = LibreLaneRunner(
        NativeCommand("/opt/ll/bin/python", "/opt/pdks"),
        fixed=FixedSteps(FRONT_END_STEPS, "osu035", timing_liberty="/usr/share/lib.lib"),
        render_script=RENDER_SCRIPT,
    )
    variables = {
        "DESIGN_NAME": "spm",
        "SYNTH_STRATEGY": "DELAY 4",
        "SYNTH_ABC_BUFFERING": True,
        "OLC_FLOW": "librelane-osu035",
        "QUIT_ON_TIMING_VIOLATIONS": True,
        "meta": {"version": 2, "flow": "Classic"},
    }
    written = runner.run_config(spm(flow_variables=variables))
    assert written == {
        "DESIGN_NAME": "spm",
        "SYNTH_STRATEGY": "DELAY 4",
        "SYNTH_ABC_BUFFERING": True,
        "meta": {"version": 2, "flow": list(FRONT_END_STEPS)},
    }


# ------------------------------------------------------------------------------------------ the job
def running_job() -> Job:
    return Job(
        id="j0123456789abcdef012",
        owner="ada@example.com",
        source=SourceObject("designs", "ada@example.com/spm.tar.gz", 1),
        state=JobState.RUNNING,
        created_at=T0,
        history=(StateChange(JobState.QUEUED, T0), StateChange(JobState.RUNNING, T0 + timedelta(seconds=2))),
        stages=(StageMark("flow", T0 + timedelta(seconds=3)),),
        stage="flow",
    )


def test_a_step_is_a_mark_of_its_own_with_the_runs_start_time() -> None:
    job = running_job()
    step = StepReport(6, 10, T0 + timedelta(seconds=5))
    moved = record_stage(job, "Yosys.Synthesis", T0 + timedelta(seconds=6), step=step)
    assert moved is not None
    assert moved.stages[-1] == StageMark("Yosys.Synthesis", T0 + timedelta(seconds=5), 6, 10)
    assert moved.stages[-1].describe() == "step 6 of 10: Yosys.Synthesis"
    view = progress(moved, ("run-config", "flow", "timing"))
    assert (view["stages_done"], view["stages_total"], view["unit"]) == (5, 10, "steps")
    assert view["current"] == "step 6 of 10: Yosys.Synthesis"
    events = timeline(moved)
    assert events[-1]["step"] == 6 and events[-1]["steps"] == 10 and events[-1]["duration_s"] is None
    assert events[-2]["duration_s"] == 2.0  # "flow" until the step started


@pytest.mark.parametrize(
    ("report", "expected_at", "index", "total"),
    [
        (StepReport(3, 10, T0 - timedelta(days=1)), T0 + timedelta(seconds=3), 3, 10),  # not before the last mark
        (StepReport(3, 10, T0 + timedelta(days=1)), T0 + timedelta(seconds=9), 3, 10),  # not after the report
        (StepReport(12, 10, None), T0 + timedelta(seconds=9), 12, None),  # more steps than expected: no total
        (StepReport(-1, 10**9, None), T0 + timedelta(seconds=9), None, None),  # nonsense numbers dropped
    ],
)
def test_step_reports_from_the_run_are_bounded(
    report: StepReport, expected_at: datetime, index: int | None, total: int | None
) -> None:
    moved = record_stage(running_job(), "X.Y", T0 + timedelta(seconds=9), step=report)
    assert moved is not None
    assert moved.stages[-1] == StageMark("X.Y", expected_at, index, total)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"index": 2, "total": 10, "started_at": 0}, StepReport(2, 10, datetime.fromtimestamp(0, UTC))),
        ({"index": True, "total": "10"}, StepReport(None, None, None)),
        ("step 2", None),
        (None, None),
    ],
)
def test_step_report_parsing(value: object, expected: StepReport | None) -> None:
    assert step_report(value) == expected


def test_a_step_that_measured_nothing_is_a_warning() -> None:
    plan = LibreLaneRunner(
        NativeCommand("/opt/ll/bin/python", "/opt/pdks"),
        fixed=FixedSteps(FRONT_END_STEPS, "osu035", timing_liberty="/usr/share/lib.lib"),
    ).plan(spm(pdk="osu035"), Resources())
    assert missing_metric_warnings(plan, Metrics(cell_count=3, wns_ns=0.0)) == ()
    (warning,) = missing_metric_warnings(plan, Metrics(cell_count=3))
    assert warning.startswith("timing finished without reporting wns ns")
