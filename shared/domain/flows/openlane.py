"""OpenLane flows on a Slurm compute node: inside a Singularity/Apptainer image, or LibreLane installed natively.

Two runners:

* `OpenLane1Runner` ("openlane1"): OpenLane 1's classic `flow.tcl -design D -tag T -overwrite`, in its image.
* `LibreLaneRunner` ("librelane", or "openlane2" with module "openlane"):
  `python3 -m librelane --run-tag T --overwrite -j N --manual-pdk --pdk-root P --pdk K [--scl S] olc-run-config.json`,
  either in the LibreLane image (`ContainerCommand`) or with a LibreLane installed on the node (`NativeCommand`: sites
  that install it with pip or Nix, and the local stack's `librelane-osu035` flow). The mode changes how the command
  is started, nothing else: the same argv, run folder, metrics and error handling.

Each plan runs OpenLane as ONE stage named "flow", then draws the final GDS with KLayout (shared/domain/flows/
render.py: a stage that never fails the run). OpenLane can be cut into pieces (OL1 `-from/-to`, LibreLane
`--from/--to`), but not cheaply or safely here:
  - OL1 re-runs `prep`, the final report, `save_final_views` and the runtime bookkeeping on every invocation,
    and resuming a tag across invocations is a known bug (The-OpenROAD-Project/OpenLane#885);
  - LibreLane step ids are version-specific (the Classic flow has ~80 steps, some repeated) and a user's
    config.json may select another flow or substitute steps through its "meta" object, so boundaries we
    hard-code could name steps that do not exist in that run.
Per-step progress is read from the run directory instead (LibreLane writes one `NN-step-id/` folder per step,
OL1 one `logs/<stage>/` folder per stage): the plan's `StepProgress` tells the job kit where to look.

LibreLane refuses configuration keys it does not know, so it never reads the uploaded config.json itself: the
plan's first stage writes `olc-run-config.json` beside it (so `dir::` paths resolve alike) from the design's checked
variables without OpenLane Cloud's own OLC_* keys, plus the runner's step list when it has one (`meta.flow`).

Paths in plans are relative to the work dir; OpenLane writes its run under `design/runs/<tag>/`
(both flows put `runs/` next to the config file).
"""

from __future__ import annotations

import csv
import io
import json
import math
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.domain.design import RUN_CONFIG_FILE, DesignSpec, Resources
from shared.domain.design_config import PDKS
from shared.domain.flows import opensta, osu035, render
from shared.domain.flows.base import (
    DESIGN_DIR,
    LIBRELANE_LAYOUT,
    OPENLANE1_LAYOUT,
    FlowPlan,
    FlowStage,
    StepProgress,
)
from shared.domain.flows.librelane_metrics import parse_librelane_metrics
from shared.domain.metrics import Metrics

CONTAINER_RUNTIMES = ("singularity", "apptainer")
DEFAULT_PDK = "sky130A"
DEFAULT_RUN_TAG = "olc"
STAGE_NAME = "flow"

# The compute node's absolute work dir is only known when the stage runs, and the container needs it bound
# (a site may disable Apptainer's automatic CWD bind, and it is skipped when the path crosses symlinks).
# So the one shell in these plans is this FIXED script: it resolves the work dir, then execs the runtime.
# Every value from configuration or from the design follows as a positional argument ("$@"), never as
# script text, so spaces or `$(...)` in them are never interpreted.
CONTAINER_SCRIPT = (
    "work=$(pwd -P) || exit 125; "
    # ':' and ',' are separators in a --bind spec: such a work dir cannot be bound faithfully.
    'case $work in *[:,]*) echo "olc: cannot bind work dir $work" >&2; exit 125;; esac; '
    "runtime=$1; shift; "
    'exec "$runtime" exec --bind "$work:$work" --pwd "$work" "$@"'
)
CONTAINER_SCRIPT_NAME = "olc-container"  # becomes $0 of the script: the name shown in `ps` and in sh errors

# A run tag becomes a folder name and part of artifact globs: no separators, no glob metacharacters, and no
# leading "-" (both CLIs would read it as an option). Spaces and `$` are fine: argv elements are never parsed.
_FORBIDDEN_TAG_CHARS = frozenset("/\\*?[]\0\n")
_SCL = re.compile(r"^[A-Za-z0-9_]{1,64}$")


