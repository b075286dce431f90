"""Search-based exploration: instead of running every combination, a sampler proposes runs in batches and learns
from their results, until a budget of runs is spent.

    "OLC_SWEEP": {
      "strategy": "tpe",                                  (or "nsga2", or "random")
      "budget": 30,                                       (runs in all)
      "throttle": 4,                                      (runs per batch: one Slurm array each)
      "objectives": [{"minimize": "area_um2"}, {"maximize": "wns_ns"}],
      "parameters": {"CLOCK_PERIOD": {"min": 5, "max": 20}, "SYNTH_STRATEGY": ["AREA 0", "DELAY 1"]},
      "seed": 7                                           (optional: the job's own seed otherwise)
    }

A parameter is a list (categorical), a stepped range {"min", "max", "step"}, or a continuous one {"min", "max"},
optionally {"log": true}. The sampling itself is a maintained library's (the `SearchSampler` port of shared/ports.py,
Optuna's ask and tell in shared/adapters/optuna_search.py); this module keeps the books: what the search is, which
runs were told with which values, and whether a next batch is due. Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from shared.domain.config_schema import IDENTIFIER, shown
from shared.domain.sweeps.errors import SWEEP_KEY
from shared.domain.sweeps.objective import BOOLEAN_METRICS, METRIC_KINDS, Objective

SearchStrategy = Literal["random", "tpe", "nsga2"]
SEARCH_STRATEGIES: tuple[SearchStrategy, ...] = ("random", "tpe", "nsga2")
DEFAULT_BATCH = 4
MAX_OBJECTIVES = 3
MAX_CHOICES = 20
_CONTINUOUS_KEYS = ("min", "max", "step", "log")
_RANGE_EXAMPLE = '{"min": 5, "max": 20} (add "step": 1, or "log": true)'

# How a run that did not succeed, or succeeded without a figure an objective needs, is told to the sampler.
COMPLETE, FAILED = "COMPLETE", "FAIL"


@dataclass(frozen=True)
class Dimension:
    """One parameter of the search: `choices` (categorical), or a numeric range [low, high] with a step, or
    continuous (optionally on a log scale). `integer`: the values are whole numbers."""

    name: str
    choices: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    log: bool = False
    integer: bool = False

    @property
    def categorical(self) -> bool:
        return bool(self.choices)

    def describe(self) -> str:
        if self.categorical:
            return ", ".join(str(c) for c in self.choices)
        scale = " (log)" if self.log else f" step {self.step:g}" if self.step else ""
        return f"{self.low:g} to {self.high:g}{scale}"

    def to_dict(self) -> dict[str, Any]:
        if self.categorical:
            return {"name": self.name, "choices": list(self.choices)}
        return {
            "name": self.name,
            "low": self.low,
            "high": self.high,
            "step": self.step,
            "log": self.log,
            "integer": self.integer,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Dimension:
        if data.get("choices"):
            return cls(str(data["name"]), choices=tuple(data["choices"]))
        return cls(
            str(data["name"]),
            low=float(data["low"]),
            high=float(data["high"]),
            step=None if data.get("step") is None else float(data["step"]),
            log=bool(data.get("log")),
            integer=bool(data.get("integer")),
        )


@dataclass(frozen=True)
class SearchPlan:
    strategy: SearchStrategy
    budget: int
    batch: int  # runs per batch (one Slurm array), the last batch may be smaller
    objectives: tuple[tuple[str, str], ...]  # (sense, metric); the first one ranks the best run
    seed: int
    dimensions: tuple[Dimension, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "budget": self.budget,
            "batch": self.batch,
            # Firestore holds no list directly inside a list: objectives are objects.
            "objectives": [{sense: metric} for sense, metric in self.objectives],
            "seed": self.seed,
            "dimensions": [d.to_dict() for d in self.dimensions],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchPlan:
        strategy = data["strategy"]
        if strategy not in SEARCH_STRATEGIES:
            raise ValueError(f"unknown search strategy {strategy!r}")
        return cls(
            strategy=strategy,
            budget=int(data["budget"]),
            batch=int(data["batch"]),
            objectives=tuple(next(iter(o.items())) for o in data["objectives"]),
            seed=int(data["seed"]),
            dimensions=tuple(Dimension.from_dict(d) for d in data["dimensions"]),
        )

    def describe(self) -> str:
        wanted = ", ".join(f"{sense} {metric}" for sense, metric in self.objectives)
        return f"{self.strategy} search of {self.budget} runs in batches of {self.batch}: {wanted}"

    def batches(self, proposed: int) -> int:
        """How many batches `proposed` runs make."""
        return math.ceil(proposed / self.batch)

    def batch_range(self, batch: int) -> range:
        """The run indices (Slurm array task ids) of batch `batch` (0-based)."""
        start = batch * self.batch
        return range(start, min(start + self.batch, self.budget))


@dataclass(frozen=True)
class Trial:
    """A run as the sampler is told it: its settings and, when it succeeded with every objective's figure, the
    values in the order of the objectives; otherwise FAILED (a failed run is told, it does not stop the search)."""

    index: int
    settings: Mapping[str, Any]
    state: str
    values: tuple[float, ...] = ()


# ------------------------------------------------------------------------------------------------ the books
def trials(
    plan: SearchPlan, settings: Sequence[Mapping[str, Any]], ended: Mapping[int, tuple[str, Any]]
) -> list[Trial]:
    """Every run that has ended, as a trial. `ended`: run index -> (state, metrics) of the runs that ended."""
    told = []
    for index, (state, metrics) in sorted(ended.items()):
        if index >= len(settings):
            continue
        values = _objective_values(plan, metrics) if state == "SUCCEEDED" else None
        told.append(
            Trial(index, settings[index], COMPLETE, values) if values else Trial(index, settings[index], FAILED)
        )
    return told


def _objective_values(plan: SearchPlan, metrics: Any) -> tuple[float, ...] | None:
    values = []
    for _sense, metric in plan.objectives:
        value = getattr(metrics, metric, None) if metrics is not None else None
        if value is None or isinstance(value, bool) or not math.isfinite(value):
            return None
        values.append(float(value))
    return tuple(values)


def next_batch_size(plan: SearchPlan, proposed: int, ended: int, stopped: bool) -> int:
    """How many runs the next batch has: 0 while a batch is under way, once the budget is spent, or once the search
    was stopped (cancelled)."""
    if stopped or ended < proposed or proposed >= plan.budget:
        return 0
    return min(plan.batch, plan.budget - proposed)


def seed_for(text: str) -> int:
    """A seed from text (the job id) that is the same in every process (unlike hash())."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


