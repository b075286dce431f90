"""Comparing runs side by side (issue 15, part 4): the domain's table (shared/domain/compare.py) with the metric
directions (shared/domain/metrics.py BETTER), its CSV and JSON, the service's ownership rule, the API route and
`olc compare`."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace

import flask
import pytest

from olc_cli import compare as cli_compare
from olc_cli.client import ClientError
from olc_cli.main import _parser
from shared import bootstrap
from shared.domain.compare import (
    MAX_ENTRIES,
    CompareError,
    EntryRef,
    NoSuchRun,
    compare,
    entry_for,
    parse_entries,
    parse_entry_list,
)
from shared.domain.design import DesignSpec
from shared.domain.job import Job, JobState, RunProgress, SourceObject, new_job
from shared.domain.metrics import BETTER, CORNER_BETTER, CORNER_KEYS, KEY_METRICS, NOT_MEASURED, Metrics
from shared.domain.sweeps.judging import AREA_AXIS, SLACK_AXIS, pareto_front
from shared.domain.sweeps.objective import BOOLEAN_METRICS, DEFAULT_OBJECTIVE, NUMERIC_METRICS
from shared.domain.sweeps.spec import parse_sweep, schema_check, sweepable_parameters
from shared.services.compare import compare_runs
from shared.services.queries import NotFound
from shared.web import app
from tests.unit.fakes import FakeJobs

T0 = datetime(2026, 11, 25, 12, tzinfo=UTC)
ADA = "ada@example.com"
BOB = "bob@example.com"
J1, J2, J3, SWEEP, BOBS, BOBS2 = ("j" + c * 19 for c in "123456")
MISSING = "j" + "0" * 19
FAST = Metrics(cell_count=377, area_um2=77920.0, wns_ns=0.0, tns_ns=0.0, drc_errors=0, lvs_match=True)
SLOW = Metrics(cell_count=350, area_um2=80100.5, wns_ns=-0.5, tns_ns=-2.0, drc_errors=0, lvs_match=False)


def job(job_id: str, metrics: Metrics | None, owner: str = ADA, **variables: object) -> Job:
    base = new_job(job_id=job_id, owner=owner, source=SourceObject("d", f"{owner}/spm.tgz", 1), at=T0)
    design = DesignSpec("spm", "spm", ("src/spm.v",), flow_variables={"DESIGN_NAME": "spm", **variables})
    return replace(
        base, state=JobState.SUCCEEDED, design=design, design_name="spm", flow="qflow-osu035", metrics=metrics
    )


def sweep_job(job_id: str = SWEEP, periods: tuple[int, ...] = (5, 10, 20)) -> Job:
    sweep = parse_sweep(
        {"parameters": {"CLOCK_PERIOD": list(periods)}},
        sweepable=sweepable_parameters("qflow-osu035"),
        max_runs_allowed=10,
        seed=job_id,
        check_value=schema_check,
    )
    variables = {"DESIGN_NAME": "spm", "CLOCK_PERIOD": 10, "OLC_SWEEP": {"parameters": {"CLOCK_PERIOD": list(periods)}}}
    design = DesignSpec("spm", "spm", ("src/spm.v",), flow_variables=variables, sweep=sweep)
    runs = (RunProgress(0, "SUCCEEDED", metrics=FAST), RunProgress(1, "FAILED", error="routing failed"))
    return replace(job(job_id, FAST), design=design, runs=runs)


def entries(*jobs_and_runs: tuple[Job, int | None]) -> list:
    return [entry_for(j, run) for j, run in jobs_and_runs]


# ------------------------------------------------------------------------------------------------ JOB[:RUN]
def test_entries_are_jobs_or_runs_of_a_sweep() -> None:
    assert parse_entries([J1, f"{J2}:3", f"{J2}:0"]) == (EntryRef(J1), EntryRef(J2, 3), EntryRef(J2, 0))
    assert str(EntryRef(J2, 3)) == f"{J2}:3" and str(EntryRef(J1)) == J1
    assert parse_entry_list(f" {J1} ,{J2}:12,") == (EntryRef(J1), EntryRef(J2, 12)), "blanks and empty parts go"


def test_every_problem_with_the_entries_is_said_at_once() -> None:
    with pytest.raises(CompareError) as refused:
        parse_entries([J1, "J2", f"{J1}", f"{J2}:x", f"{J2}:-1", "<script>"])
    problems = refused.value.problems
    assert len(problems) == 5
    assert "'J2' is not JOB or JOB:RUN" in problems[0]
    assert problems[1] == f"{J1} is listed twice"
    assert all("is not JOB or JOB:RUN" in p for p in problems[2:])


@pytest.mark.parametrize("count", [0, 1, MAX_ENTRIES + 1, 500])
def test_two_to_ten_entries(count: int) -> None:
    with pytest.raises(CompareError) as refused:
        parse_entries([f"j{i:019x}" for i in range(count)])
    assert refused.value.problems[-1] == f"compare 2 to 10 jobs or runs, not {count}"
    if count > MAX_ENTRIES:
        assert len(refused.value.problems) == 1, "too many: not one problem per entry"
    assert len(parse_entries([f"j{i:019x}" for i in range(MAX_ENTRIES)])) == MAX_ENTRIES


def test_an_overlong_list_is_refused_before_it_is_read() -> None:
    with pytest.raises(CompareError) as refused:
        parse_entry_list("," * 100_000)
    assert "characters long" in str(refused.value)


# ------------------------------------------------------------------------------------------------ directions
def test_every_numeric_metric_has_a_direction_unless_it_is_a_choice() -> None:
    # The design's choices, not results: no side is better. A new metric must be decided here.
    choices = {"clock_period_ns", "utilization_pct"}
    assert set(BETTER) == set(NUMERIC_METRICS) - choices
    assert not set(BETTER) & set(BOOLEAN_METRICS), "true/false figures are only equal or different"
    assert set(BETTER.values()) == set(CORNER_BETTER.values()) == {"lower", "higher"}
    assert set(CORNER_BETTER) == set(CORNER_KEYS)
    assert CORNER_BETTER["setup_ws_ns"] == "higher" and CORNER_BETTER["hold_violations"] == "lower"
    smaller = {"area_um2", "power_total_w", "drc_errors", "wire_length_um", "die_area_um2", "runtime_s"}
    assert all(BETTER[m] == "lower" for m in smaller)
    assert all(BETTER[m] == "higher" for m in ("wns_ns", "tns_ns", "hold_wns_ns", "max_frequency_mhz"))


def test_the_directions_agree_with_the_sweep_objective_and_the_pareto_plot() -> None:
    sense = {"lower": "minimize", "higher": "maximize"}
    assert sense[BETTER[DEFAULT_OBJECTIVE.metric]] == DEFAULT_OBJECTIVE.sense
    # The Pareto chart's default axes: each axis' own sense agrees with the metric's direction.
    axes = pareto_front.__defaults__
    assert axes == (AREA_AXIS, SLACK_AXIS)
    assert all(BETTER[axis.metric] == axis.better for axis in axes)


# ------------------------------------------------------------------------------------------------ the table
def rows_by_metric(comparison) -> dict:
    return {row.metric: row for row in comparison.rows}


def test_each_figure_is_compared_with_the_reference_by_its_direction() -> None:
    table = compare(entries((job(J1, FAST), None), (job(J2, SLOW), None)))
    rows = rows_by_metric(table)
    area = rows["area_um2"]
    assert area.better == "lower"
    assert [c.verdict for c in area.cells] == ["reference", "worse"]
    assert (area.cells[1].value, area.cells[1].difference, area.cells[1].percent) == (80100.5, 2180.5, 2.8)
    cells = rows["cell_count"].cells[1]
    assert (cells.difference, cells.percent, cells.verdict) == (-27, -7.16, "better")
    assert isinstance(cells.difference, int)
    wns = rows["wns_ns"].cells[1]
    assert (wns.difference, wns.percent, wns.verdict) == (-0.5, None, "worse"), "no percent of a zero reference"
    assert rows["drc_errors"].cells[1].verdict == "equal" and rows["drc_errors"].cells[1].difference == 0
    lvs = rows["lvs_match"]
    assert lvs.better is None and [c.verdict for c in lvs.cells] == ["reference", "different"]
    assert lvs.cells[1].difference is None
    # The other way round, the same figures are better.
    back = rows_by_metric(compare(entries((job(J2, SLOW), None), (job(J1, FAST), None))))
    assert back["area_um2"].cells[1].verdict == "better" and back["area_um2"].cells[1].percent == -2.72
    assert back["wns_ns"].cells[1].verdict == "better" and back["lvs_match"].cells[1].verdict == "different"


def test_what_was_not_measured_is_shown_as_such() -> None:
    synth_only = Metrics(cell_count=377, area_um2=77920.0, power_total_w=0.002)
    table = compare(entries((job(J1, synth_only), None), (job(J2, SLOW), None), (job(J3, None), None)))
    rows = rows_by_metric(table)
    # The key figures are listed even when nobody measured them; others only when someone did.
    assert [r for r in KEY_METRICS if r not in rows] == []
    assert "die_area_um2" not in rows and "power_total_w" in rows
    assert [c.verdict for c in rows["lvs_match"].cells] == ["not_measured", "reference_not_measured", "not_measured"]
    assert rows["lvs_match"].cells[0].value is None, "never 0, never false"
    assert [c.verdict for c in rows["wire_length_um"].cells] == ["not_measured"] * 3
    assert [c.verdict for c in rows["power_total_w"].cells] == ["reference", "not_measured", "not_measured"]
    assert table.entries[2].metrics is None


def test_differences_carry_no_float_noise_and_non_finite_figures_are_not_measured() -> None:
    a = Metrics(wns_ns=-0.1, tns_ns=float("nan"), utilization_pct=40.0)
    b = Metrics(wns_ns=-0.3, tns_ns=-1.0, utilization_pct=45.0)
    rows = rows_by_metric(compare(entries((job(J1, a), None), (job(J2, b), None))))
    assert rows["wns_ns"].cells[1].difference == -0.2
    assert rows["wns_ns"].cells[1].percent == -200.0
    assert [c.verdict for c in rows["tns_ns"].cells] == ["not_measured", "reference_not_measured"]
    assert rows["utilization_pct"].better is None and rows["utilization_pct"].cells[1].verdict == "different"


def test_timing_corners_are_rows_of_their_own() -> None:
    a = Metrics(corners={"nom_tt": {"setup_ws_ns": 1.5, "hold_violations": 0}})
    b = Metrics(corners={"nom_tt": {"setup_ws_ns": 1.0, "hold_violations": 2}, "max_ss": {"setup_ws_ns": -0.2}})
    rows = rows_by_metric(compare(entries((job(J1, a), None), (job(J2, b), None))))
    setup = rows["corners.nom_tt.setup_ws_ns"]
    assert setup.better == "higher" and setup.cells[1].verdict == "worse" and setup.cells[1].difference == -0.5
    assert rows["corners.nom_tt.hold_violations"].cells[1].verdict == "worse"
    assert [c.verdict for c in rows["corners.max_ss.setup_ws_ns"].cells] == ["not_measured", "reference_not_measured"]
    assert "corners.nom_tt.hold_ws_ns" not in rows, "a corner figure nobody measured is left out"


def test_the_settings_the_entries_differ_in_are_listed() -> None:
    ref = job(J1, FAST, CLOCK_PERIOD=10, SYNTH_STRATEGY="AREA 0", FP_CORE_UTIL=45)
    other = job(J2, SLOW, CLOCK_PERIOD=20, SYNTH_STRATEGY="AREA 0", FP_CORE_UTIL="45", PL_TARGET_DENSITY=0.6)
    table = compare(entries((ref, None), (other, None)))
    assert [(s.name, s.values) for s in table.settings] == [
        ("CLOCK_PERIOD", (10, 20)),
        ("PL_TARGET_DENSITY", (None, 0.6)),
    ], "45 and '45' are the same setting"


def test_a_sweep_run_is_an_entry_with_its_own_settings_state_and_figures() -> None:
    sweep = sweep_job()
    run0, run1, run2, whole = entries((sweep, 0), (sweep, 1), (sweep, 2), (sweep, None))
    assert (run0.ref, run0.state, run0.metrics) == (EntryRef(SWEEP, 0), "SUCCEEDED", FAST)
    assert (run1.state, run1.metrics) == ("FAILED", None)
    assert (run2.state, run2.metrics) == ("PENDING", None), "listed in the sweep, not started yet"
    assert run0.settings["CLOCK_PERIOD"] == 5 and run2.settings["CLOCK_PERIOD"] == 20
    assert "OLC_SWEEP" not in run0.settings and "OLC_SWEEP" not in whole.settings
    assert (whole.ref, whole.metrics, whole.settings["CLOCK_PERIOD"]) == (EntryRef(SWEEP), FAST, 10)
    table = compare([run0, run2])
    assert [(s.name, s.values) for s in table.settings] == [("CLOCK_PERIOD", (5, 20))]


def test_a_run_the_job_does_not_have_is_named() -> None:
    with pytest.raises(NoSuchRun, match=f"job {SWEEP} has no run 3: its runs are 0 to 2"):
        entry_for(sweep_job(), 3)
    with pytest.raises(NoSuchRun, match=f"job {J1} is not a sweep: compare it as {J1}, without :0"):
        entry_for(job(J1, FAST), 0)


# ------------------------------------------------------------------------------------------------ CSV and JSON
def test_the_json_is_strict_json_with_a_row_per_metric() -> None:
    table = compare(entries((sweep_job(), 0), (job(J2, SLOW, CLOCK_PERIOD=20), None)))
    data = json.loads(json.dumps(table.to_dict(), allow_nan=False))
    assert data["reference"] == f"{SWEEP}:0"
    assert data["entries"][0] == {
        "ref": f"{SWEEP}:0",
        "job_id": SWEEP,
        "run": 0,
        "state": "SUCCEEDED",
        "design_name": "spm",
        "flow": "qflow-osu035",
    }
    assert data["settings"] == [{"name": "CLOCK_PERIOD", "values": [5, 20]}]
    area = next(r for r in data["rows"] if r["metric"] == "area_um2")
    assert area == {
        "metric": "area_um2",
        "better": "lower",
        "cells": [
            {"value": 77920.0, "verdict": "reference", "difference": None, "percent": None},
            {"value": 80100.5, "verdict": "worse", "difference": 2180.5, "percent": 2.8},
        ],
    }


def test_the_csv_is_one_table_for_a_spreadsheet() -> None:
    ref = job(J1, FAST, CLOCK_PERIOD=10, SYNTH_STRATEGY="=cmd()")
    table = compare(entries((ref, None), (job(J2, SLOW, CLOCK_PERIOD=20, SYNTH_STRATEGY="AREA 0"), None)))
    lines = list(csv.reader(io.StringIO(table.to_csv())))
    assert lines[0] == [
        "kind",
        "name",
        "better",
        J1,
        J2,
        f"{J2} difference",
        f"{J2} difference %",
        f"{J2} verdict",
    ]
    by_name = {line[1]: line for line in lines[1:]}
    assert by_name["design"] == ["entry", "design", "", "spm", "spm", "", "", ""]
    assert by_name["state"][3:5] == ["SUCCEEDED", "SUCCEEDED"]
    assert by_name["CLOCK_PERIOD"] == ["setting", "CLOCK_PERIOD", "", "10", "20", "", "", "different"]
    assert by_name["SYNTH_STRATEGY"][3] == "'=cmd()", "a spreadsheet does not run it as a formula"
    assert by_name["area_um2"] == ["metric", "area_um2", "lower", "77920", "80100.5", "2180.5", "2.8", "worse"]
    assert by_name["wns_ns"] == ["metric", "wns_ns", "higher", "0", "-0.5", "-0.5", "", "worse"]
    assert by_name["lvs_match"] == ["metric", "lvs_match", "", "true", "false", "", "", "different"]
    assert by_name["power_total_w"] == [
        "metric",
        "power_total_w",
        "lower",
        NOT_MEASURED,
        NOT_MEASURED,
        "",
        "",
        "not_measured",
    ]
    assert all(len(line) == len(lines[0]) for line in lines)


# ------------------------------------------------------------------------------------------------ ownership
class CountingJobs(FakeJobs):
    def __init__(self, *jobs: Job) -> None:
        super().__init__(*jobs)
        self.reads: list[str] = []

    def get(self, job_id: str) -> Job | None:
        self.reads.append(job_id)
        return super().get(job_id)


@pytest.fixture
def repository() -> CountingJobs:
    return CountingJobs(
        job(J1, FAST), job(J2, SLOW), sweep_job(), job(BOBS, FAST, owner=BOB), job(BOBS2, SLOW, owner=BOB)
    )


def test_the_caller_compares_their_own_jobs_each_read_once(repository: CountingJobs) -> None:
    refs = parse_entries([J1, f"{SWEEP}:0", f"{SWEEP}:1", J2])
    table = compare_runs(repository, ADA, refs)
    assert [str(e.ref) for e in table.entries] == [J1, f"{SWEEP}:0", f"{SWEEP}:1", J2]
    assert sorted(repository.reads) == sorted([J1, SWEEP, J2])


@pytest.mark.parametrize("theirs", [BOBS, MISSING])
def test_anyone_elses_job_is_not_found_like_a_missing_one(repository: CountingJobs, theirs: str) -> None:
    with pytest.raises(NotFound) as missing:
        compare_runs(repository, ADA, parse_entries([J1, theirs]))
    assert missing.value.args == (theirs,)
    # Even when asking for a run of it: nothing is said about someone else's job's runs.
    with pytest.raises(NotFound):
        compare_runs(repository, ADA, parse_entries([J1, f"{theirs}:7"]))


def test_admins_compare_only_their_own_jobs_too(repository: CountingJobs) -> None:
    # No is_admin at all: compare never reads another user's job, whoever asks.
    with pytest.raises(NotFound):
        compare_runs(repository, BOB, parse_entries([BOBS, J1]))
    assert [e.ref.job_id for e in compare_runs(repository, BOB, parse_entries([BOBS, BOBS2])).entries] == [BOBS, BOBS2]


def test_a_run_of_the_callers_own_job_that_does_not_exist_is_named(repository: CountingJobs) -> None:
    with pytest.raises(NoSuchRun, match="has no run 9"):
        compare_runs(repository, ADA, parse_entries([J1, f"{SWEEP}:9"]))


# ------------------------------------------------------------------------------------------------ the API
@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, repository: CountingJobs) -> CountingJobs:
    monkeypatch.setattr(app, "settings", lambda: SimpleNamespace(project_id="p", status_base_url="https://olc.test"))
    monkeypatch.setattr(bootstrap, "jobs", lambda: repository)
    monkeypatch.setattr(
        bootstrap, "identity", lambda: SimpleNamespace(caller=lambda headers: headers.get("X-Test-User", ADA))
    )
    return repository


def get(path: str, user: str = ADA) -> flask.Response:
    with flask.Flask(__name__).test_request_context(path, headers={"X-Test-User": user}):
        return app.handle(flask.request)


def test_the_api_answers_json_and_csv(served: CountingJobs) -> None:
    reply = get(f"/v1/compare?jobs={J1},{SWEEP}:0")
    assert reply.status_code == 200 and reply.mimetype == "application/json"
    data = reply.get_json()
    assert data["reference"] == J1 and [e["ref"] for e in data["entries"]] == [J1, f"{SWEEP}:0"]
    assert data["entries"][1]["page"] == f"https://olc.test/jobs/{SWEEP}"
    assert data["page"] == f"https://olc.test/compare?jobs={J1},{SWEEP}:0"
    assert "Content-Disposition" not in reply.headers
    exported = get(f"/v1/compare?jobs={J1},{SWEEP}:0&format=csv")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert exported.headers["Content-Disposition"] == f'attachment; filename="compare-{J1}-2.csv"'
    assert exported.get_data(as_text=True).startswith("kind,name,better,")
    as_file = get(f"/v1/compare?jobs={J1},{J2}&format=json")
    assert as_file.headers["Content-Disposition"] == f'attachment; filename="compare-{J1}-2.json"'


def test_the_api_answers_someone_elses_job_exactly_like_a_missing_one(served: CountingJobs) -> None:
    theirs = get(f"/v1/compare?jobs={J1},{BOBS}:2")
    missing = get(f"/v1/compare?jobs={J1},{MISSING}:2")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.get_json()["error"]["code"] == "not_found"
    assert theirs.get_data(as_text=True).replace(BOBS, MISSING) == missing.get_data(as_text=True)
    assert BOB not in theirs.get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "status", "code", "says"),
    [
        ("", 400, "invalid_jobs", "name 2 to 10 of your jobs"),
        (f"?jobs={J1}", 400, "invalid_jobs", "not 1"),
        (f"?jobs={J1},{J1}", 400, "invalid_jobs", "listed twice"),
        (f"?jobs={J1},nope", 400, "invalid_jobs", "'nope' is not JOB or JOB:RUN"),
        (f"?jobs={J1},{J2}&format=xlsx", 400, "invalid_parameter", "json or csv"),
        (f"?jobs={J1},{SWEEP}:5", 404, "no_run", "has no run 5"),
        (f"?jobs={J1},{J2}:0", 404, "no_run", "is not a sweep"),
    ],
)
def test_the_api_explains_what_it_cannot_compare(
    served: CountingJobs, query: str, status: int, code: str, says: str
) -> None:
    reply = get(f"/v1/compare{query}")
    error = reply.get_json()["error"]
    assert (reply.status_code, error["code"]) == (status, code), error
    assert says in error["message"]
    if code == "invalid_jobs" and query:
        assert error["details"]["problems"]


def test_the_route_is_the_callers_own_and_documented() -> None:
    route = next(r for r in app.ROUTES if r.path == "/v1/compare")
    assert (route.method, route.access, route.response, route.errors) == ("GET", "caller", "Comparison", (400,))
    assert {q.name for q in route.query} == {"jobs", "format"}
    page = next(r for r in app.ROUTES if r.path == "/compare")
    assert page.access == "public" and not page.in_api_document


# ------------------------------------------------------------------------------------------------ olc compare
def test_olc_compare_takes_jobs_and_runs_and_json_or_csv() -> None:
    args = _parser().parse_args(["compare", J1, f"{SWEEP}:3", "--csv", "--user", ADA])
    assert args.handler is cli_compare.compare and (args.csv, args.json, args.user) == (True, False, ADA)
    assert cli_compare.entries(args) == (EntryRef(J1), EntryRef(SWEEP, 3))
    assert _parser().parse_args(["compare", J1, J2, "--json"]).json is True
    with pytest.raises(ClientError, match="'j1:x' is not JOB or JOB:RUN"):
        cli_compare.entries(_parser().parse_args(["compare", J1, "j1:x"]))
    with pytest.raises(ClientError, match="not 1"):
        cli_compare.entries(_parser().parse_args(["compare", J1]))
    with pytest.raises(SystemExit):
        _parser().parse_args(["compare"])


def test_olc_compare_prints_a_column_per_entry_with_the_differences() -> None:
    table = compare(
        entries((job(J1, FAST, CLOCK_PERIOD=10), None), (job(J2, SLOW, CLOCK_PERIOD=20), None), (sweep_job(), 1))
    )
    out = io.StringIO()
    cli_compare.comparison_table(json.loads(json.dumps(table.to_dict())), out)
    text = out.getvalue()
    lines = text.splitlines()
    assert lines[0] == f"3 runs side by side; the reference is {J1}, the first column"
    assert lines[1].split() == ["BETTER", J1, J2, f"{SWEEP}:1"]
    by_name = {line.split()[0]: line for line in lines[2:]}
    assert by_name["state"].split() == ["state", "SUCCEEDED", "SUCCEEDED", "FAILED"]
    assert by_name["CLOCK_PERIOD"].split() == ["CLOCK_PERIOD", "setting", "10", "20", "10"]
    assert "80100.5 (+2180.5, +2.8%) worse" in by_name["area_um2"]
    assert "350 (-27, -7.16%) better" in by_name["cell_count"]
    assert "-0.5 (-0.5) worse" in by_name["wns_ns"]
    assert "MISMATCH different" in by_name["lvs_match"]
    assert by_name["drc_errors"].split()[-2:] == ["not", "measured"], "the failed run measured nothing"
    assert "0 (±0) same" in by_name["drc_errors"]
