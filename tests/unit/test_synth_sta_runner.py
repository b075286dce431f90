"""SynthStaOsu035Runner: the plan it makes, its stage scripts (tools stubbed) and the metrics it reads from real
yosys and OpenSTA output."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from shared.domain.design import DesignSpec, Resources
from shared.domain.flows.base import FlowPlan, FlowRunner, FlowStage
from shared.domain.flows.osu035 import LIBERTY
from shared.domain.flows.synth_sta import SynthStaOsu035Runner
from shared.domain.metrics import Metrics

FIXTURES = Path(__file__).parent / "fixtures" / "synth_sta"
NASTY = "src/a b;$(touch x).v"
# yosys would read `a1.v` for `a[1].v` (it expands globs) and stop at the line break.
GLOBBY = "src/a[1].v"
NEWLINE = "src/two\nlines.sv"


def spec(**overrides: object) -> DesignSpec:
    values: dict[str, object] = {
        "design_name": "spm",
        "top_module": "spm",
        "verilog_files": ("src/spm.v",),
        "clock_port": "clk",
        "clock_period_ns": 10.0,
        "flow": "yosys-osu035",
    }
    values.update(overrides)
    return DesignSpec(**values)  # type: ignore[arg-type]


def plan_for(design: DesignSpec) -> FlowPlan:
    return SynthStaOsu035Runner().plan(design, Resources())


def stage(plan: FlowPlan, name: str) -> FlowStage:
    return next(s for s in plan.stages if s.name == name)


def load(*folders: str) -> dict[str, str]:
    """Fixture files keyed like FlowPlan.metrics_files: relative to the run's work directory."""
    files: dict[str, str] = {}
    for folder in folders:
        root = FIXTURES / folder
        files.update({p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*") if p.is_file()})
    return files


# -------------------------------------------------------------------------------------------------- plan
def test_is_a_flow_runner_named_after_the_flow() -> None:
    runner: FlowRunner = SynthStaOsu035Runner()
    assert runner.name == "yosys-osu035"
    assert plan_for(spec()).runner == "yosys-osu035"


def test_stages_lint_synthesise_and_time_in_the_work_dir() -> None:
    plan = plan_for(spec())
    assert [s.name for s in plan.stages] == ["lint", "synthesis", "sta"]
    assert all(s.cwd == "." and not s.env for s in plan.stages)


def test_no_design_value_reaches_a_script_text() -> None:
    design = spec(
        design_name="name_marker",
        top_module="top_marker",
        clock_port="clock_marker",
        verilog_files=(NASTY, "rtl/file_marker.v"),
    )
    for s in plan_for(design).stages:
        assert s.argv[:2] == ("sh", "-c") and s.argv[3] == "sh", s.name
        for value in ("name_marker", "top_marker", "clock_marker", "file_marker", "touch x", "a b"):
            assert value not in s.argv[2], (s.name, value)


def test_file_names_reach_no_tool_script_either() -> None:
    design = spec(verilog_files=(NASTY, "rtl/file_marker.v"))
    tool_scripts = [s.argv[4] for s in plan_for(design).stages[:2]] + list(stage(plan_for(design), "sta").argv[5:])
    for script in tool_scripts:
        assert "file_marker" not in script and "touch" not in script


def test_plain_files_are_read_in_place_and_odd_ones_from_plain_copies() -> None:
    plan = plan_for(spec(verilog_files=("src/spm.v", NASTY, "src/top.sv", GLOBBY, NEWLINE, "src/OLD.V")))
    lint = stage(plan, "lint")
    assert list(zip(lint.argv[5::2], lint.argv[6::2], strict=True)) == [
        ("src/spm.v", "design/src/spm.v"),
        (NASTY, "synth_sta/src/input2.v"),
        ("src/top.sv", "design/src/top.sv"),
        (GLOBBY, "synth_sta/src/input4.v"),
        (NEWLINE, "synth_sta/src/input5.sv"),
        ("src/OLD.V", "synth_sta/src/input6.v"),
    ]
    assert stage(plan, "synthesis").argv[5:] == lint.argv[6::2]


def test_headers_are_left_to_include() -> None:
    plan = plan_for(spec(verilog_files=("src/defs.vh", "src/spm.v", "src/types.SVH")))
    assert stage(plan, "lint").argv[5:] == ("src/spm.v", "design/src/spm.v")
    assert stage(plan, "synthesis").argv[5:] == ("design/src/spm.v",)


def test_lint_parses_and_checks_the_hierarchy() -> None:
    script = stage(plan_for(spec(top_module="multiplier")), "lint").argv[4]
    assert "hierarchy -check -top multiplier\n" in script


def test_synthesis_maps_every_flop_to_the_osu035_cells() -> None:
    script = stage(plan_for(spec(top_module="multiplier")), "synthesis").argv[4]
    assert "synth -top multiplier -flatten\n" in script
    # yosys 0.23 leaves asynchronous-reset flops unmapped without it.
    assert "dfflegalize -cell $_DFF_P_ 01 -cell $_DFF_N_ 01 -cell $_DFFSR_PNN_ 01\n" in script
    assert f"dfflibmap -liberty {LIBERTY}\n" in script
    assert f"abc -liberty {LIBERTY}\n" in script
    assert "select -assert-none t:$*\n" in script  # nothing left unmapped
    assert f"tee -q -o synth_sta/reports/area.rpt stat -liberty {LIBERTY}\n" in script
    assert "write_verilog -noattr -noexpr synth_sta/multiplier.gl.v\n" in script


def test_sta_times_the_netlist_against_the_design_clock() -> None:
    argv = stage(plan_for(spec(top_module="multiplier", clock_port="sys_clk", clock_period_ns=12.5)), "sta").argv
    top, sdc, _project_dir, _mode, script = argv[4:]
    assert top == "multiplier"
    assert "create_clock -name core_clock -period 12.5 [get_ports {sys_clk}]" in sdc
    assert "set_input_delay 0 -clock core_clock [delete_from_list [all_inputs] [get_ports {sys_clk}]]" in sdc
    assert "yosys-osu035" in sdc
    for line in (
        f"read_liberty {LIBERTY}",
        "read_verilog synth_sta/multiplier.gl.v",
        "link_design multiplier",
        "read_sdc -echo synth_sta/multiplier.sdc",
        "report_wns -digits 3",
        "report_tns -digits 3",
        "report_worst_slack -digits 3",
    ):
        assert line + "\n" in script
    assert "report_checks -path_delay min_max" in script


def test_sta_without_clock_port_uses_a_virtual_clock() -> None:
    sdc = stage(plan_for(spec(clock_port=None, clock_period_ns=4.0)), "sta").argv[5]
    assert "create_clock -name core_clock -period 4\n" in sdc
    assert "set_input_delay 0 -clock core_clock [all_inputs]" in sdc


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"top_module": "spm; rm -rf /"}, "top module"),
        ({"top_module": "\\escaped "}, "top module"),
        ({"top_module": "spm\nhierarchy"}, "top module"),  # would add a command to the yosys script
        ({"clock_port": "clk] [exec id"}, "clock port"),
        ({"clock_period_ns": 0.0}, "clock period"),
        ({"clock_period_ns": float("inf")}, "clock period"),
        ({"verilog_files": ()}, "no Verilog source files"),
        ({"verilog_files": ("src/defs.vh",)}, "no Verilog source files"),
    ],
)
def test_plan_refuses_what_the_tools_cannot_take(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan_for(spec(**overrides))


def test_outputs_and_metrics_files() -> None:
    plan = plan_for(spec())
    assert plan.primary_outputs == {"netlist": "synth_sta/spm.gl.v"}
    assert plan.metrics_files == ("synth_sta/reports/area.rpt", "synth_sta/reports/sta.rpt")
    for path in ("synth_sta/spm.gl.v", "synth_sta/spm.sdc", "synth_sta/reports/*.rpt", "synth_sta/log/*.log"):
        assert path in plan.artifacts
    assert set(load("spm", "spm-1ns", "parity", "tie")) <= set(plan.metrics_files), "fixtures use the plan's paths"


# ---------------------------------------------------------------------------- stage scripts, tools stubbed
@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A work dir with stub `yosys` and `sta`: they print their arguments and exit $STUB_RC; `sta` prints
    $STUB_OUTPUT as OpenSTA's console."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "yosys").write_text('#!/bin/sh\nfor arg; do printf "arg: %s\\n" "$arg"; done\nexit "${STUB_RC:-0}"\n')
    (stubs / "sta").write_text('#!/bin/sh\necho "sta $*"\nprintf "%s" "$STUB_OUTPUT"\nexit "${STUB_RC:-0}"\n')
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    (tmp_path / "design" / "src").mkdir(parents=True)
    return tmp_path


def run_stage(
    work: Path, argv: tuple[str, ...], stub_rc: int = 0, sta_output: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{work / 'bin'}:{os.environ['PATH']}",
        "STUB_RC": str(stub_rc),
        "STUB_OUTPUT": sta_output,
    }
    return subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, check=False)


