"""OpenLane flows run inside a Singularity/Apptainer image on a Slurm compute node.

Two runners share one way of entering the container:

* `OpenLane1Runner` ("openlane1"): OpenLane 1's classic `flow.tcl -design D -tag T -overwrite`.
* `LibreLaneRunner` ("librelane", or "openlane2" with module "openlane"):
  `python3 -m librelane --run-tag T --overwrite -j N --manual-pdk --pdk-root P --pdk K [--scl S] config.json`.

Each plan runs OpenLane as ONE stage named "flow", then draws the final GDS with the image's own KLayout
(shared/domain/flows/render.py: a stage that never fails the run). OpenLane can be cut into pieces (OL1
`-from/-to`, LibreLane `--from/--to`), but not cheaply or safely here:
  - OL1 re-runs `prep`, the final report, `save_final_views` and the runtime bookkeeping on every invocation,
    and resuming a tag across invocations is a known bug (The-OpenROAD-Project/OpenLane#885);
  - LibreLane step ids are version-specific (the Classic flow has ~80 steps, some repeated) and a user's
    config.json may select another flow or substitute steps through its "meta" object, so boundaries we
    hard-code could name steps that do not exist in that run.
Per-step progress is better read from the run directory (LibreLane writes one `NN-step-id/` folder per step,
OL1 one `logs/<stage>/` folder per stage) than forced through separate processes.

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
from typing import Any

from shared.domain.design import RUN_CONFIG_FILE, DesignSpec, Resources
from shared.domain.design_config import PDKS
from shared.domain.flows import render
from shared.domain.flows.base import DESIGN_DIR, FlowPlan, FlowStage
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


# ------------------------------------------------------------------------------------------ the container
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


def _render_stage(container: ContainerCommand, final_dir: str) -> FlowStage:
    # OpenLane names the GDS after the design; the render script draws the first match of the glob.
    command = render.klayout_command(f"{final_dir}/gds/*.gds")
    return render.render_stage(container.argv(render.ENV, command), env={})


# Writes argv[2] (JSON) to argv[1]; run without a shell, so the values are data, never code.
_WRITE_CONFIG = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"


def _run_config_stages(design: DesignSpec) -> tuple[FlowStage, ...]:
    """A sweep's run has settings of its own: OpenLane then reads a config written from them, beside config.json
    (so `dir::` paths resolve alike), instead of the uploaded one."""
    if design.config_file != RUN_CONFIG_FILE:
        return ()
    settings = json.dumps(design.flow_variables, sort_keys=True)
    return (FlowStage(name="run-config", argv=("python3", "-c", _WRITE_CONFIG, _config_path(design), settings)),)


def _config_path(design: DesignSpec) -> str:
    # DesignSpec guarantees a relative path inside the design root; the "design/" prefix also means it can
    # never start with "-" and be taken for an option.
    return f"{DESIGN_DIR}/{design.config_file}"


def _threads(resources: Resources) -> str:
    return str(max(1, resources.cpus))


# ------------------------------------------------------------------------------------------ OpenLane 1
class OpenLane1Runner:
    """OpenLane 1 (efabless/openlane image): `flow.tcl -design design -tag T -overwrite` in one process."""

    def __init__(
        self,
        image: str,
        pdk_root: str,
        container_runtime: str = "singularity",
        *,
        flow_script: str = "/openlane/flow.tcl",
        run_tag: str = DEFAULT_RUN_TAG,
        pdks: Sequence[str] = PDKS,
    ) -> None:
        self.name = "openlane1"
        self.container = ContainerCommand(image, pdk_root, container_runtime)
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
                _render_stage(self.container, final),
            ),
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
class LibreLaneRunner:
    """LibreLane (or OpenLane 2 with module="openlane"): the Classic flow, as one `python3 -m ...` process."""

    MODULES = {"librelane": "librelane", "openlane": "openlane2"}

    def __init__(
        self,
        image: str,
        pdk_root: str,
        container_runtime: str = "singularity",
        *,
        module: str = "librelane",
        run_tag: str = DEFAULT_RUN_TAG,
        pdks: Sequence[str] = PDKS,
    ) -> None:
        _require(module in self.MODULES, f"module {module!r} is not one of {', '.join(self.MODULES)}")
        self.name = self.MODULES[module]
        self.module = module
        self.container = ContainerCommand(image, pdk_root, container_runtime)
        self.run_tag = _check_run_tag(run_tag)
        self.pdks = tuple(pdks)

    @property
    def run_dir(self) -> str:
        return f"{DESIGN_DIR}/runs/{self.run_tag}"

    def plan(self, design: DesignSpec, resources: Resources) -> FlowPlan:
        threads = _threads(resources)
        # -j only sizes LibreLane's own worker pool; each tool step (detailed routing, KLayout DRC/XOR) sizes
        # its threads from os.cpu_count(), which sees the whole node rather than the Slurm allocation, unless
        # _OPENLANE_MAX_CORES is set (librelane/common/misc.py `_get_process_limit`, same name in OpenLane 2).
        env = {"PDK_ROOT": self.container.pdk_root, "_OPENLANE_MAX_CORES": threads}
        command = [
            "python3",
            "-m",
            self.module,
            "--run-tag",
            self.run_tag,
            "--overwrite",
            "-j",
            threads,
            # The PDK is pre-installed on /apps: without --manual-pdk the flow would try to download it with
            # ciel/volare from the compute node.
            "--manual-pdk",
            "--pdk-root",
            self.container.pdk_root,
            "--pdk",
            _pdk_for(design, self.pdks),
        ]
        if scl := _scl_for(design):
            command += ["--scl", scl]
        command.append(_config_path(design))
        run, final = self.run_dir, f"{self.run_dir}/final"
        return FlowPlan(
            runner=self.name,
            stages=(
                *_run_config_stages(design),
                FlowStage(name=STAGE_NAME, argv=self.container.argv(env, command)),
                _render_stage(self.container, final),
            ),
            artifacts=(
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
                *render.ARTIFACTS,
            ),
            metrics_files=(f"{final}/metrics.json", f"{run}/resolved.json"),
            primary_outputs={
                "gds": f"{final}/gds/*.gds",
                "def": f"{final}/def/*.def",
                "lef": f"{final}/lef/*.lef",
                "netlist": f"{final}/nl/*.v",
                **render.PRIMARY_OUTPUTS,
            },
        )

    def parse_metrics(self, files: Mapping[str, str]) -> Metrics:
        return parse_librelane_metrics(
            files.get(f"{self.run_dir}/final/metrics.json"), files.get(f"{self.run_dir}/resolved.json")
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

# LibreLane / OpenLane 2 `final/metrics.json`: names from librelane/common/metrics/library.py and OpenROAD's
# report_design_area_metrics. Un-suffixed names are already aggregated over all corners (worst case).
LL_CELL_COUNT = ("design__instance__count__stdcell", "design__instance__count")
LL_DIE_AREA = "design__die__area"
LL_SETUP_WNS = "timing__setup__wns"
LL_SETUP_WS = "timing__setup__ws"
LL_SETUP_TNS = "timing__setup__tns"
LL_DRC = ("magic__drc_error__count", "klayout__drc_error__count")
LL_LVS_ERRORS = "design__lvs_error__count"
LL_ROUTING_DRC = "route__drc_errors"


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


def parse_librelane_metrics(metrics_text: str | None, resolved_text: str | None = None) -> Metrics:
    metrics = _json_object(metrics_text)
    config = _json_object(resolved_text)

    def number(*keys: str) -> float | None:
        return _first(metrics, keys, _json_number)

    ws = number(LL_SETUP_WS)
    wns = number(LL_SETUP_WNS)
    if wns is None and ws is not None:
        wns = min(0.0, ws)  # older OpenLane 2 releases report only the worst slack
    period = _json_number(config.get("CLOCK_PERIOD"))
    lvs_errors = _as_int(number(LL_LVS_ERRORS))
    return Metrics(
        cell_count=_as_int(number(*LL_CELL_COUNT)),
        area_um2=number(LL_DIE_AREA),
        wns_ns=wns,
        tns_ns=number(LL_SETUP_TNS),
        clock_period_ns=period,
        max_frequency_mhz=_fmax_mhz(period, ws),
        drc_errors=_sum_counts(number(k) for k in LL_DRC),
        lvs_match=lvs_errors == 0 if lvs_errors is not None else None,
        routing_failures=_as_int(number(LL_ROUTING_DRC)),
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
