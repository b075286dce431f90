"""Search against the full grid on the real local stack, with the real LibreLane flow (examples/mac).

The design is a registered 16x16 multiply-accumulate, whose synthesis really trades area against speed on the OSU
0.35 um cells: from about 281,000 um2 at 92 MHz to 422,000 um2 at 146 MHz. The space is every synthesis setting the
librelane-osu035 flow can sweep that changes the netlist or might: SYNTH_STRATEGY (9) x SYNTH_ABC_BUFFERING (2) x
SYNTH_ABC_AREA_USE_NF (2) x SYNTH_SHARE_RESOURCES (2) = 72 combinations. (CLOCK_PERIOD is left out: this flow's
synthesis gives the same netlist at every period, so it would only move the slack.) SYNTH_SHARE_RESOURCES changes
nothing in a design with one multiplier; the grid cannot know that, a search can learn it.

The grid runs once, as three sweeps of 24 (the deployment's limit of runs per sweep) submitted together. Then
NSGA-II, TPE and, as the baseline a search must beat, random sampling search the same space with a budget of a third
of it, in batches of four, --seeds seeds each. The objectives: the smallest area and the highest clock frequency. A
result's quality is the hypervolume of its Pareto front (moocore computes it) as a fraction of the grid's, against
the same reference point (a tenth of each axis' range beyond the worst figure the grid saw).
Three seeds say little about a sampler's worst case, so each strategy is also replayed --replays times over the
grid's own figures (the same sampler code the service runs, told the grid's result for each run it proposes): the
replay's worst and tenth-percentile fractions.
Prints the grid's front with the run the default rule picks (the smallest area that meets timing), a table, and as
its last line one JSON object with grid_runs, budget, nsga2_hypervolume_fraction_min and tpe_hypervolume_fraction_min
(the worst seed), and more.
Usage: python bench/exploration.py [--seeds 3] [--replays 50] [--stack demo]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import moocore
import numpy as np

from devstack.load import design_archive
from devstack.stack import REPO_ROOT, LocalStack, StackLayout
from olc_cli import client
from olc_cli.client import ClientConfig
from shared.adapters.optuna_search import OptunaSampler
from shared.domain.metrics import Metrics
from shared.domain.sweeps.objective import default_objective, feasible
from shared.domain.sweeps.search import Dimension, SearchPlan, trials

FLOW = "librelane-osu035"
DESIGN = REPO_ROOT / "examples" / "mac"
STRATEGIES = ("AREA 0", "AREA 1", "AREA 2", "AREA 3", "DELAY 0", "DELAY 1", "DELAY 2", "DELAY 3", "DELAY 4")
SPACE: dict[str, list[Any]] = {
    "SYNTH_STRATEGY": list(STRATEGIES),
    "SYNTH_ABC_BUFFERING": [True, False],
    "SYNTH_ABC_AREA_USE_NF": [True, False],
    "SYNTH_SHARE_RESOURCES": [True, False],
}
GRID_PARTS = 3  # sweeps the grid is split into, by SYNTH_STRATEGY, to stay within MAX_SWEEP_RUNS (24)
OBJECTIVES = [{"minimize": "area_um2"}, {"maximize": "max_frequency_mhz"}]
SEARCHES = ("nsga2", "tpe", "random")
THROTTLE = 4


def run_sweep(sweep: dict[str, Any], timeout_s: float = 3600) -> tuple[dict, float]:
    """One sweep of examples/mac as a user of its own, to its end: (the job, its wall time from upload)."""
    config = ClientConfig.from_env(f"bench-explore-{uuid.uuid4().hex[:6]}@example.com")
    data = design_archive(DESIGN, OLC_FLOW=FLOW, OLC_SWEEP=sweep)
    began = time.monotonic()
    source = client.upload(config, "mac-explore.tar.gz", data, notify=False, reuse=False)
    job = client.wait_for_job(config, client.expected_job_id(source), timeout_s, lambda _: None)
    if job["state"] != "SUCCEEDED":
        raise RuntimeError(f"sweep {job['id']} ended {job['state']}: {job.get('reason')}")
    return job, time.monotonic() - began


def succeeded_runs(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [run for job in jobs for run in job["sweep"]["runs"] if run["state"] == "SUCCEEDED" and run.get("metrics")]


def points(runs: list[dict[str, Any]]) -> np.ndarray:
    """Each run with every objective's figure, as a point to minimise on every axis."""
    wanted = [next(iter(o.items())) for o in OBJECTIVES]
    found = [
        [float(m[metric]) if sense == "minimize" else -float(m[metric]) for sense, metric in wanted]
        for m in (run["metrics"] for run in runs)
        if all(m.get(metric) is not None for _, metric in wanted)
    ]
    return np.array(found, dtype=float).reshape(-1, len(wanted))


