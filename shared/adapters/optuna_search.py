"""The SearchSampler port over Optuna's ask-and-tell interface: random search, TPE and NSGA-II.

A search starts from a space-filling design: the first runs are a Latin hypercube over the space (SciPy's
scipy.stats.qmc), enqueued into the study, so that a small budget sees every value of every categorical parameter
before the sampler narrows in (eight random runs miss a given one of six strategies about one time in four, and that
one may hold the fastest design). From then on the strategy's own sampler proposes.

Nothing of Optuna's is stored. Each batch builds a fresh in-memory study, adds every trial told so far (their settings
and values, or FAIL), and asks for the batch; the sampler's seed is the search's seed plus the number of trials told,
so the same history always proposes the same batch: a redelivered report, or a restarted function, proposes exactly
what the first attempt did, and the whole search can be replayed from the seed recorded on the job.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from shared.domain.sweeps.search import COMPLETE, Dimension, SearchPlan, Trial

_SIGNIFICANT = 6  # proposed floats are rounded so config.json, tables and plots show readable numbers
_MAX_ASKS = 50


def _key(settings: Mapping[str, Any]) -> str:
    return repr(sorted((name, repr(value)) for name, value in settings.items()))


class OptunaSampler:
    def propose(self, plan: SearchPlan, trials: Sequence[Trial], count: int) -> list[dict[str, Any]]:
        import optuna  # imported here: only the functions that search pay for it

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        distributions = {d.name: _distribution(optuna, d) for d in plan.dimensions}
        sampler = _sampler(optuna, plan, len(trials))
        study = optuna.create_study(directions=[sense for sense, _ in plan.objectives], sampler=sampler)
        generation_of = _generations(sampler, plan)
        for trial in trials:
            params = {name: _as_told(distributions[name], trial.settings.get(name)) for name in distributions}
            if any(value is None for value in params.values()):
                continue  # a setting outside the space (cannot happen for runs this search proposed)
            study.add_trial(
                optuna.trial.create_trial(
                    params=params,
                    distributions=distributions,
                    values=list(trial.values) if trial.state == COMPLETE else None,
                    state=optuna.trial.TrialState.COMPLETE if trial.state == COMPLETE else optuna.trial.TrialState.FAIL,
                    system_attrs=generation_of(trial.index),
                )
            )
        # A run's settings are never proposed twice (a rerun of the same settings teaches the search nothing): a
        # repeat is asked again, and left pending, which TPE's constant liar reads as a poor point to avoid.
        seen = {_key(trial.settings) for trial in trials}
        for settings in initial_design(plan)[len(trials) : len(trials) + count]:
            if _key(settings) not in seen:
                study.enqueue_trial(settings, skip_if_exists=True)
        proposals: list[dict[str, Any]] = []
        for _ in range(count):
            for attempt in range(_MAX_ASKS):
                asked = study.ask(distributions)
                proposal = {d.name: _readable(d, asked.params[d.name]) for d in plan.dimensions}
                if _key(proposal) not in seen or attempt == _MAX_ASKS - 1:  # a small space may be used up
                    break
            seen.add(_key(proposal))
            proposals.append(proposal)
        return proposals


def _sampler(optuna: Any, plan: SearchPlan, told: int) -> Any:
    seed = (plan.seed + told) % (2**32)
    if plan.strategy == "tpe":
        # constant_liar: trials asked in one batch are spread out instead of all landing on the same promise.
        return optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=initial_size(plan), constant_liar=True, multivariate=True
        )
    if plan.strategy == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=_population(plan))
    return optuna.samplers.RandomSampler(seed=seed)


def _generations(sampler: Any, plan: SearchPlan) -> Any:
    """NSGA-II keeps each trial's generation in the study; a study rebuilt from history must carry it again, or every
    trial would seem to belong to the first generation and no offspring would ever be bred. Trials are told in run
    order, and NSGA-II fills generations in that order: run i is of generation i // population."""
    if plan.strategy != "nsga2":
        return lambda _index: {}
    key = type(sampler)._get_generation_key()
    population = _population(plan)
    return lambda index: {key: index // population}


def _population(plan: SearchPlan) -> int:
    # About three generations in a budget, and never fewer than four parents (two make too poor a population to
    # breed from); a generation may span batches.
    return max(plan.batch, 4, plan.budget // 3)


def initial_size(plan: SearchPlan) -> int:
    """How many runs the space-filling start has: enough to see every choice of the largest categorical parameter
    (and at least a third of the budget), but never more than half the budget, which is the search's to spend."""
    widest = max((len(d.choices) for d in plan.dimensions), default=0)
    return max(1, min(max(widest, plan.budget // 3), plan.budget // 2))


def initial_design(plan: SearchPlan) -> list[dict[str, Any]]:
    """The space-filling start: a Latin hypercube of initial_size(plan) points drawn from the plan's seed alone, so
    every rebuild of the study enqueues the same points."""
    import numpy as np
    from scipy.stats import qmc

    size = initial_size(plan)
    unit = qmc.LatinHypercube(d=len(plan.dimensions), rng=np.random.default_rng(plan.seed)).random(size)
    return [{d.name: _from_unit(d, float(u)) for d, u in zip(plan.dimensions, point, strict=True)} for point in unit]


def _from_unit(dimension: Dimension, u: float) -> Any:
    """The value at quantile `u` of a dimension: its choices in equal shares, or its range (on a log scale, or
    rounded to its step)."""
    if dimension.categorical:
        return dimension.choices[min(int(u * len(dimension.choices)), len(dimension.choices) - 1)]
    low, high = dimension.low, dimension.high
    if dimension.step:
        steps = round((high - low) / dimension.step)
        value = round(low + min(int(u * (steps + 1)), steps) * dimension.step, 12)
    elif dimension.log:
        value = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
    else:
        value = low + u * (high - low)
    if dimension.integer:
        return round(value)
    return _readable(dimension, min(max(value, low), high))


def _distribution(optuna: Any, dimension: Dimension) -> Any:
    if dimension.categorical:
        return optuna.distributions.CategoricalDistribution(list(dimension.choices))
    if dimension.integer:
        step = int(dimension.step or 1)
        return optuna.distributions.IntDistribution(
            int(dimension.low), int(dimension.high), log=dimension.log, step=step
        )
    return optuna.distributions.FloatDistribution(dimension.low, dimension.high, log=dimension.log, step=dimension.step)


def _as_told(distribution: Any, value: Any) -> Any:
    """A stored setting as the distribution takes it back, or None when it is outside the space."""
    if value is None:
        return None
    try:
        internal = distribution.to_internal_repr(value)
    except (ValueError, TypeError):
        return None
    return value if distribution._contains(internal) else None  # Optuna's own check of a value


def _readable(dimension: Dimension, value: Any) -> Any:
    if dimension.categorical or dimension.integer or dimension.step or not isinstance(value, float):
        return value
    if value == 0 or not math.isfinite(value):
        return value
    digits = _SIGNIFICANT - math.floor(math.log10(abs(value))) - 1
    rounded = round(value, digits)
    return min(max(rounded, dimension.low), dimension.high)


def settings_in_space(plan: SearchPlan, settings: Mapping[str, Any]) -> bool:
    """Whether `settings` lie in the plan's space (tests and the bench use it)."""
    for dimension in plan.dimensions:
        value = settings.get(dimension.name)
        if dimension.categorical:
            if value not in dimension.choices:
                return False
        elif not isinstance(value, int | float) or not dimension.low <= value <= dimension.high:
            return False
    return True
