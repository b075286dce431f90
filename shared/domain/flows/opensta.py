"""A timing stage: Debian's OpenSTA times a gate-level netlist against the design's clock, and its report is read.

Shared by the fast flow (synth_sta.py) and the local LibreLane flow (openlane.py), whose own STA steps need an
OpenSTA newer than Debian's 2.0.17. The stage writes, below its folder `project_dir`:

    <top>.sdc          ours: the design's clock (osu035.sdc)
    sta.tcl            ours: the OpenSTA script
    reports/sta.rpt    OpenSTA's console: the SDC it read, worst setup and hold paths, WNS, TNS, worst slack

The stage runs a fixed shell script of this module; design values reach it only as positional arguments, and the
OpenSTA script holds nothing of the design but its (checked) top module name and paths we chose.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from shared.domain.flows.base import FlowStage
from shared.domain.flows.osu035 import last_match

REPORT = "reports/sta.rpt"

# Arguments: top, SDC text, OpenSTA script, project dir, "fail" to fail on a setup violation (else "keep").
# OpenSTA 2.0 exits 0 even when commands of its script failed, and links a netlist with unknown cells as black boxes
# (timing nothing through them), so its messages decide.
_SCRIPT = r"""top=$1 dir=$3 mode=$4
mkdir -p "$dir/reports" || exit 1
printf '%s' "$2" > "$dir/$top.sdc"
printf '%s' "$5" > "$dir/sta.tcl"
report="$dir/reports/sta.rpt"
sta -no_init -no_splash -exit "$dir/sta.tcl" > "$report" 2>&1
rc=$?
cat "$report"
if [ "$rc" -ne 0 ]; then
  printf 'ERROR: OpenSTA exited with status %s (see %s)\n' "$rc" "$report" >&2
  exit "$rc"
fi
failed='^Error|module .* not found'
if grep -q -E "$failed" "$report"; then
  echo 'ERROR: OpenSTA could not time the netlist:' >&2
  grep -E "$failed" "$report" | head -n 5 >&2
  exit 1
fi
if ! grep -q -E '^wns ' "$report"; then
  echo 'ERROR: OpenSTA reported no worst negative slack: timing was not measured' >&2
  exit 1
fi
if [ "$mode" = fail ] && grep -q -E '^wns -[0-9.]*[1-9]' "$report"; then
  printf 'ERROR: setup timing violated (%s) and QUIT_ON_TIMING_VIOLATIONS is set\n' "$(grep -E '^wns ' "$report")" >&2
  exit 2
fi
"""

# report_wns and report_tns clamp at 0; report_worst_slack gives the margin that the maximum frequency needs.
_TCL = """# Written by OpenLane Cloud's {runner} runner.
read_liberty {lib}
read_verilog {netlist}
link_design {top}
read_sdc -echo {sdc}
report_checks -path_delay min_max -fields {{slew cap}} -digits 3
report_wns -digits 3
report_tns -digits 3
report_worst_slack -digits 3
"""


def timing_stage(  # noqa: PLR0913 - keyword-only: the stage's name, folder, inputs and mode, each one file or switch
    name: str,
    *,
    project_dir: str,
    top: str,
    netlist: str,
    sdc_text: str,
    liberty: str,
    runner: str,
    fail_on_violation: bool = False,
) -> FlowStage:
    """`top` must already be a checked identifier and the paths ours (relative to the work dir)."""
    tcl = _TCL.format(runner=runner, lib=liberty, netlist=netlist, top=top, sdc=f"{project_dir}/{top}.sdc")
    mode = "fail" if fail_on_violation else "keep"
    return FlowStage(name, ("sh", "-c", _SCRIPT, "sh", top, sdc_text, project_dir, mode, tcl))


# ------------------------------------------------------------------------------------------ report parsing
_NUMBER = r"(-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"
_WNS = re.compile(rf"^wns {_NUMBER}\s*$", re.MULTILINE)
_TNS = re.compile(rf"^tns {_NUMBER}\s*$", re.MULTILINE)
# "worst slack INF" when nothing is constrained: no number, no frequency.
_WORST_SLACK = re.compile(rf"^worst slack {_NUMBER}\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Timing:
    wns_ns: float | None
    tns_ns: float | None
    worst_slack_ns: float | None


def parse_report(text: str | None) -> Timing:
    return Timing(_number(_WNS, text), _number(_TNS, text), _number(_WORST_SLACK, text))


def max_frequency_mhz(period: float | None, worst_slack: float | None) -> float | None:
    """The clock at which the worst setup slack would be zero (ideal clocks, no wires: an upper bound)."""
    if period is None or worst_slack is None or not math.isfinite(worst_slack) or period - worst_slack <= 0:
        return None
    return round(1000.0 / (period - worst_slack), 3)


def _number(pattern: re.Pattern[str], text: str | None) -> float | None:
    match = last_match(pattern, text)
    # + 0.0 turns OpenSTA's "-0.000" into 0.0.
    return float(match.group(1)) + 0.0 if match else None