class FlowConfigurationError(ValueError):
    """A runner cannot be built from its configuration, or cannot plan a design (e.g. an unsupported PDK)."""


# ------------------------------------------------------------------------------------------ how to start it
class ContainerCommand:
    """How to run a command inside the OpenLane image: runtime binary, image, PDK bind and environment."""

    def __init__(self, image: str, pdk_root: str, runtime: str = "singularity") -> None:
        _require(bool(image) and not image.startswith("-"), f"container image {image!r} is not a path or URI")
        _require(
            posixpath.basename(runtime) in CONTAINER_RUNTIMES,
            f"container runtime {runtime!r} is not one of {', '.join(CONTAINER_RUNTIMES)}",
        )
        # ':' and ',' separate fields and entries of a --bind spec; a PDK root holding them cannot be bound.
        _require(
            pdk_root.startswith("/") and not set(pdk_root) & {":", ",", "\0"},
            f"PDK root {pdk_root!r} must be an absolute path without ':' or ','",
        )
        self.image = image
        self.pdk_root = pdk_root.rstrip("/") or "/"
        self.runtime = runtime

    def __repr__(self) -> str:
        return f"ContainerCommand({self.runtime} {self.image})"

    def argv(self, env: Mapping[str, str], command: Sequence[str]) -> tuple[str, ...]:
        options: list[str] = [
            # The host's environment (Slurm's, a login shell's PYTHONPATH...) must not leak into the image.
            "--cleanenv",
            # Read-only: OpenLane only reads the PDK, and a shared /apps PDK must survive a misbehaving run.
            "--bind",
            f"{self.pdk_root}:{self.pdk_root}:ro",
        ]
        for key, value in env.items():
            options += ["--env", f"{key}={value}"]
        wrapper = ("sh", "-c", CONTAINER_SCRIPT, CONTAINER_SCRIPT_NAME)
        return (*wrapper, self.runtime, *options, self.image, *command)


class NativeCommand:
    """How to run LibreLane installed on the node itself: its Python environment's interpreter, and that
    environment's bin folder first on PATH (where its tools, e.g. a `yosys`, are installed next to it).

    Commands are written as for the image ("python3 -m librelane ..."): the interpreter replaces "python3". The one
    shell is a FIXED script; the bin folder, the environment and the command follow as positional arguments."""

    def __init__(self, python: str, pdk_root: str) -> None:
        _require(
            python.startswith("/") and posixpath.basename(python) != "" and "\0" not in python,
            f"LibreLane's Python {python!r} must be an absolute path to an interpreter",
        )
        _require(pdk_root.startswith("/") and "\0" not in pdk_root, f"PDK root {pdk_root!r} must be an absolute path")
        self.python = python
        self.bin_dir = posixpath.dirname(python)
        self.pdk_root = pdk_root.rstrip("/") or "/"

    def __repr__(self) -> str:
        return f"NativeCommand({self.python})"

    def argv(self, env: Mapping[str, str], command: Sequence[str]) -> tuple[str, ...]:
        program = (self.python, *command[1:]) if command[:1] == ("python3",) or command[:1] == ["python3"] else command
        assignments = [f"{key}={value}" for key, value in env.items()]
        return ("sh", "-c", NATIVE_SCRIPT, NATIVE_SCRIPT_NAME, self.bin_dir, *assignments, "--", *program)


# $1 the bin folder, then KEY=VALUE words up to "--", then the command. `export "$1"` takes the word as data.
NATIVE_SCRIPT = (
    "bindir=$1; shift; "
    'while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do export "$1" || exit 125; shift; done; '
    "shift; "
    'PATH="$bindir:$PATH"; export PATH; '
    'exec "$@"'
)
NATIVE_SCRIPT_NAME = "olc-native"
Execution = ContainerCommand | NativeCommand


# ------------------------------------------------------------------------------------------ shared helpers
def _require(condition: bool, message: str) -> None:
    if not condition:
        raise FlowConfigurationError(message)


def _check_run_tag(tag: str) -> str:
    _require(
        tag not in ("", ".", "..") and not tag.startswith("-") and not set(tag) & _FORBIDDEN_TAG_CHARS,
        f"run tag {tag!r} cannot be used as a folder name",
    )
    return tag


