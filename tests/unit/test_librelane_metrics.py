"""LibreLane's final/metrics.json as Metrics: the mapping table, and "not measured" is None, never 0.

`fixtures/librelane/classic_metrics.json` is the key set of a full Classic flow run (spm, sky130A, the nine
sky130 STA corners), names as LibreLane writes them: `librelane/common/metrics/library.py`, the steps' own keys
(pyosys, verilator, magic, netgen, klayout, checker), `scripts/openroad/sta/corner.tcl` (the `__corner:<name>`
keys; `aggregate_metrics` adds the worst over corners), OpenROAD's `report_design_area_metrics` (`__stdcell`: the
cells without fill; the instance count and area include the fill cells) and `report_cell_usage` (`__class:*`).
Values are plausible and consistent (the aggregates are the worst of the corners); max_ss has a setup violation,
which the sky130 checker only warns about there.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from olc_cli.render import job_summary, metric_lines, sweep_table
from shared.domain.flows.librelane_metrics import (
    CORNER_METRICS,
    LIBRELANE_METRICS,
    MAX_CORNERS,
    Rule,
    parse_librelane_metrics,
)
from shared.domain.metrics import CORNER_KEYS, KEY_METRICS, NOT_MEASURED, Metrics
from shared.domain.notifications import metric_rows

FIXTURES = Path(__file__).parent / "fixtures"
CLASSIC = (FIXTURES / "librelane" / "classic_metrics.json").read_text()
RESOLVED = json.dumps({"DESIGN_NAME": "spm", "CLOCK_PERIOD": 10})
# A real run of the local front-end flow (LibreLane 3.0.17, synthesis only), verbatim.
FRONT_END = (
    '{"design__lint_error__count": 0, "design__lint_timing_construct__count": 0, "design__lint_warning__count": 0, '
    '"design__inferred_latch__count": 0, "design__instance__count": 254, "design__instance__area": 71700, '
    '"design__instance_unmapped__count": 0, "synthesis__check_error__count": 0}'
)
SKY130_CORNERS = [
    f"{rc}_{pvt}" for rc in ("max", "min", "nom") for pvt in ("ff_n40C_1v95", "ss_100C_1v60", "tt_025C_1v80")
]


def classic(**changes: Any) -> dict[str, Any]:
    """The Classic fixture with some keys changed; a value of None deletes the key."""
    data = json.loads(CLASSIC)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def parse(data: dict[str, Any], resolved: str | None = RESOLVED) -> Metrics:
    return parse_librelane_metrics(json.dumps(data), resolved)


# ------------------------------------------------------------------------------------------- the Classic run
def test_every_field_of_a_full_classic_run() -> None:
    metrics = parse_librelane_metrics(CLASSIC, RESOLVED)
    assert metrics.corners is not None
    assert metrics == Metrics(
        cell_count=545,  # design__instance__count__stdcell: the 1706 instances less the 1161 fill cells
        area_um2=7360.1,  # design__instance__area__stdcell, not the die and not the fill-padded instance area
        wns_ns=-0.2137,
        tns_ns=-1.4821,
        clock_period_ns=10.0,
        max_frequency_mhz=pytest.approx(1000 / 10.2137, abs=1e-3),
        drc_errors=0,
        lvs_match=True,
        routing_failures=0,
        die_area_um2=22692.3,
        core_area_um2=17840.9,
        utilization_pct=41.2541,
        hold_wns_ns=0.0,
        hold_tns_ns=0.0,
        setup_violations=9,
        hold_violations=0,
        max_slew_violations=3,
        max_cap_violations=1,
        max_fanout_violations=0,
        corners=metrics.corners,  # checked below
        antenna_violating_nets=1,
        antenna_violating_pins=2,
        wire_length_um=10902.0,
        power_total_w=0.00137097,
        lint_errors=0,
        lint_warnings=2,
        inferred_latches=0,
        unmapped_cells=0,
        synthesis_check_errors=0,
    )
    assert metrics.runtime_s is None and metrics.peak_memory_mb is None  # the job kit measures these, not LibreLane
    assert isinstance(metrics.cell_count, int) and isinstance(metrics.setup_violations, int)


def test_every_corner_with_its_setup_and_hold_slacks() -> None:
    corners = parse_librelane_metrics(CLASSIC, RESOLVED).corners
    assert corners is not None and sorted(corners) == SKY130_CORNERS
    assert corners["max_ss_100C_1v60"] == {
        "setup_ws_ns": -0.2137,
        "setup_wns_ns": -0.2137,
        "setup_tns_ns": -1.4821,
        "hold_ws_ns": 0.9102,
        "hold_wns_ns": 0.0,
        "hold_tns_ns": 0.0,
        "setup_violations": 9,
        "hold_violations": 0,
    }
    assert corners["min_ff_n40C_1v95"]["hold_ws_ns"] == 0.1167
    assert corners["nom_tt_025C_1v80"]["setup_ws_ns"] == 4.1873
    assert all(list(figures) == list(CORNER_KEYS) for figures in corners.values())


def test_the_worst_corner_is_the_overall_figure() -> None:
    metrics = parse_librelane_metrics(CLASSIC, RESOLVED)
    assert metrics.corners is not None
    assert metrics.wns_ns == min(c["setup_wns_ns"] for c in metrics.corners.values())
    assert metrics.setup_violations == sum(c["setup_violations"] for c in metrics.corners.values())


# --------------------------------------------------------------------------------------- the front-end flow
def test_the_front_end_flow_gives_synthesis_figures_and_nothing_else() -> None:
    metrics = parse_librelane_metrics(FRONT_END, None)
    assert metrics == Metrics(
        cell_count=254,
        area_um2=71700.0,
        lint_errors=0,
        lint_warnings=0,
        inferred_latches=0,
        unmapped_cells=0,
        synthesis_check_errors=0,
    )
    # Placement, routing, timing and sign-off did not run: not measured, not 0 and not "clean".
    for name in ("drc_errors", "lvs_match", "routing_failures", "wns_ns", "die_area_um2", "power_total_w"):
        assert getattr(metrics, name) is None, name
    assert metrics.to_dict() == {
        "cell_count": 254,
        "area_um2": 71700.0,
        "lint_errors": 0,
        "lint_warnings": 0,
        "inferred_latches": 0,
        "unmapped_cells": 0,
        "synthesis_check_errors": 0,
    }


# ------------------------------------------------------------------------------------------ not measured
def test_nothing_reported_is_nothing_measured() -> None:
    assert parse_librelane_metrics("{}", "{}") == Metrics()
    assert parse_librelane_metrics(None, None) == Metrics()
    assert Metrics().to_dict() == {}


@pytest.mark.parametrize("field", sorted({f for _, f, _ in LIBRELANE_METRICS}))
def test_a_field_is_none_without_its_metrics_and_zero_only_when_reported_zero(field: str) -> None:
    names = [name for name, f, _ in LIBRELANE_METRICS if f == field]
    without = parse(classic(**dict.fromkeys(names)))
    assert getattr(without, field) is None
    if field != "wns_ns":  # the one field also derived from another row's metric (fmax), tested below
        assert without.merged(Metrics(**{field: getattr(parse(classic()), field)})) == parse(classic())
    only_zero = parse({names[-1]: 0}, None)
    value = getattr(only_zero, field)
    assert value is not None and value == (True if field == "lvs_match" else 0)


def test_drc_counts_add_up_from_the_checkers_that_ran() -> None:
    assert parse(classic(magic__drc_error__count=4, klayout__drc_error__count=2)).drc_errors == 6
    assert parse(classic(magic__drc_error__count=4, klayout__drc_error__count=None)).drc_errors == 4
    assert parse(classic(magic__drc_error__count=None, klayout__drc_error__count=None)).drc_errors is None


def test_lvs_errors_are_a_mismatch() -> None:
    assert parse(classic(design__lvs_error__count=3)).lvs_match is False
    assert parse(classic(design__lvs_error__count=None)).lvs_match is None


def test_older_releases_report_only_the_worst_slack() -> None:
    data = classic(timing__setup__wns=None, timing__hold__wns=None, timing__setup__ws=-0.8, timing__hold__ws=0.12)
    metrics = parse(data, json.dumps({"CLOCK_PERIOD": 5}))
    assert metrics.wns_ns == -0.8 and metrics.hold_wns_ns == 0.0
    assert metrics.max_frequency_mhz == pytest.approx(1000 / 5.8, abs=1e-3)
    positive = parse(classic(timing__setup__wns=None, timing__setup__ws=4.0312))
    assert positive.wns_ns == 0.0  # a met path has no negative slack
    assert positive.max_frequency_mhz == pytest.approx(1000 / (10 - 4.0312), abs=1e-3)


def test_an_older_release_without_the_stdcell_split() -> None:
    data = classic(design__instance__count__stdcell=None, design__instance__area__stdcell=None)
    metrics = parse(data)
    assert (metrics.cell_count, metrics.area_um2) == (1706, 17840.9)


def test_clock_period_and_fmax_need_resolved_json() -> None:
    metrics = parse(classic(), None)
    assert metrics.clock_period_ns is None and metrics.max_frequency_mhz is None
    assert parse(classic(), '{"CLOCK_PERIOD": "10"}').clock_period_ns is None  # text is no number (as before)
    assert parse(classic(timing__setup__ws=None)).max_frequency_mhz is None


def test_antenna_nets_fall_back_to_the_antenna_check_count() -> None:
    metrics = parse(classic(**{"antenna__violating__nets": None, "route__antenna_violation__count": 5}))
    assert metrics.antenna_violating_nets == 5 and metrics.antenna_violating_pins == 2


# --------------------------------------------------------------------------------------------- odd input
@pytest.mark.parametrize("text", ["", "[]", "{", "null", '"text"', "12", "{" * 100_000, '{"a": ' + "9" * 5000 + "}"])
def test_bad_json_gives_empty_metrics(text: str) -> None:
    assert parse_librelane_metrics(text, text) == Metrics()


@pytest.mark.parametrize(
    "value",
    ["Infinity", "-Infinity", "NaN", '"12"', "true", "false", "null", "[1]", "{}", "1e400", "9" * 400],
)
def test_a_value_that_is_no_finite_number_is_not_measured(value: str) -> None:
    keys = ("design__die__area", "timing__setup__ws", "design__instance__count", "design__lvs_error__count")
    text = "{" + ", ".join(f'"{key}": {value}' for key in keys) + "}"
    metrics = parse_librelane_metrics(text, '{"CLOCK_PERIOD": 10}')
    assert metrics == Metrics(clock_period_ns=10.0)


def test_an_unconstrained_corner_keeps_only_its_finite_figures() -> None:
    text = CLASSIC.replace(
        '"timing__hold__ws__corner:nom_tt_025C_1v80": 0.3312', '"timing__hold__ws__corner:nom_tt_025C_1v80": Infinity'
    )
    corners = parse_librelane_metrics(text, RESOLVED).corners
    assert corners is not None and "hold_ws_ns" not in corners["nom_tt_025C_1v80"]
    assert corners["nom_tt_025C_1v80"]["hold_wns_ns"] == 0.0  # timing__hold__wns__corner is still there
    only_infinite = parse_librelane_metrics('{"timing__setup__ws__corner:typ": Infinity}')
    assert only_infinite.corners is None


def test_corner_names_are_plain_and_few() -> None:
    data = {
        "timing__setup__ws__corner:__name__": 1.0,  # Firestore reserves __x__ keys
        "timing__setup__ws__corner:a.b": 1.0,
        "timing__setup__ws__corner:x\n": 1.0,
        "timing__setup__ws__corner:" + "c" * 65: 1.0,
        "timing__setup__ws__corner:tt__iter:3": 1.0,  # a second modifier
        "timing__setup__ws__corner:": 1.0,
        "clock__skew__worst_hold__corner:tt": 0.1,  # not a figure a corner holds
        "timing__setup__ws__corner:ok-1_tt": 2.5,
    }
    assert parse(data).corners == {"ok-1_tt": {"setup_ws_ns": 2.5, "setup_wns_ns": 0.0}}
    many = {f"timing__setup__ws__corner:c{i:03d}": float(i) for i in range(MAX_CORNERS + 10)}
    corners = parse(many).corners
    assert corners is not None and len(corners) == MAX_CORNERS


# ------------------------------------------------------------------------------------ the table and storage
def test_the_table_names_only_existing_fields_and_corner_keys() -> None:
    names = {f.name for f in fields(Metrics)}
    assert {field for _, field, _ in LIBRELANE_METRICS} <= names
    assert {key for _, key, _ in CORNER_METRICS} == set(CORNER_KEYS)
    for name, _, rule in LIBRELANE_METRICS + CORNER_METRICS:
        assert "__" in name and ":" not in name and isinstance(rule, Rule), name


def test_metrics_round_trip_through_a_stored_document() -> None:
    metrics = parse_librelane_metrics(CLASSIC, RESOLVED)
    stored = json.loads(json.dumps(metrics.to_dict()))  # what Firestore and the API hold
    assert Metrics.from_dict(stored) == metrics
    assert Metrics.from_dict({**stored, "a_field_from_the_future": 1}) == metrics
    assert all(v is not None for v in stored.values())
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in stored.values())
    hash(metrics)  # still usable as a value: the corners map is left out of the hash


def test_merged_keeps_what_each_side_measured() -> None:
    front = parse_librelane_metrics(FRONT_END)
    timing = Metrics(wns_ns=-0.1, corners={"tt": {"setup_ws_ns": -0.1}})
    merged = front.merged(timing)
    assert (merged.cell_count, merged.wns_ns, merged.corners) == (254, -0.1, {"tt": {"setup_ws_ns": -0.1}})
    assert merged.drc_errors is None


# ------------------------------------------------------------------------------- shown to users: not measured
def test_the_mail_says_not_measured_for_a_key_figure_the_run_did_not_produce() -> None:
    rows = dict(metric_rows(parse_librelane_metrics(FRONT_END)))
    assert rows["Cells"] == "254" and rows["Cell area (µm²)"] == "71,700.0" and rows["Lint errors"] == "0"
    for label in ("DRC errors", "LVS", "Worst negative slack (ns)", "Power (mW)", "Wire length (µm)"):
        assert rows[label] == NOT_MEASURED, label
    assert "Die area (µm²)" not in rows  # not a key figure: left out when not measured
    assert len([v for v in rows.values() if v == NOT_MEASURED]) == len(KEY_METRICS) - 2  # all but cells and area


def test_the_mail_of_a_full_run_shows_its_figures() -> None:
    rows = dict(metric_rows(parse_librelane_metrics(CLASSIC, RESOLVED)))
    assert NOT_MEASURED not in rows.values()
    assert (rows["LVS"], rows["DRC errors"], rows["Power (mW)"], rows["Utilization (%)"]) == (
        "match",
        "0",
        "1.371",
        "41.3",
    )
    assert rows["Worst negative slack (ns)"] == "-0.214" and rows["Setup violations"] == "9"


def test_the_mail_lists_no_metrics_when_nothing_was_measured() -> None:
    assert metric_rows(None) == [] and metric_rows(Metrics()) == []
    assert dict(metric_rows(Metrics(drc_errors=3.0)))["DRC errors"] == "3"  # type: ignore[arg-type]


def test_the_cli_says_not_measured_and_shows_corners() -> None:
    lines = metric_lines(parse_librelane_metrics(FRONT_END).to_dict())
    shown = {line.split()[0]: line.split(maxsplit=1)[1] for line in lines}
    assert shown["cell_count"] == "254" and shown["lint_errors"] == "0"
    assert all(shown[key] == NOT_MEASURED for key in KEY_METRICS if key not in ("cell_count", "area_um2"))
    full = metric_lines(json.loads(json.dumps(parse_librelane_metrics(CLASSIC, RESOLVED).to_dict())))
    assert not any(NOT_MEASURED in line for line in full)
    (corner,) = [line for line in full if "max_ss_100C_1v60" in line]
    assert "setup ws -0.2137 wns -0.2137 tns -1.4821 vio 9 | hold ws 0.9102" in corner
    out = io.StringIO()
    job_summary({"id": "j1", "state": "SUCCEEDED", "metrics": {"cell_count": 254}}, out)
    assert "  drc_errors" in out.getvalue() and "lvs_match       not measured" in out.getvalue()


def test_the_cli_sweep_table_tells_not_measured_from_not_run() -> None:
    sweep = {
        "objective": "minimize area_um2",
        "best_run": 0,
        "parameters": {"CLOCK_PERIOD": [8, 9]},
        "runs": [
            {"run": 0, "state": "SUCCEEDED", "settings": {"CLOCK_PERIOD": 8}, "metrics": {"area_um2": 71700.0}},
            {"run": 1, "state": "PENDING", "settings": {"CLOCK_PERIOD": 9}, "metrics": None},
        ],
    }
    out = io.StringIO()
    sweep_table(sweep, out)
    done, pending = out.getvalue().splitlines()[2:]
    assert "71700.0  not measured  not measured  not measured *" in done
    assert pending.endswith("9  -  -  -  -")
