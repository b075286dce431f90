"""A real RTL-to-GDS flow from Debian packages: qflow 1.3.17 with the OSU 0.35 um standard cells.

qflow chains yosys (synthesis), graywolf (placement), qrouter (routing), OpenSTA and vesta (timing), magic
(migration, DRC, GDS) and netgen (LVS). Each qflow action is one stage, run inside a qflow project folder
`qflow/` next to the extracted `design/`:

    qflow/project_vars.sh        ours: turns on OpenSTA next to vesta
    qflow/source/<top>.fl        ours: the Verilog files, in the design's order
    qflow/synthesis/<top>.sdc    ours: the design's clock for OpenSTA
    qflow/log/*.log              qflow's logs; qflow/log/<action>.out is each step's console, kept by us
    qflow/reports/area.rpt       ours: yosys `stat -liberty` of the synthesised netlist
    render/layout*.png           the layout drawn by KLayout (shared/domain/flows/render.py)

Every stage runs a fixed shell script of this module; design values reach it only as positional arguments.

Debian ships the OSU cells without their GDS, so the GDS only references them: the render stage fills them from the
cells' LEF (pins and obstructions), on the GDS layers magic uses, so the picture shows the cell rows too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from shared.domain.design import DesignSpec, Resources
from shared.domain.flows import render
from shared.domain.flows.base import DESIGN_DIR, FlowPlan, FlowStage
from shared.domain.flows.osu035 import (
    GDS_LAYERS,
    LIBERTY,
    PLAIN_PATH,
    STDCELL_LEF,
    TECH,
    checked_identifier,
    last_match,
    metrics_file,
    parse_area_report,
    parse_clock_period,
    parse_yosys_cell_count,
    round_ns,
    sdc,
    verilog_sources,
)
from shared.domain.metrics import Metrics

PROJECT_DIR = "qflow"

# Arguments: top, project_vars.sh text, SDC text, then (design-relative path, .fl entry) pairs. An entry that
# starts with ../ reads the file in place (so `include of its neighbours works); others are copies.
_PREPARE = r"""set -eu
top=$1 project_vars=$2 sdc=$3
shift 3
rm -rf qflow
mkdir -p qflow/source qflow/synthesis qflow/layout qflow/log qflow/reports
printf '%s' "$project_vars" > qflow/project_vars.sh
printf '%s' "$sdc" > "qflow/synthesis/$top.sdc"
: > "qflow/source/$top.fl"
while [ "$#" -ge 2 ]; do
  src=$1 entry=$2
  shift 2
  if [ ! -f "design/$src" ]; then
    printf 'ERROR: Verilog file not found: design/%s\n' "$src" >&2
    exit 1
  fi
  case $entry in
    ../*) printf 'source: design/%s\n' "$src" ;;
    *) cp -- "design/$src" "qflow/source/$entry"
       printf 'source: design/%s (read as qflow/source/%s: its name is unsafe for qflow)\n' "$src" "$entry" ;;
  esac
  printf '%s\n' "$entry" >> "qflow/source/$top.fl"
done
"""

# Arguments: qflow action, top, qflow log name. qflow's console rarely says why a step failed (the reason is
# in its log), so the matching log lines go to stderr. The console is kept as log/<action>.out because
# qflow's vesta.sh deletes post_sta.log after OpenSTA wrote the post-route report into it.
# The console also streams to the stage's log while qflow runs (the job's live log tail). POSIX sh has no
# pipefail, so qflow's status comes back through fd 4 while its output goes through tee to fd 3 (the stage's
# stdout); qflow itself gets neither descriptor, so nothing it leaves running can hold the status pipe open.
_RUN_QFLOW = rf"""action=$1 top=$2 log=log/$3
exec 3>&1
rc=$( {{ {{ qflow "$action" -T {TECH} "$top" 3>&- 4>&- 2>&1; echo "$?" >&4; }} | tee "log/$action.out" >&3; }} 4>&1 )
rc=${{rc:-1}}  # no status at all is a failure too
if [ "$rc" -ne 0 ]; then
  printf 'ERROR: qflow %s failed (exit %s); from qflow/%s:\n' "$action" "$rc" "$log" >&2
  grep -i -E 'error|fail|cannot|not found' "$log" 2>/dev/null | tail -n 20 >&2
  exit "$rc"
fi
"""

# qflow's synthesis log has yosys' cell count from before buffering and no area: measure the final netlist.
_AREA_REPORT = rf"""lib={LIBERTY}
stat="read_liberty -lib $lib; hierarchy -auto-top; tee -q -o reports/area.rpt stat -liberty $lib"
if ! yosys -q -p "$stat" "synthesis/$top.blif" > log/area.log 2>&1; then
  echo 'warning: no cell area report (see qflow/log/area.log)' >&2
fi
"""

# qflow's router.sh looks for failed.out but qrouter writes fail.out, so `qflow route` exits 0 with nets
# left unrouted; qrouter's own verdict is the "Final:" line.
_CHECK_ROUTING = r"""if ! grep -q '^Final: No failed routes' log/route.log; then
  verdict=$(grep '^Final:' log/route.log | tail -n 1)
  printf 'ERROR: routing incomplete: %s\n' "${verdict:-qrouter reported no result}" >&2
  exit 1
fi
"""

# drc.sh fails on a positive count already; this also fails when magic never printed one.
_CHECK_DRC = r"""count=$(sed -n 's/^drc = \([0-9][0-9]*\)$/\1/p' log/drc.log | tail -n 1)
if [ "$count" != 0 ]; then
  printf 'ERROR: DRC found %s errors\n' "${count:-an unknown number of}" >&2
  exit 1
fi
"""

# lvs.sh fails on a non-zero count already; this also fails when count_lvs.py never printed one.
_CHECK_LVS = r"""if ! grep -q '^Total errors = 0$' log/lvs.log; then
  printf 'ERROR: LVS mismatch: %s\n' "$(grep -E '^Result:|^Total errors' log/lvs.log | tr '\n' ' ')" >&2
  exit 1
fi
"""

_CHECK_GDS = r"""if [ ! -s "layout/$top.gds" ]; then
  printf 'ERROR: no GDS was written (qflow/layout/%s.gds)\n' "$top" >&2
  exit 1
fi
"""


@dataclass(frozen=True)
class _Step:
    """One qflow action run as a stage, with the check that follows it."""

    stage: str
    action: str
    log: str
    after: str = ""


_STEPS = (
    _Step("synthesis", "synthesize", "synth.log", _AREA_REPORT),
    _Step("placement", "place", "place.log"),
    _Step("sta", "sta", "sta.log"),
    _Step("routing", "route", "route.log", _CHECK_ROUTING),
    # Post-route timing with extracted wire delays; it is also what writes the SDF and SPEF.
    _Step("post-route-sta", "backanno", "post_sta.log"),
    _Step("migrate", "migrate", "migrate.log"),
    _Step("drc", "drc", "drc.log", _CHECK_DRC),
    _Step("lvs", "lvs", "lvs.log", _CHECK_LVS),
    _Step("gdsii", "gdsii", "gdsii.log", _CHECK_GDS),
)

_PROJECT_VARS = """#!/usr/bin/tcsh -f
# Written by OpenLane Cloud's qflow-osu035 runner; qflow sources it before every step.
# OpenSTA times the design against synthesis/<top>.sdc; vesta still runs because only its
# back-annotation step writes the SPEF.
set run_opensta = 1
set run_vesta = 1
"""


class QflowOsu035Runner:
    """FlowRunner for qflow with the OSU 0.35 um cells (see the module docstring for the folder layout)."""

    name = "qflow-osu035"

    def __init__(self, *, render_script: str) -> None:
        """`render_script`: the text of infra/slurm/render_layout.py, which the last stage runs (render.py)."""
        if not render_script:
            raise ValueError("the qflow runner draws the layout: it needs the render script's text")
        self.render_script = render_script

    def plan(self, design: DesignSpec, resources: Resources) -> FlowPlan:
        # qflow is single-threaded and small designs need little memory: `resources` changes nothing here.
        top = checked_identifier(design.top_module, "top module")
        if not verilog_sources(design):
            raise ValueError("the design lists no Verilog source files (headers alone cannot be synthesised)")
        stages = (
            _prepare_stage(design, top),
            *(_qflow_stage(step, top) for step in _STEPS),
            _render_stage(self.render_script, top),
        )
        return FlowPlan(
            runner=self.name,
            stages=stages,
            artifacts=_artifacts(top),
            metrics_files=_metrics_files(top),
            primary_outputs=_primary_outputs(top),
        )

    def parse_metrics(self, files: Mapping[str, str]) -> Metrics:
        cells, area = parse_area_report(metrics_file(files, "/reports/area.rpt"))
        if cells is None:
            # yosys' last `stat` in qflow's synthesis log: the mapped design before qflow adds fanout buffers.
            cells = parse_yosys_cell_count(metrics_file(files, "/log/synth.log"))
        # The post-route console holds OpenSTA's report with extracted delays; pre-route is the fallback.
        timing = metrics_file(files, "/log/backanno.out") or metrics_file(files, "/log/sta.log")
        slacks = _parse_setup_slacks(timing)
        period = parse_clock_period(metrics_file(files, ".sdc"))
        return Metrics(
            cell_count=cells,
            area_um2=area,
            wns_ns=round_ns(min(0.0, *slacks)) if slacks else None,
            tns_ns=round_ns(sum((s for s in slacks if s < 0), 0.0)) if slacks else None,
            clock_period_ns=period,
            max_frequency_mhz=_max_frequency(files, slacks, period),
            drc_errors=_parse_drc_errors(metrics_file(files, "/log/drc.log")),
            lvs_match=_parse_lvs_match(metrics_file(files, "/log/lvs.log")),
            routing_failures=_parse_routing_failures(metrics_file(files, "/log/route.log")),
        )


# ------------------------------------------------------------------------------------------------ planning
def _prepare_stage(design: DesignSpec, top: str) -> FlowStage:
    sources = [part for pair in _source_entries(verilog_sources(design)) for part in pair]
    argv = ("sh", "-c", _PREPARE, "sh", top, _project_vars(design), sdc(design, QflowOsu035Runner.name), *sources)
    return FlowStage(name="prepare", argv=argv)


def _qflow_stage(step: _Step, top: str) -> FlowStage:
    script = _RUN_QFLOW + step.after
    return FlowStage(name=step.stage, argv=("sh", "-c", script, "sh", step.action, top, step.log), cwd=PROJECT_DIR)


def _render_stage(script: str, top: str) -> FlowStage:
    gds = f"{PROJECT_DIR}/layout/{top}.gds"
    return render.render_stage(script, render.klayout_command(gds, lef_files=(STDCELL_LEF,), lef_layers=GDS_LAYERS))


def _source_entries(files: tuple[str, ...]) -> list[tuple[str, str]]:
    """(design-relative path, entry of qflow/source/<top>.fl) per file, in the design's order."""
    entries = []
    for index, path in enumerate(files, start=1):
        if PLAIN_PATH.fullmatch(path):
            # Relative to qflow/source, where qflow runs yosys.
            entries.append((path, f"../../{DESIGN_DIR}/{path}"))
        else:
            suffix = ".sv" if path.lower().endswith(".sv") else ".v"
            entries.append((path, f"input{index}{suffix}"))
    return entries


def _project_vars(design: DesignSpec) -> str:
    text = _PROJECT_VARS
    if any(path.lower().endswith(".sv") for path in verilog_sources(design)):
        # qflow reads every file of a list with or without -sv alike.
        text += "set is_system_verilog = 1\n"
    density = design.flow_variables.get("PL_TARGET_DENSITY")
    if isinstance(density, int | float) and not isinstance(density, bool) and 0 < density <= 1:
        # OpenLane's placement density maps onto qflow's decongest step, which pads the rows to that density.
        text += f"set initial_density = {float(density):g}\n"
    return text


def _artifacts(top: str) -> tuple[str, ...]:
    # `top` is a plain identifier, so it carries no glob metacharacters.
    layout, synthesis = f"{PROJECT_DIR}/layout", f"{PROJECT_DIR}/synthesis"
    return (
        f"{layout}/{top}.gds",
        f"{layout}/{top}.def",
        f"{layout}/{top}.lef",
        f"{layout}/{top}.spice",
        f"{layout}/comp.out",
        f"{synthesis}/{top}.rtl.v",
        f"{synthesis}/{top}.rtlnopwr.v",
        f"{synthesis}/{top}.spc",
        f"{synthesis}/{top}.sdf",
        f"{synthesis}/{top}.spef",
        f"{synthesis}/{top}.sdc",
        f"{synthesis}/reports/*.log",
        f"{PROJECT_DIR}/reports/*.rpt",
        f"{PROJECT_DIR}/log/*",
        *render.ARTIFACTS,
    )


def _metrics_files(top: str) -> tuple[str, ...]:
    log = f"{PROJECT_DIR}/log"
    return (
        f"{PROJECT_DIR}/reports/area.rpt",
        f"{log}/synth.log",
        f"{log}/sta.log",
        f"{log}/backanno.out",
        f"{log}/post_sta.log",
        f"{log}/route.log",
        f"{log}/drc.log",
        f"{log}/lvs.log",
        f"{PROJECT_DIR}/synthesis/{top}.sdc",
    )


def _primary_outputs(top: str) -> dict[str, str]:
    return {
        "gds": f"{PROJECT_DIR}/layout/{top}.gds",
        "def": f"{PROJECT_DIR}/layout/{top}.def",
        "netlist": f"{PROJECT_DIR}/synthesis/{top}.rtlnopwr.v",
        "sdf": f"{PROJECT_DIR}/synthesis/{top}.sdf",
        "spef": f"{PROJECT_DIR}/synthesis/{top}.spef",
        **render.PRIMARY_OUTPUTS,
    }


# ------------------------------------------------------------------------------------------ metric parsing
_PATH_TYPE = re.compile(r"^Path Type: (max|min)\b")
_SLACK = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+slack \((?:MET|VIOLATED)\)")
_VESTA_FMAX = re.compile(r"Computed maximum clock frequency \(zero margin\) = ([0-9.eE+-]+) MHz")
_DRC_COUNT = re.compile(r"^drc = (\d+)\s*$", re.MULTILINE)
_LVS_TOTAL = re.compile(r"^Total errors = (\d+)\s*$", re.MULTILINE)
_LVS_RESULT = re.compile(r"^Result: (.*)$", re.MULTILINE)
_ROUTE_FINAL = re.compile(r"^Final: (?:No failed routes|Failed net routes: (\d+))", re.MULTILINE)


def _parse_setup_slacks(text: str | None) -> list[float]:
    """Slack of every max (setup/recovery) path of OpenSTA's `report_checks -path_delay min_max`.

    qflow asks for up to 1000 paths per group, one per endpoint, so TNS misses endpoints beyond that.
    """
    slacks: list[float] = []
    path_type = None
    for line in (text or "").splitlines():
        if kind := _PATH_TYPE.match(line):
            path_type = kind.group(1)
        elif path_type == "max" and (slack := _SLACK.match(line)):
            slacks.append(float(slack.group(1)))
    return slacks


def _max_frequency(files: Mapping[str, str], slacks: list[float], period: float | None) -> float | None:
    """The clock at which OpenSTA's worst setup slack would be zero, so it agrees with WNS.

    vesta's own "maximum clock frequency" uses a simpler delay model (spm: 851 MHz against OpenSTA's 935 MHz);
    it is the fallback when there is no OpenSTA report.
    """
    if slacks and period is not None and period - min(slacks) > 0:
        return round(1000.0 / (period - min(slacks)), 3)
    for suffix in ("/log/backanno.out", "/log/post_sta.log", "/log/sta.log"):
        if match := last_match(_VESTA_FMAX, metrics_file(files, suffix)):
            return float(match.group(1))
    return None


def _parse_drc_errors(text: str | None) -> int | None:
    match = last_match(_DRC_COUNT, text)
    return int(match.group(1)) if match else None


def _parse_lvs_match(text: str | None) -> bool | None:
    if total := last_match(_LVS_TOTAL, text):
        return int(total.group(1)) == 0
    if result := last_match(_LVS_RESULT, text):
        return "do not match" not in result.group(1) and "match" in result.group(1)
    return None


def _parse_routing_failures(text: str | None) -> int | None:
    match = last_match(_ROUTE_FINAL, text)
    if match is None:
        return None
    return int(match.group(1)) if match.group(1) else 0