def _pdk_for(design: DesignSpec, offered: Sequence[str]) -> str:
    """The design's PDK; config.json without a PDK key means OpenLane's own default (sky130A)."""
    pdk = design.pdk or DEFAULT_PDK
    if pdk not in offered:
        raise FlowConfigurationError(f"PDK {pdk!r} is not available for OpenLane; choose one of: {', '.join(offered)}")
    return pdk


def _scl_for(design: DesignSpec) -> str | None:
    """STD_CELL_LIBRARY from config.json, if the designer chose one (else the PDK's default library)."""
    scl = design.flow_variables.get("STD_CELL_LIBRARY")
    if scl is None:
        return None
    if not isinstance(scl, str) or not _SCL.match(scl):
        raise FlowConfigurationError(f"STD_CELL_LIBRARY {scl!r} is not a library name")
    return scl


def _render_stage(script: str, execution: Execution, final_dir: str) -> FlowStage:
    # OpenLane names the GDS after the design; the render script draws the first match of the glob.
    command = render.klayout_command(f"{final_dir}/gds/*.gds")
    return render.render_stage(script, execution.argv(render.ENV, command), env={})


# Writes argv[2] (JSON) to argv[1]; run without a shell, so the values are data, never code.
_WRITE_CONFIG = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"
RUN_CONFIG_STAGE = "run-config"


def _write_config_stage(design: DesignSpec, variables: Mapping[str, Any]) -> FlowStage:
    """A config file written from `variables` beside config.json (so `dir::` paths resolve alike)."""
    path = f"{DESIGN_DIR}/{_sibling(design.config_file, RUN_CONFIG_FILE)}"
    settings = json.dumps(variables, sort_keys=True)
    return FlowStage(name=RUN_CONFIG_STAGE, argv=("python3", "-c", _WRITE_CONFIG, path, settings))


def _run_config_stages(design: DesignSpec) -> tuple[FlowStage, ...]:
    """A sweep's run has settings of its own: OpenLane 1 then reads a config written from them instead of the
    uploaded one."""
    if design.config_file != RUN_CONFIG_FILE:
        return ()
    return (_write_config_stage(design, design.flow_variables),)


def _sibling(config_file: str, name: str) -> str:
    folder = posixpath.dirname(config_file)
    return posixpath.join(folder, name) if folder else name


def _config_path(design: DesignSpec) -> str:
    # DesignSpec guarantees a relative path inside the design root; the "design/" prefix also means it can
    # never start with "-" and be taken for an option.
    return f"{DESIGN_DIR}/{design.config_file}"


def _threads(resources: Resources) -> str:
    return str(max(1, resources.cpus))


# ------------------------------------------------------------------------------------------ OpenLane 1
# OpenLane 1 logs each step as runs/<tag>/logs/<stage>/<N>-<step>.log, in these stage folders in this order
# (OpenLane 1 documentation, "Output structure"); progress reports the stage folder a new log appears in.
OPENLANE1_STAGES = ("synthesis", "floorplan", "placement", "cts", "routing", "signoff")


