"""LibreLane's `final/metrics.json` as the project's normalised `Metrics`: one table, no I/O.

The names are LibreLane's (METRICS2.1 style, `librelane/common/metrics/library.py` and the steps that write them):

* synthesis (Yosys.Synthesis, `steps/pyosys.py`): design__instance__count, design__instance__area,
  design__instance_unmapped__count, synthesis__check_error__count;
* lint (Verilator.Lint, `steps/verilator.py`): design__lint_error__count, design__lint_warning__count,
  design__inferred_latch__count;
* OpenROAD's design area report (floorplan onwards): design__instance__count__stdcell,
  design__instance__area__stdcell, design__die__area, design__core__area, design__instance__utilization (a fraction:
  `steps/openroad.py` multiplies it by 100 to get percent);
* STA (`scripts/openroad/sta/corner.tcl`): per corner `timing__setup__ws__corner:<corner>` and its wns/tns, the same
  for hold, `timing__setup_vio__count__corner:<corner>`, `design__max_slew_violation__count__corner:<corner>` ...;
  `aggregate_metrics` adds the corner-less worst (min for slacks, sum for violation counts, max for slew/cap/fanout);
  power__total is OpenSTA's `design_power` in watts;
* routing: route__wirelength (µm, detailed routing), route__drc_errors (violations the router left);
  antenna__violating__nets / __pins (OpenROAD check_antennas), route__antenna_violation__count (violating nets);
* sign-off: magic__drc_error__count, klayout__drc_error__count, design__lvs_error__count (Netgen).

A name missing from metrics.json leaves its field None ("not measured"), never 0. Values that are no JSON number
(strings, booleans, null) or not finite (`Infinity`: an unconstrained design's slack, NaN) count as missing.
Broken JSON gives an empty `Metrics`.
"""

from __future__ import annotations

import json
import math
import re
from enum import Enum
from typing import Any, get_args, get_type_hints

from shared.domain.metrics import CORNER_KEYS, Metrics


class Rule(Enum):
    """How a row's value becomes its field's value. Rows for the same field are tried in the table's order."""

    VALUE = "value"  # the first row present wins
    SUM = "sum"  # every present row adds to the field
    NEGATIVE_PART = "negative part"  # min(0, worst slack): WNS from WS when the run reports only WS
    PERCENT = "percent"  # a fraction, shown in percent
    ZERO_IS_TRUE = "zero is true"  # an error count: 0 errors -> True (e.g. LVS match)


V, SUM, NEG, PCT, ZERO = Rule.VALUE, Rule.SUM, Rule.NEGATIVE_PART, Rule.PERCENT, Rule.ZERO_IS_TRUE

# LibreLane metric name -> Metrics field. Where several rows name one field, the first present wins (SUM: all add).
LIBRELANE_METRICS: tuple[tuple[str, str, Rule], ...] = (
    ("design__instance__count__stdcell", "cell_count", V),
    ("design__instance__count", "cell_count", V),  # synthesis-only runs, and releases before the split
    ("design__instance__area__stdcell", "area_um2", V),
    ("design__instance__area", "area_um2", V),
    ("design__die__area", "die_area_um2", V),
    ("design__core__area", "core_area_um2", V),
    ("design__instance__utilization", "utilization_pct", PCT),
    ("timing__setup__wns", "wns_ns", V),
    ("timing__setup__ws", "wns_ns", NEG),  # older OpenLane 2 releases report only the worst slack
    ("timing__setup__tns", "tns_ns", V),
    ("timing__hold__wns", "hold_wns_ns", V),
    ("timing__hold__ws", "hold_wns_ns", NEG),
    ("timing__hold__tns", "hold_tns_ns", V),
    ("timing__setup_vio__count", "setup_violations", V),
    ("timing__hold_vio__count", "hold_violations", V),
    ("design__max_slew_violation__count", "max_slew_violations", V),
    ("design__max_cap_violation__count", "max_cap_violations", V),
    ("design__max_fanout_violation__count", "max_fanout_violations", V),
    ("power__total", "power_total_w", V),
    ("route__wirelength", "wire_length_um", V),
    ("route__drc_errors", "routing_failures", V),
    ("antenna__violating__nets", "antenna_violating_nets", V),
    ("route__antenna_violation__count", "antenna_violating_nets", V),  # CheckAntennas' own count of nets
    ("antenna__violating__pins", "antenna_violating_pins", V),
    ("magic__drc_error__count", "drc_errors", SUM),
    ("klayout__drc_error__count", "drc_errors", SUM),
    ("design__lvs_error__count", "lvs_match", ZERO),
    ("design__lint_error__count", "lint_errors", V),
    ("design__lint_warning__count", "lint_warnings", V),
    ("design__inferred_latch__count", "inferred_latches", V),
    ("design__instance_unmapped__count", "unmapped_cells", V),
    ("synthesis__check_error__count", "synthesis_check_errors", V),
)

