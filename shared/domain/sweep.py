"""Design-space sweeps (OLC_SWEEP in config.json): which runs a sweep makes, and which of its runs is best.

A designer declares the settings to vary, how to combine them and what "best" means:

    "OLC_SWEEP": {
      "parameters": {"PL_TARGET_DENSITY": [0.5, 0.7], "CLOCK_PERIOD": {"from": 6, "to": 14, "step": 4}},
      "strategy": "grid",                     (or {"random": 8}: 8 combinations of the grid, drawn once)
      "objective": {"minimize": "area_um2", "subject_to": ["wns_ns >= 0", "drc_errors == 0", "lvs_match"]},
      "max_runs": 12
    }

parse_sweep turns that into a SweepSpec whose `runs` are the settings of each run, indexed like the Slurm array
tasks that run them; the rest of this module judges the finished runs (best_run, pareto_front) and presents them
(comparison_table, pareto_plot_png). Everything here is pure: no I/O, no clock.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import functools
import io
import itertools
import math
import random
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Literal, get_args, get_type_hints

from PIL import Image, ImageDraw, ImageFont

from shared.domain.config_schema import IDENTIFIER, SCHEMA, as_number, shown
from shared.domain.config_schema import check_value as check_schema_value
from shared.domain.design import RUN_CONFIG_FILE, DesignSpec
from shared.domain.metrics import Metrics

SWEEP_KEY = "OLC_SWEEP"
MAX_VALUES = 20  # per parameter
MAX_CONSTRAINTS = 20
MAX_PROBLEMS = 20  # the reason goes into an e-mail; past this many, the rest are counted
SUCCEEDED = "SUCCEEDED"
# A run listed in the spec without a result yet has not been seen to start.
PENDING = "PENDING"
OPERATORS = (">=", "<=", "==", "!=", ">", "<")
_FORMAT_VERSION = 1

Sense = Literal["minimize", "maximize"]
Strategy = Literal["grid", "random"]

# Which config.json settings each flow can vary between the runs of a sweep. Every name is a row of
# config_schema.SCHEMA, so each swept value gets the same checks as the setting written once. LibreLane reads the
# OpenLane 1 names PL_TARGET_DENSITY and SYNTH_MAX_FANOUT as deprecated aliases (converting the density to percent).
_OPENLANE_SWEEPABLE = frozenset(
    {
        "CLOCK_PERIOD",
        "FP_CORE_UTIL",
        "PL_TARGET_DENSITY",
        "SYNTH_STRATEGY",
        "FP_ASPECT_RATIO",
        "FP_PDN_VPITCH",
        "FP_PDN_HPITCH",
        "SYNTH_MAX_FANOUT",
        "GRT_ADJUSTMENT",
    }
)
_SWEEPABLE: dict[str, frozenset[str]] = {
    # qflow reads PL_TARGET_DENSITY as its placement's initial_density.
    "qflow-osu035": frozenset({"CLOCK_PERIOD", "PL_TARGET_DENSITY"}),
    "yosys-osu035": frozenset({"CLOCK_PERIOD", "SYNTH_MAX_FANOUT"}),
    # LibreLane's synthesis variables (LibreLane 3 has no SYNTH_MAX_FANOUT); the period drives ABC's delay target.
    "librelane-osu035": frozenset(
        {"CLOCK_PERIOD", "SYNTH_STRATEGY", "SYNTH_ABC_BUFFERING", "SYNTH_SHARE_RESOURCES", "SYNTH_ABC_AREA_USE_NF"}
    ),
    "openlane1": _OPENLANE_SWEEPABLE,
    "librelane": _OPENLANE_SWEEPABLE,
    "openlane2": _OPENLANE_SWEEPABLE,  # the same runner as librelane, with OpenLane 2's module
}

_KEYS = ("parameters", "strategy", "objective", "max_runs")
_RANGE_KEYS = ("from", "to", "step")
_OBJECTIVE_KEYS = ("minimize", "maximize", "subject_to")
_PARAMETERS_EXAMPLE = '{"CLOCK_PERIOD": [8, 10, 12]}'
_RANGE_EXAMPLE = '{"from": 6, "to": 14, "step": 4}'
_CONDITION = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|==|!=|>|<)\s*(\S.*?)\s*$")
_BARE_NAME = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*$")
_MAX_CONDITION_CHARS = 200


def _metric_kinds() -> dict[str, type]:
    """Metrics field -> int, float or bool (from the dataclass's `X | None` annotations)."""
    kinds = {}
    for name, hint in get_type_hints(Metrics).items():
        kind = next(t for t in get_args(hint) if t is not type(None))
        if kind in (int, float, bool):  # per-corner tables are no figure a run is ranked by
            kinds[name] = kind
    return kinds


METRIC_KINDS: Mapping[str, type] = MappingProxyType(_metric_kinds())
NUMERIC_METRICS = tuple(name for name, kind in METRIC_KINDS.items() if kind is not bool)
BOOLEAN_METRICS = tuple(name for name, kind in METRIC_KINDS.items() if kind is bool)


class SweepError(ValueError):
    """Every problem found in OLC_SWEEP, in words a designer understands."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("config.json: " + "; ".join(self.problems))


# Flows that stop before layout measure no DRC and no LVS: their runs could never meet the default conditions.
_NO_LAYOUT_FLOWS = frozenset({"yosys-osu035", "librelane-osu035"})


def default_objective(flow: str) -> Objective:
    """The objective a sweep of `flow` has when OLC_SWEEP names none: the smallest area with clean timing, and
    clean DRC and LVS where the flow checks them."""
    if flow in _NO_LAYOUT_FLOWS:
        return Objective("minimize", "area_um2", (Constraint("wns_ns", ">=", 0.0),))
    return DEFAULT_OBJECTIVE


def sweepable_parameters(flow: str) -> frozenset[str]:
    """The settings a sweep may vary for `flow` (empty for a flow that cannot be swept)."""
    return _SWEEPABLE.get(flow, frozenset())


def schema_check(name: str, value: Any) -> str | None:
    """A `check_value` for parse_sweep: the config_schema check of one setting; files are not sweepable."""
    setting = SCHEMA.get(name)
    if setting is None:
        return f"{name} is not a setting OpenLane Cloud accepts"
    problems = check_schema_value(name, value, setting, ())
    return problems[0] if problems else None


# ------------------------------------------------------------------------------------------------ objective
@dataclass(frozen=True)
class Constraint:
    """One condition of `subject_to`; a metric a run did not report never meets it."""

    metric: str
    op: str
    value: float | bool

    def holds(self, metrics: Metrics) -> bool:
        actual = getattr(metrics, self.metric)
        if actual is None or (isinstance(actual, float) and math.isnan(actual)):
            return False
        return _compare(actual, self.op, self.value)

    def __str__(self) -> str:
        if isinstance(self.value, bool):
            if self.op == "==" and self.value:
                return self.metric
            return f"{self.metric} {self.op} {str(self.value).lower()}"
        return f"{self.metric} {self.op} {_number_text(self.value)}"


@dataclass(frozen=True)
class Objective:
    """What the best run is: the lowest (or highest) `metric` among the runs meeting every constraint."""

    sense: Sense
    metric: str
    constraints: tuple[Constraint, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {self.sense: self.metric, "subject_to": [str(c) for c in self.constraints]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Objective:
        problems: list[str] = []
        objective = _objective(data, problems)
        if objective is None or problems:
            raise ValueError("not a stored objective: " + "; ".join(problems))
        return objective

    def describe(self) -> str:
        """E.g. "minimize area_um2 subject to wns_ns >= 0, lvs_match"."""
        conditions = ", ".join(str(c) for c in self.constraints)
        return f"{self.sense} {self.metric}" + (f" subject to {conditions}" if conditions else "")


DEFAULT_CONSTRAINTS = (
    Constraint("wns_ns", ">=", 0.0),
    Constraint("drc_errors", "==", 0.0),
    Constraint("lvs_match", "==", True),
)
DEFAULT_OBJECTIVE = Objective("minimize", "area_um2", DEFAULT_CONSTRAINTS)


def _compare(actual: float | bool, op: str, wanted: float | bool) -> bool:
    if op == ">=":
        return actual >= wanted
    if op == "<=":
        return actual <= wanted
    if op == ">":
        return actual > wanted
    if op == "<":
        return actual < wanted
    if op == "==":
        return actual == wanted
    return actual != wanted


# ------------------------------------------------------------------------------------------------ the spec
@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep. `runs[i]` holds the settings of run i, which is Slurm array task i."""

    parameters: Mapping[str, tuple[Any, ...]]  # in the order config.json declares them
    strategy: Strategy
    sample_size: int | None  # the N of {"random": N}; None for "grid"
    objective: Objective
    max_runs: int
    seed: str
    runs: tuple[Mapping[str, Any], ...]

    @property
    def grid_size(self) -> int:
        return math.prod(len(values) for values in self.parameters.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible (and Firestore-compatible: no list directly inside a list)."""
        return {
            "version": _FORMAT_VERSION,
            "parameters": [{"name": name, "values": list(values)} for name, values in self.parameters.items()],
            "strategy": self.strategy,
            "sample_size": self.sample_size,
            "objective": self.objective.to_dict(),
            "max_runs": self.max_runs,
            "seed": self.seed,
            "runs": [dict(run) for run in self.runs],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepSpec:
        # The runs are read as stored rather than drawn again: `random` may sample differently in another Python
        # version, and a running array's task ids must keep meaning the same settings.
        try:
            if data["version"] != _FORMAT_VERSION:
                raise ValueError(f"unknown sweep format version {data['version']!r}")
            parameters = {str(p["name"]): tuple(p["values"]) for p in data["parameters"]}
            strategy = data["strategy"]
            if strategy not in ("grid", "random"):
                raise ValueError(f"unknown strategy {strategy!r}")
            sample_size = data["sample_size"]
            runs = tuple(MappingProxyType(dict(run)) for run in data["runs"])
            return cls(
                parameters=MappingProxyType(parameters),
                strategy=strategy,
                sample_size=None if sample_size is None else int(sample_size),
                objective=Objective.from_dict(data["objective"]),
                max_runs=int(data["max_runs"]),
                seed=str(data["seed"]),
                runs=runs,
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a stored sweep: {exc!r}") from exc


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
            "metrics": None if self.metrics is None else _json_metrics(self.metrics),
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


# ------------------------------------------------------------------------------------------------ parsing
def parse_sweep(
    value: Any,
    *,
    sweepable: Collection[str],
    max_runs_allowed: int,
    seed: str,
    check_value: Callable[[str, Any], str | None],
    default: Objective | None = None,
) -> SweepSpec:
    """The OLC_SWEEP value of config.json, checked; SweepError lists every problem at once.

    `sweepable`: the settings the flow can vary (sweepable_parameters); `max_runs_allowed`: the deployment's limit
    and the default of max_runs; `seed`: draws the random sample (the job id, so a resubmitted job draws anew but a
    stored one never changes); `check_value(name, value)`: a value's problem, or None (e.g. schema_check);
    `default`: the objective when OLC_SWEEP names none (default_objective of the flow).
    """
    if not isinstance(value, dict):
        raise SweepError(
            [f'{SWEEP_KEY} must be an object like {{"parameters": {_PARAMETERS_EXAMPLE}, "strategy": "grid"}}']
        )
    problems: list[str] = []
    for key in value:
        if key not in _KEYS:
            problems.append(_unknown_key(key, f"{SWEEP_KEY} has an unknown key", _KEYS))
    parameters = _parameters(value.get("parameters"), sweepable, check_value, problems)
    max_runs = _max_runs(value.get("max_runs"), max_runs_allowed, problems)
    strategy, sample_size = _strategy(value.get("strategy", "grid"), problems)
    objective = _objective(value["objective"], problems) if "objective" in value else (default or DEFAULT_OBJECTIVE)
    limit = max_runs or max_runs_allowed
    if parameters is not None and strategy is not None:
        _check_size(
            parameters, strategy, sample_size, limit, max_runs_allowed, explicit=max_runs is not None, problems=problems
        )
    if problems or parameters is None or strategy is None or objective is None:
        extra = len(problems) - MAX_PROBLEMS
        raise SweepError([*problems[:MAX_PROBLEMS], f"and {extra} more problems"] if extra > 0 else problems)
    return SweepSpec(
        parameters=MappingProxyType(parameters),
        strategy=strategy,
        sample_size=sample_size,
        objective=objective,
        max_runs=limit,
        seed=seed,
        runs=_expand(parameters, sample_size, seed),
    )


def _unknown_key(key: str, what: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(key.lower(), known, n=1, cutoff=0.6) if len(key) <= 64 else []
    if close:
        return f"{what} {shown(key)}: did you mean {close[0]!r}?"
    return f"{what} {shown(key)}: the keys are {', '.join(known)}"


def _parameters(
    raw: Any, sweepable: Collection[str], check_value: Callable[[str, Any], str | None], problems: list[str]
) -> dict[str, tuple[Any, ...]] | None:
    """name -> values in declared order; None when any list of values could not be read."""
    where = f"{SWEEP_KEY}.parameters"
    if raw is None:
        problems.append(f"{where} is missing: name the settings to vary and their values, e.g. {_PARAMETERS_EXAMPLE}")
        return None
    if not isinstance(raw, dict) or not raw:
        problems.append(f"{where} must be an object of settings and their values, e.g. {_PARAMETERS_EXAMPLE}")
        return None
    parameters: dict[str, tuple[Any, ...]] | None = {}
    for name, spec in raw.items():
        if name not in sweepable:
            problems.append(_not_sweepable(name, sweepable, suggest=len(problems) < MAX_PROBLEMS))
        values = _values(name, spec, problems)
        if values is None:
            parameters = None
            continue
        if name in sweepable:
            _check_values(name, values, check_value, problems)
        if parameters is not None:
            parameters[name] = values
    return parameters


def _not_sweepable(name: str, sweepable: Collection[str], *, suggest: bool) -> str:
    what = f"{SWEEP_KEY}.parameters: {shown(name)} is not a setting this flow can sweep"
    if not sweepable:
        return f"{what}; this flow cannot sweep any setting"
    close = difflib.get_close_matches(name.upper(), sorted(sweepable), n=1, cutoff=0.6) if suggest else []
    if close and len(name) <= 64:
        return f"{what}: did you mean {close[0]}?"
    return f"{what}; it can sweep {', '.join(sorted(sweepable))}"


def _values(name: str, spec: Any, problems: list[str]) -> tuple[Any, ...] | None:
    where = f"{SWEEP_KEY}.parameters.{name if IDENTIFIER.match(name) else shown(name)}"
    if isinstance(spec, dict):
        return _range(where, spec, problems)
    if not isinstance(spec, list):
        problems.append(f"{where} must be a list of values, e.g. [8, 10, 12], or a range {_RANGE_EXAMPLE}")
        return None
    if not 1 <= len(spec) <= MAX_VALUES:
        problems.append(f"{where} lists {len(spec)} values; a parameter takes 1 to {MAX_VALUES} values")
        return None
    # Nested lists or objects would neither fit one setting nor be storable in Firestore (no list in a list).
    odd = next((v for v in spec if not isinstance(v, str | int | float) or _not_finite(v)), _NOTHING)
    if odd is not _NOTHING:
        problems.append(f"{where} value {shown(odd)} must be a number, text or true/false")
        return None
    repeated = next((v for i, v in enumerate(spec) if any(_same(v, w) for w in spec[:i])), _NOTHING)
    if repeated is not _NOTHING:
        problems.append(f"{where} lists {shown(repeated)} more than once; each value would only repeat runs")
        return None
    return tuple(spec)


_NOTHING = object()


def _not_finite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _same(a: Any, b: Any) -> bool:
    # 1 == True in Python, but true and 1 are different settings.
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def _range(where: str, spec: dict[str, Any], problems: list[str]) -> tuple[Any, ...] | None:
    numbers = {k: spec.get(k) for k in _RANGE_KEYS}
    if set(spec) != set(_RANGE_KEYS) or not all(_is_number(n) for n in numbers.values()):
        problems.append(
            f'{where} range must have the numbers "from", "to" and "step" and nothing else, e.g. {_RANGE_EXAMPLE}'
        )
        return None
    # Exact decimal steps: 0.1 + 0.2 must give 0.3, not 0.30000000000000004.
    start, stop, step = (_decimal(numbers[k]) for k in _RANGE_KEYS)
    shown_range = f"from {_number_text(numbers['from'])} to {_number_text(numbers['to'])} step " + _number_text(
        numbers["step"]
    )
    if step <= 0:
        problems.append(f'{where} range {shown_range}: "step" must be greater than 0')
        return None
    if start > stop:
        problems.append(f'{where} range {shown_range}: "from" must not be greater than "to"')
        return None
    count = int((stop - start) / step) + 1
    if count > MAX_VALUES:
        problems.append(f"{where} range {shown_range} makes {count:,} values; a parameter takes at most {MAX_VALUES}")
        return None
    whole = all(isinstance(numbers[k], int) for k in ("from", "step"))
    return tuple(int(v) if whole else float(v) for v in (start + i * step for i in range(count)))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _decimal(number: float) -> Decimal:
    # repr is the shortest text that reads back as the same float: the number as the designer wrote it.
    return Decimal(number) if isinstance(number, int) else Decimal(repr(number))


def _check_values(
    name: str, values: tuple[Any, ...], check_value: Callable[[str, Any], str | None], problems: list[str]
) -> None:
    found = [p for p in (check_value(name, v) for v in values) if p]
    if found:
        more = f" (and {len(found) - 1} more of its values)" if len(found) > 1 else ""
        problems.append(f"{SWEEP_KEY}: {found[0]}{more}")


def _max_runs(raw: Any, allowed: int, problems: list[str]) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= allowed:
        problems.append(f"{SWEEP_KEY}.max_runs {shown(raw)} must be a whole number from 1 to {allowed}")
        return None
    return raw


def _strategy(raw: Any, problems: list[str]) -> tuple[Strategy | None, int | None]:
    if raw == "grid":
        return "grid", None
    if isinstance(raw, dict) and list(raw) == ["random"]:
        size = raw["random"]
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            problems.append(
                f'{SWEEP_KEY}.strategy {{"random": {shown(size)}}} must ask for a whole number of runs, at least 1'
            )
            return None, None
        return "random", size
    problems.append(
        f'{SWEEP_KEY}.strategy {shown(raw)} must be "grid" (every combination of the values) or '
        '{"random": N} (N of the combinations, drawn at random)'
    )
    return None, None


def _check_size(
    parameters: Mapping[str, tuple[Any, ...]],
    strategy: Strategy,
    sample_size: int | None,
    limit: int,
    allowed: int,
    *,
    explicit: bool,
    problems: list[str],
) -> None:
    grid = math.prod(len(values) for values in parameters.values())
    limit_text = f"max_runs {limit}" if explicit else f"the limit of {limit} runs per sweep"
    raise_hint = f"raise max_runs (up to {allowed}), " if explicit and limit < allowed else ""
    if strategy == "grid" and grid > limit:
        sizes = " x ".join(f"{len(v)} {name} value{'s' if len(v) != 1 else ''}" for name, v in parameters.items())
        problems.append(
            f"{SWEEP_KEY} would make {grid:,} runs ({sizes}), more than {limit_text}: {raise_hint}list fewer values, "
            f'or run a sample of them with "strategy": {{"random": {limit}}}'
        )
    elif strategy == "random" and sample_size is not None:
        if sample_size > limit:
            problems.append(f"{SWEEP_KEY}.strategy asks for {sample_size} random runs, more than {limit_text}")
        elif sample_size > grid:
            problems.append(
                f"{SWEEP_KEY}.strategy asks for {sample_size} random runs but the parameters make only {grid} "
                'combinations; use "strategy": "grid" to run them all'
            )


def _objective(raw: Any, problems: list[str]) -> Objective | None:
    where = f"{SWEEP_KEY}.objective"
    if not isinstance(raw, Mapping):
        problems.append(f'{where} must be an object like {{"minimize": "area_um2", "subject_to": ["wns_ns >= 0"]}}')
        return None
    for key in raw:
        if key not in _OBJECTIVE_KEYS:
            problems.append(_unknown_key(key, f"{where} has an unknown key", _OBJECTIVE_KEYS))
    senses = [s for s in ("minimize", "maximize") if s in raw]
    metric = None
    if len(senses) != 1:
        problems.append(f'{where} must have exactly one of "minimize" or "maximize", naming a metric')
    else:
        metric = _objective_metric(where, senses[0], raw[senses[0]], problems)
    # Omitting subject_to keeps the usual conditions of a working chip; an empty list means none.
    constraints = _constraints(raw["subject_to"], problems) if "subject_to" in raw else DEFAULT_CONSTRAINTS
    if metric is None or constraints is None:
        return None
    sense: Sense = "minimize" if senses[0] == "minimize" else "maximize"
    return Objective(sense, metric, constraints)


def _objective_metric(where: str, sense: str, name: Any, problems: list[str]) -> str | None:
    if not isinstance(name, str) or name not in METRIC_KINDS:
        problems.append(_unknown_metric(f"{where}.{sense}", name))
        return None
    if name in BOOLEAN_METRICS:
        problems.append(f'{where} cannot {sense} {name}: it is true or false; require it in "subject_to" instead')
        return None
    return name


def _unknown_metric(where: str, name: Any) -> str:
    what = f"{where}: {shown(name)} is not a metric"
    close = difflib.get_close_matches(name.lower(), METRIC_KINDS, n=1, cutoff=0.6) if isinstance(name, str) else []
    if close and len(name) <= 64:
        return f"{what}: did you mean {close[0]}?"
    return f"{what}; the metrics are {', '.join(METRIC_KINDS)}"


def _constraints(raw: Any, problems: list[str]) -> tuple[Constraint, ...] | None:
    where = f"{SWEEP_KEY}.objective.subject_to"
    if not isinstance(raw, list):
        problems.append(f'{where} must be a list of conditions like ["wns_ns >= 0", "lvs_match"]')
        return None
    if len(raw) > MAX_CONSTRAINTS:
        problems.append(f"{where} has {len(raw)} conditions; at most {MAX_CONSTRAINTS}")
        return None
    constraints = [_constraint(item, problems) for item in raw]
    if any(c is None for c in constraints):
        return None
    return tuple(c for c in constraints if c is not None)


def parse_constraint(text: str) -> Constraint:
    """One condition of subject_to: "metric OP number", or a true/false metric alone (meaning it is true)."""
    problems: list[str] = []
    constraint = _constraint(text, problems)
    if constraint is None:
        raise SweepError(problems)
    return constraint


def _constraint(text: Any, problems: list[str]) -> Constraint | None:
    where = f"{SWEEP_KEY}.objective.subject_to"
    if not isinstance(text, str) or len(text) > _MAX_CONDITION_CHARS:
        problems.append(f'{where}: {shown(text)} is not a condition like "wns_ns >= 0"')
        return None
    if bare := _BARE_NAME.match(text):
        name = bare.group(1)
        if name not in METRIC_KINDS:
            problems.append(_unknown_metric(where, name))
            return None
        if name not in BOOLEAN_METRICS:
            problems.append(f'{where}: {name} is a number; compare it with one, e.g. "{name} >= 0"')
            return None
        return Constraint(name, "==", True)
    condition = _CONDITION.match(text)
    if condition is None:
        problems.append(
            f"{where}: {shown(text)} is not a condition: write a metric, an operator ({' '.join(OPERATORS)}) and a "
            'number, e.g. "wns_ns >= 0", or a true/false metric alone, e.g. "lvs_match"'
        )
        return None
    name, op, operand = condition.groups()
    if name not in METRIC_KINDS:
        problems.append(_unknown_metric(where, name))
        return None
    if name in BOOLEAN_METRICS:
        if op in ("==", "!=") and operand in ("true", "false"):
            return Constraint(name, op, operand == "true")
        problems.append(f'{where}: {shown(text)}: {name} is true or false; write "{name}" or "{name} == false"')
        return None
    number = as_number(operand)
    if number is None:
        problems.append(f"{where}: {shown(text)} must compare {name} with a number")
        return None
    return Constraint(name, op, number)


def _expand(parameters: Mapping[str, tuple[Any, ...]], sample_size: int | None, seed: str) -> tuple[Mapping, ...]:
    names = list(parameters)
    if sample_size is None:
        combos: Iterable[tuple[Any, ...]] = itertools.product(*parameters.values())
    else:
        # Grid positions are drawn rather than combinations, so a large grid is never built; sorted, the runs keep
        # the grid's order. A str seed hashes the same in every process (unlike hash()).
        grid = math.prod(len(values) for values in parameters.values())
        positions = sorted(random.Random(seed).sample(range(grid), sample_size))
        combos = (_grid_combination(parameters, position) for position in positions)
    return tuple(MappingProxyType(dict(zip(names, combo, strict=True))) for combo in combos)


def _grid_combination(parameters: Mapping[str, tuple[Any, ...]], position: int) -> tuple[Any, ...]:
    """The `position`-th combination of itertools.product (the last parameter varies fastest)."""
    combination = []
    for values in reversed(list(parameters.values())):
        position, digit = divmod(position, len(values))
        combination.append(values[digit])
    return tuple(reversed(combination))


# ------------------------------------------------------------------------------------------------ judging
def feasible(objective: Objective, metrics: Metrics) -> bool:
    """Whether `metrics` meet every condition of the objective (unreported metrics meet none)."""
    return all(c.holds(metrics) for c in objective.constraints)


def _run_feasible(objective: Objective, result: RunResult) -> bool:
    return result.succeeded and result.metrics is not None and feasible(objective, result.metrics)


def best_run(spec: SweepSpec, results: Iterable[RunResult]) -> int | None:
    """The index of the best succeeded, feasible run that reported the objective's metric; ties go to the lower."""
    objective = spec.objective
    candidates = []
    for result in results:
        if not _run_feasible(objective, result) or result.metrics is None:
            continue
        value = _finite(getattr(result.metrics, objective.metric))
        if value is not None:
            candidates.append((value if objective.sense == "minimize" else -value, result.index))
    return min(candidates)[1] if candidates else None


def pareto_front(results: Iterable[RunResult], x: str = "area_um2", y: str = "wns_ns") -> list[int]:
    """The succeeded runs no other run beats on both lower `x` and higher `y`, by increasing x."""
    _require_numeric(x)
    _require_numeric(y)
    points = _points(results, x, y)
    front = [
        (px, py, index)
        for px, py, index in points
        if not any(qx <= px and qy >= py and (qx < px or qy > py) for qx, qy, _ in points)
    ]
    return [index for _, _, index in sorted(front, key=lambda p: (p[0], -p[1], p[2]))]


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


# ------------------------------------------------------------------------------------------------ the table
def comparison_table(spec: SweepSpec, results: Iterable[RunResult], best: int | None) -> tuple[str, dict[str, Any]]:
    """CSV text and a JSON-compatible dict of every run of the sweep, in run order.

    A run of the spec without a result is shown as PENDING.
    """
    rows = _rows(spec, results)
    reported = [
        name
        for name in METRIC_KINDS
        if any(r.metrics is not None and getattr(r.metrics, name) is not None for r in rows)
    ]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["run", "state", *spec.parameters, *reported, "feasible", "best"])
    runs = []
    for row in rows:
        settings = dict(spec.runs[row.index]) if 0 <= row.index < len(spec.runs) else dict(row.settings)
        metrics = _json_metrics(row.metrics) if row.metrics is not None else {}
        ok = _run_feasible(spec.objective, row)
        writer.writerow(
            [
                row.index,
                row.state,
                *(_cell(settings.get(name)) for name in spec.parameters),
                *(_cell(metrics.get(name)) for name in reported),
                _cell(ok),
                _cell(row.index == best),
            ]
        )
        runs.append(
            {
                "run": row.index,
                "state": row.state,
                "settings": settings,
                "metrics": metrics,
                "feasible": ok,
                "best": row.index == best,
                "error": row.error,
            }
        )
    data = {
        "parameters": [{"name": name, "values": list(values)} for name, values in spec.parameters.items()],
        "objective": spec.objective.to_dict(),
        "best_run": best,
        "runs": runs,
    }
    return text.getvalue(), data


def _rows(spec: SweepSpec, results: Iterable[RunResult]) -> list[RunResult]:
    by_index = {r.index: r for r in results}
    for index, settings in enumerate(spec.runs):
        by_index.setdefault(index, RunResult(index, settings, PENDING))
    return [by_index[i] for i in sorted(by_index)]


def _json_metrics(metrics: Metrics) -> dict[str, Any]:
    # NaN and infinity are not JSON.
    return {k: v for k, v in metrics.to_dict().items() if not _not_finite(v)}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _number_text(value)
    text = str(value)
    # A spreadsheet runs a cell starting with = + - @ as a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@") and as_number(text) is None else text


def _number_text(number: float) -> str:
    """Shortest text of a number that reads back the same, without a needless .0."""
    if isinstance(number, float) and number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return repr(number)


# ------------------------------------------------------------------------------------------------ settings
def apply_run_settings(design: DesignSpec, settings: Mapping[str, Any]) -> DesignSpec:
    """`design` as one run of the sweep sees it: the run's settings override config.json's."""
    variables = {k: v for k, v in design.flow_variables.items() if k != SWEEP_KEY}
    # A single run does not sweep again, and a flow handed config.json would not know the key.
    variables.update(settings)
    # Flows that read config.json themselves (OpenLane) get the run's settings as a config file of their own.
    design = dataclasses.replace(design, config_file=RUN_CONFIG_FILE)
    if "CLOCK_PERIOD" not in settings:
        return dataclasses.replace(design, flow_variables=variables)
    # config.json may write the period as text ("10"), as the schema allows.
    period = as_number(settings["CLOCK_PERIOD"])
    if period is None:
        raise ValueError(f"CLOCK_PERIOD {shown(settings['CLOCK_PERIOD'])} is not a number of nanoseconds")
    return dataclasses.replace(design, clock_period_ns=period, flow_variables=variables)


# ------------------------------------------------------------------------------------------------ the plot
WIDTH, HEIGHT = 800, 560
_SCALE = 2  # drawn at twice the size and scaled down: Pillow draws lines and circles without anti-aliasing
_LEFT, _RIGHT, _TOP, _BOTTOM = 92, WIDTH - 28, 92, HEIGHT - 84
_TEXT = (33, 37, 41)
_MUTED = (108, 117, 125)
_AXIS = (73, 80, 87)
_GRID = (230, 233, 237)
_FEASIBLE = (37, 99, 235)
_INFEASIBLE = (150, 155, 160)
_FRONT = (22, 163, 74)
_BEST = (234, 88, 12)
_WHITE = (255, 255, 255)
_PLOTTABLE = 1e30
_AXIS_TITLES = {
    "cell_count": "cells",
    "area_um2": "area (um^2)",
    "wns_ns": "worst negative slack (ns)",
    "tns_ns": "total negative slack (ns)",
    "clock_period_ns": "clock period (ns)",
    "max_frequency_mhz": "maximum frequency (MHz)",
    "drc_errors": "DRC errors",
    "routing_failures": "routing failures",
    "runtime_s": "run time (s)",
    "peak_memory_mb": "peak memory (MB)",
}


@dataclass(frozen=True)
class _Dot:
    x: float
    y: float
    index: int
    feasible: bool


def pareto_plot_png(
    spec: SweepSpec,
    results: Iterable[RunResult],
    best: int | None,
    front: Sequence[int],
    x: str = "area_um2",
    y: str = "wns_ns",
) -> bytes:
    """A scatter plot (PNG, WIDTH x HEIGHT) of the succeeded runs: `x` to the right, `y` up, the front joined."""
    _require_numeric(x)
    _require_numeric(y)
    rows = _rows(spec, results)
    by_index = {r.index: r for r in rows}
    dots = [
        _Dot(px, py, i, _run_feasible(spec.objective, by_index[i]))
        for px, py, i in _points(rows, x, y)
        # Beyond this no design's figure is real, and the axis arithmetic would overflow.
        if abs(px) <= _PLOTTABLE and abs(py) <= _PLOTTABLE
    ]
    canvas = _Canvas()
    canvas.text((_LEFT, 16), f"Sweep of {len(spec.runs)} runs: {spec.objective.sense} {spec.objective.metric}", 20)
    conditions = ", ".join(str(c) for c in spec.objective.constraints) or "no conditions"
    canvas.text((_LEFT, 44), f"subject to {conditions}", 13, _MUTED, width=_RIGHT - _LEFT)
    canvas.text((_LEFT, 64), _plotted_note(rows, len(dots)), 13, _MUTED, width=_RIGHT - _LEFT)
    canvas.rectangle((_LEFT, _TOP, _RIGHT, _BOTTOM), outline=_AXIS)
    if dots:
        _draw_points(canvas, dots, best, front, x, y)
    else:
        canvas.text(
            ((_LEFT + _RIGHT) / 2, (_TOP + _BOTTOM) / 2),
            f"No succeeded run has reported {x} and {y} yet",
            16,
            _MUTED,
            anchor="mm",
        )
    canvas.text(
        ((_LEFT + _RIGHT) / 2, _BOTTOM + 34), f"{x}: {_AXIS_TITLES.get(x, x)}, lower is better", 14, anchor="mt"
    )
    canvas.vertical_text((22, (_TOP + _BOTTOM) / 2), f"{y}: {_AXIS_TITLES.get(y, y)}, higher is better", 14)
    best_plotted = any(d.index == best for d in dots)
    _draw_legend(canvas, best, best_plotted)
    return canvas.png()


def _plotted_note(rows: Sequence[RunResult], plotted: int) -> str:
    states: dict[str, int] = {}
    for row in rows:
        if not row.succeeded:
            states[row.state.lower()] = states.get(row.state.lower(), 0) + 1
    missing = sum(r.succeeded for r in rows) - plotted
    parts = [f"{count} {state}" for state, count in states.items()]
    if missing:
        parts.append(f"{missing} succeeded without both metrics")
    return f"{plotted} of {len(rows)} runs plotted" + (f"; not plotted: {', '.join(parts)}" if parts else "")


def _draw_points(canvas: _Canvas, dots: Sequence[_Dot], best: int | None, front: Sequence[int], x: str, y: str) -> None:
    x_axis = _Axis.fit([d.x for d in dots], _LEFT, _RIGHT)
    y_axis = _Axis.fit([d.y for d in dots], _BOTTOM, _TOP)
    for tick in x_axis.ticks:
        px = x_axis.pixel(tick)
        canvas.line([(px, _TOP), (px, _BOTTOM)], _GRID)
        canvas.line([(px, _BOTTOM), (px, _BOTTOM + 5)], _AXIS)
        canvas.text((px, _BOTTOM + 9), x_axis.label(tick), 12, anchor="mt")
    for tick in y_axis.ticks:
        py = y_axis.pixel(tick)
        canvas.line([(_LEFT, py), (_RIGHT, py)], _GRID)
        canvas.line([(_LEFT - 5, py), (_LEFT, py)], _AXIS)
        canvas.text((_LEFT - 9, py), y_axis.label(tick), 12, anchor="rm")
    canvas.rectangle((_LEFT, _TOP, _RIGHT, _BOTTOM), outline=_AXIS)
    at = {d.index: (x_axis.pixel(d.x), y_axis.pixel(d.y)) for d in dots}
    line = [at[i] for i in front if i in at]
    if len(line) > 1:
        canvas.line(line, _FRONT, width=3)
    for dot in sorted(dots, key=lambda d: (d.index == best, d.feasible)):  # the best one on top
        px, py = at[dot.index]
        if dot.index == best:
            canvas.circle((px, py), 9, fill=_BEST, outline=_TEXT, width=2)
        elif dot.feasible:
            canvas.circle((px, py), 6, fill=_FEASIBLE, outline=_WHITE, width=1)
        else:
            canvas.circle((px, py), 6, fill=_WHITE, outline=_INFEASIBLE, width=2)
    _label_points(canvas, dots, at, best)
    notes = []
    if len(dots) == 1:
        notes.append("Only one run to show: nothing to compare it with yet")
    elif len({d.x for d in dots}) == 1:
        notes.append(f"Every run has the same {x}")
    elif len({d.y for d in dots}) == 1:
        notes.append(f"Every run has the same {y}")
    for number, note in enumerate(notes):
        canvas.text((_RIGHT - 8, _TOP + 8 + 18 * number), note, 13, _MUTED, anchor="rt")


def _label_points(
    canvas: _Canvas, dots: Sequence[_Dot], at: Mapping[int, tuple[float, float]], best: int | None
) -> None:
    """Run numbers next to their dots, moved around a dot until they cover no other label or dot."""
    groups: dict[tuple[int, int], list[int]] = {}
    for dot in sorted(dots, key=lambda d: d.index):
        px, py = at[dot.index]
        groups.setdefault((round(px), round(py)), []).append(dot.index)
    taken = [(px - 7, py - 7, px + 7, py + 7) for px, py in at.values()]
    for (px, py), indices in groups.items():
        label = ",".join(str(i) for i in indices)
        size = 13 if best in indices else 12
        width, height = canvas.measure(label, size)
        gap = 11 if best in indices else 8
        candidates = [
            (px + gap, py - gap - height),
            (px + gap, py + gap),
            (px - gap - width, py - gap - height),
            (px - gap - width, py + gap),
            (px - width / 2, py - gap - height - 2),
            (px - width / 2, py + gap + 2),
        ]
        boxes = [(cx, cy, cx + width, cy + height) for cx, cy in candidates]
        inside = [b for b in boxes if b[0] >= _LEFT + 2 and b[2] <= _RIGHT - 2 and b[1] >= _TOP + 2 and b[3] <= _BOTTOM]
        own = (px - 7, py - 7, px + 7, py + 7)
        free = [b for b in inside if not any(_overlap(b, t) for t in taken if t != own)]
        box = (free or inside or boxes)[0]
        taken.append(box)
        canvas.text((box[0], box[1]), label, size, _BEST if best in indices else _TEXT)


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _draw_legend(canvas: _Canvas, best: int | None, best_plotted: bool) -> None:
    x, y = float(_LEFT), HEIGHT - 22.0
    items: list[tuple[str, str]] = [
        ("feasible", "meets subject_to"),
        ("infeasible", "fails subject_to"),
        ("front", "Pareto front"),
    ]
    if best is None:
        items.append(("none", "no best run: no succeeded run meets subject_to"))
    else:
        items.append(("best", f"best: run {best}" + ("" if best_plotted else " (not plotted)")))
    for kind, text in items:
        if kind == "feasible":
            canvas.circle((x + 6, y), 6, fill=_FEASIBLE, outline=_WHITE, width=1)
        elif kind == "infeasible":
            canvas.circle((x + 6, y), 6, fill=_WHITE, outline=_INFEASIBLE, width=2)
        elif kind == "front":
            canvas.line([(x - 4, y), (x + 16, y)], _FRONT, width=3)
        elif kind == "best":
            canvas.circle((x + 6, y), 8, fill=_BEST, outline=_TEXT, width=2)
        start = x + (20 if kind != "none" else 0)
        canvas.text((start, y), text, 13, _BEST if kind == "best" else _TEXT, anchor="lm")
        x = start + canvas.measure(text, 13)[0] + 26


@dataclass(frozen=True)
class _Axis:
    """A linear axis from data values to pixels, with round tick values."""

    low: float
    high: float
    start: float  # pixel of `low`
    end: float  # pixel of `high`
    ticks: tuple[float, ...]
    step: float

    @classmethod
    def fit(cls, values: Sequence[float], start: float, end: float) -> _Axis:
        low, high = min(values), max(values)
        if high - low <= 1e-12 * max(1.0, abs(low)):
            # One value (or all equal): show it in the middle of a range around it.
            half = abs(low) * 0.1 or 1.0
            low, high = low - half, high + half
        else:
            pad = (high - low) * 0.08
            low, high = low - pad, high + pad
        step = _tick_step((high - low) / 6)
        first = math.ceil(low / step)
        ticks = tuple(round(i * step, 12) + 0.0 for i in range(first, math.floor(high / step) + 1))
        return cls(low, high, start, end, ticks, step)

    def pixel(self, value: float) -> float:
        return self.start + (value - self.low) / (self.high - self.low) * (self.end - self.start)

    def label(self, value: float) -> str:
        biggest = max(abs(self.low), abs(self.high))
        if biggest >= 1e7 or self.step < 1e-5:
            return f"{value:.3g}"
        decimals = max(0, -math.floor(math.log10(self.step) + 1e-9))
        if not math.isclose(self.step * 10**decimals, round(self.step * 10**decimals)):
            decimals += 1  # a step of 2.5 needs one more digit
        return f"{value + 0.0:,.{decimals}f}"


def _tick_step(rough: float) -> float:
    magnitude = 10 ** math.floor(math.log10(rough))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= rough)