class OpenLane1Runner:
    """OpenLane 1 (efabless/openlane image): `flow.tcl -design design -tag T -overwrite` in one process."""

    def __init__(
        self,
        image: str,
        pdk_root: str,
        container_runtime: str = "singularity",
        *,
        render_script: str,
        flow_script: str = "/openlane/flow.tcl",
        run_tag: str = DEFAULT_RUN_TAG,
        pdks: Sequence[str] = PDKS,
    ) -> None:
        """`render_script`: the text of infra/slurm/render_layout.py, which the last stage runs (render.py)."""
        self.name = "openlane1"
        self.container = ContainerCommand(image, pdk_root, container_runtime)
        _require(bool(render_script), "OpenLane 1 draws the layout: the runner needs the render script's text")
        self.render_script = render_script
        _require(flow_script.startswith("/"), f"flow script {flow_script!r} must be absolute (inside the image)")
        self.flow_script = flow_script
        self.run_tag = _check_run_tag(run_tag)
        self.pdks = tuple(pdks)

    @property
    def run_dir(self) -> str:
        return f"{DESIGN_DIR}/runs/{self.run_tag}"

    def plan(self, design: DesignSpec, resources: Resources) -> FlowPlan:
        env = {
            "PDK_ROOT": self.container.pdk_root,
            # OL1 reads PDK/STD_CELL_LIBRARY from the environment first; config.json may still override them.
            "PDK": _pdk_for(design, self.pdks),
            # Detailed routing threads (OL1's ROUTING_CORES); the rest of OL1 is single-threaded.
            "ROUTING_CORES": _threads(resources),
        }
        if scl := _scl_for(design):
            env["STD_CELL_LIBRARY"] = scl
        command = (
            self.flow_script,
            "-design",
            DESIGN_DIR,
            "-config_file",
            _config_path(design),
            "-tag",
            self.run_tag,
            "-overwrite",
        )
        run, final = self.run_dir, f"{self.run_dir}/results/final"
        return FlowPlan(
            runner=self.name,
            stages=(
                *_run_config_stages(design),
                FlowStage(name=STAGE_NAME, argv=self.container.argv(env, command)),
                _render_stage(self.render_script, self.container, final),
            ),
            progress=StepProgress(STAGE_NAME, OPENLANE1_LAYOUT, run, OPENLANE1_STAGES, len(OPENLANE1_STAGES)),
            artifacts=(
                f"{final}/gds/*.gds",
                f"{final}/def/*.def",
                f"{final}/lef/*.lef",
                f"{final}/mag/*.mag",
                f"{final}/sdc/*.sdc",
                f"{final}/sdf/**/*.sdf",
                f"{final}/spef/**/*.spef",
                f"{final}/verilog/gl/*.v",
                f"{run}/reports/**/*.rpt",
                f"{run}/logs/**/*.log",
                f"{run}/*.log",
                *render.ARTIFACTS,
            ),
            metrics_files=(f"{run}/reports/metrics.csv",),
            primary_outputs={
                "gds": f"{final}/gds/*.gds",
                "def": f"{final}/def/*.def",
                "lef": f"{final}/lef/*.lef",
                "netlist": f"{final}/verilog/gl/*.v",
                **render.PRIMARY_OUTPUTS,
            },
        )

    def parse_metrics(self, files: Mapping[str, str]) -> Metrics:
        text = files.get(f"{self.run_dir}/reports/metrics.csv")
        return parse_openlane1_metrics(text) if text is not None else Metrics()


# ------------------------------------------------------------------------------------------ LibreLane / OL2
# LibreLane's front end, as far as it runs without OpenROAD: lint, synthesis and its checks (LibreLane 3.0 step ids).
FRONT_END_STEPS = (
    "Verilator.Lint",
    "Checker.LintTimingConstructs",
    "Checker.LintErrors",
    "Checker.LintWarnings",
    "Yosys.JsonHeader",
    "Yosys.Synthesis",
    "Checker.YosysUnmappedCells",
    "Checker.YosysSynthChecks",
    "Checker.NetlistAssignStatements",
    "OpenROAD.CheckSDCFiles",
)
# The Classic flow's steps in LibreLane 3.0 (`Flow.factory.get("Classic").Steps`), for "step 12 of 80" in
# production. Only a count for progress: a release with other steps shows its real step names, and a config whose
# meta.flow names its own steps is counted from that list instead.
CLASSIC_STEP_COUNT = 80
CLASSIC_SIGNOFF_STA = "OpenROAD.STAPostPNR"
# Keys of config.json that are OpenLane Cloud's, or that a runner's own stages consume, never LibreLane's: LibreLane
# refuses keys it does not know.
_TIMING_KEYS = ("QUIT_ON_TIMING_VIOLATIONS", "QUIT_ON_SETUP_VIOLATIONS")
TIMING_STAGE = "timing"
TIMING_DIR = "olc_sta"


@dataclass(frozen=True)
class FixedSteps:
    """A LibreLane flow of exactly these steps (given to LibreLane as the config's meta.flow) on one PDK, optionally
    followed by a timing stage in which Debian's OpenSTA times the synthesised netlist against `timing_liberty`. It
    draws no layout: the local `librelane-osu035` flow stops before there is one."""

    steps: tuple[str, ...]
    pdk: str
    timing_liberty: str | None = None


