"""One normalised set of metrics, whichever flow produced them.

A field is None when the run did not measure it: a synthesis-only flow has no DRC count, no routed wire length and
no power. None is never shown as 0 or as "met"/"clean"; `to_dict()` leaves it out, and the views say "not measured".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class Metrics:
    """Key figures of a finished run. A field is None when the flow did not report it.

    Units are in the names. Areas are µm²; slacks ns (negative = violated); counts are whole numbers.
    """

    cell_count: int | None = None
    # The standard-cell (instance) area: what synthesis or placement gives as the cells' area, not the die.
    area_um2: float | None = None
    wns_ns: float | None = None  # setup: worst negative slack, 0 when met (never positive)
    tns_ns: float | None = None  # setup: total negative slack
    clock_period_ns: float | None = None
    max_frequency_mhz: float | None = None
    drc_errors: int | None = None  # sign-off DRC (Magic + KLayout where both ran)
    lvs_match: bool | None = None
    routing_failures: int | None = None  # DRC violations left by the detailed router
    runtime_s: float | None = None
    peak_memory_mb: float | None = None
    # Floorplan
    die_area_um2: float | None = None
    core_area_um2: float | None = None
    utilization_pct: float | None = None  # instance area / core area, in percent (35.7, not 0.357)
    # Timing beyond setup WNS/TNS (worst over all analysed corners)
    hold_wns_ns: float | None = None
    hold_tns_ns: float | None = None
    setup_violations: int | None = None  # violating setup endpoints
    hold_violations: int | None = None
    max_slew_violations: int | None = None
    max_cap_violations: int | None = None
    max_fanout_violations: int | None = None
    # Per timing corner, e.g. {"nom_tt_025C_1v80": {"setup_ws_ns": 6.25, "hold_wns_ns": 0.0, ...}}; keys in CORNER_KEYS
    corners: dict[str, dict[str, float]] | None = field(default=None, hash=False)
    # Physical verification and routing
    antenna_violating_nets: int | None = None
    antenna_violating_pins: int | None = None
    wire_length_um: float | None = None
    power_total_w: float | None = None  # internal + switching + leakage, in watts
    # Front end
    lint_errors: int | None = None
    lint_warnings: int | None = None
    inferred_latches: int | None = None
    unmapped_cells: int | None = None
    synthesis_check_errors: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Metrics:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def merged(self, other: Metrics) -> Metrics:
        """Fields of `other` win where they are set."""
        return Metrics.from_dict({**self.to_dict(), **other.to_dict()})


# What one corner of `Metrics.corners` may hold: slacks in ns, violation counts.
CORNER_KEYS = (
    "setup_ws_ns",
    "setup_wns_ns",
    "setup_tns_ns",
    "hold_ws_ns",
    "hold_wns_ns",
    "hold_tns_ns",
    "setup_violations",
    "hold_violations",
)

# What a view of a run's metrics always lists: the figures a design is judged by. One the run did not measure
# reads NOT_MEASURED (never 0, "match" or "clean"); other fields are listed only when measured.
KEY_METRICS = (
    "cell_count",
    "area_um2",
    "wns_ns",
    "tns_ns",
    "hold_wns_ns",
    "drc_errors",
    "lvs_match",
    "power_total_w",
    "wire_length_um",
    "utilization_pct",
)
NOT_MEASURED = "not measured"

# Which way each figure is better, for comparing runs (shared/domain/compare.py): "lower" or "higher". The one list
# of metric directions; a sweep's objective says its own sense (minimize/maximize) and Pareto plots put lower-is-better
# on x, higher-is-better on y (area_um2 against wns_ns), both as listed here. Figures without a direction are only
# "equal" or "different": the clock period and the utilisation are the design's choices rather than results, and
# a true/false figure (lvs_match) has no amount.
LOWER_IS_BETTER = "lower"
HIGHER_IS_BETTER = "higher"
BETTER: Mapping[str, str] = MappingProxyType(
    {
        **dict.fromkeys(
            (
                "cell_count",
                "area_um2",
                "drc_errors",
                "routing_failures",
                "runtime_s",
                "peak_memory_mb",
                "die_area_um2",
                "core_area_um2",
                "setup_violations",
                "hold_violations",
                "max_slew_violations",
                "max_cap_violations",
                "max_fanout_violations",
                "antenna_violating_nets",
                "antenna_violating_pins",
                "wire_length_um",
                "power_total_w",
                "lint_errors",
                "lint_warnings",
                "inferred_latches",
                "unmapped_cells",
                "synthesis_check_errors",
            ),
            LOWER_IS_BETTER,
        ),
        **dict.fromkeys(("wns_ns", "tns_ns", "hold_wns_ns", "hold_tns_ns", "max_frequency_mhz"), HIGHER_IS_BETTER),
    }
)
# The same for the figures of one timing corner (CORNER_KEYS): slacks higher, violation counts lower.
CORNER_BETTER: Mapping[str, str] = MappingProxyType(
    {key: LOWER_IS_BETTER if key.endswith("_violations") else HIGHER_IS_BETTER for key in CORNER_KEYS}
)
