"""Search-based exploration on the real stack with the real LibreLane: a TPE and an NSGA-II search of 8 runs in
batches of 4 (two Slurm arrays), runs that fail do not stop them, and a completion killed right after submitting a
batch does not submit it twice."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

from shared.domain.job_script import slurm_job_name
from tests.e2e.test_sweeps import submit_sweep, wait_until

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack

FLOW = "librelane-osu035"


def search(strategy: str, seed: int) -> dict[str, Any]:
    return {
        "strategy": strategy,
        "budget": 8,
        "throttle": 4,
        "seed": seed,
        "objectives": [{"minimize": "area_um2"}, {"maximize": "wns_ns"}],
        # On a log scale about a third of the periods are shorter than spm's ~1.1 ns: with the design asking to fail on
        # timing violations, those runs fail, and the search must go on.
        "parameters": {"CLOCK_PERIOD": {"min": 0.2, "max": 20, "log": True}, "SYNTH_STRATEGY": ["AREA 0", "DELAY 1"]},
    }


def run_search(stack: RunningStack, strategy: str, seed: int) -> tuple[dict[str, Any], str]:
    user = f"search-{strategy}-{uuid.uuid4().hex[:6]}@example.com"
    sweep = search(strategy, seed)
    config, job_id = submit_sweep(stack, user, sweep, OLC_FLOW=FLOW, QUIT_ON_TIMING_VIOLATIONS=True)
    job = wait_until(config, job_id, lambda j: j["state"] in ("SUCCEEDED", "FAILED", "REJECTED"), timeout_s=420)
    return job, job_id


def arrays_of(stack: RunningStack, job_id: str) -> Counter[str]:
    """How many Slurm jobs (arrays: each task is listed under its array's id) carry each of the job's names."""
    listing = stack.squeue("-o", "%j %F")  # name, array job id
    arrays = {tuple(line.split()) for line in listing.splitlines() if line.startswith(slurm_job_name(job_id))}
    return Counter(name for name, _array in arrays)


@pytest.mark.parametrize(("strategy", "seed"), [("tpe", 5), ("nsga2", 5)])
def test_a_search_of_8_runs_in_two_arrays_ends_with_a_front_and_a_best_run(
    stack: RunningStack, strategy: str, seed: int
) -> None:
    job, job_id = run_search(stack, strategy, seed)
    assert job["state"] == "SUCCEEDED", job["reason"]
    sweep = job["sweep"]
    runs = sweep["runs"]
    assert len(runs) == 8 and all(r["state"] in ("SUCCEEDED", "FAILED") for r in runs)
    assert sweep["search"]["progress"] == "8 of 8 runs" and sweep["search"]["batches_submitted"] == 2
    assert arrays_of(stack, job_id) == {slurm_job_name(job_id): 1, slurm_job_name(job_id, 1): 1}
    failed = [r for r in runs if r["state"] == "FAILED"]
    print(f"\n{strategy}: {len(failed)} of 8 runs failed; best run {sweep['best_run']}; reason: {job['reason']}")
    assert failed, "the space is meant to make some runs fail on timing"
    assert sweep["best_run"] is not None and runs[sweep["best_run"]]["state"] == "SUCCEEDED"
    assert "pareto" in job["links"]
    periods = [r["settings"]["CLOCK_PERIOD"] for r in runs]
    assert all(0.2 <= p <= 20 for p in periods) and len(set(periods)) == 8


def test_the_same_seed_proposes_the_same_first_batch(stack: RunningStack) -> None:
    """The seed recorded on the job reproduces the search: the first batch depends on nothing else."""
    first, _ = run_search(stack, "random", 9)
    again, _ = run_search(stack, "random", 9)
    settings = [[r["settings"] for r in job["sweep"]["runs"][:4]] for job in (first, again)]
    assert settings[0] == settings[1]
    assert first["sweep"]["search"]["seed"] == 9


def test_a_completion_killed_after_submitting_a_batch_does_not_submit_it_twice(stack: RunningStack) -> None:
    faults = stack.layout.state / "faults.json"
    user = f"search-crash-{uuid.uuid4().hex[:6]}@example.com"
    config, job_id = submit_sweep(stack, user, search("nsga2", 3), OLC_FLOW=FLOW, QUIT_ON_TIMING_VIOLATIONS=True)
    wait_until(config, job_id, lambda j: j["state"] == "RUNNING", timeout_s=120)
    faults.write_text(json.dumps({"crash-after-sbatch": 1}))  # the next sbatch is the second batch's
    try:
        job = wait_until(config, job_id, lambda j: j["state"] in ("SUCCEEDED", "FAILED"), timeout_s=420)
        crashed = json.loads(faults.read_text())["crash-after-sbatch"] == 0
    finally:
        faults.unlink(missing_ok=True)
    assert crashed, "the function submitting the second batch was killed right after its sbatch"
    assert job["state"] == "SUCCEEDED", job["reason"]
    assert len(job["sweep"]["runs"]) == 8
    assert arrays_of(stack, job_id) == {slurm_job_name(job_id): 1, slurm_job_name(job_id, 1): 1}