class LibreLaneRunner:
    """LibreLane (or OpenLane 2 with module="openlane") as one `python3 -m ...` process, in its image or natively.

    By default the design's own flow runs (the Classic flow, or what its meta.flow says) and the last stage draws the
    layout. A runner built with `fixed` runs those steps instead: the local `librelane-osu035` flow is built that way
    (see registry.py), because LibreLane's own STA steps need an OpenSTA newer than any package here."""

    MODULES = {"librelane": "librelane", "openlane": "openlane2"}

    def __init__(
        self,
        execution: Execution,
        *,
        module: str = "librelane",
        name: str | None = None,
        run_tag: str = DEFAULT_RUN_TAG,
        pdks: Sequence[str] = PDKS,
        fixed: FixedSteps | None = None,
        render_script: str = "",
    ) -> None:
        """`render_script`: the text of infra/slurm/render_layout.py, which the last stage runs (render.py); needed
        unless the runner has `fixed` steps."""
        _require(module in self.MODULES, f"module {module!r} is not one of {', '.join(self.MODULES)}")
        self.name = name or self.MODULES[module]
        self.module = module
        self.execution = execution
        self.run_tag = _check_run_tag(run_tag)
        self.pdks = (fixed.pdk,) if fixed else tuple(pdks)
        self.default_pdk = fixed.pdk if fixed else DEFAULT_PDK
        self.steps = fixed.steps if fixed else ()
        self.timing_liberty = fixed.timing_liberty if fixed else None
        self.render_layout = fixed is None
        _require(not self.render_layout or bool(render_script), "drawing the layout needs the render script's text")
        self.render_script = render_script

    @property
    def run_dir(self) -> str:
        return f"{DESIGN_DIR}/runs/{self.run_tag}"

    def plan(self, design: DesignSpec, resources: Resources) -> FlowPlan:
        threads = _threads(resources)
        pdk_root = self.execution.pdk_root
        # -j only sizes LibreLane's own worker pool; each tool step (detailed routing, KLayout DRC/XOR) sizes
        # its threads from os.cpu_count(), which sees the whole node rather than the Slurm allocation, unless
        # _OPENLANE_MAX_CORES is set (librelane/common/misc.py `_get_process_limit`, same name in OpenLane 2).
        # LibreLane prints through rich, which wraps at 80 columns when not on a terminal: error messages would reach
        # the job's excerpt cut in pieces.
        env = {"PDK_ROOT": pdk_root, "_OPENLANE_MAX_CORES": threads, "COLUMNS": "200"}
        command = [
            "python3",
            "-m",
            self.module,
            "--run-tag",
            self.run_tag,
            "--overwrite",
            "-j",
            threads,
            # The PDK is pre-installed: without --manual-pdk the flow would try to download it with ciel/volare
            # from the compute node.
            "--manual-pdk",
            "--pdk-root",
            pdk_root,
            "--pdk",
            self._pdk(design),
        ]
        if scl := _scl_for(design):
            command += ["--scl", scl]
        command.append(f"{DESIGN_DIR}/{_sibling(design.config_file, RUN_CONFIG_FILE)}")
        run, final = self.run_dir, f"{self.run_dir}/final"
        stages = [
            _write_config_stage(design, self.run_config(design)),
            FlowStage(name=STAGE_NAME, argv=self.execution.argv(env, command)),
        ]
        metrics_files = [f"{final}/metrics.json", f"{run}/resolved.json"]
        artifacts = [f"{DESIGN_DIR}/{_sibling(design.config_file, RUN_CONFIG_FILE)}"]
        steps, total = self._steps_of(design)
        # The Classic flow's sign-off STA must leave a setup slack in metrics.json; an OpenSTA that fails inside its
        # Tcl still exits 0 (docs/architecture.md, "LibreLane"), so a missing one is worth a warning.
        expected = {"wns_ns": CLASSIC_SIGNOFF_STA} if total == CLASSIC_STEP_COUNT and not steps else {}
        if self.timing_liberty is not None:
            stages.append(self._timing_stage(design, final))
            metrics_files.append(f"{TIMING_DIR}/{opensta.REPORT}")
            artifacts += [f"{TIMING_DIR}/*.sdc", f"{TIMING_DIR}/sta.tcl", f"{TIMING_DIR}/{opensta.REPORT}"]
            expected["wns_ns"] = TIMING_STAGE
        if self.render_layout:
            stages.append(_render_stage(self.render_script, self.execution, final))
            artifacts += render.ARTIFACTS
        return FlowPlan(
            runner=self.name,
            stages=tuple(stages),
            artifacts=(
                *artifacts,
                f"{final}/gds/*.gds",
                f"{final}/def/*.def",
                f"{final}/lef/*.lef",
                f"{final}/sdc/*.sdc",
                f"{final}/sdf/**/*.sdf",
                f"{final}/spef/**/*.spef",
                f"{final}/lib/**/*.lib",
                f"{final}/nl/*.v",
                f"{final}/pnl/*.v",
                f"{final}/metrics.csv",
                f"{run}/*.log",
                f"{run}/*/*.log",
                f"{run}/*/*.rpt",
                f"{run}/*/reports/**/*.rpt",
            ),
            metrics_files=tuple(metrics_files),
            primary_outputs={
                "gds": f"{final}/gds/*.gds",
                "def": f"{final}/def/*.def",
                "lef": f"{final}/lef/*.lef",
                "netlist": f"{final}/nl/*.v",
                "metrics_json": f"{final}/metrics.json",
                "resolved_config": f"{run}/resolved.json",
                **(render.PRIMARY_OUTPUTS if self.render_layout else {}),
            },
            progress=StepProgress(STAGE_NAME, LIBRELANE_LAYOUT, run, steps, total),
            expected_metrics=expected,
        )

    def run_config(self, design: DesignSpec) -> dict[str, Any]:
        """What LibreLane reads: the design's variables (a sweep run's own settings included) without the keys that
        are not LibreLane's, and this runner's step list as meta.flow when it has one."""
        consumed = _TIMING_KEYS if self.timing_liberty is not None else ()
        variables = {
            key: value
            for key, value in design.flow_variables.items()
            if not key.startswith("OLC_") and key not in consumed
        }
        if self.steps:
            meta = variables.get("meta") if isinstance(variables.get("meta"), dict) else {}
            variables["meta"] = {**meta, "version": meta.get("version", 2), "flow": list(self.steps)}
        return variables

    def _pdk(self, design: DesignSpec) -> str:
        pdk = design.pdk or self.default_pdk
        if pdk not in self.pdks:
            raise FlowConfigurationError(
                f"PDK {pdk!r} is not available for the {self.name} flow; choose one of: {', '.join(self.pdks)}"
            )
        return pdk

    def _steps_of(self, design: DesignSpec) -> tuple[tuple[str, ...], int | None]:
        """The steps this run will take where known, and how many there are."""
        if self.steps:
            return self.steps, len(self.steps)
        meta = design.flow_variables.get("meta")
        flow = meta.get("flow", "Classic") if isinstance(meta, dict) else "Classic"
        if isinstance(flow, list) and all(isinstance(step, str) for step in flow):
            return tuple(flow), len(flow)
        return (), CLASSIC_STEP_COUNT if flow == "Classic" and self.module == "librelane" else None

    def _timing_stage(self, design: DesignSpec, final_dir: str) -> FlowStage:
        top = osu035.checked_identifier(design.top_module, "top module")
        quit_on_violation = any(design.flow_variables.get(key) is True for key in _TIMING_KEYS)
        return opensta.timing_stage(
            TIMING_STAGE,
            project_dir=TIMING_DIR,
            top=top,
            # LibreLane names the final netlist after DESIGN_NAME, which ingest made the top module.
            netlist=f"{final_dir}/nl/{top}.nl.v",
            sdc_text=osu035.sdc(design, self.name),
            liberty=self.timing_liberty or "",
            runner=self.name,
            fail_on_violation=quit_on_violation,
        )

    def parse_metrics(self, files: Mapping[str, str]) -> Metrics:
        metrics = parse_librelane_metrics(
            files.get(f"{self.run_dir}/final/metrics.json"), files.get(f"{self.run_dir}/resolved.json")
        )
        if self.timing_liberty is None:
            return metrics
        report = files.get(f"{TIMING_DIR}/{opensta.REPORT}")
        timing = opensta.parse_report(report)
        period = osu035.parse_clock_period(report) or metrics.clock_period_ns
        return metrics.merged(
            Metrics(
                wns_ns=timing.wns_ns,
                tns_ns=timing.tns_ns,
                clock_period_ns=period,
                max_frequency_mhz=opensta.max_frequency_mhz(period, timing.worst_slack_ns),
            )
        )


