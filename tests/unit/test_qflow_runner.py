"""QflowOsu035Runner: the plan it makes and the metrics it reads from real qflow output."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from shared.domain.design import DesignSpec, Resources
from shared.domain.flows import render
from shared.domain.flows.base import FlowPlan, FlowRunner, FlowStage
from shared.domain.flows.qflow import QflowOsu035Runner
from shared.domain.metrics import Metrics
from tests.unit.render_script import RENDER_SCRIPT

FIXTURES = Path(__file__).parent / "fixtures" / "qflow"
NASTY = "src/a b;$(touch x).v"
STAGES = [
    "prepare",
    "synthesis",
    "placement",
    "sta",
    "routing",
    "post-route-sta",
    "migrate",
    "drc",
    "lvs",
    "gdsii",
    "render",
]


def spec(**overrides: object) -> DesignSpec:
    values: dict[str, object] = {
        "design_name": "spm",
        "top_module": "spm",
        "verilog_files": ("src/spm.v",),
        "clock_port": "clk",
        "clock_period_ns": 10.0,
    }
    values.update(overrides)
    return DesignSpec(**values)  # type: ignore[arg-type]


def plan_for(design: DesignSpec) -> FlowPlan:
    return QflowOsu035Runner(render_script=RENDER_SCRIPT).plan(design, Resources())


def stage(plan: FlowPlan, name: str) -> FlowStage:
    return next(s for s in plan.stages if s.name == name)


def load(folder: str) -> dict[str, str]:
    """Fixture files keyed like FlowPlan.metrics_files: relative to the run's work directory."""
    root = FIXTURES / folder
    return {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*") if p.is_file()}


# -------------------------------------------------------------------------------------------------- plan
def test_is_a_flow_runner_named_after_the_flow() -> None:
    runner: FlowRunner = QflowOsu035Runner(render_script=RENDER_SCRIPT)
    assert runner.name == "qflow-osu035"
    assert plan_for(spec()).runner == "qflow-osu035"


def test_stages_are_the_qflow_steps_in_order() -> None:
    plan = plan_for(spec())
    assert [s.name for s in plan.stages] == STAGES
    assert stage(plan, "prepare").cwd == "."
    assert all(s.cwd == "qflow" for s in plan.stages[1:-1])
    assert stage(plan, "render").cwd == "."


def test_qflow_stages_pass_action_and_top_as_arguments() -> None:
    actions = {s.name: s.argv[4] for s in plan_for(spec(top_module="multiplier")).stages[1:-1]}
    assert actions == {
        "synthesis": "synthesize",
        "placement": "place",
        "sta": "sta",
        "routing": "route",
        "post-route-sta": "backanno",
        "migrate": "migrate",
        "drc": "drc",
        "lvs": "lvs",
        "gdsii": "gdsii",
    }
    for s in plan_for(spec(top_module="multiplier")).stages[1:-1]:
        assert s.argv[:2] == ("sh", "-c") and s.argv[3] == "sh"
        assert s.argv[5] == "multiplier"


def test_no_design_value_reaches_a_script_text() -> None:
    design = spec(
        design_name="name_marker",
        top_module="top_marker",
        clock_port="clock_marker",
        verilog_files=(NASTY, "rtl/file_marker.v"),
    )
    for s in plan_for(design).stages:
        assert s.argv[:2] == ("sh", "-c") and s.argv[3] in ("sh", render.WRAPPER_NAME), s.name
        # The render stage's second script (KLayout's) is the argument after $0.
        scripts = (s.argv[2], s.argv[4]) if s.name == "render" else (s.argv[2],)
        for script in scripts:
            for value in ("name_marker", "top_marker", "clock_marker", "file_marker", "touch x", "a b"):
                assert value not in script, (s.name, value)


def test_file_names_are_arguments_and_odd_ones_are_renamed() -> None:
    prepare = stage(plan_for(spec(verilog_files=("src/spm.v", NASTY, "src/odd name.sv"))), "prepare")
    pairs = list(zip(prepare.argv[7::2], prepare.argv[8::2], strict=True))
    assert pairs == [
        ("src/spm.v", "../../design/src/spm.v"),
        (NASTY, "input2.v"),
        ("src/odd name.sv", "input3.sv"),
    ]


def test_headers_are_left_to_include() -> None:
    prepare = stage(plan_for(spec(verilog_files=("src/defs.vh", "src/spm.v", "src/types.SVH"))), "prepare")
    assert prepare.argv[7:] == ("src/spm.v", "../../design/src/spm.v")


def test_prepare_runs_safely_with_a_nasty_file_name(tmp_path: Path) -> None:
    source = "module spm(input clk, output y); assign y = clk; endmodule\n"
    (tmp_path / "design" / "src").mkdir(parents=True)
    (tmp_path / "design" / NASTY).write_text(source)
    (tmp_path / "design" / "src" / "spm.v").write_text(source)
    prepare = stage(plan_for(spec(verilog_files=(NASTY, "src/spm.v"))), "prepare")

    done = subprocess.run(prepare.argv, cwd=tmp_path, capture_output=True, text=True, check=False)

    assert done.returncode == 0, done.stderr
    project = tmp_path / "qflow"
    assert (project / "source" / "input1.v").read_text() == source
    assert (project / "source" / "spm.fl").read_text() == "input1.v\n../../design/src/spm.v\n"
    assert "create_clock -name core_clock -period 10 [get_ports {clk}]" in (project / "synthesis/spm.sdc").read_text()
    assert "set run_opensta = 1" in (project / "project_vars.sh").read_text()
    for folder in ("layout", "log", "reports"):
        assert (project / folder).is_dir()
    assert not list(tmp_path.rglob("x")), "the file name was executed"
    assert NASTY in done.stdout


def test_prepare_fails_on_a_missing_file(tmp_path: Path) -> None:
    (tmp_path / "design").mkdir()
    prepare = stage(plan_for(spec(verilog_files=("src/missing.v",))), "prepare")
    done = subprocess.run(prepare.argv, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "ERROR: Verilog file not found: design/src/missing.v" in done.stderr


def sdc_of(design: DesignSpec) -> str:
    return stage(plan_for(design), "prepare").argv[6]


def test_sdc_uses_the_design_clock() -> None:
    sdc = sdc_of(spec(clock_port="sys_clk", clock_period_ns=12.5))
    assert "create_clock -name core_clock -period 12.5 [get_ports {sys_clk}]" in sdc
    assert "[delete_from_list [all_inputs] [get_ports {sys_clk}]]" in sdc


def test_sdc_without_clock_port_uses_a_virtual_clock() -> None:
    sdc = sdc_of(spec(clock_port=None, clock_period_ns=4.0))
    assert "create_clock -name core_clock -period 4\n" in sdc
    assert "set_input_delay 0 -clock core_clock [all_inputs]" in sdc


def test_system_verilog_switches_qflow_to_sv() -> None:
    assert "is_system_verilog" not in stage(plan_for(spec()), "prepare").argv[5]
    vars_sv = stage(plan_for(spec(verilog_files=("src/top.sv",))), "prepare").argv[5]
    assert "set is_system_verilog = 1" in vars_sv


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"top_module": "spm; rm -rf /"}, "top module"),
        ({"top_module": "\\escaped "}, "top module"),
        ({"top_module": "spm$HOME"}, "top module"),  # tcsh would expand it in qflow_exec.sh
        ({"clock_port": "clk] [exec id"}, "clock port"),
        ({"clock_period_ns": 0.0}, "clock period"),
        ({"clock_period_ns": float("nan")}, "clock period"),
        ({"verilog_files": ()}, "no Verilog source files"),
        ({"verilog_files": ("src/defs.vh",)}, "no Verilog source files"),
    ],
)
def test_plan_refuses_what_qflow_cannot_take(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan_for(spec(**overrides))


def test_outputs_and_metrics_files() -> None:
    plan = plan_for(spec())
    assert plan.primary_outputs["gds"] == "qflow/layout/spm.gds"
    assert plan.primary_outputs["def"] == "qflow/layout/spm.def"
    for output in plan.primary_outputs.values():
        assert output in plan.artifacts
    assert "qflow/log/*" in plan.artifacts
    assert set(load("spm")) <= set(plan.metrics_files), "fixtures use the plan's paths"


# ---------------------------------------------------------------------------- stage scripts, qflow stubbed
@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A qflow project folder with a stub `qflow` that exits $STUB_RC, as qflow does after writing its log."""
    (tmp_path / "log").mkdir()
    (tmp_path / "layout").mkdir()
    stub = tmp_path / "bin" / "qflow"
    stub.parent.mkdir()
    stub.write_text('#!/bin/sh\necho "qflow $*"\nexit "${STUB_RC:-0}"\n')
    stub.chmod(0o755)
    return tmp_path


def run_stage(project: Path, name: str, log: str | None, stub_rc: int = 0) -> subprocess.CompletedProcess[str]:
    if log is not None:
        target = {"synthesis": "synth.log", "routing": "route.log", "drc": "drc.log", "lvs": "lvs.log"}[name]
        (project / "log" / target).write_text((FIXTURES / log).read_text())
    env = {**os.environ, "PATH": f"{project / 'bin'}:{os.environ['PATH']}", "STUB_RC": str(stub_rc)}
    argv = stage(plan_for(spec()), name).argv
    return subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True, check=False)


def test_failed_qflow_step_shows_the_error_lines_of_its_log(project: Path) -> None:
    done = run_stage(project, "synthesis", "failures/synth.log", stub_rc=1)
    assert done.returncode == 1
    assert "ERROR: qflow synthesize failed (exit 1)" in done.stderr
    assert "blinky.v:14: ERROR: syntax error, unexpected TOK_END" in done.stderr
    assert "qflow synthesize -T osu035 spm" in done.stdout
    assert (project / "log" / "synthesize.out").read_text() == "qflow synthesize -T osu035 spm\n"


def test_routing_fails_on_unrouted_nets_although_qflow_exits_0(project: Path) -> None:
    done = run_stage(project, "routing", "failures/route.log")
    assert done.returncode == 1
    assert "ERROR: routing incomplete: Final: Failed net routes: 414" in done.stderr


def test_routing_passes_when_qrouter_routed_everything(project: Path) -> None:
    done = run_stage(project, "routing", "spm/qflow/log/route.log")
    assert done.returncode == 0, done.stderr


def test_routing_fails_without_a_verdict(project: Path) -> None:
    (project / "log" / "route.log").write_text("")
    done = run_stage(project, "routing", None)
    assert done.returncode == 1
    assert "qrouter reported no result" in done.stderr


def test_drc_fails_on_errors_even_if_qflow_exits_0(project: Path) -> None:
    done = run_stage(project, "drc", "failures/drc.log")
    assert done.returncode == 1
    assert "ERROR: DRC found 3 errors" in done.stderr
    assert run_stage(project, "drc", "spm/qflow/log/drc.log").returncode == 0


def test_lvs_fails_on_mismatch_even_if_qflow_exits_0(project: Path) -> None:
    done = run_stage(project, "lvs", "failures/lvs.log")
    assert done.returncode == 1
    assert "ERROR: LVS mismatch: Result: Netlists do not match." in done.stderr
    assert run_stage(project, "lvs", "spm/qflow/log/lvs.log").returncode == 0


def test_gdsii_fails_without_a_gds(project: Path) -> None:
    done = run_stage(project, "gdsii", None)
    assert done.returncode == 1
    assert "ERROR: no GDS was written (qflow/layout/spm.gds)" in done.stderr
    (project / "layout" / "spm.gds").write_bytes(b"\x00\x06\x00\x02\x00\x03")
    assert run_stage(project, "gdsii", None).returncode == 0


def test_render_stage_draws_the_gds_with_the_cells_filled_from_their_lef() -> None:
    plan = plan_for(spec(top_module="multiplier"))
    render_stage = stage(plan, "render")
    assert render_stage.argv[:5] == ("sh", "-c", render._WRAPPER, render.WRAPPER_NAME, RENDER_SCRIPT)
    assert render_stage.argv[5:] == (
        "klayout", "-b", "-r", "render/render_layout.py",
        "-rd", "layout=qflow/layout/multiplier.gds",
        "-rd", "png=render/layout.png",
        "-rd", "thumb=render/layout-thumb.png",
        "-rd", "size=1200",
        "-rd", "thumb_size=320",
        "-rd", "lef=/usr/share/qflow/tech/osu035/osu035_stdcells.lef",
        "-rd", "lef_layers=metal1=49/0,via1=50/0,metal2=51/0,via2=61/0,metal3=62/0,via3=30/0,metal4=31/0",
    )  # fmt: skip
    assert render_stage.env == {"QT_QPA_PLATFORM": "offscreen"}
    assert plan.primary_outputs["layout_png"] == "render/layout.png"
    assert plan.primary_outputs["layout_thumb_png"] == "render/layout-thumb.png"


@pytest.mark.parametrize(
    ("klayout", "words"),
    [
        ('echo "render failed: RenderError: the layout is empty" >&2; exit 1', "exited with status 1"),
        ("kill -SEGV $$", "exited with status 139"),
        (None, "exited with status 127"),  # no KLayout on the node
    ],
    ids=["error", "crash", "missing"],
)
def test_a_failing_render_does_not_fail_the_run(tmp_path: Path, klayout: str | None, words: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "mkdir", "printf", "timeout"):  # what the wrapper itself needs, and nothing else
        (bin_dir / tool).symlink_to(shutil.which(tool) or tool)
    if klayout is not None:
        (bin_dir / "klayout").write_text(f"#!/bin/sh\n{klayout}\n")
        (bin_dir / "klayout").chmod(0o755)
    argv = stage(plan_for(spec()), "render").argv
    done = subprocess.run(argv, cwd=tmp_path, env={"PATH": str(bin_dir)}, capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert f"warning: no layout picture: the renderer {words}" in done.stderr
    assert (tmp_path / "render" / "render_layout.py").read_text() == RENDER_SCRIPT


def test_the_render_stage_hands_klayout_its_arguments_untouched(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "klayout").write_text('#!/bin/sh\nfor a in "$@"; do printf "<%s>\\n" "$a"; done\n')
    (bin_dir / "klayout").chmod(0o755)
    argv = stage(plan_for(spec()), "render").argv
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert [line[1:-1] for line in done.stdout.splitlines()] == list(argv[6:])
    assert done.stderr == ""


# ------------------------------------------------------------------------------------------------- metrics
def parse(files: dict[str, str]) -> Metrics:
    return QflowOsu035Runner(render_script=RENDER_SCRIPT).parse_metrics(files)


def test_metrics_of_a_clean_spm_run() -> None:
    assert parse(load("spm")) == Metrics(
        cell_count=377,
        area_um2=77920.0,
        wns_ns=0.0,
        tns_ns=0.0,
        clock_period_ns=10.0,
        max_frequency_mhz=934.579,  # 1000 / (10 - 8.93)
        drc_errors=0,
        lvs_match=True,
        routing_failures=0,
    )


def test_metrics_of_violated_timing() -> None:
    metrics = parse(load("spm-1ns"))
    assert metrics.wns_ns == -0.07
    assert metrics.tns_ns == -0.21
    assert metrics.clock_period_ns == 1.0
    assert metrics.max_frequency_mhz == 934.579


def test_metrics_of_failures() -> None:
    files = {f"qflow/log/{p.name}": p.read_text() for p in (FIXTURES / "failures").iterdir()}
    metrics = parse(files)
    assert metrics.routing_failures == 414
    assert metrics.drc_errors == 3
    assert metrics.lvs_match is False
    assert metrics.cell_count is None


def test_cell_count_falls_back_to_the_synthesis_log() -> None:
    files = load("spm")
    del files["qflow/reports/area.rpt"]
    metrics = parse(files)
    assert metrics.cell_count == 353  # yosys' count before qflow's fanout buffering
    assert metrics.area_um2 is None


def test_frequency_falls_back_to_vesta_without_opensta() -> None:
    vesta_only = "Computed maximum clock frequency (zero margin) = 850.552 MHz\n"
    metrics = parse({"qflow/log/post_sta.log": vesta_only})
    assert metrics.max_frequency_mhz == 850.552
    assert metrics.wns_ns is None


def test_lvs_result_line_alone_is_enough() -> None:
    assert parse({"qflow/log/lvs.log": "Result: Circuits match uniquely.\n"}).lvs_match is True
    assert parse({"qflow/log/lvs.log": "Result: Netlists do not match.\n"}).lvs_match is False


def test_missing_files_give_empty_metrics() -> None:
    assert parse({}) == Metrics()
    assert parse({"qflow/log/drc.log": "", "qflow/log/route.log": "garbage\n"}) == Metrics()
