"""A sweep job's runs over time (shared/domain/sweeps/runs.py): per-run states, slots, and how the job ends."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from shared.domain.design import DesignSpec
from shared.domain.job import Job, JobState, SourceObject, new_job
from shared.domain.metrics import Metrics
from shared.domain.slurm import SlurmJobStatus
from shared.domain.sweeps import runs as sweep_runs
from shared.domain.sweeps.spec import parse_sweep, schema_check, sweepable_parameters

T0 = datetime(2026, 11, 25, 12, tzinfo=UTC)
GOOD = Metrics(area_um2=100.0, wns_ns=0.0, drc_errors=0, lvs_match=True)


def sweep_job(periods: list[int], throttle: int = 2) -> Job:
    sweep = parse_sweep(
        {"parameters": {"CLOCK_PERIOD": periods}},
        sweepable=sweepable_parameters("qflow-osu035"),
        max_runs_allowed=10,
        seed="j0",
        check_value=schema_check,
    )
    design = DesignSpec("spm", "spm", ("src/spm.v",), sweep=sweep)
    job = new_job(job_id="j" + "1" * 19, owner="a@b.c", source=SourceObject("d", "a@b.c/x.tgz", 1), at=T0)
    return replace(job, design=design, array_throttle=throttle, state=JobState.SUBMITTED)


def end(job: Job, index: int, state: str, metrics: Metrics | None = None) -> Job:
    updated = sweep_runs.record_run_end(job, index, state, metrics, None, str(100 + index))
    assert updated is not None
    return updated


def test_slots_are_the_throttle_until_fewer_runs_are_left() -> None:
    job = sweep_job([5, 6, 7])
    assert sweep_runs.slots(job) == 2
    job = end(end(job, 0, "SUCCEEDED", GOOD), 1, "FAILED")
    assert sweep_runs.slots(job) == 1 and not sweep_runs.all_ended(job)


def test_a_run_reports_stages_then_ends_once() -> None:
    job = sweep_job([5, 6])
    job = sweep_runs.record_run_stage(job, 1, "routing", T0, "101")
    assert job is not None and job.state is JobState.RUNNING and job.runs[1].stage == "routing"
    job = end(job, 1, "SUCCEEDED", GOOD)
    assert sweep_runs.record_run_end(job, 1, "FAILED", None, "late", "101") is None  # an end is final
    assert sweep_runs.record_run_stage(job, 1, "late stage", T0, "101") is None


def test_partial_failures_stay_per_run_and_the_best_run_wins() -> None:
    job = end(end(end(sweep_job([5, 6, 7]), 0, "FAILED"), 1, "SUCCEEDED", GOOD), 2, "CANCELLED")
    state, reason, best = sweep_runs.outcome(job)
    assert (state, best) == (JobState.SUCCEEDED, 1)
    assert reason == "3 runs: 1 succeeded, 1 failed, 1 cancelled; best run 1"


def test_without_a_success_the_job_says_how_its_runs_ended() -> None:
    assert sweep_runs.outcome(end(end(sweep_job([5, 6]), 0, "CANCELLED"), 1, "CANCELLED"))[0] is JobState.CANCELLED
    assert sweep_runs.outcome(end(end(sweep_job([5, 6]), 0, "TIMEOUT"), 1, "TIMEOUT"))[0] is JobState.TIMEOUT
    assert sweep_runs.outcome(end(end(sweep_job([5, 6]), 0, "TIMEOUT"), 1, "CANCELLED"))[0] is JobState.FAILED


def test_cancel_ends_the_runs_that_never_started() -> None:
    job = sweep_runs.record_run_stage(sweep_job([5, 6, 7]), 0, "synthesis", T0, "100")
    assert job is not None
    job = sweep_runs.cancel_waiting_runs(job)
    assert job is not None
    assert [r.state for r in job.runs] == ["RUNNING", "CANCELLED", "CANCELLED"]
    assert not sweep_runs.all_ended(job)  # the running one still reports its own end


def task(index: int | None, state: str, array: str = "100") -> SlurmJobStatus:
    return SlurmJobStatus(str(200 + (index or 0)), state, array_task_id=index, array_job_id=array)


def test_runs_slurm_is_done_with_but_the_job_never_heard_of_are_repaired() -> None:
    job = end(sweep_job([5, 6, 7, 8]), 0, "SUCCEEDED", GOOD)
    view = [task(0, "COMPLETED"), task(1, "COMPLETED"), task(2, "RUNNING"), task(3, "CANCELLED by 0")]
    repairs = sweep_runs.runs_to_repair(job, view)
    assert [(index, t.state if t else None) for index, t in repairs] == [(1, "COMPLETED"), (3, "CANCELLED by 0")]


def test_runs_not_listed_are_waiting_while_slurm_holds_waiting_tasks_and_over_once_it_does_not() -> None:
    job = sweep_job([5, 6, 7])
    waiting = [task(0, "COMPLETING"), task(None, "PENDING")]  # tasks 1 and 2 wait behind the throttle
    assert sweep_runs.runs_to_repair(job, waiting) == []
    # Slurm forgot the whole array (MinJobAge): every run without an end is over, and its manifest decides.
    assert sweep_runs.runs_to_repair(job, []) == [(0, None), (1, None), (2, None)]
    # An ended sweep needs nothing.
    done = end(end(end(job, 0, "SUCCEEDED", GOOD), 1, "FAILED"), 2, "SUCCEEDED", GOOD)
    assert sweep_runs.runs_to_repair(done, []) == []
