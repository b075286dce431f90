"""Judging a sweep's finished runs: how each ended (RunResult), which meet the objective, which is best, which form
the Pareto front, and what a plot of them shows (ParetoChart: the picture's content as data; shared/adapters/
pareto_plot.py draws it). Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from shared.domain.metrics import Metrics
from shared.domain.sweeps.objective import NUMERIC_METRICS, Objective, Sense, feasible
from shared.domain.sweeps.spec import SweepSpec

SUCCEEDED = "SUCCEEDED"
# A run listed in the spec without a result yet has not been seen to start.
PENDING = "PENDING"
# Beyond this no design's figure is real (and a plot's axis arithmetic would overflow).
PLOTTABLE = 1e30


@dataclass(frozen=True)
class RunResult:
    """How one run of a sweep ended (or how far it got)."""

    index: int
    settings: Mapping[str, Any]
    state: str  # SUCCEEDED, FAILED, CANCELLED, TIMEOUT, RUNNING, PENDING, ...
    metrics: Metrics | None = None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.state == SUCCEEDED

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "settings": dict(self.settings),
            "state": self.state,
            "metrics": None if self.metrics is None else json_metrics(self.metrics),
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunResult:
        metrics = data.get("metrics")
        return cls(
            index=int(data["index"]),
            settings=MappingProxyType(dict(data.get("settings") or {})),
            state=str(data["state"]),
            metrics=None if metrics is None else Metrics.from_dict(dict(metrics)),
            error=data.get("error"),
        )


# ------------------------------------------------------------------------------------------------ judging
def run_feasible(objective: Objective, result: RunResult) -> bool:
    """Whether the run succeeded with metrics that meet every condition of the objective."""
    return result.succeeded and result.metrics is not None and feasible(objective, result.metrics)


def best_run(spec: SweepSpec, results: Iterable[RunResult]) -> int | None:
    """The index of the best succeeded, feasible run that reported the objective's metric; ties go to the lower."""
    objective = spec.objective
    candidates = []
    for result in results:
        if not run_feasible(objective, result) or result.metrics is None:
            continue
        value = _finite(getattr(result.metrics, objective.metric))
        if value is not None:
            candidates.append((value if objective.sense == "minimize" else -value, result.index))
    return min(candidates)[1] if candidates else None


@dataclass(frozen=True)
class Axis:
    """One axis of a Pareto front or plot: a numeric metric, and whether lower or higher is better."""

    metric: str
    sense: Sense

    @property
    def better(self) -> str:
        return "lower" if self.sense == "minimize" else "higher"

    def cost(self, value: float) -> float:
        """The value as a cost: lower is better."""
        return value if self.sense == "minimize" else -value


AREA_AXIS = Axis("area_um2", "minimize")
SLACK_AXIS = Axis("wns_ns", "maximize")


def pareto_front(results: Iterable[RunResult], x: Axis = AREA_AXIS, y: Axis = SLACK_AXIS) -> list[int]:
    """The succeeded runs no other run beats on both `x` and `y` (each in its sense), by increasing x."""
    _require_numeric(x.metric)
    _require_numeric(y.metric)
    points = _points(results, x.metric, y.metric)
    costs = [(x.cost(px), y.cost(py)) for px, py, _ in points]
    front = [
        (px, py, index)
        for (px, py, index), (cx, cy) in zip(points, costs, strict=True)
        if not any(qx <= cx and qy <= cy and (qx < cx or qy < cy) for qx, qy in costs)
    ]
    return [index for _, _, index in sorted(front, key=lambda p: (p[0], y.cost(p[1]), p[2]))]


def chart_axes(spec: SweepSpec) -> tuple[Axis, Axis]:
    """What a sweep's plot shows: a search's first two objectives; otherwise area against worst slack."""
    search = spec.search
    if search is not None and len(search.objectives) >= 2:
        (x_sense, x), (y_sense, y) = search.objectives[0], search.objectives[1]
        return Axis(x, x_sense), Axis(y, y_sense)
    return AREA_AXIS, SLACK_AXIS


