"""A fast real flow: synthesis to the OSU 0.35 um standard cells and a static timing check, no layout.

For quick checks of a design and for load tests: spm takes well under a second. yosys reads and checks the
sources ("lint"), synthesises them to the cells of the OSU 0.35 um Liberty ("synthesis"), and OpenSTA times the
gate-level netlist against the design's clock ("sta"). The tools come with qflow's Debian packages (yosys 0.23,
OpenSTA 2.0.17, qflow-tech-osu035); nothing else is needed. The run's files live in `synth_sta/` next to the
extracted `design/`:

    synth_sta/src/input<N>.v      copies of sources whose names yosys cannot take (see `_read_paths`)
    synth_sta/lint.ys             ours: the lint stage's yosys script
    synth_sta/synthesis.ys        ours: the synthesis script
    synth_sta/<top>.gl.v          the gate-level netlist
    synth_sta/<top>.sdc           ours: the design's clock
    synth_sta/sta.tcl             ours: the OpenSTA script
    synth_sta/reports/area.rpt    yosys `stat -liberty` of the netlist
    synth_sta/reports/sta.rpt     OpenSTA's console: the SDC it read, worst setup and hold paths, WNS, TNS
    synth_sta/log/*.log           yosys' full logs

Every stage runs a fixed shell script of this module; design values reach it only as positional arguments. The
yosys and OpenSTA scripts are written by this module too and hold nothing of the design but its (checked)
top module and clock port names.

Lint is yosys' parser and `hierarchy -check`, not Verilator: Verilator is not among qflow's packages, and a
check that passes or fails depending on what a compute node has installed would make the flow's verdict
depend on the node.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.domain.design import DesignSpec, Resources
from shared.domain.flows import opensta
from shared.domain.flows.base import DESIGN_DIR, FlowPlan, FlowStage
from shared.domain.flows.osu035 import (
    LIBERTY,
    PLAIN_PATH,
    checked_identifier,
    metrics_file,
    parse_area_report,
    parse_clock_period,
    sdc,
    verilog_sources,
)
from shared.domain.metrics import Metrics

PROJECT_DIR = "synth_sta"
AREA_REPORT = f"{PROJECT_DIR}/reports/area.rpt"
STA_REPORT = f"{PROJECT_DIR}/{opensta.REPORT}"

# Arguments: the lint script, then (design-relative path, path yosys reads) pairs. yosys reads the files named
# on its command line before it runs the script; a .sv file is read as SystemVerilog.
_LINT = rf"""set -eu
script=$1
shift
rm -rf {PROJECT_DIR}
mkdir -p {PROJECT_DIR}/src {PROJECT_DIR}/reports {PROJECT_DIR}/log
printf '%s' "$script" > {PROJECT_DIR}/lint.ys
pairs=$(( $# / 2 ))
while [ "$pairs" -gt 0 ]; do
  src=$1 read=$2
  shift 2
  pairs=$(( pairs - 1 ))
  if [ ! -f "{DESIGN_DIR}/$src" ]; then
    printf 'ERROR: Verilog file not found: {DESIGN_DIR}/%s\n' "$src" >&2
    exit 1
  fi
  if [ "$read" = "{DESIGN_DIR}/$src" ]; then
    printf 'source: {DESIGN_DIR}/%s\n' "$src"
  else
    cp -- "{DESIGN_DIR}/$src" "$read"
    printf 'source: {DESIGN_DIR}/%s (read as %s: its name is unsafe for yosys)\n' "$src" "$read"
  fi
  set -- "$@" "$read"
done
yosys -q -l {PROJECT_DIR}/log/lint.log -s {PROJECT_DIR}/lint.ys "$@"
echo 'lint: the sources parse and the hierarchy is complete'
"""

# Arguments: the synthesis script, then the paths yosys reads (those of the lint stage).
_SYNTHESIS = rf"""set -eu
script=$1
shift
printf '%s' "$script" > {PROJECT_DIR}/synthesis.ys
yosys -q -l {PROJECT_DIR}/log/synthesis.log -s {PROJECT_DIR}/synthesis.ys "$@"
cat {AREA_REPORT}
"""

# yosys 0.23 leaves asynchronous-reset flops unmapped unless told which flop types the library has:
# DFFPOSX1 ($_DFF_P_), DFFNEGX1 ($_DFF_N_) and DFFSR ($_DFFSR_PNN_); everything else is legalised onto those
# (enables and synchronous resets become logic, latches DFFSR's asynchronous set and reset). Cells of yosys'
# own (`$` types) left after mapping fail the stage: OpenSTA would time nothing through them.
_SYNTHESIS_SCRIPT = """# Written by OpenLane Cloud's yosys-osu035 runner.
hierarchy -check -top {top}
synth -top {top} -flatten
dfflegalize -cell $_DFF_P_ 01 -cell $_DFF_N_ 01 -cell $_DFFSR_PNN_ 01
dfflibmap -liberty {lib}
abc -liberty {lib}
opt_clean -purge
select -assert-none t:$*
tee -q -o {area} stat -liberty {lib}
write_verilog -noattr -noexpr {netlist}
"""

_LINT_SCRIPT = """# Written by OpenLane Cloud's yosys-osu035 runner.
hierarchy -check -top {top}
proc
check
"""


class SynthStaOsu035Runner:
    """FlowRunner: yosys synthesis to the OSU 0.35 um cells and OpenSTA (see the module docstring)."""

    name = "yosys-osu035"

    def plan(self, design: DesignSpec, resources: Resources) -> FlowPlan:
        # yosys and OpenSTA run single-threaded in well under a second: `resources` changes nothing here.
        top = checked_identifier(design.top_module, "top module")
        sources = verilog_sources(design)
        if not sources:
            raise ValueError("the design lists no Verilog source files (headers alone cannot be synthesised)")
        reads = _read_paths(sources)
        pairs = [part for pair in zip(sources, reads, strict=True) for part in pair]
        netlist = _netlist(top)
        lint = _LINT_SCRIPT.format(top=top)
        synthesis = _SYNTHESIS_SCRIPT.format(top=top, lib=LIBERTY, area=AREA_REPORT, netlist=netlist)
        stages = (
            FlowStage("lint", ("sh", "-c", _LINT, "sh", lint, *pairs)),
            FlowStage("synthesis", ("sh", "-c", _SYNTHESIS, "sh", synthesis, *reads)),
            opensta.timing_stage(
                "sta",
                project_dir=PROJECT_DIR,
                top=top,
                netlist=netlist,
                sdc_text=sdc(design, self.name),
                liberty=LIBERTY,
                runner=self.name,
            ),
        )
        return FlowPlan(
            runner=self.name,
            stages=stages,
            # `top` is a plain identifier, so it carries no glob metacharacters.
            artifacts=(
                netlist,
                f"{PROJECT_DIR}/{top}.sdc",
                f"{PROJECT_DIR}/*.ys",
                f"{PROJECT_DIR}/sta.tcl",
                f"{PROJECT_DIR}/reports/*.rpt",
                f"{PROJECT_DIR}/log/*.log",
            ),
            metrics_files=(AREA_REPORT, STA_REPORT),
            primary_outputs={"netlist": netlist},
        )

    def parse_metrics(self, files: Mapping[str, str]) -> Metrics:
        cells, area = parse_area_report(metrics_file(files, "/reports/area.rpt"))
        if cells == 0 and area is None:
            area = 0.0  # yosys prints no chip area for a netlist without cells
        sta = metrics_file(files, "/reports/sta.rpt")
        period = parse_clock_period(sta)
        timing = opensta.parse_report(sta)
        return Metrics(
            cell_count=cells,
            area_um2=area,
            wns_ns=timing.wns_ns,
            tns_ns=timing.tns_ns,
            clock_period_ns=period,
            max_frequency_mhz=opensta.max_frequency_mhz(period, timing.worst_slack_ns),
        )


# ------------------------------------------------------------------------------------------------ planning
def _netlist(top: str) -> str:
    return f"{PROJECT_DIR}/{top}.gl.v"


def _read_paths(sources: tuple[str, ...]) -> tuple[str, ...]:
    """The path yosys reads for each source, relative to the work directory.

    yosys expands glob characters in the file names it is given (`a[1].v` reads `a1.v`), stops at a line break
    and picks the Verilog dialect by the suffix, so only plain paths ending in .v or .sv are read in place (where
    `include of their neighbours works); others are read from a copy under a plain name.
    """
    reads = []
    for index, path in enumerate(sources, start=1):
        if PLAIN_PATH.fullmatch(path) and path.endswith((".v", ".sv")):
            reads.append(f"{DESIGN_DIR}/{path}")
        else:
            suffix = ".sv" if path.lower().endswith(".sv") else ".v"
            reads.append(f"{PROJECT_DIR}/src/input{index}{suffix}")
    return tuple(reads)