# ------------------------------------------------------------------------------------------------ reading it
def parse_search(  # noqa: PLR0913 - the sweep's keys and the deployment's bounds, keyword-only
    value: Mapping[str, Any],
    strategy: SearchStrategy,
    *,
    sweepable: Collection[str],
    max_runs_allowed: int,
    seed: str,
    check_value: Callable[[str, Any], str | None],
    default: Objective,
    problems: list[str],
) -> SearchPlan | None:
    """The search keys of OLC_SWEEP (`strategy` already read), checked; None with `problems` added otherwise."""
    budget = _whole(value.get("budget"), "budget", 2, max_runs_allowed, problems, required=True)
    batch = _whole(value.get("throttle", DEFAULT_BATCH), "throttle", 1, max_runs_allowed, problems)
    objectives = _objectives(value.get("objectives"), default, problems)
    run_seed = value.get("seed", None)
    if run_seed is not None and (isinstance(run_seed, bool) or not isinstance(run_seed, int) or run_seed < 0):
        problems.append(f"{SWEEP_KEY}.seed {shown(run_seed)} must be a whole number, 0 or more")
        run_seed = None
    dimensions = _dimensions(value.get("parameters"), sweepable, check_value, problems)
    if budget is None or batch is None or objectives is None or dimensions is None:
        return None
    return SearchPlan(
        strategy=strategy,
        budget=budget,
        batch=min(batch, budget),
        objectives=objectives,
        seed=run_seed if isinstance(run_seed, int) else seed_for(seed),
        dimensions=dimensions,
    )


def _whole(raw: Any, key: str, least: int, most: int, problems: list[str], *, required: bool = False) -> int | None:
    if raw is None:
        if required:
            problems.append(f"{SWEEP_KEY}.{key} is missing: how many runs the search may make, {least} to {most}")
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not least <= raw <= most:
        problems.append(f"{SWEEP_KEY}.{key} {shown(raw)} must be a whole number from {least} to {most}")
        return None
    return raw