# ------------------------------------------------------------------------------------------ metrics
# OpenLane 1 `reports/metrics.csv`: one row written by scripts/report/report.py (`Report.values`), followed by
# the run's configuration columns (CLOCK_PERIOD, ...). report.py writes -1 for anything it did not measure.
OL1_CELL_COUNT = ("synth_cell_count", "cell_count")  # "cell_count" before OL1 renamed it (2022)
OL1_DIE_AREA_MM2 = "DIEAREA_mm^2"
# Latest stage first: signoff STA on extracted parasitics, then routing, placement, synthesis.
OL1_WNS = ("spef_wns", "optimized_wns", "fastroute_wns", "pl_wns", "wns")
OL1_TNS = ("spef_tns", "optimized_tns", "fastroute_tns", "pl_tns", "tns")
OL1_DRC = ("Magic_violations", "klayout_violations")
OL1_LVS_ERRORS = "lvs_total_errors"
OL1_ROUTING_VIOLATIONS = "tritonRoute_violations"
OL1_CLOCK_PERIOD = "CLOCK_PERIOD"
OL1_MISSING = -1.0


def parse_openlane1_metrics(text: str) -> Metrics:
    row = _last_csv_row(text)
    if row is None:
        return Metrics()

    def number(*keys: str) -> float | None:
        return _first(row, keys, _ol1_number)

    wns = number(*OL1_WNS)
    period = number(OL1_CLOCK_PERIOD)
    die_mm2 = number(OL1_DIE_AREA_MM2)
    lvs_errors = _as_int(number(OL1_LVS_ERRORS))
    return Metrics(
        cell_count=_as_int(number(*OL1_CELL_COUNT)),
        # OpenLane 1's metrics.csv has no cell area: its die area is the size a sweep over OL1 runs can compare.
        area_um2=die_mm2 * 1e6 if die_mm2 is not None else None,
        wns_ns=wns,
        tns_ns=number(*OL1_TNS),
        clock_period_ns=period,
        # OL1 reports WNS clamped at 0, so a met design's real fmax is unknown: only a violating run has one.
        max_frequency_mhz=_fmax_mhz(period, wns) if wns is not None and wns < 0 else None,
        drc_errors=_sum_counts(number(k) for k in OL1_DRC),
        lvs_match=lvs_errors == 0 if lvs_errors is not None else None,
        routing_failures=_as_int(number(OL1_ROUTING_VIOLATIONS)),
    )