def run_grid() -> tuple[list[dict[str, Any]], float]:
    """The full grid, as GRID_PARTS sweeps at once: (their jobs, the wall time until the last ended)."""
    share = len(STRATEGIES) // GRID_PARTS
    parts = [STRATEGIES[i : i + share] for i in range(0, len(STRATEGIES), share)]
    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(parts)) as pool:
        jobs = list(
            pool.map(
                lambda part: run_sweep(
                    {"parameters": {**SPACE, "SYNTH_STRATEGY": list(part)}, "strategy": "grid", "max_runs": 24}
                )[0],
                parts,
            )
        )
    return jobs, time.monotonic() - began


def describe(run: dict[str, Any]) -> str:
    s, m = run["settings"], run["metrics"]
    flags = " ".join(name.removeprefix("SYNTH_") for name in SPACE if s.get(name) is True)
    return f"{m['area_um2']:>10,.0f} um2 {m['max_frequency_mhz']:>7.1f} MHz  {s['SYNTH_STRATEGY']:<8} {flags}"


def print_grid_front(runs: list[dict[str, Any]], found: np.ndarray) -> None:
    """The grid's trade-off, and the one run the default rule would have handed the designer."""
    rule = default_objective(FLOW)
    feasible_runs = [r for r in runs if feasible(rule, Metrics.from_dict(r["metrics"]))]
    best = min(feasible_runs, key=lambda r: r["metrics"]["area_um2"]) if feasible_runs else None
    on_front = moocore.is_nondominated(found)
    front = sorted((r for r, keep in zip(runs, on_front, strict=True) if keep), key=lambda r: r["metrics"]["area_um2"])
    seen = set()
    print("the grid's Pareto front (one line per distinct design):")
    for run in front:
        figures = (run["metrics"]["area_um2"], run["metrics"]["max_frequency_mhz"])
        if figures not in seen:
            seen.add(figures)
            print("  " + describe(run))
    if best is not None:
        print(f"the default rule's best run (smallest area with wns_ns >= 0 at 10 ns):\n  {describe(best)}")


