"""Design-space sweeps (shared/domain/sweeps/): parsing OLC_SWEEP, the runs it makes, and judging the results.

The drawing of the Pareto chart is tested with its adapter (test_pareto_plot.py).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.config_schema import SCHEMA
from shared.domain.design import DesignSpec
from shared.domain.metrics import Metrics
from shared.domain.sweeps.errors import SweepError
from shared.domain.sweeps.judging import (
    AREA_AXIS,
    SUCCEEDED,
    Axis,
    RunResult,
    best_run,
    chart_axes,
    pareto_chart,
    pareto_front,
)
from shared.domain.sweeps.objective import (
    DEFAULT_OBJECTIVE,
    NUMERIC_METRICS,
    Constraint,
    Objective,
    feasible,
    parse_constraint,
)
from shared.domain.sweeps.run_settings import apply_run_settings
from shared.domain.sweeps.spec import MAX_VALUES, SweepSpec, parse_sweep, schema_check, sweepable_parameters
from shared.domain.sweeps.table import comparison_table

OPENLANE = sweepable_parameters("openlane1")
GOOD = Metrics(area_um2=1000.0, wns_ns=0.0, drc_errors=0, lvs_match=True)


def parse(value: Any, *, sweepable: Any = OPENLANE, max_runs_allowed: int = 16, seed: str = "job-1") -> SweepSpec:
    return parse_sweep(
        value, sweepable=sweepable, max_runs_allowed=max_runs_allowed, seed=seed, check_value=schema_check
    )


def problems(value: Any, **kwargs: Any) -> tuple[str, ...]:
    with pytest.raises(SweepError) as caught:
        parse(value, **kwargs)
    assert str(caught.value).startswith("config.json: ")
    return caught.value.problems


def one_problem(value: Any, **kwargs: Any) -> str:
    found = problems(value, **kwargs)
    assert len(found) == 1, found
    return found[0]


def anything_goes(names: list[str], values: int) -> dict[str, Any]:
    """A sweep over made-up settings, each with `values` values, checked by nothing."""
    return {name: list(range(values)) for name in names}


def parse_free(parameters: dict[str, Any], seed: str = "job-1", **extra: Any) -> SweepSpec:
    """parse_sweep where every setting of `parameters` may be swept and every value is accepted."""
    return parse_sweep(
        {"parameters": parameters, **extra},
        sweepable=set(parameters),
        max_runs_allowed=extra.get("max_runs", 10_000),
        seed=seed,
        check_value=lambda _name, _value: None,
    )


def result(index: int, state: str = SUCCEEDED, settings: dict[str, Any] | None = None, **metrics: Any) -> RunResult:
    return RunResult(index, settings or {}, state, Metrics(**metrics) if metrics else None)


# ------------------------------------------------------------------------------------------------ the runs
def test_grid_is_the_product_of_the_values_in_declared_order() -> None:
    spec = parse({"parameters": {"PL_TARGET_DENSITY": [0.5, 0.7], "CLOCK_PERIOD": [6, 10, 14]}})
    assert [dict(run) for run in spec.runs] == [
        {"PL_TARGET_DENSITY": 0.5, "CLOCK_PERIOD": 6},
        {"PL_TARGET_DENSITY": 0.5, "CLOCK_PERIOD": 10},
        {"PL_TARGET_DENSITY": 0.5, "CLOCK_PERIOD": 14},
        {"PL_TARGET_DENSITY": 0.7, "CLOCK_PERIOD": 6},
        {"PL_TARGET_DENSITY": 0.7, "CLOCK_PERIOD": 10},
        {"PL_TARGET_DENSITY": 0.7, "CLOCK_PERIOD": 14},
    ]
    assert list(spec.parameters) == ["PL_TARGET_DENSITY", "CLOCK_PERIOD"]
    assert list(spec.runs[0]) == ["PL_TARGET_DENSITY", "CLOCK_PERIOD"]
    assert (spec.strategy, spec.sample_size, spec.grid_size) == ("grid", None, 6)


def test_defaults() -> None:
    spec = parse({"parameters": {"CLOCK_PERIOD": [8, 10]}}, max_runs_allowed=7)
    assert spec.max_runs == 7
    assert spec.strategy == "grid"
    assert spec.objective == DEFAULT_OBJECTIVE
    assert DEFAULT_OBJECTIVE.describe() == "minimize area_um2 subject to wns_ns >= 0, drc_errors == 0, lvs_match"


def test_runs_cannot_be_changed() -> None:
    spec = parse({"parameters": {"CLOCK_PERIOD": [8, 10]}})
    with pytest.raises(TypeError):
        spec.runs[0]["CLOCK_PERIOD"] = 1  # type: ignore[index]


@pytest.mark.parametrize(
    ("name", "span", "expected"),
    [
        ("CLOCK_PERIOD", {"from": 6, "to": 14, "step": 4}, (6, 10, 14)),
        ("CLOCK_PERIOD", {"from": 6, "to": 13, "step": 4}, (6, 10)),
        ("CLOCK_PERIOD", {"from": 6, "to": 6, "step": 1}, (6,)),
        ("CLOCK_PERIOD", {"from": 5, "to": 6, "step": 0.25}, (5.0, 5.25, 5.5, 5.75, 6.0)),
        ("PL_TARGET_DENSITY", {"from": 0.1, "to": 0.5, "step": 0.1}, (0.1, 0.2, 0.3, 0.4, 0.5)),
        ("PL_TARGET_DENSITY", {"from": 0.1, "to": 1, "step": 0.1}, tuple(round(0.1 * i, 1) for i in range(1, 11))),
        ("GRT_ADJUSTMENT", {"from": 0.05, "to": 0.3, "step": 0.05}, (0.05, 0.1, 0.15, 0.2, 0.25, 0.3)),
        ("SYNTH_MAX_FANOUT", {"from": 4, "to": 20, "step": 8}, (4, 12, 20)),
    ],
)
def test_ranges_give_clean_values(name: str, span: dict[str, Any], expected: tuple[Any, ...]) -> None:
    values = parse({"parameters": {name: span}}).parameters[name]
    assert values == expected
    assert [type(v) for v in values] == [type(v) for v in expected]  # whole steps stay whole numbers
    assert all(len(repr(v)) <= 5 for v in values)  # no 0.30000000000000004


@settings(max_examples=200, deadline=None)
@given(st.integers(-500, 500), st.integers(1, 50), st.integers(0, MAX_VALUES - 1), st.sampled_from([1, 2, 3]))
def test_decimal_ranges_are_exact(start: int, step: int, steps: int, decimals: int) -> None:
    scale = 10**decimals
    span = {"from": start / scale, "to": (start + step * steps) / scale, "step": step / scale}
    values = parse_free({"X": span}).parameters["X"]
    assert values == tuple(round((start + step * i) / scale, decimals) for i in range(steps + 1))


def test_random_sample_is_deterministic_bounded_and_in_grid_order() -> None:
    parameters = {"PL_TARGET_DENSITY": [0.4, 0.5, 0.6, 0.7], "CLOCK_PERIOD": [6, 8, 10, 12, 14]}
    value = {"parameters": parameters, "strategy": {"random": 5}}
    spec = parse(value, seed="job-7")
    grid = [dict(zip(parameters, combo, strict=True)) for combo in itertools.product(*parameters.values())]
    runs = [dict(run) for run in spec.runs]
    assert (spec.strategy, spec.sample_size, len(runs)) == ("random", 5, 5)
    assert all(run in grid for run in runs)
    assert sorted(runs, key=grid.index) == runs
    assert len({tuple(run.values()) for run in runs}) == 5
    assert parse(value, seed="job-7").runs == spec.runs
    assert any(parse(value, seed=f"job-{n}").runs != spec.runs for n in range(8, 12))


def test_random_sample_of_the_whole_grid_is_the_grid() -> None:
    grid = parse({"parameters": {"CLOCK_PERIOD": [6, 8, 10]}})
    sample = parse({"parameters": {"CLOCK_PERIOD": [6, 8, 10]}, "strategy": {"random": 3}})
    assert sample.runs == grid.runs


def test_random_sample_of_a_huge_grid_does_not_build_the_grid() -> None:
    names = [f"P{i}" for i in range(9)]
    spec = parse_free(anything_goes(names, 20), strategy={"random": 12}, max_runs=12)
    assert spec.grid_size == 20**9
    assert len(spec.runs) == 12
    assert all(list(run) == names for run in spec.runs)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=4), st.data())
def test_random_sample_is_a_subset_of_the_grid(sizes: list[int], data: st.DataObject) -> None:
    parameters = {f"P{i}": [f"{i}-{v}" for v in range(size)] for i, size in enumerate(sizes)}
    grid = [dict(zip(parameters, combo, strict=True)) for combo in itertools.product(*parameters.values())]
    count = data.draw(st.integers(1, len(grid)))
    seed = data.draw(st.text(max_size=10))
    spec = parse_free(parameters, strategy={"random": count}, seed=seed)
    runs = [dict(run) for run in spec.runs]
    positions = [grid.index(run) for run in runs]
    assert len(runs) == count
    assert positions == sorted(set(positions))


# ------------------------------------------------------------------------------------------------ problems
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([1, 2], "OLC_SWEEP must be an object like"),
        ({}, "OLC_SWEEP.parameters is missing"),
        ({"parameters": {}}, "OLC_SWEEP.parameters must be an object of settings"),
        ({"parameters": [["CLOCK_PERIOD", 1]]}, "OLC_SWEEP.parameters must be an object of settings"),
        ({"parameters": {"CLOCK_PERIOD": [8]}, "stratgy": "grid"}, "unknown key 'stratgy': did you mean 'strategy'?"),
        ({"parameters": {"CLOCK_PERIOD": [8]}, "zzz": 1}, "unknown key 'zzz': the keys are parameters, strategy"),
        ({"parameters": {"CLOCK_PERIODE": [8]}}, "'CLOCK_PERIODE' is not a setting this flow can sweep: did you mean"),
        ({"parameters": {"DIE_AREA": ["0 0 10 10"]}}, "'DIE_AREA' is not a setting this flow can sweep; it can sweep"),
        ({"parameters": {"CLOCK_PERIOD": 10}}, "OLC_SWEEP.parameters.CLOCK_PERIOD must be a list of values"),
        ({"parameters": {"CLOCK_PERIOD": []}}, "lists 0 values; a parameter takes 1 to 20 values"),
        ({"parameters": {"CLOCK_PERIOD": list(range(1, 22))}}, "lists 21 values; a parameter takes 1 to 20 values"),
        ({"parameters": {"CLOCK_PERIOD": [[8, 9]]}}, "value [8, 9] must be a number, text or true/false"),
        ({"parameters": {"CLOCK_PERIOD": [{"a": 1}]}}, "must be a number, text or true/false"),
        ({"parameters": {"CLOCK_PERIOD": [None]}}, "value None must be a number, text or true/false"),
        ({"parameters": {"CLOCK_PERIOD": [8, 10, 8]}}, "lists 8 more than once"),
        ({"parameters": {"CLOCK_PERIOD": [0]}}, "OLC_SWEEP: CLOCK_PERIOD 0 must be a number from 0.01 to 1000000 ns"),
        ({"parameters": {"PL_TARGET_DENSITY": [1.5, 2, 3]}}, "PL_TARGET_DENSITY 1.5 must be a number from 0.01 to 1"),
        ({"parameters": {"SYNTH_STRATEGY": ["AREA 9"]}}, "SYNTH_STRATEGY 'AREA 9' is not accepted; choose one of"),
        ({"parameters": {"SYNTH_MAX_FANOUT": [2.5]}}, "SYNTH_MAX_FANOUT 2.5 must be a whole number from 1 to 1000"),
        ({"parameters": {"CLOCK_PERIOD": {"from": 6, "to": 14}}}, 'range must have the numbers "from", "to" and'),
        ({"parameters": {"CLOCK_PERIOD": {"from": 6, "to": 9, "step": 1, "x": 1}}}, "and nothing else"),
        ({"parameters": {"CLOCK_PERIOD": {"from": "6", "to": 9, "step": 1}}}, 'range must have the numbers "from"'),
        ({"parameters": {"CLOCK_PERIOD": {"from": 6, "to": 9, "step": True}}}, 'range must have the numbers "from"'),
        ({"parameters": {"CLOCK_PERIOD": {"from": 6, "to": 14, "step": 0}}}, '"step" must be greater than 0'),
        ({"parameters": {"CLOCK_PERIOD": {"from": 6, "to": 14, "step": -2}}}, '"step" must be greater than 0'),
        ({"parameters": {"CLOCK_PERIOD": {"from": 14, "to": 6, "step": 2}}}, '"from" must not be greater than "to"'),
        (
            {"parameters": {"CLOCK_PERIOD": {"from": 1, "to": 10, "step": 0.01}}},
            "range from 1 to 10 step 0.01 makes 901 values; a parameter takes at most 20",
        ),
        ({"parameters": {"CLOCK_PERIOD": [8]}, "strategy": "all"}, "strategy 'all' must be \"grid\""),
        ({"parameters": {"CLOCK_PERIOD": [8]}, "strategy": {"random": 0}}, "whole number of runs, at least 1"),
        ({"parameters": {"CLOCK_PERIOD": [8]}, "strategy": {"random": 1.5}}, "whole number of runs, at least 1"),
        ({"parameters": {"CLOCK_PERIOD": [8]}, "strategy": {"random": 1, "seed": 2}}, 'must be "grid"'),
        ({"parameters": {"CLOCK_PERIOD": [8, 9]}, "strategy": {"random": 3}}, "but the parameters make only 2"),
        ({"parameters": {"CLOCK_PERIOD": [8]}, "strategy": {"random": 17}}, "17 random runs, more than the limit of"),
        ({"parameters": {"CLOCK_PERIOD": [8]}, "max_runs": 0}, "max_runs 0 must be a whole number from 1 to 16"),
        ({"parameters": {"CLOCK_PERIOD": [8]}, "max_runs": 17}, "max_runs 17 must be a whole number from 1 to 16"),
        ({"parameters": {"CLOCK_PERIOD": [8]}, "max_runs": True}, "max_runs True must be a whole number"),
        ({"parameters": {"CLOCK_PERIOD": [8]}, "objective": "area"}, "OLC_SWEEP.objective must be an object like"),
        ({"parameters": {"CLOCK_PERIOD": [8]}, "objective": {}}, 'exactly one of "minimize" or "maximize"'),
        (
            {"parameters": {"CLOCK_PERIOD": [8]}, "objective": {"minimize": "area_um2", "maximize": "wns_ns"}},
            'exactly one of "minimize" or "maximize"',
        ),
        ({"parameters": {"CLOCK_PERIOD": [8]}, "objective": {"minimize": "area"}}, "did you mean area_um2?"),
        ({"parameters": {"CLOCK_PERIOD": [8]}, "objective": {"minimize": "zzz"}}, "is not a metric; the metrics are"),
        ({"parameters": {"CLOCK_PERIOD": [8]}, "objective": {"maximize": 3}}, "3 is not a metric"),
        (
            {"parameters": {"CLOCK_PERIOD": [8]}, "objective": {"maximize": "lvs_match"}},
            "cannot maximize lvs_match: it is true or false",
        ),
        (
            {"parameters": {"CLOCK_PERIOD": [8]}, "objective": {"minimize": "area_um2", "subjet_to": []}},
            "unknown key 'subjet_to': did you mean 'subject_to'?",
        ),
        (
            {"parameters": {"CLOCK_PERIOD": [8]}, "objective": {"minimize": "area_um2", "subject_to": "wns_ns >= 0"}},
            "subject_to must be a list of conditions",
        ),
        (
            {"parameters": {"CLOCK_PERIOD": [8]}, "objective": {"minimize": "area_um2", "subject_to": ["x"] * 21}},
            "subject_to has 21 conditions; at most 20",
        ),
        (
            {"parameters": {"CLOCK_PERIOD": [8]}, "objective": {"minimize": "area_um2", "subject_to": ["wns => 0"]}},
            "'wns => 0' is not a condition: write a metric, an operator",
        ),
    ],
)
def test_each_problem_is_explained(value: Any, expected: str) -> None:
    assert expected in one_problem(value)


def test_a_flow_that_cannot_sweep() -> None:
    assert "this flow cannot sweep any setting" in one_problem({"parameters": {"CLOCK_PERIOD": [8]}}, sweepable=())


def test_only_the_first_bad_value_of_a_parameter_is_spelled_out() -> None:
    found = one_problem({"parameters": {"PL_TARGET_DENSITY": [1.5, 0.5, 2, 3]}})
    assert found == "OLC_SWEEP: PL_TARGET_DENSITY 1.5 must be a number from 0.01 to 1 (and 2 more of its values)"


def test_a_grid_over_the_limit_says_how_many_runs_it_would_make() -> None:
    value = {
        "parameters": {
            "CLOCK_PERIOD": [6, 8, 10],
            "PL_TARGET_DENSITY": [0.5, 0.6],
            "SYNTH_STRATEGY": ["AREA 0", "AREA 1"],
        },
        "max_runs": 10,
    }
    assert one_problem(value) == (
        "OLC_SWEEP would make 12 runs (3 CLOCK_PERIOD values x 2 PL_TARGET_DENSITY values x 2 SYNTH_STRATEGY values), "
        "more than max_runs 10: raise max_runs (up to 16), list fewer values, "
        'or run a sample of them with "strategy": {"random": 10}'
    )
    del value["max_runs"]
    found = one_problem(value, max_runs_allowed=8)
    assert "would make 12 runs" in found
    assert "more than the limit of 8 runs per sweep: list fewer values" in found


def test_every_problem_is_reported_at_once() -> None:
    value = {
        "parameters": {"CLOCK_PERIODE": [8], "PL_TARGET_DENSITY": [2], "FP_CORE_UTIL": []},
        "strategy": "every",
        "max_runs": 99,
        "objective": {"minimize": "lvs_match", "subject_to": ["wns_ns >= fast"]},
        "extra": True,
    }
    found = problems(value)
    assert len(found) == 8, found
    expected = [
        "unknown key 'extra'",
        "'CLOCK_PERIODE' is not a setting this flow can sweep: did you mean CLOCK_PERIOD?",
        "PL_TARGET_DENSITY 2 must be a number from 0.01 to 1",
        "FP_CORE_UTIL lists 0 values",
        "max_runs 99 must be",
        "strategy 'every' must be",
        "cannot minimize lvs_match",
        "'wns_ns >= fast' must compare wns_ns with a number",
    ]
    for text, problem in zip(expected, found, strict=True):
        assert text in problem


def test_too_many_problems_are_counted() -> None:
    found = problems({"parameters": {f"NOPE_{i}": [1] for i in range(30)}})
    assert len(found) == 21
    assert found[-1] == "and 10 more problems"


# ------------------------------------------------------------------------------------------------ objective
@pytest.mark.parametrize(
    ("text", "expected", "canonical"),
    [
        ("wns_ns >= 0", Constraint("wns_ns", ">=", 0.0), "wns_ns >= 0"),
        ("  wns_ns>=-0.25 ", Constraint("wns_ns", ">=", -0.25), "wns_ns >= -0.25"),
        ("drc_errors == 0", Constraint("drc_errors", "==", 0.0), "drc_errors == 0"),
        ("routing_failures != 1", Constraint("routing_failures", "!=", 1.0), "routing_failures != 1"),
        ("area_um2 < 1.5e4", Constraint("area_um2", "<", 15000.0), "area_um2 < 15000"),
        ("max_frequency_mhz > 100", Constraint("max_frequency_mhz", ">", 100.0), "max_frequency_mhz > 100"),
        ("cell_count <= 2000", Constraint("cell_count", "<=", 2000.0), "cell_count <= 2000"),
        ("lvs_match", Constraint("lvs_match", "==", True), "lvs_match"),
        ("lvs_match == false", Constraint("lvs_match", "==", False), "lvs_match == false"),
        ("lvs_match != true", Constraint("lvs_match", "!=", True), "lvs_match != true"),
    ],
)
def test_constraints_are_parsed(text: str, expected: Constraint, canonical: str) -> None:
    constraint = parse_constraint(text)
    assert constraint == expected
    assert str(constraint) == canonical
    assert parse_constraint(str(constraint)) == constraint


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("wns", "'wns' is not a metric: did you mean wns_ns?"),
        ("wns_ns", 'wns_ns is a number; compare it with one, e.g. "wns_ns >= 0"'),
        ("slack >= 0", "'slack' is not a metric"),
        ("wns_ns = 0", "is not a condition"),
        ("wns_ns >= 0 and drc_errors == 0", "must compare wns_ns with a number"),
        ("wns_ns >= nan", "must compare wns_ns with a number"),
        ("lvs_match >= 1", 'lvs_match is true or false; write "lvs_match" or "lvs_match == false"'),
        ("0 <= wns_ns", "is not a condition"),
        ("", "is not a condition"),
        ("x" * 300, "is not a condition like"),
    ],
)
def test_bad_constraints_are_explained(text: str, expected: str) -> None:
    with pytest.raises(SweepError) as caught:
        parse_constraint(text)
    assert expected in caught.value.problems[0]


def test_non_text_constraint() -> None:
    value = {"parameters": {"CLOCK_PERIOD": [8]}, "objective": {"minimize": "area_um2", "subject_to": [0]}}
    assert "0 is not a condition" in one_problem(value)


def test_objective_as_declared() -> None:
    objective = {"maximize": "max_frequency_mhz", "subject_to": ["drc_errors == 0", "lvs_match"]}
    spec = parse({"parameters": {"CLOCK_PERIOD": [8]}, "objective": objective})
    assert spec.objective == Objective(
        "maximize", "max_frequency_mhz", (Constraint("drc_errors", "==", 0.0), Constraint("lvs_match", "==", True))
    )
    assert spec.objective.to_dict() == objective


def test_subject_to_defaults_to_a_working_chip_and_can_be_emptied() -> None:
    spec = parse({"parameters": {"CLOCK_PERIOD": [8]}, "objective": {"minimize": "cell_count"}})
    assert spec.objective.constraints == DEFAULT_OBJECTIVE.constraints
    spec = parse({"parameters": {"CLOCK_PERIOD": [8]}, "objective": {"minimize": "cell_count", "subject_to": []}})
    assert spec.objective.constraints == ()
    assert feasible(spec.objective, Metrics())


def test_feasible() -> None:
    objective = DEFAULT_OBJECTIVE
    assert feasible(objective, GOOD)
    assert feasible(objective, Metrics(wns_ns=0.5, drc_errors=0, lvs_match=True))
    assert not feasible(objective, Metrics(wns_ns=-0.01, drc_errors=0, lvs_match=True))
    assert not feasible(objective, Metrics(wns_ns=0.0, drc_errors=1, lvs_match=True))
    assert not feasible(objective, Metrics(wns_ns=0.0, drc_errors=0, lvs_match=False))
    assert not feasible(objective, Metrics(wns_ns=0.0, drc_errors=0))  # LVS never ran: not known to match
    assert not feasible(objective, Metrics(wns_ns=math.nan, drc_errors=0, lvs_match=True))
    assert feasible(
        Objective("minimize", "area_um2", (parse_constraint("lvs_match == false"),)), Metrics(lvs_match=False)
    )


# ------------------------------------------------------------------------------------------------ judging
def spec_of(count: int, objective: Objective = DEFAULT_OBJECTIVE) -> SweepSpec:
    runs = tuple({"CLOCK_PERIOD": 5 + i} for i in range(count))
    return SweepSpec(
        parameters={"CLOCK_PERIOD": tuple(5 + i for i in range(count))},
        strategy="grid",
        sample_size=None,
        objective=objective,
        max_runs=max(count, 1),
        seed="job-1",
        runs=runs,
    )


def test_best_run_skips_failed_infeasible_and_unmeasured_runs() -> None:
    feasible_metrics = {"wns_ns": 0.0, "drc_errors": 0, "lvs_match": True}
    results = [
        result(0, area_um2=900.0, **feasible_metrics),
        RunResult(1, {}, "FAILED", Metrics(area_um2=10.0, **feasible_metrics), "routing failed"),
        result(2, area_um2=20.0, wns_ns=-0.5, drc_errors=0, lvs_match=True),
        result(3, area_um2=30.0, wns_ns=0.0, drc_errors=2, lvs_match=True),
        result(4, **feasible_metrics),  # no area
        result(5, "TIMEOUT"),
        result(6, area_um2=800.0, **feasible_metrics),
        result(7, area_um2=850.0, **feasible_metrics),
    ]
    assert best_run(spec_of(8), results) == 6
    assert best_run(spec_of(8), list(reversed(results))) == 6
    assert best_run(spec_of(8), results[1:6]) is None
    assert best_run(spec_of(8), []) is None


def test_best_run_ties_go_to_the_lower_index_and_maximize_works() -> None:
    results = [
        result(i, area_um2=a, max_frequency_mhz=f) for i, (a, f) in enumerate([(5.0, 90.0), (3.0, 120.0), (3.0, 120.0)])
    ]
    assert best_run(spec_of(3, Objective("minimize", "area_um2")), list(reversed(results))) == 1
    assert best_run(spec_of(3, Objective("maximize", "max_frequency_mhz")), results) == 1
    assert best_run(spec_of(3, Objective("maximize", "area_um2")), results) == 0


run_metrics = st.builds(
    Metrics,
    area_um2=st.one_of(st.none(), st.floats(0, 1e6)),
    wns_ns=st.one_of(st.none(), st.floats(-5, 1)),
    drc_errors=st.one_of(st.none(), st.integers(0, 3)),
    lvs_match=st.one_of(st.none(), st.booleans()),
)
run_states = st.sampled_from([SUCCEEDED, SUCCEEDED, SUCCEEDED, "FAILED", "TIMEOUT", "RUNNING"])


@st.composite
def run_results(draw: st.DrawFn) -> list[RunResult]:
    count = draw(st.integers(0, 12))
    return [RunResult(i, {}, draw(run_states), draw(st.one_of(st.none(), run_metrics))) for i in range(count)]


@settings(max_examples=300, deadline=None)
@given(run_results(), st.sampled_from(["minimize", "maximize"]))
def test_no_feasible_run_beats_the_best(results: list[RunResult], sense: str) -> None:
    objective = Objective(sense, "area_um2", DEFAULT_OBJECTIVE.constraints)  # type: ignore[arg-type]
    best = best_run(spec_of(len(results), objective), results)
    eligible = [
        r
        for r in results
        if r.state == SUCCEEDED
        and r.metrics is not None
        and r.metrics.area_um2 is not None
        and feasible(objective, r.metrics)
    ]
    if best is None:
        assert not eligible
        return
    winner = results[best]
    assert winner in eligible
    assert winner.metrics is not None and winner.metrics.area_um2 is not None
    for other in eligible:
        assert other.metrics is not None and other.metrics.area_um2 is not None
        if sense == "minimize":
            assert other.metrics.area_um2 > winner.metrics.area_um2 or (
                other.metrics.area_um2 == winner.metrics.area_um2 and other.index >= best
            )
        else:
            assert other.metrics.area_um2 < winner.metrics.area_um2 or (
                other.metrics.area_um2 == winner.metrics.area_um2 and other.index >= best
            )


def test_pareto_front() -> None:
    results = [
        result(0, area_um2=100.0, wns_ns=-1.0),  # front: smallest
        result(1, area_um2=200.0, wns_ns=-0.5),  # front
        result(2, area_um2=250.0, wns_ns=-0.7),  # beaten by 1
        result(3, area_um2=300.0, wns_ns=0.0),  # front: best slack
        result(4, area_um2=400.0, wns_ns=0.0),  # beaten by 3
        RunResult(5, {}, "FAILED", Metrics(area_um2=1.0, wns_ns=5.0)),  # would beat all, but failed
        result(6, area_um2=50.0),  # no slack
        result(7, area_um2=200.0, wns_ns=-0.5),  # the same as 1: neither beats the other
    ]
    assert pareto_front(results) == [0, 1, 7, 3]
    assert pareto_front([]) == []
    area_up = Axis("area_um2", "maximize")
    assert pareto_front(results, AREA_AXIS, area_up) == [6, 0, 1, 7, 2, 3, 4]  # x against -x: none is beaten
    # Both lower-is-better: run 0 has both the smallest area and the lowest slack figure, and beats every other.
    assert pareto_front(results, AREA_AXIS, Axis("wns_ns", "minimize")) == [0]
    with pytest.raises(ValueError, match="not a numeric metric"):
        pareto_front(results, y=Axis("lvs_match", "maximize"))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(-10, 0)), max_size=15))
def test_pareto_front_is_exactly_the_unbeaten_runs(points: list[tuple[int, int]]) -> None:
    results = [result(i, area_um2=float(x), wns_ns=float(y)) for i, (x, y) in enumerate(points)]
    front = pareto_front(results)

    def beaten(i: int) -> bool:
        x, y = points[i]
        return any(ox <= x and oy >= y and (ox, oy) != (x, y) for ox, oy in points)

    assert set(front) == {i for i in range(len(points)) if not beaten(i)}
    assert [points[i][0] for i in front] == sorted(points[i][0] for i in front)


def test_pareto_chart_is_what_the_plot_shows() -> None:
    spec = spec_of(6)
    ok = {"drc_errors": 0, "lvs_match": True}
    results = [
        result(0, area_um2=100.0, wns_ns=-1.0, **ok),  # infeasible: negative slack
        result(1, area_um2=200.0, wns_ns=0.0, **ok),
        RunResult(2, {}, "FAILED", None, "boom"),
        result(3, area_um2=50.0),  # no slack: not plotted
        result(4, area_um2=1e31, wns_ns=0.0, **ok),  # beyond any real design: not plotted
    ]
    best = best_run(spec, results)
    front = pareto_front(results)
    chart = pareto_chart(spec, results, best, front)
    assert (chart.x, chart.y, chart.objective, chart.best, chart.front) == (
        "area_um2",
        "wns_ns",
        spec.objective,
        1,
        (0, 1),
    )
    assert [(p.index, p.x, p.y, p.feasible) for p in chart.points] == [(0, 100.0, -1.0, False), (1, 200.0, 0.0, True)]
    assert chart.best_plotted
    assert (chart.spec_runs, chart.listed_runs) == (6, 6)
    assert chart.not_plotted == (("failed", 1), ("pending", 1))
    assert chart.unmeasured == 2
    with pytest.raises(ValueError, match="not a numeric metric"):
        pareto_chart(spec, results, best, front, y=Axis("lvs_match", "maximize"))


# ------------------------------------------------------------------------------------------------ the table
def table_inputs() -> tuple[SweepSpec, list[RunResult]]:
    spec = parse({"parameters": {"PL_TARGET_DENSITY": [0.5, 0.7], "CLOCK_PERIOD": [8, 12]}})
    runs = spec.runs
    results = [
        RunResult(0, runs[0], SUCCEEDED, Metrics(area_um2=1200.5, wns_ns=-0.25, drc_errors=0, lvs_match=True)),
        RunResult(1, runs[1], SUCCEEDED, Metrics(area_um2=1100.0, wns_ns=0.0, drc_errors=0, lvs_match=True)),
        RunResult(2, runs[2], "FAILED", None, "routing failed: 3 nets"),
    ]
    return spec, results


HEADER = [
    "run",
    "state",
    "PL_TARGET_DENSITY",
    "CLOCK_PERIOD",
    "area_um2",
    "wns_ns",
    "drc_errors",
    "lvs_match",
    "feasible",
    "best",
]


def test_comparison_table_csv() -> None:
    spec, results = table_inputs()
    text, _ = comparison_table(spec, results, best=1)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        HEADER,
        ["0", "SUCCEEDED", "0.5", "8", "1200.5", "-0.25", "0", "true", "false", "false"],
        ["1", "SUCCEEDED", "0.5", "12", "1100", "0", "0", "true", "true", "true"],
        ["2", "FAILED", "0.7", "8", "", "", "", "", "false", "false"],
        ["3", "PENDING", "0.7", "12", "", "", "", "", "false", "false"],
    ]


def test_comparison_table_json() -> None:
    spec, results = table_inputs()
    _, data = comparison_table(spec, list(reversed(results)), best=1)
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data["parameters"] == [
        {"name": "PL_TARGET_DENSITY", "values": [0.5, 0.7]},
        {"name": "CLOCK_PERIOD", "values": [8, 12]},
    ]
    assert data["objective"] == {"minimize": "area_um2", "subject_to": ["wns_ns >= 0", "drc_errors == 0", "lvs_match"]}
    assert data["best_run"] == 1
    assert [run["run"] for run in data["runs"]] == [0, 1, 2, 3]
    assert data["runs"][1] == {
        "run": 1,
        "state": "SUCCEEDED",
        "settings": {"PL_TARGET_DENSITY": 0.5, "CLOCK_PERIOD": 12},
        "metrics": {"area_um2": 1100.0, "wns_ns": 0.0, "drc_errors": 0, "lvs_match": True},
        "feasible": True,
        "best": True,
        "error": None,
    }
    assert data["runs"][2]["error"] == "routing failed: 3 nets"
    assert (data["runs"][2]["metrics"], data["runs"][3]["state"]) == ({}, "PENDING")


def test_comparison_table_drops_values_that_are_not_json() -> None:
    spec = spec_of(1)
    text, data = comparison_table(spec, [result(0, area_um2=math.inf, wns_ns=-0.5)], best=None)
    assert data["runs"][0]["metrics"] == {"wns_ns": -0.5}
    assert text.splitlines()[0] == "run,state,CLOCK_PERIOD,area_um2,wns_ns,feasible,best"
    json.dumps(data, allow_nan=False)


# ------------------------------------------------------------------------------------------------ settings
DESIGN = DesignSpec(
    design_name="spm",
    top_module="spm",
    verilog_files=("src/spm.v",),
    clock_port="clk",
    clock_period_ns=10.0,
    flow="openlane1",
    flow_variables={"DESIGN_NAME": "spm", "CLOCK_PERIOD": 10, "FP_CORE_UTIL": 40, "OLC_SWEEP": {"parameters": {}}},
)


def test_apply_run_settings() -> None:
    run = apply_run_settings(DESIGN, {"CLOCK_PERIOD": 12, "PL_TARGET_DENSITY": 0.6})
    assert run.clock_period_ns == 12.0
    assert run.flow_variables == {
        "DESIGN_NAME": "spm",
        "CLOCK_PERIOD": 12,
        "FP_CORE_UTIL": 40,
        "PL_TARGET_DENSITY": 0.6,
    }
    assert (run.design_name, run.verilog_files, run.flow) == (DESIGN.design_name, DESIGN.verilog_files, DESIGN.flow)
    # The design itself is untouched.
    assert DESIGN.clock_period_ns == 10.0
    assert DESIGN.flow_variables["CLOCK_PERIOD"] == 10
    assert "PL_TARGET_DENSITY" not in DESIGN.flow_variables


def test_apply_run_settings_without_a_clock() -> None:
    run = apply_run_settings(DESIGN, {"FP_CORE_UTIL": 55})
    assert run.clock_period_ns == 10.0
    assert run.flow_variables["FP_CORE_UTIL"] == 55
    assert run.flow_variables is not DESIGN.flow_variables


def test_apply_run_settings_reads_a_period_written_as_text() -> None:
    assert apply_run_settings(DESIGN, {"CLOCK_PERIOD": "12.5"}).clock_period_ns == 12.5
    with pytest.raises(ValueError, match="not a number of nanoseconds"):
        apply_run_settings(DESIGN, {"CLOCK_PERIOD": True})


def test_every_run_of_a_spec_applies() -> None:
    spec = parse({"parameters": {"CLOCK_PERIOD": {"from": 6, "to": 14, "step": 4}}})
    assert [apply_run_settings(DESIGN, run).clock_period_ns for run in spec.runs] == [6.0, 10.0, 14.0]


# ------------------------------------------------------------------------------------------------ storage
def no_list_in_a_list(value: Any, inside_list: bool = False) -> bool:
    """Firestore stores no array directly inside an array."""
    if isinstance(value, list):
        return not inside_list and all(no_list_in_a_list(v, True) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and no_list_in_a_list(v) for k, v in value.items())
    return value is None or isinstance(value, str | int | float | bool)


@pytest.mark.parametrize(
    "value",
    [
        {"parameters": {"PL_TARGET_DENSITY": [0.5, 0.7], "CLOCK_PERIOD": {"from": 6, "to": 14, "step": 4}}},
        {
            "parameters": {"SYNTH_STRATEGY": ["AREA 0", "DELAY 1", "DELAY 3"], "FP_CORE_UTIL": [30, 40, 50, 60]},
            "strategy": {"random": 5},
            "objective": {"maximize": "max_frequency_mhz", "subject_to": ["drc_errors == 0", "lvs_match != true"]},
            "max_runs": 6,
        },
    ],
)
def test_spec_round_trips_through_json(value: dict[str, Any]) -> None:
    spec = parse(value)
    stored = json.loads(json.dumps(spec.to_dict(), allow_nan=False))
    assert no_list_in_a_list(stored)
    again = SweepSpec.from_dict(stored)
    assert again == spec
    assert again.to_dict() == spec.to_dict()
    assert [dict(run) for run in again.runs] == [dict(run) for run in spec.runs]


@pytest.mark.parametrize(
    "broken",
    [
        {},
        {"version": 2},
        {"version": 1, "parameters": []},
        {"version": 1, "parameters": [], "strategy": "all", "sample_size": None, "objective": {}, "max_runs": 1},
    ],
)
def test_broken_stored_spec(broken: dict[str, Any]) -> None:
    spec = parse({"parameters": {"CLOCK_PERIOD": [8]}}).to_dict()
    with pytest.raises(ValueError):
        SweepSpec.from_dict(broken)
    with pytest.raises(ValueError):
        SweepSpec.from_dict({**spec, "objective": {"minimize": "lvs_match"}})


def test_run_result_round_trips() -> None:
    run = RunResult(3, {"CLOCK_PERIOD": 8}, "FAILED", Metrics(area_um2=5.0, lvs_match=False), "LVS mismatch")
    assert RunResult.from_dict(json.loads(json.dumps(run.to_dict()))) == run
    pending = RunResult(4, {}, "PENDING")
    assert RunResult.from_dict(pending.to_dict()) == pending


# ------------------------------------------------------------------------------------------------ flows
def test_sweepable_parameters() -> None:
    assert sweepable_parameters("qflow-osu035") == {"CLOCK_PERIOD", "PL_TARGET_DENSITY"}
    assert sweepable_parameters("yosys-osu035") == {"CLOCK_PERIOD", "SYNTH_MAX_FANOUT"}
    assert sweepable_parameters("openlane1") == sweepable_parameters("librelane")
    assert "GRT_ADJUSTMENT" in sweepable_parameters("openlane1")
    assert sweepable_parameters("no-such-flow") == frozenset()
    for flow in ("qflow-osu035", "yosys-osu035", "openlane1", "librelane", "openlane2"):
        assert sweepable_parameters(flow) <= set(SCHEMA), flow
        # A swept setting is one value; paths and lists are not swept.
        assert all(SCHEMA[name].kind in ("number", "int", "choice") for name in sweepable_parameters(flow))


def test_schema_check() -> None:
    assert schema_check("CLOCK_PERIOD", 8) is None
    assert schema_check("CLOCK_PERIOD", "8") is None
    assert schema_check("CLOCK_PERIOD", -1) == "CLOCK_PERIOD -1 must be a number from 0.01 to 1000000 ns"
    assert schema_check("NOPE", 1) == "NOPE is not a setting OpenLane Cloud accepts"


def test_numeric_metrics() -> None:
    assert "lvs_match" not in NUMERIC_METRICS
    assert {"area_um2", "wns_ns", "cell_count", "drc_errors"} <= set(NUMERIC_METRICS)


def test_a_search_is_plotted_in_its_own_objectives_and_a_grid_in_area_against_slack() -> None:
    search = parse_sweep(
        {
            "strategy": "nsga2",
            "budget": 8,
            "objectives": [{"minimize": "area_um2"}, {"maximize": "max_frequency_mhz"}],
            "parameters": {"SYNTH_STRATEGY": ["AREA 0", "DELAY 4"]},
        },
        sweepable=sweepable_parameters("librelane-osu035"),
        max_runs_allowed=24,
        seed="s",
        check_value=schema_check,
    )
    assert chart_axes(search) == (AREA_AXIS, Axis("max_frequency_mhz", "maximize"))
    assert chart_axes(spec_of(2)) == (AREA_AXIS, Axis("wns_ns", "maximize"))
    results = [
        result(0, area_um2=280.0, max_frequency_mhz=92.0, wns_ns=-1.0),
        result(1, area_um2=420.0, max_frequency_mhz=146.0, wns_ns=0.0),
        result(2, area_um2=390.0, max_frequency_mhz=100.0, wns_ns=0.0),  # between the two: on the front
    ]
    chart = pareto_chart(search, results, 1, pareto_front(results, *chart_axes(search)), *chart_axes(search))
    assert (chart.x, chart.y, chart.y_sense, chart.front, chart.searched) == (
        "area_um2",
        "max_frequency_mhz",
        "maximize",
        (0, 2, 1),
        True,
    )