# Per corner: `<name>__corner:<corner>` -> Metrics.corners[<corner>][<key>] (same rules as above).
CORNER_METRICS: tuple[tuple[str, str, Rule], ...] = (
    ("timing__setup__ws", "setup_ws_ns", V),
    ("timing__setup__wns", "setup_wns_ns", V),
    ("timing__setup__ws", "setup_wns_ns", NEG),
    ("timing__setup__tns", "setup_tns_ns", V),
    ("timing__hold__ws", "hold_ws_ns", V),
    ("timing__hold__wns", "hold_wns_ns", V),
    ("timing__hold__ws", "hold_wns_ns", NEG),
    ("timing__hold__tns", "hold_tns_ns", V),
    ("timing__setup_vio__count", "setup_violations", V),
    ("timing__hold_vio__count", "hold_violations", V),
)
CORNER_MODIFIER = "__corner:"
# A corner name becomes a key of a Firestore map: a plain name (no "__x__", which Firestore reserves), few of them.
_CORNER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,63}")
MAX_CORNERS = 32
WORST_SETUP_SLACK = "timing__setup__ws"
CLOCK_PERIOD = "CLOCK_PERIOD"  # resolved.json


def _field_kinds() -> dict[str, type]:
    kinds = {}
    for name, hint in get_type_hints(Metrics).items():
        kinds[name] = next(t for t in get_args(hint) if t is not type(None))
    return kinds


_KINDS = _field_kinds()
_COUNTS = frozenset(name for name, kind in _KINDS.items() if kind is int)
_CORNER_COUNTS = frozenset(k for k in CORNER_KEYS if k.endswith("_violations"))


def parse_librelane_metrics(metrics_text: str | None, resolved_text: str | None = None) -> Metrics:
    """`final/metrics.json` (and `resolved.json` for the clock period) of a LibreLane run as Metrics."""
    metrics = _json_object(metrics_text)
    config = _json_object(resolved_text)
    values = _apply(LIBRELANE_METRICS, metrics, _COUNTS)
    period = _json_number(config.get(CLOCK_PERIOD))
    if period is not None:
        values["clock_period_ns"] = period
    fmax = _fmax_mhz(period, _json_number(metrics.get(WORST_SETUP_SLACK)))
    if fmax is not None:
        values["max_frequency_mhz"] = fmax
    corners = _corners(metrics)
    if corners:
        values["corners"] = corners
    return Metrics(**values)


def _apply(rows: tuple[tuple[str, str, Rule], ...], data: dict[str, Any], counts: frozenset[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, field, rule in rows:
        number = _json_number(data.get(name))
        if number is None:
            continue
        if rule is Rule.SUM:
            values[field] = values.get(field, 0) + round(number)
            continue
        if field in values:
            continue
        if rule is Rule.NEGATIVE_PART:
            number = min(0.0, number)
        elif rule is Rule.PERCENT:
            number = round(number * 100, 6)  # 0.356791 -> 35.6791, not 35.679100000000005
        if rule is Rule.ZERO_IS_TRUE:
            values[field] = round(number) == 0
        elif field in counts:
            values[field] = round(number)
        else:
            values[field] = number
    return values


def _corners(metrics: dict[str, Any]) -> dict[str, dict[str, float]]:
    """{"nom_tt_025C_1v80": {"setup_ws_ns": ..., ...}} from the `...__corner:<name>` metrics."""
    bases = {name for name, _, _ in CORNER_METRICS}
    by_corner: dict[str, dict[str, Any]] = {}
    for key, value in metrics.items():
        base, sep, corner = key.partition(CORNER_MODIFIER)
        if not sep or base not in bases or not _CORNER_NAME.fullmatch(corner):
            continue
        if corner not in by_corner and len(by_corner) >= MAX_CORNERS:
            continue
        by_corner.setdefault(corner, {})[base] = value
    corners = {}
    for corner in sorted(by_corner):
        figures = _apply(CORNER_METRICS, by_corner[corner], _CORNER_COUNTS)
        if figures:
            corners[corner] = {k: figures[k] for k in CORNER_KEYS if k in figures}
    return corners


def _json_object(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # JSONDecodeError, or an integer of more digits than Python converts
        return {}
    return data if isinstance(data, dict) else {}


def _json_number(value: Any) -> float | None:
    # bool is an int in Python but never a metric; "Infinity" (an unconstrained design's slack) is no number.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        return None
    return number if math.isfinite(number) else None


def _fmax_mhz(period_ns: float | None, worst_slack_ns: float | None) -> float | None:
    """The frequency at which the worst setup path just fits: 1 / (period - slack)."""
    if period_ns is None or worst_slack_ns is None or period_ns - worst_slack_ns <= 0:
        return None
    return round(1000.0 / (period_ns - worst_slack_ns), 3)
