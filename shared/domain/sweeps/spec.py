"""Which runs a sweep makes: OLC_SWEEP in config.json, checked and expanded.

A designer declares the settings to vary, how to combine them and what "best" means:

    "OLC_SWEEP": {
      "parameters": {"PL_TARGET_DENSITY": [0.5, 0.7], "CLOCK_PERIOD": {"from": 6, "to": 14, "step": 4}},
      "strategy": "grid",                     (or {"random": 8}: 8 combinations of the grid, drawn once)
      "objective": {"minimize": "area_um2", "subject_to": ["wns_ns >= 0", "drc_errors == 0", "lvs_match"]},
      "max_runs": 12
    }

parse_sweep turns that into a SweepSpec whose `runs` are the settings of each run, indexed like the Slurm array
tasks that run them (the objective is read by objective.py). Pure: no I/O, no clock.
"""

from __future__ import annotations

import difflib
import itertools
import math
import random
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Literal

from shared.domain.config_schema import IDENTIFIER, SCHEMA, shown
from shared.domain.config_schema import check_value as check_schema_value
from shared.domain.sweeps.errors import MAX_PROBLEMS, SWEEP_KEY, SweepError, unknown_key
from shared.domain.sweeps.objective import DEFAULT_OBJECTIVE, Objective, number_text, parse_objective
from shared.domain.sweeps.search import SEARCH_STRATEGIES, SearchPlan, parse_search

MAX_VALUES = 20  # per parameter
_FORMAT_VERSION = 1

Strategy = Literal["grid", "random", "search"]

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

_KEYS = ("parameters", "strategy", "objective", "max_runs", "budget", "throttle", "objectives", "seed")
_SEARCH_KEYS = ("budget", "throttle", "objectives", "seed")
_RANGE_KEYS = ("from", "to", "step")
_PARAMETERS_EXAMPLE = '{"CLOCK_PERIOD": [8, 10, 12]}'
_RANGE_EXAMPLE = '{"from": 6, "to": 14, "step": 4}'


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
    # A search (strategy "search"): the runs are proposed batch by batch, `runs` holds those proposed so far.
    search: SearchPlan | None = None

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
            "search": self.search.to_dict() if self.search else None,
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
            if strategy not in ("grid", "random", "search"):
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
                search=SearchPlan.from_dict(data["search"]) if data.get("search") else None,
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a stored sweep: {exc!r}") from exc


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
            problems.append(unknown_key(key, f"{SWEEP_KEY} has an unknown key", _KEYS))
    if value.get("strategy") in SEARCH_STRATEGIES:
        return _search(value, sweepable, max_runs_allowed, seed, check_value, default, problems)
    problems += [
        f'{SWEEP_KEY}.{key} goes with a search strategy ("random", "tpe" or "nsga2"), not with a grid'
        for key in _SEARCH_KEYS
        if key in value
    ]
    parameters = _parameters(value.get("parameters"), sweepable, check_value, problems)
    max_runs = _max_runs(value.get("max_runs"), max_runs_allowed, problems)
    strategy, sample_size = _strategy(value.get("strategy", "grid"), problems)
    objective = (
        parse_objective(value["objective"], problems) if "objective" in value else (default or DEFAULT_OBJECTIVE)
    )
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


def _search(
    value: dict[str, Any],
    sweepable: Collection[str],
    max_runs_allowed: int,
    seed: str,
    check_value: Callable[[str, Any], str | None],
    default: Objective | None,
    problems: list[str],
) -> SweepSpec:
    """A search: its runs are proposed later, batch by batch (shared/services/search.py)."""
    if "max_runs" in value:
        problems.append(f'{SWEEP_KEY}.max_runs goes with a grid; a search spends its "budget"')
    objective = (
        parse_objective(value["objective"], problems) if "objective" in value else (default or DEFAULT_OBJECTIVE)
    )
    plan = parse_search(
        value,
        value["strategy"],
        sweepable=sweepable,
        max_runs_allowed=max_runs_allowed,
        seed=seed,
        check_value=check_value,
        default=objective or DEFAULT_OBJECTIVE,
        problems=problems,
    )
    if problems or plan is None or objective is None:
        extra = len(problems) - MAX_PROBLEMS
        raise SweepError([*problems[:MAX_PROBLEMS], f"and {extra} more problems"] if extra > 0 else problems)
    first_sense, first_metric = plan.objectives[0]
    return SweepSpec(
        parameters=MappingProxyType({d.name: d.choices if d.categorical else (d.describe(),) for d in plan.dimensions}),
        strategy="search",
        sample_size=None,
        # The best run is ranked by the first objective, under the objective's conditions.
        objective=Objective(first_sense, first_metric, objective.constraints),  # type: ignore[arg-type]
        max_runs=plan.budget,
        seed=seed,
        runs=(),
        search=plan,
    )


def with_proposed_runs(spec: SweepSpec, proposed: Iterable[Mapping[str, Any]]) -> SweepSpec:
    """The spec with the next batch's runs added (their indices follow the runs proposed before)."""
    added = tuple(MappingProxyType(dict(run)) for run in proposed)
    return replace(spec, runs=(*spec.runs, *added))


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
    shown_range = f"from {number_text(numbers['from'])} to {number_text(numbers['to'])} step " + number_text(
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