def test_lint_runs_safely_with_nasty_file_names(work: Path) -> None:
    files = {NASTY: "module a; endmodule\n", GLOBBY: "module b; endmodule\n", NEWLINE: "module c; endmodule\n"}
    files |= {"src/a1.v": "module decoy; endmodule\n", "src/spm.v": "module spm; endmodule\n"}
    for name, text in files.items():
        (work / "design" / name).write_text(text)
    plan = plan_for(spec(verilog_files=(NASTY, GLOBBY, NEWLINE, "src/spm.v")))

    done = run_stage(work, stage(plan, "lint").argv)

    assert done.returncode == 0, done.stderr
    project = work / "synth_sta"
    assert (project / "src" / "input1.v").read_text() == files[NASTY]
    assert (project / "src" / "input2.v").read_text() == files[GLOBBY]
    assert (project / "src" / "input3.sv").read_text() == files[NEWLINE]
    assert (project / "lint.ys").read_text() == stage(plan, "lint").argv[4]
    for folder in ("reports", "log"):
        assert (project / folder).is_dir()
    yosys_args = [line[len("arg: ") :] for line in done.stdout.splitlines() if line.startswith("arg: ")]
    assert yosys_args == [
        "-q",
        "-l",
        "synth_sta/log/lint.log",
        "-s",
        "synth_sta/lint.ys",
        "synth_sta/src/input1.v",
        "synth_sta/src/input2.v",
        "synth_sta/src/input3.sv",
        "design/src/spm.v",
    ]
    assert f"source: design/{NASTY} (read as synth_sta/src/input1.v" in done.stdout
    assert not list(work.rglob("x")), "the file name was executed"

    synthesis = run_stage(work, stage(plan, "synthesis").argv)
    assert synthesis.returncode != 0  # the stub wrote no area report
    assert "arg: synth_sta/src/input2.v\narg: synth_sta/src/input3.sv\narg: design/src/spm.v\n" in synthesis.stdout
    assert (project / "synthesis.ys").read_text() == stage(plan, "synthesis").argv[4]