def _last_csv_row(text: str) -> dict[str, str] | None:
    try:
        rows = list(csv.DictReader(io.StringIO(text)))
    except csv.Error:
        return None
    return rows[-1] if rows else None


def _json_object(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _first(data: Mapping[str, Any], keys: Sequence[str], convert: Callable[[Any], float | None]) -> float | None:
    for key in keys:
        value = convert(data.get(key))
        if value is not None:
            return value
    return None


def _json_number(value: Any) -> float | None:
    # bool is an int in Python but never a metric; "Infinity" (an unconstrained design's slack) is no number.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _ol1_number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    # -1 is report.py's "not measured"; a slack of exactly -1.00 ns is indistinguishable in OL1's own format.
    return number if math.isfinite(number) and number != OL1_MISSING else None


def _as_int(value: float | None) -> int | None:
    return round(value) if value is not None else None


def _sum_counts(values: Any) -> int | None:
    present = [round(v) for v in values if v is not None]
    return sum(present) if present else None


def _fmax_mhz(period_ns: float | None, worst_slack_ns: float | None) -> float | None:
    """The frequency at which the worst setup path just fits: 1 / (period - slack)."""
    if period_ns is None or worst_slack_ns is None or period_ns - worst_slack_ns <= 0:
        return None
    return round(1000.0 / (period_ns - worst_slack_ns), 3)