def _key(settings: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(settings[name] for name in SPACE)


def replay(strategy: str, seed: int, budget: int, grid: dict[tuple[Any, ...], Metrics]) -> np.ndarray:
    """A search run by the service's sampler over the grid's figures instead of the flow: its points."""
    objectives = tuple(next(iter(o.items())) for o in OBJECTIVES)
    dimensions = tuple(Dimension(name, choices=tuple(values)) for name, values in SPACE.items())
    plan = SearchPlan(strategy, budget, THROTTLE, objectives, seed, dimensions)  # type: ignore[arg-type]
    sampler, proposed, ended = OptunaSampler(), [], {}
    while len(proposed) < budget:
        for settings in sampler.propose(plan, trials(plan, proposed, ended), min(THROTTLE, budget - len(proposed))):
            ended[len(proposed)] = ("SUCCEEDED", grid[_key(settings)])
            proposed.append(settings)
    return points([{"metrics": metrics.to_dict()} for _, metrics in ended.values()])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--replays", type=int, default=50, help="seeds of each strategy replayed on the grid's figures")
    parser.add_argument("--stack", default="demo")
    args = parser.parse_args()
    layout = StackLayout.for_name(args.stack)
    LocalStack(layout).up()
    os.environ.update(layout.client_env())

    grid_runs = int(np.prod([len(v) for v in SPACE.values()]))
    budget = grid_runs // 3
    print(f"grid of {grid_runs} runs ...", flush=True)
    grid_jobs, grid_wall = run_grid()
    runs = succeeded_runs(grid_jobs)
    found = points(runs)
    spread = found.max(axis=0) - found.min(axis=0)
    reference = found.max(axis=0) + 0.1 * np.where(spread > 0, spread, 1.0)
    grid_hv = float(moocore.hypervolume(found, ref=reference))
    print(f"grid: {len(found)} of {grid_runs} runs with figures, {grid_wall:.0f} s")
    print_grid_front(runs, found)

    table = {_key(run["settings"]): Metrics.from_dict(run["metrics"]) for run in runs}
    replays: dict[str, list[float]] = {}
    for strategy in SEARCHES:
        replays[strategy] = [
            float(moocore.hypervolume(np.minimum(replay(strategy, seed, budget, table), reference), ref=reference))
            / grid_hv
            for seed in range(1, args.replays + 1)
        ]
        mine = replays[strategy]
        print(
            f"{strategy} replayed on the grid's figures, {args.replays} seeds: worst {min(mine):.3f}, "
            f"10th percentile {np.percentile(mine, 10):.3f}, mean {np.mean(mine):.3f}",
            flush=True,
        )

    searches = [(strategy, seed) for strategy in SEARCHES for seed in range(1, args.seeds + 1)]

    def one(search: tuple[str, int]) -> dict[str, Any]:
        strategy, seed = search
        sweep = {
            "strategy": strategy,
            "budget": budget,
            "throttle": THROTTLE,
            "seed": seed,
            "objectives": OBJECTIVES,
            "parameters": SPACE,
        }
        job, wall = run_sweep(sweep)
        mine = points(succeeded_runs([job]))
        hv = float(moocore.hypervolume(np.minimum(mine, reference), ref=reference)) if len(mine) else 0.0
        fraction = hv / grid_hv
        print(f"{strategy} seed {seed}: {len(job['sweep']['runs'])} runs, hypervolume {fraction:.3f}", flush=True)
        return {
            "strategy": strategy,
            "seed": seed,
            "fraction": fraction,
            "wall_s": wall,
            "arrays": job["sweep"]["search"]["batches_submitted"],
            "job": job["id"],
        }

    # Two searches at a time: each is a user of its own, as designers exploring at once would be.
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(one, searches))

    print()
    print(f"{'search':<8}{'seed':>5}{'runs':>6}{'arrays':>7}{'HV / grid HV':>14}{'wall s':>9}  job")
    grid_ids = ",".join(job["id"] for job in grid_jobs)
    print(f"{'grid':<8}{'-':>5}{grid_runs:>6}{GRID_PARTS:>7}{1.0:>14.3f}{grid_wall:>9.0f}  {grid_ids}")
    for r in results:
        print(
            f"{r['strategy']:<8}{r['seed']:>5}{budget:>6}{r['arrays']:>7}{r['fraction']:>14.3f}{r['wall_s']:>9.0f}"
            f"  {r['job']}"
        )
    figures: dict[str, Any] = {
        "grid_runs": grid_runs,
        "budget": budget,
        "objectives": "minimize area_um2, maximize max_frequency_mhz",
        "grid_wall_s": round(grid_wall, 1),
        "reference_point": [round(float(v), 3) for v in reference],
    }
    for strategy in SEARCHES:
        mine = [r for r in results if r["strategy"] == strategy]
        figures[f"{strategy}_hypervolume_fraction_min"] = round(min(r["fraction"] for r in mine), 4)
        figures[f"{strategy}_hypervolume_fraction_mean"] = round(sum(r["fraction"] for r in mine) / len(mine), 4)
        figures[f"{strategy}_wall_s_mean"] = round(sum(r["wall_s"] for r in mine) / len(mine), 1)
        figures[f"{strategy}_replay_fraction_min"] = round(min(replays[strategy]), 4)
        figures[f"{strategy}_replay_fraction_p10"] = round(float(np.percentile(replays[strategy], 10)), 4)
        figures[f"{strategy}_replay_fraction_mean"] = round(float(np.mean(replays[strategy])), 4)
    figures["replays"] = args.replays
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