def test_lint_fails_on_a_missing_file(work: Path) -> None:
    done = run_stage(work, stage(plan_for(spec(verilog_files=("src/missing.v",))), "lint").argv)
    assert done.returncode != 0
    assert "ERROR: Verilog file not found: design/src/missing.v" in done.stderr
    assert "arg:" not in done.stdout, "yosys ran"


def test_lint_fails_when_yosys_does(work: Path) -> None:
    (work / "design" / "src" / "spm.v").write_text("module spm\n")
    done = run_stage(work, stage(plan_for(spec()), "lint").argv, stub_rc=1)
    assert done.returncode == 1
    assert "lint: the sources parse" not in done.stdout


def sta_stage(work: Path, sta_output: str, stub_rc: int = 0) -> subprocess.CompletedProcess[str]:
    (work / "synth_sta" / "reports").mkdir(parents=True)
    return run_stage(work, stage(plan_for(spec()), "sta").argv, stub_rc=stub_rc, sta_output=sta_output)


def test_sta_writes_its_inputs_and_the_report(work: Path) -> None:
    report = load("spm")["synth_sta/reports/sta.rpt"]
    done = sta_stage(work, report)
    assert done.returncode == 0, done.stderr
    argv = stage(plan_for(spec()), "sta").argv
    assert (work / "synth_sta" / "spm.sdc").read_text() == argv[5]
    assert (work / "synth_sta" / "sta.tcl").read_text() == argv[8]
    assert (work / "synth_sta" / "reports" / "sta.rpt").read_text() == "sta -no_init -no_splash -exit " + (
        "synth_sta/sta.tcl\n" + report
    )
    assert "worst slack 8.916" in done.stdout