def _points(results: Iterable[RunResult], x: str, y: str) -> list[tuple[float, float, int]]:
    points = []
    for result in results:
        if result.succeeded and result.metrics is not None:
            px, py = _finite(getattr(result.metrics, x)), _finite(getattr(result.metrics, y))
            if px is not None and py is not None:
                points.append((px, py, result.index))
    return points


def _finite(value: Any) -> float | None:
    if value is None or isinstance(value, bool) or not math.isfinite(value):
        return None
    return float(value)


def _require_numeric(metric: str) -> None:
    if metric not in NUMERIC_METRICS:
        raise ValueError(f"{metric!r} is not a numeric metric; choose one of {', '.join(NUMERIC_METRICS)}")


def every_run(spec: SweepSpec, results: Iterable[RunResult]) -> list[RunResult]:
    """The results in run order, with every run of the spec that has none as PENDING."""
    by_index = {r.index: r for r in results}
    for index, settings in enumerate(spec.runs):
        by_index.setdefault(index, RunResult(index, settings, PENDING))
    return [by_index[i] for i in sorted(by_index)]


def json_metrics(metrics: Metrics) -> dict[str, Any]:
    """The reported metrics, as JSON allows (NaN and infinity are not JSON)."""
    return {k: v for k, v in metrics.to_dict().items() if not (isinstance(v, float) and not math.isfinite(v))}


# ------------------------------------------------------------------------------------------------ the chart
@dataclass(frozen=True)
class ParetoPoint:
    """A succeeded run on the chart: its two figures, and whether it meets the objective's conditions."""

    index: int
    x: float
    y: float
    feasible: bool


@dataclass(frozen=True)
class ParetoChart:
    """What a plot of a sweep's runs shows, as data: `x` to the right, `y` up, each better in its sense (chart_axes),
    a point per succeeded run that reported both, the Pareto front joined, the best run marked, and what is left out.
    """

    x: str
    y: str
    objective: Objective
    spec_runs: int  # how many runs the sweep makes
    listed_runs: int  # how many runs the chart accounts for: the spec's, and any result beyond them
    points: tuple[ParetoPoint, ...]  # in run order
    front: tuple[int, ...]  # run indices, by increasing x
    best: int | None
    not_plotted: tuple[tuple[str, int], ...]  # the runs that did not succeed: (state in lower case, how many)
    unmeasured: int  # succeeded runs without both figures (or with one beyond PLOTTABLE)
    x_sense: Sense = "minimize"
    y_sense: Sense = "maximize"
    searched: bool = False  # the runs are a search's (the plot's title says so)

    @property
    def best_plotted(self) -> bool:
        return any(point.index == self.best for point in self.points)


def pareto_chart(
    spec: SweepSpec,
    results: Iterable[RunResult],
    best: int | None,
    front: Sequence[int],
    x: Axis = AREA_AXIS,
    y: Axis = SLACK_AXIS,
) -> ParetoChart:
    """The chart of the runs' `x` against `y` (ValueError unless both are numeric metrics), with `best` (best_run)
    and `front` (pareto_front) marked."""
    _require_numeric(x.metric)
    _require_numeric(y.metric)
    rows = every_run(spec, results)
    by_index = {r.index: r for r in rows}
    points = tuple(
        ParetoPoint(index, px, py, run_feasible(spec.objective, by_index[index]))
        for px, py, index in _points(rows, x.metric, y.metric)
        if abs(px) <= PLOTTABLE and abs(py) <= PLOTTABLE
    )
    states: dict[str, int] = {}
    for row in rows:
        if not row.succeeded:
            states[row.state.lower()] = states.get(row.state.lower(), 0) + 1
    return ParetoChart(
        x=x.metric,
        y=y.metric,
        objective=spec.objective,
        spec_runs=len(spec.runs),
        listed_runs=len(rows),
        points=points,
        front=tuple(front),
        best=best,
        not_plotted=tuple(states.items()),
        unmeasured=sum(r.succeeded for r in rows) - len(points),
        x_sense=x.sense,
        y_sense=y.sense,
        searched=spec.search is not None,
    )