def _objectives(raw: Any, default: Objective, problems: list[str]) -> tuple[tuple[str, str], ...] | None:
    where = f"{SWEEP_KEY}.objectives"
    if raw is None:
        return ((default.sense, default.metric),)
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_OBJECTIVES:
        problems.append(
            f'{where} must list 1 to {MAX_OBJECTIVES} objectives, e.g. [{{"minimize": "area_um2"}}, '
            '{"maximize": "wns_ns"}]'
        )
        return None
    found: list[tuple[str, str]] = []
    for item in raw:
        sense = next(iter(item), None) if isinstance(item, dict) and len(item) == 1 else None
        metric = item.get(sense) if sense in ("minimize", "maximize") else None
        if sense not in ("minimize", "maximize") or not isinstance(metric, str):
            problems.append(f'{where}: {shown(item)} must be {{"minimize": METRIC}} or {{"maximize": METRIC}}')
        elif metric not in METRIC_KINDS or metric in BOOLEAN_METRICS:
            problems.append(f"{where}: {shown(metric)} is not a numeric metric to {sense}")
        elif any(metric == m for _, m in found):
            problems.append(f"{where} names {metric} twice")
        else:
            found.append((str(sense), metric))
    return tuple(found) if len(found) == len(raw) else None


def _dimensions(
    raw: Any, sweepable: Collection[str], check_value: Callable[[str, Any], str | None], problems: list[str]
) -> tuple[Dimension, ...] | None:
    where = f"{SWEEP_KEY}.parameters"
    if not isinstance(raw, dict) or not raw:
        problems.append(
            f"{where} must name the settings to search and their values or ranges, e.g. "
            f'{{"CLOCK_PERIOD": {_RANGE_EXAMPLE}}}'
        )
        return None
    dimensions: list[Dimension] = []
    for name, spec in raw.items():
        label = f"{where}.{name if IDENTIFIER.match(str(name)) else shown(name)}"
        if name not in sweepable:
            problems.append(
                f"{label}: not a setting this flow can search; it can search {', '.join(sorted(sweepable))}"
            )
            continue
        dimension = _dimension(name, label, spec, problems)
        if dimension is None:
            continue
        bad = [p for p in (check_value(name, v) for v in _corners(dimension)) if p]
        if bad:
            problems.append(f"{SWEEP_KEY}: {bad[0]}")
            continue
        dimensions.append(dimension)
    return tuple(dimensions) if len(dimensions) == len(raw) else None


def _dimension(name: str, label: str, spec: Any, problems: list[str]) -> Dimension | None:  # noqa: PLR0911 - one reason per malformed range
    if isinstance(spec, list):
        if not 1 <= len(spec) <= MAX_CHOICES or any(isinstance(v, list | dict) or v is None for v in spec):
            problems.append(f"{label} must list 1 to {MAX_CHOICES} values (numbers, text or true/false)")
            return None
        if len(set(map(repr, spec))) != len(spec):
            problems.append(f"{label} lists a value more than once")
            return None
        return Dimension(name, choices=tuple(spec))
    if isinstance(spec, dict) and {"from", "to", "step"} == set(spec):
        spec = {"min": spec["from"], "max": spec["to"], "step": spec["step"]}
    if not isinstance(spec, dict) or not {"min", "max"} <= set(spec) or not set(spec) <= set(_CONTINUOUS_KEYS):
        problems.append(f"{label} must be a list of values or a range {_RANGE_EXAMPLE}")
        return None
    low, high, step, log = spec["min"], spec["max"], spec.get("step"), spec.get("log", False)
    if not all(_number(v) for v in (low, high)) or (step is not None and not _number(step)) or log not in (True, False):
        problems.append(f"{label}: min, max and step must be numbers, log true or false")
        return None
    if low >= high:
        problems.append(f"{label}: min {low} must be less than max {high}")
        return None
    if step is not None and (step <= 0 or log):
        problems.append(f"{label}: step must be greater than 0, and cannot go with log")
        return None
    if log and low <= 0:
        problems.append(f"{label}: a log range needs min greater than 0")
        return None
    integer = all(isinstance(v, int) for v in (low, high)) and (step is None or isinstance(step, int))
    return Dimension(
        name, low=float(low), high=float(high), step=None if step is None else float(step), log=log, integer=integer
    )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _corners(dimension: Dimension) -> tuple[Any, ...]:
    """The values that bound what the search may try: every choice, or both ends of the range."""
    if dimension.categorical:
        return dimension.choices
    if dimension.integer:
        return (int(dimension.low), int(dimension.high))
    return (dimension.low, dimension.high)
