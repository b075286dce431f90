"""What the best run of a sweep is: an objective (minimize or maximize a metric) subject to conditions on other
metrics, read from OLC_SWEEP.objective (or a flow's default), and whether a run's metrics meet it.

    "objective": {"minimize": "area_um2", "subject_to": ["wns_ns >= 0", "drc_errors == 0", "lvs_match"]}
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, get_args, get_type_hints

from shared.domain.config_schema import as_number, shown
from shared.domain.metrics import Metrics
from shared.domain.sweeps.errors import SWEEP_KEY, SweepError, unknown_key

MAX_CONSTRAINTS = 20
OPERATORS = (">=", "<=", "==", "!=", ">", "<")

Sense = Literal["minimize", "maximize"]

_OBJECTIVE_KEYS = ("minimize", "maximize", "subject_to")
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
        return f"{self.metric} {self.op} {number_text(self.value)}"


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
        objective = parse_objective(data, problems)
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


# Flows that stop before layout measure no DRC and no LVS: their runs could never meet the default conditions.
_NO_LAYOUT_FLOWS = frozenset({"yosys-osu035", "librelane-osu035"})


def default_objective(flow: str) -> Objective:
    """The objective a sweep of `flow` has when OLC_SWEEP names none: the smallest area with clean timing, and
    clean DRC and LVS where the flow checks them."""
    if flow in _NO_LAYOUT_FLOWS:
        return Objective("minimize", "area_um2", (Constraint("wns_ns", ">=", 0.0),))
    return DEFAULT_OBJECTIVE


# ------------------------------------------------------------------------------------------------ reading it
def parse_objective(raw: Any, problems: list[str]) -> Objective | None:
    """OLC_SWEEP.objective (or a stored objective), checked: None with `problems` added when it is not one."""
    where = f"{SWEEP_KEY}.objective"
    if not isinstance(raw, Mapping):
        problems.append(f'{where} must be an object like {{"minimize": "area_um2", "subject_to": ["wns_ns >= 0"]}}')
        return None
    for key in raw:
        if key not in _OBJECTIVE_KEYS:
            problems.append(unknown_key(key, f"{where} has an unknown key", _OBJECTIVE_KEYS))
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


def _constraint(text: Any, problems: list[str]) -> Constraint | None:  # noqa: PLR0911 - one reason per malformed condition
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


# ------------------------------------------------------------------------------------------------ meeting it
def feasible(objective: Objective, metrics: Metrics) -> bool:
    """Whether `metrics` meet every condition of the objective (unreported metrics meet none)."""
    return all(c.holds(metrics) for c in objective.constraints)


def number_text(number: float) -> str:
    """Shortest text of a number that reads back the same, without a needless .0 (conditions, messages, tables)."""
    if isinstance(number, float) and number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return repr(number)
