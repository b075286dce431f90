"""The OpenLane runners: the exact argv they render, and how they read both metrics formats."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pytest

from shared.domain.design import DesignSpec, Resources
from shared.domain.flows import render
from shared.domain.flows.base import FlowPlan, FlowRunner, FlowStage, StepProgress
from shared.domain.flows.openlane import (
    CONTAINER_SCRIPT,
    ContainerCommand,
    FlowConfigurationError,
    LibreLaneRunner,
    OpenLane1Runner,
    parse_librelane_metrics,
    parse_openlane1_metrics,
)
from shared.domain.metrics import Metrics
from shared.domain.sweeps.run_settings import apply_run_settings
from tests.unit.render_script import RENDER_SCRIPT

FIXTURES = Path(__file__).parent / "fixtures" / "openlane"
IMAGE = "/apps/openlane/openlane.sif"
LL_IMAGE = "/apps/openlane/librelane.sif"
PDK_ROOT = "/apps/openlane/pdks"
HOSTILE = "my design $(touch /tmp/pwned) `id`; rm -rf ~"

SPM = DesignSpec(
    design_name="spm",
    top_module="spm",
    verilog_files=("src/spm.v",),
    clock_port="clk",
    clock_period_ns=10.0,
    flow="openlane1",
    pdk="sky130A",
    flow_variables={
        "DESIGN_NAME": "spm",
        "VERILOG_FILES": "dir::src/*.v",
        "CLOCK_PORT": "clk",
        "CLOCK_PERIOD": 10,
    },
)


def spm(**changes: object) -> DesignSpec:
    fields = {**SPM.__dict__, **changes}
    return DesignSpec(**fields)  # type: ignore[arg-type]


def flow_stage(plan: FlowPlan) -> FlowStage:
    return next(stage for stage in plan.stages if stage.name == "flow")


def container_part(argv: tuple[str, ...]) -> tuple[str, ...]:
    """What follows the fixed wrapper script: runtime, its options, image and command."""
    assert argv[:4] == ("sh", "-c", CONTAINER_SCRIPT, "olc-container")
    return argv[4:]


# ------------------------------------------------------------------------------------------ OpenLane 1
def test_openlane1_renders_spm_exactly() -> None:
    runner = OpenLane1Runner(IMAGE, PDK_ROOT, render_script=RENDER_SCRIPT)
    plan = runner.plan(SPM, Resources(cpus=4))

    assert plan.runner == "openlane1"
    assert [s.name for s in plan.stages] == ["flow", "render"]
    assert container_part(plan.stages[0].argv) == (
        "singularity",
        "--cleanenv",
        "--bind", "/apps/openlane/pdks:/apps/openlane/pdks:ro",
        "--env", "PDK_ROOT=/apps/openlane/pdks",
        "--env", "PDK=sky130A",
        "--env", "ROUTING_CORES=4",
        IMAGE,
        "/openlane/flow.tcl", "-design", "design", "-config_file", "design/config.json",
        "-tag", "olc", "-overwrite",
    )  # fmt: skip
    assert plan.stages[0].cwd == "."
    assert plan.metrics_files == ("design/runs/olc/reports/metrics.csv",)
    assert plan.primary_outputs["gds"] == "design/runs/olc/results/final/gds/*.gds"
    assert "design/runs/olc/results/final/spef/**/*.spef" in plan.artifacts
    assert "design/runs/olc/reports/**/*.rpt" in plan.artifacts


def test_openlane1_uses_apptainer_std_cell_library_and_custom_tag() -> None:
    runner = OpenLane1Runner(IMAGE, PDK_ROOT + "/", "apptainer", run_tag="run 1", render_script=RENDER_SCRIPT)
    design = spm(flow_variables={**SPM.flow_variables, "STD_CELL_LIBRARY": "sky130_fd_sc_hs"})
    argv = container_part(runner.plan(design, Resources(cpus=2)).stages[0].argv)

    assert argv[0] == "apptainer"
    assert "--env" in argv and "STD_CELL_LIBRARY=sky130_fd_sc_hs" in argv
    assert "/apps/openlane/pdks:/apps/openlane/pdks:ro" in argv  # trailing slash normalised
    assert argv[argv.index("-tag") + 1] == "run 1"
    assert runner.plan(design, Resources()).metrics_files == ("design/runs/run 1/reports/metrics.csv",)


def test_openlane1_defaults_to_sky130a_when_config_names_no_pdk() -> None:
    argv = OpenLane1Runner(IMAGE, PDK_ROOT, render_script=RENDER_SCRIPT).plan(spm(pdk=""), Resources()).stages[0].argv
    assert "PDK=sky130A" in argv


def test_hostile_config_name_and_tag_stay_single_argv_elements() -> None:
    runner = OpenLane1Runner(
        IMAGE, PDK_ROOT, run_tag=HOSTILE.replace("/", "_").replace("~", "home"), render_script=RENDER_SCRIPT
    )
    tag = runner.run_tag
    argv = runner.plan(spm(config_file=f"{HOSTILE}.json".replace("/", "_")), Resources()).stages[0].argv

    assert argv[2] == CONTAINER_SCRIPT  # the only script text is ours
    assert argv[argv.index("-tag") + 1] == tag
    config = argv[argv.index("-config_file") + 1]
    assert config.startswith("design/my design $(touch ") and config.endswith(".json")
    assert all(HOSTILE not in part for part in argv[:3])


def test_wrapper_script_passes_arguments_through_untouched(tmp_path: Path) -> None:
    """Run the real wrapper with a stand-in runtime that prints its argv: nothing is expanded or split."""
    fake = tmp_path / "singularity"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do printf "<%s>\\n" "$a"; done\n')
    fake.chmod(0o755)
    runner = LibreLaneRunner(
        ContainerCommand(LL_IMAGE, PDK_ROOT, str(fake)), run_tag="t $(id)", render_script=RENDER_SCRIPT
    )
    argv = flow_stage(runner.plan(spm(config_file="sub dir/a b;$(id).json"), Resources())).argv

    out = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    printed = [line[1:-1] for line in out.splitlines()]
    work = str(tmp_path.resolve())
    assert printed[:5] == ["exec", "--bind", f"{work}:{work}", "--pwd", work]
    assert printed[5:] == list(argv[5:])
    # LibreLane reads the config written beside the uploaded one (see the run-config tests).
    assert "t $(id)" in printed and "design/sub dir/olc-run-config.json" in printed


def test_wrapper_script_refuses_a_work_dir_it_cannot_bind(tmp_path: Path) -> None:
    work = tmp_path / "a:b"
    work.mkdir()
    argv = (
        OpenLane1Runner(IMAGE, PDK_ROOT, "/nonexistent/singularity", render_script=RENDER_SCRIPT)
        .plan(SPM, Resources())
        .stages[0]
        .argv
    )
    result = subprocess.run(argv, cwd=work, capture_output=True, text=True, check=False)
    assert result.returncode == 125
    assert "cannot bind work dir" in result.stderr


def test_unsupported_pdk_is_refused_with_the_choices() -> None:
    with pytest.raises(FlowConfigurationError, match=r"osu035.*sky130A"):
        OpenLane1Runner(IMAGE, PDK_ROOT, render_script=RENDER_SCRIPT).plan(spm(pdk="osu035"), Resources())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image": "", "pdk_root": PDK_ROOT}, "image"),
        ({"image": IMAGE, "pdk_root": "pdks"}, "absolute"),
        ({"image": IMAGE, "pdk_root": "/apps/a:b"}, "absolute"),
        ({"image": IMAGE, "pdk_root": PDK_ROOT, "container_runtime": "docker"}, "runtime"),
        ({"image": IMAGE, "pdk_root": PDK_ROOT, "run_tag": "../x"}, "run tag"),
        ({"image": IMAGE, "pdk_root": PDK_ROOT, "run_tag": "-rf"}, "run tag"),
        ({"image": IMAGE, "pdk_root": PDK_ROOT, "run_tag": "a*"}, "run tag"),
    ],
)
def test_bad_configuration_is_refused(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(FlowConfigurationError, match=message):
        OpenLane1Runner(**kwargs, render_script=RENDER_SCRIPT)


def test_bad_std_cell_library_is_refused() -> None:
    design = spm(flow_variables={"STD_CELL_LIBRARY": "x --pdk-root /"})
    with pytest.raises(FlowConfigurationError, match="STD_CELL_LIBRARY"):
        LibreLaneRunner(ContainerCommand(LL_IMAGE, PDK_ROOT), render_script=RENDER_SCRIPT).plan(design, Resources())


# ------------------------------------------------------------------------------------------ LibreLane
def test_librelane_renders_spm_exactly() -> None:
    runner = LibreLaneRunner(ContainerCommand(LL_IMAGE, PDK_ROOT), render_script=RENDER_SCRIPT)
    plan = runner.plan(SPM, Resources(cpus=8))

    assert plan.runner == "librelane"
    assert [s.name for s in plan.stages] == ["run-config", "flow", "render"]
    assert container_part(plan.stages[1].argv) == (
        "singularity",
        "--cleanenv",
        "--bind", "/apps/openlane/pdks:/apps/openlane/pdks:ro",
        "--env", "PDK_ROOT=/apps/openlane/pdks",
        "--env", "_OPENLANE_MAX_CORES=8",
        "--env", "COLUMNS=200",
        LL_IMAGE,
        "python3", "-m", "librelane", "--run-tag", "olc", "--overwrite", "-j", "8",
        "--manual-pdk", "--pdk-root", "/apps/openlane/pdks", "--pdk", "sky130A", "design/olc-run-config.json",
    )  # fmt: skip
    assert plan.metrics_files == ("design/runs/olc/final/metrics.json", "design/runs/olc/resolved.json")
    assert plan.progress == StepProgress("flow", "librelane", "design/runs/olc", (), 80)
    assert plan.primary_outputs["gds"] == "design/runs/olc/final/gds/*.gds"
    assert plan.primary_outputs["netlist"] == "design/runs/olc/final/nl/*.v"


@pytest.mark.parametrize(
    ("runner", "final"),
    [
        (OpenLane1Runner(IMAGE, PDK_ROOT, "apptainer", render_script=RENDER_SCRIPT), "design/runs/olc/results/final"),
        (
            LibreLaneRunner(ContainerCommand(LL_IMAGE, PDK_ROOT, "apptainer"), render_script=RENDER_SCRIPT),
            "design/runs/olc/final",
        ),
    ],
    ids=["openlane1", "librelane"],
)
def test_the_render_stage_draws_the_final_gds_with_the_images_klayout(runner: FlowRunner, final: str) -> None:
    plan = runner.plan(SPM, Resources(cpus=4))
    stage = plan.stages[-1]
    image = IMAGE if isinstance(runner, OpenLane1Runner) else LL_IMAGE
    # The never-failing wrapper on the host, around the same container entry as the flow (no PDK options needed).
    assert stage.argv[:5] == ("sh", "-c", render._WRAPPER, render.WRAPPER_NAME, RENDER_SCRIPT)
    assert container_part(stage.argv[5:]) == (
        "apptainer",
        "--cleanenv",
        "--bind", "/apps/openlane/pdks:/apps/openlane/pdks:ro",
        "--env", "QT_QPA_PLATFORM=offscreen",
        image,
        "klayout", "-b", "-r", "render/render_layout.py",
        "-rd", f"layout={final}/gds/*.gds",
        "-rd", "png=render/layout.png",
        "-rd", "thumb=render/layout-thumb.png",
        "-rd", "size=1200",
        "-rd", "thumb_size=320",
    )  # fmt: skip
    assert (stage.cwd, dict(stage.env)) == (".", {})
    assert {"render/layout.png", "render/layout-thumb.png"} <= set(plan.artifacts)
    assert plan.primary_outputs["layout_png"] == "render/layout.png"
    assert plan.primary_outputs["layout_thumb_png"] == "render/layout-thumb.png"


def test_a_failing_render_in_the_container_does_not_fail_the_run(tmp_path: Path) -> None:
    """A stand-in runtime that fails like a missing KLayout: the stage still exits 0 and says why."""
    fake = tmp_path / "singularity"
    fake.write_text('#!/bin/sh\necho "FATAL: klayout: executable file not found in $PATH" >&2\nexit 255\n')
    fake.chmod(0o755)
    stage = (
        LibreLaneRunner(ContainerCommand(LL_IMAGE, PDK_ROOT, str(fake)), render_script=RENDER_SCRIPT)
        .plan(SPM, Resources())
        .stages[-1]
    )
    done = subprocess.run(stage.argv, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert "klayout: executable file not found" in done.stderr
    assert "no layout picture: the renderer exited with status 255" in done.stderr
    assert (tmp_path / "render" / "render_layout.py").read_text() == RENDER_SCRIPT


def test_openlane2_module_and_scl() -> None:
    runner = LibreLaneRunner(
        ContainerCommand(LL_IMAGE, PDK_ROOT, "apptainer"), module="openlane", render_script=RENDER_SCRIPT
    )
    design = spm(pdk="gf180mcuD", flow_variables={"STD_CELL_LIBRARY": "gf180mcu_fd_sc_mcu7t5v0"})
    argv = container_part(flow_stage(runner.plan(design, Resources(cpus=0))).argv)

    assert runner.name == "openlane2"
    assert argv[0] == "apptainer"
    assert argv[argv.index(LL_IMAGE) + 1 :][:3] == ("python3", "-m", "openlane")
    assert argv[argv.index("--pdk") + 1] == "gf180mcuD"
    assert argv[argv.index("--scl") + 1] == "gf180mcu_fd_sc_mcu7t5v0"
    assert argv[argv.index("-j") + 1] == "1"  # never zero threads
    assert argv[-1] == "design/olc-run-config.json"


def test_unknown_module_is_refused() -> None:
    with pytest.raises(FlowConfigurationError, match="module"):
        LibreLaneRunner(ContainerCommand(LL_IMAGE, PDK_ROOT), module="siliconcompiler", render_script=RENDER_SCRIPT)


def test_runners_satisfy_the_protocol() -> None:
    runners: list[FlowRunner] = [
        OpenLane1Runner(IMAGE, PDK_ROOT, render_script=RENDER_SCRIPT),
        LibreLaneRunner(ContainerCommand(LL_IMAGE, PDK_ROOT), render_script=RENDER_SCRIPT),
    ]
    assert [r.name for r in runners] == ["openlane1", "librelane"]


# ------------------------------------------------------------------------------------------ metrics
def ol1_csv(renamed: dict[str, str] | None = None, **changes: str) -> str:
    """The fixture with some values changed and some columns renamed (as older OL1 releases named them)."""
    row = next(csv.DictReader(io.StringIO((FIXTURES / "ol1_spm_metrics.csv").read_text())))
    row = {(renamed or {}).get(k, k): v for k, v in {**row, **changes}.items()}
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(row))
    writer.writeheader()
    writer.writerow(row)
    return out.getvalue()


def test_openlane1_metrics_from_the_fixture() -> None:
    runner = OpenLane1Runner(IMAGE, PDK_ROOT, render_script=RENDER_SCRIPT)
    text = (FIXTURES / "ol1_spm_metrics.csv").read_text()
    metrics = runner.parse_metrics({"design/runs/olc/reports/metrics.csv": text})

    assert metrics == Metrics(
        cell_count=277,
        area_um2=pytest.approx(9476.0),
        wns_ns=0.0,
        tns_ns=0.0,
        clock_period_ns=10.0,
        max_frequency_mhz=None,  # timing met: OL1 clamps slack at 0, so the real fmax is unknown
        drc_errors=0,  # Magic 0; KLayout -1 (did not run) is left out, not counted
        lvs_match=True,
        routing_failures=0,
    )


def test_openlane1_failing_run() -> None:
    text = ol1_csv(
        spef_wns="-1.47", spef_tns="-77.79", Magic_violations="153702", klayout_violations="12",
        lvs_total_errors="3", tritonRoute_violations="7",
    )  # fmt: skip
    metrics = parse_openlane1_metrics(text)

    assert metrics.wns_ns == -1.47 and metrics.tns_ns == -77.79
    assert metrics.max_frequency_mhz == pytest.approx(1000 / 11.47, abs=1e-3)
    assert metrics.drc_errors == 153714
    assert metrics.lvs_match is False
    assert metrics.routing_failures == 7


def test_openlane1_falls_back_to_earlier_stages_and_older_column_names() -> None:
    text = ol1_csv(
        {"synth_cell_count": "cell_count"},
        spef_wns="-1", optimized_wns="-1", fastroute_wns="-1", pl_wns="-0.25", synth_cell_count="281",
    )  # fmt: skip
    metrics = parse_openlane1_metrics(text)
    assert metrics.wns_ns == -0.25
    assert metrics.cell_count == 281


def test_openlane1_not_measured_means_none() -> None:
    text = ol1_csv(Magic_violations="-1", lvs_total_errors="-1", tritonRoute_violations="-1", **{"DIEAREA_mm^2": "-1"})
    metrics = parse_openlane1_metrics(text)
    assert metrics.area_um2 is None
    assert metrics.drc_errors is None
    assert metrics.lvs_match is None
    assert metrics.routing_failures is None
    assert metrics.cell_count == 277


@pytest.mark.parametrize("text", ["", "design,wns\n", "not,a\ncsv", '"unterminated'])
def test_openlane1_empty_or_broken_csv(text: str) -> None:
    metrics = parse_openlane1_metrics(text)
    assert metrics.cell_count is None and metrics.wns_ns is None


def test_librelane_metrics_from_the_fixtures() -> None:
    runner = LibreLaneRunner(ContainerCommand(LL_IMAGE, PDK_ROOT), render_script=RENDER_SCRIPT)
    metrics = runner.parse_metrics(
        {
            "design/runs/olc/final/metrics.json": (FIXTURES / "librelane_spm_metrics.json").read_text(),
            "design/runs/olc/resolved.json": (FIXTURES / "librelane_spm_resolved.json").read_text(),
        }
    )

    # area_um2 is the standard-cell area (the helper table in librelane_metrics.py); the die has a field of its own.
    assert (metrics.cell_count, metrics.area_um2, metrics.die_area_um2) == (1386, 4317.88, 12458.5)
    assert (metrics.wns_ns, metrics.tns_ns, metrics.clock_period_ns) == (0.0, 0.0, 10.0)
    assert metrics.max_frequency_mhz == pytest.approx(1000 / (10.0 - 4.0312), abs=1e-3)
    assert (metrics.drc_errors, metrics.lvs_match, metrics.routing_failures) == (0, True, 0)
    assert (metrics.utilization_pct, metrics.power_total_w, metrics.wire_length_um) == (35.6791, 0.000814, 7002.0)
    assert metrics.corners is not None and len(metrics.corners) == 3


def test_librelane_failing_run_and_older_names() -> None:
    data = json.loads((FIXTURES / "librelane_spm_metrics.json").read_text())
    for key in ("timing__setup__wns", "design__instance__count__stdcell"):
        del data[key]
    data |= {
        "timing__setup__ws": -0.8,
        "timing__setup__tns": -5.2,
        "magic__drc_error__count": 4,
        "klayout__drc_error__count": 2,
        "design__lvs_error__count": 1,
        "route__drc_errors": 3,
        "design__instance__count": 1400,
    }
    metrics = parse_librelane_metrics(json.dumps(data), json.dumps({"CLOCK_PERIOD": 5}))

    assert metrics.wns_ns == -0.8  # derived from the worst slack when timing__setup__wns is absent
    assert metrics.tns_ns == -5.2
    assert metrics.max_frequency_mhz == pytest.approx(1000 / 5.8, abs=1e-3)
    assert metrics.drc_errors == 6
    assert metrics.lvs_match is False
    assert metrics.routing_failures == 3
    assert metrics.cell_count == 1400


def test_librelane_missing_files_give_none_fields() -> None:
    runner = LibreLaneRunner(ContainerCommand(LL_IMAGE, PDK_ROOT), render_script=RENDER_SCRIPT)
    assert runner.parse_metrics({}) == Metrics()
    only_metrics = runner.parse_metrics(
        {"design/runs/olc/final/metrics.json": (FIXTURES / "librelane_spm_metrics.json").read_text()}
    )
    assert only_metrics.clock_period_ns is None and only_metrics.max_frequency_mhz is None
    assert only_metrics.cell_count == 1386


def test_openlane1_missing_file_gives_empty_metrics() -> None:
    assert OpenLane1Runner(IMAGE, PDK_ROOT, render_script=RENDER_SCRIPT).parse_metrics({}) == Metrics()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        "{",
        '{"design__die__area": "12"}',
        '{"design__die__area": true}',
        '{"timing__setup__ws": Infinity}',
    ],
)
def test_librelane_odd_json_is_ignored_not_fatal(text: str) -> None:
    metrics = parse_librelane_metrics(text, "null")
    assert metrics.area_um2 is None and metrics.wns_ns is None and metrics.max_frequency_mhz is None


@pytest.mark.parametrize(
    "runner",
    [
        OpenLane1Runner(IMAGE, PDK_ROOT, render_script=RENDER_SCRIPT),
        LibreLaneRunner(ContainerCommand(LL_IMAGE, PDK_ROOT), render_script=RENDER_SCRIPT),
    ],
)
def test_a_sweep_run_gets_a_config_of_its_own_settings(runner: FlowRunner, tmp_path: Path) -> None:
    design = apply_run_settings(spm(), {"FP_CORE_UTIL": 35, "CLOCK_PERIOD": 12.5})
    plan = runner.plan(design, Resources())
    first = plan.stages[0]
    assert first.name == "run-config" and first.argv[0] == "python3"
    assert "design/olc-run-config.json" in " ".join(plan.stages[1].argv)  # the flow reads the run's config
    (tmp_path / "design").mkdir()
    subprocess.run(list(first.argv), cwd=tmp_path, check=True)  # no shell: the values stay data
    written = json.loads((tmp_path / "design" / "olc-run-config.json").read_text())
    assert (written["FP_CORE_UTIL"], written["CLOCK_PERIOD"]) == (35, 12.5) and "OLC_SWEEP" not in written
    single = runner.plan(spm(), Resources()).stages[0].name
    # OpenLane 1 reads config.json itself; LibreLane refuses keys it does not know, so it always gets a written one.
    assert single == ("run-config" if isinstance(runner, LibreLaneRunner) else "flow")