def test_sta_fails_on_errors_although_opensta_exits_0(work: Path) -> None:
    done = sta_stage(work, "Error: cannot read file synth_sta/spm.gl.v.\nwns 0.000\n")
    assert done.returncode == 1
    assert "ERROR: OpenSTA could not time the netlist:\nError: cannot read file synth_sta/spm.gl.v." in done.stderr


def test_sta_fails_on_unknown_cells(work: Path) -> None:
    warning = "Warning: synth_sta/spm.gl.v, line 12 module DFFX9 not found.  Creating black box for _316_.\n"
    done = sta_stage(work, warning)
    assert done.returncode == 1
    assert "module DFFX9 not found" in done.stderr


def test_sta_passes_its_exit_status_on(work: Path) -> None:
    done = sta_stage(work, "", stub_rc=3)
    assert done.returncode == 3
    assert "ERROR: OpenSTA exited with status 3 (see synth_sta/reports/sta.rpt)" in done.stderr


# ------------------------------------------------------------------------------------------------- metrics
def parse(files: dict[str, str]) -> Metrics:
    return SynthStaOsu035Runner().parse_metrics(files)


def test_metrics_of_spm() -> None:
    assert parse(load("spm")) == Metrics(
        cell_count=254,
        area_um2=71700.0,
        wns_ns=0.0,
        tns_ns=0.0,
        clock_period_ns=10.0,
        max_frequency_mhz=922.509,  # 1000 / (10 - 8.916)
    )


def test_metrics_of_violated_timing() -> None:
    files = load("spm")
    files["synth_sta/reports/sta.rpt"] = load("spm-1ns")["synth_sta/reports/sta.rpt"]
    assert parse(files) == Metrics(
        cell_count=254,
        area_um2=71700.0,
        wns_ns=-0.084,
        tns_ns=-3.956,
        clock_period_ns=1.0,
        max_frequency_mhz=922.509,  # 1000 / (1 + 0.084): the same logic, so the same limit
    )


def test_metrics_of_a_combinational_design_on_a_virtual_clock() -> None:
    assert parse(load("parity")) == Metrics(
        cell_count=7,
        area_um2=1568.0,
        wns_ns=0.0,
        tns_ns=0.0,
        clock_period_ns=5.0,
        max_frequency_mhz=1694.915,  # 1000 / (5 - 4.41)
    )


def test_metrics_without_cells_or_timed_paths() -> None:
    # yosys prints no area for an empty netlist; OpenSTA's worst slack is INF: no frequency limit to report.
    assert parse(load("tie")) == Metrics(cell_count=0, area_um2=0.0, wns_ns=0.0, tns_ns=0.0, clock_period_ns=10.0)


def test_metrics_of_a_failed_sta() -> None:
    sta = "create_clock -name core_clock -period 10 [get_ports {clk}]\nError: no network has been linked.\n"
    metrics = parse({"synth_sta/reports/sta.rpt": sta})
    assert metrics == Metrics(clock_period_ns=10.0)


def test_missing_or_garbled_files_give_empty_metrics() -> None:
    assert parse({}) == Metrics()
    assert parse({"synth_sta/reports/area.rpt": "", "synth_sta/reports/sta.rpt": "wns nan\nworst slack\n"}) == Metrics()
