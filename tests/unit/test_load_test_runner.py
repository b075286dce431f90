"""LoadTestRunner: a run that holds its slot for CLOCK_PERIOD seconds, then writes a one-line metrics file."""

from __future__ import annotations

import subprocess

from shared.domain.design import DesignSpec, Resources
from shared.domain.flows.base import FlowRunner
from shared.domain.flows.load_test import MAX_HOLD_S, METRICS_FILE, LoadTestRunner, hold_seconds
from shared.domain.metrics import Metrics


def spec(period: float) -> DesignSpec:
    return DesignSpec("counter", "counter", ("counter.v",), "clk", period, flow="load-test")


def test_is_a_flow_runner_named_load_test() -> None:
    runner: FlowRunner = LoadTestRunner()
    assert runner.name == "load-test"


def test_holds_for_the_clock_period_in_seconds_within_bounds() -> None:
    assert hold_seconds(spec(2.5)) == 2.5
    assert hold_seconds(spec(-4)) == 0.0
    assert hold_seconds(spec(1e9)) == MAX_HOLD_S
    plan = LoadTestRunner().plan(spec(30), Resources())
    assert [s.name for s in plan.stages] == ["hold", "report"]
    assert plan.stages[0].argv == ("sleep", "30")
    assert plan.metrics_files == (METRICS_FILE,)


def test_the_report_stage_writes_the_metrics_it_reads_back(tmp_path) -> None:
    runner = LoadTestRunner()
    plan = runner.plan(spec(0.25), Resources())
    for stage in plan.stages:
        subprocess.run(stage.argv, cwd=tmp_path, check=True, timeout=10)
    files = {METRICS_FILE: (tmp_path / METRICS_FILE).read_text()}
    assert runner.parse_metrics(files) == Metrics(runtime_s=0.25)


def test_missing_or_broken_metrics_measure_nothing() -> None:
    runner = LoadTestRunner()
    assert runner.parse_metrics({}) == Metrics()
    assert runner.parse_metrics({METRICS_FILE: "not json"}) == Metrics()
    assert runner.parse_metrics({METRICS_FILE: '{"held_s": "x"}'}) == Metrics()
