"""What the local OSU 0.35 um flows share: the Liberty file, the checks on design values, the timing constraints
and the parsing of the reports that yosys and OpenSTA write (qflow.py runs the full flow, synth_sta.py the fast one).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from shared.domain.design import DesignSpec

TECH = "osu035"
LIBERTY = "/usr/share/qflow/tech/osu035/osu035_stdcells.lib"
STDCELL_LEF = "/usr/share/qflow/tech/osu035/osu035_stdcells.lef"
# The GDS layer magic writes for each routing layer of the LEF (the "calma" lines of SCN4M_SUBM.20.tech).
GDS_LAYERS = {
    "metal1": "49/0",
    "via1": "50/0",
    "metal2": "51/0",
    "via2": "61/0",
    "metal3": "62/0",
    "via3": "30/0",
    "metal4": "31/0",
}

# Design values end up inside tool scripts (qflow's tcsh scripts paste the top module and the source list into
# generated scripts that tcsh runs again; yosys and OpenSTA read them in commands), so only plain names may reach
# them (not even Verilog's `$`, which tcsh would expand); anything else is refused (top, clock) or the file is
# copied under a plain name.
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PLAIN_PATH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.+-]*)*")
# Headers are only `include'd: read on their own, their fragments would not parse.
HEADER_SUFFIXES = (".vh", ".svh")


# ------------------------------------------------------------------------------------------------ planning
def checked_identifier(value: str, what: str) -> str:
    if not IDENTIFIER.fullmatch(value):
        raise ValueError(f"{what} {value!r} is not a plain identifier (letters, digits, _) as the flow needs")
    return value


def verilog_sources(design: DesignSpec) -> tuple[str, ...]:
    """The design's Verilog files without the headers, in the design's order."""
    return tuple(path for path in design.verilog_files if not path.lower().endswith(HEADER_SUFFIXES))


def sdc(design: DesignSpec, runner: str) -> str:
    """The design's clock as SDC for OpenSTA: a clock on CLOCK_PORT, or a virtual one without a port."""
    period = design.clock_period_ns
    if not (math.isfinite(period) and period > 0):
        raise ValueError(f"clock period {period!r} ns is not a positive number")
    lines = [f"# Written by OpenLane Cloud's {runner} runner: CLOCK_PERIOD {period:g} ns."]
    if design.clock_port:
        # Braces keep Tcl from substituting anything in the (already checked) port name.
        port = "{" + checked_identifier(design.clock_port, "clock port") + "}"
        lines.append(f"create_clock -name core_clock -period {period:g} [get_ports {port}]")
        inputs = f"[delete_from_list [all_inputs] [get_ports {port}]]"
    else:
        # A virtual clock still times the combinational paths from inputs to outputs.
        lines.append(f"create_clock -name core_clock -period {period:g}")
        inputs = "[all_inputs]"
    lines.append(f"set_input_delay 0 -clock core_clock {inputs}")
    lines.append("set_output_delay 0 -clock core_clock [all_outputs]")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ metric parsing
_AREA_CELLS = re.compile(r"^\s*Number of cells:\s+(\d+)", re.MULTILINE)
_AREA_CHIP = re.compile(r"^\s*Chip area for (?:top )?module '[^']*':\s+([0-9.eE+-]+)", re.MULTILINE)
_PERIOD = re.compile(r"^create_clock\b.*-period\s+([0-9.eE+-]+)", re.MULTILINE)


def metrics_file(files: Mapping[str, str], suffix: str) -> str | None:
    """The text of the metrics file whose path ends with `suffix` (paths carry the top name and prefixes)."""
    for path, text in files.items():
        if path.endswith(suffix):
            return text
    return None


def last_match(pattern: re.Pattern[str], text: str | None) -> re.Match[str] | None:
    matches = list(pattern.finditer(text)) if text else []
    return matches[-1] if matches else None


def round_ns(value: float) -> float:
    # Sums of two-decimal slacks pick up binary noise (-0.30000000000000004).
    return round(value, 4)


def parse_area_report(text: str | None) -> tuple[int | None, float | None]:
    """Cell count and area (um^2) of yosys' `stat -liberty`."""
    cells = _AREA_CELLS.search(text) if text else None
    area = last_match(_AREA_CHIP, text)
    return (int(cells.group(1)) if cells else None, float(area.group(1)) if area else None)


def parse_yosys_cell_count(text: str | None) -> int | None:
    """The cell count of yosys' last `stat` in a log."""
    match = last_match(_AREA_CELLS, text)
    return int(match.group(1)) if match else None


def parse_clock_period(text: str | None) -> float | None:
    """The period of the first `create_clock` in SDC text (or in OpenSTA's echo of it)."""
    match = _PERIOD.search(text) if text else None
    return float(match.group(1)) if match else None