@functools.lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


class _Canvas:
    """Drawing in WIDTH x HEIGHT coordinates on an image _SCALE times larger."""

    def __init__(self) -> None:
        self.image = Image.new("RGB", (WIDTH * _SCALE, HEIGHT * _SCALE), _WHITE)
        self.draw = ImageDraw.Draw(self.image)

    def png(self) -> bytes:
        out = io.BytesIO()
        self.image.resize((WIDTH, HEIGHT), Image.Resampling.LANCZOS).save(out, format="PNG", optimize=True)
        return out.getvalue()

    def measure(self, text: str, size: int) -> tuple[float, float]:
        left, top, right, bottom = self.draw.textbbox((0, 0), text, font=_font(size * _SCALE))
        return (right - left) / _SCALE, (bottom - top) / _SCALE

    def text(
        self,
        xy: tuple[float, float],
        text: str,
        size: int,
        fill: tuple[int, int, int] = _TEXT,
        *,
        anchor: str = "lt",
        width: float | None = None,
    ) -> None:
        """`anchor`: horizontal l/m/r and vertical t/m of `xy` (placed by the ink, for every kind of font)."""
        font = _font(size * _SCALE)
        if width is not None:
            text = self._fit(text, size, width)
        left, top, right, bottom = self.draw.textbbox((0, 0), text, font=font)
        x, y = xy[0] * _SCALE, xy[1] * _SCALE
        x -= {"l": 0, "m": (right - left) / 2, "r": right - left}[anchor[0]] + left
        y -= {"t": 0, "m": (bottom - top) / 2, "b": bottom - top}[anchor[1]] + top
        self.draw.text((x, y), text, fill=fill, font=font)

    def vertical_text(self, center: tuple[float, float], text: str, size: int) -> None:
        font = _font(size * _SCALE)
        left, top, right, bottom = self.draw.textbbox((0, 0), text, font=font)
        label = Image.new("L", (right - left + 4, bottom - top + 4), 0)
        ImageDraw.Draw(label).text((2 - left, 2 - top), text, fill=255, font=font)
        mask = label.rotate(90, expand=True)
        x = round(center[0] * _SCALE - mask.width / 2)
        y = round(center[1] * _SCALE - mask.height / 2)
        self.image.paste(Image.new("RGB", mask.size, _AXIS), (x, y), mask)

    def _fit(self, text: str, size: int, width: float) -> str:
        if self.measure(text, size)[0] <= width:
            return text
        while text and self.measure(text + "…", size)[0] > width:
            text = text[:-1]
        return text.rstrip(" ,") + "…"

    def line(self, points: Sequence[tuple[float, float]], fill: tuple[int, int, int], width: int = 1) -> None:
        scaled = [(px * _SCALE, py * _SCALE) for px, py in points]
        self.draw.line(scaled, fill=fill, width=width * _SCALE, joint="curve")

    def rectangle(self, box: tuple[float, float, float, float], *, outline: tuple[int, int, int]) -> None:
        self.draw.rectangle([c * _SCALE for c in box], outline=outline, width=_SCALE)

    def circle(
        self,
        center: tuple[float, float],
        radius: float,
        *,
        fill: tuple[int, int, int],
        outline: tuple[int, int, int],
        width: int,
    ) -> None:
        cx, cy, r = center[0] * _SCALE, center[1] * _SCALE, radius * _SCALE
        self.draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill, outline=outline, width=width * _SCALE)
