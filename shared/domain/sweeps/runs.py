"""A sweep job's runs over time: each run (one Slurm array task) reports and ends on its own; the job ends when
every run has. Partial failures stay per run: the job succeeds when at least one run did.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime

from shared.domain.job import Job, JobState, RunProgress, advance
from shared.domain.metrics import Metrics
from shared.domain.outcome import is_final_slurm_state
from shared.domain.slurm import SlurmJobStatus
from shared.domain.sweeps.judging import RunResult, best_run

_OUTCOME_ORDER = ("SUCCEEDED", "TIMEOUT", "FAILED", "CANCELLED")


def run_count(job: Job) -> int:
    return len(job.design.sweep.runs) if job.design is not None and job.design.sweep is not None else 1


def slots(job: Job) -> int:
    """Runs this job may have in Slurm at once: what quotas count (runs, not jobs)."""
    if not job.is_sweep:
        return 1
    open_runs = run_count(job) - sum(1 for r in job.runs if r.ended)
    return max(0, min(job.array_throttle or 1, open_runs))


def _runs(job: Job) -> list[RunProgress]:
    known = {r.index: r for r in job.runs}
    return [known.get(i, RunProgress(i)) for i in range(run_count(job))]


def _with_run(job: Job, index: int, run: RunProgress) -> Job:
    runs = _runs(job)
    runs[index] = run
    return replace(job, runs=tuple(runs))


def run(job: Job, index: int) -> RunProgress:
    return _runs(job)[index]


def runs_to_repair(job: Job, array_view: Iterable[SlurmJobStatus]) -> list[tuple[int, SlurmJobStatus | None]]:
    """The runs whose end never reached the job (lost end reports) although Slurm is done with them, each with
    Slurm's record of its task, or None where Slurm no longer knows the task (its manifest decides then).

    `array_view` is what Slurm lists for the job's array: a record per task it has started, and one record without a
    task index for all the tasks still waiting. While such a record is there, a run Slurm does not list is waiting.
    """
    tasks: dict[int, SlurmJobStatus] = {}
    waiting = False
    for record in array_view:
        if record.array_task_id is not None:
            tasks[record.array_task_id] = record
        elif not is_final_slurm_state(record.state):
            waiting = True
    repair: list[tuple[int, SlurmJobStatus | None]] = []
    for progress in _runs(job):
        if progress.ended:
            continue
        task = tasks.get(progress.index)
        if task is None and not waiting:
            repair.append((progress.index, None))
        elif task is not None and is_final_slurm_state(task.state):
            repair.append((progress.index, task))
    return repair


def valid_index(job: Job, index: object) -> int | None:
    return index if isinstance(index, int) and 0 <= index < run_count(job) else None


def record_run_stage(job: Job, index: int, stage: str, at: datetime, slurm_job_id: str | None) -> Job | None:
    if job.state.is_terminal:
        return None
    run = _runs(job)[index]
    if run.ended:
        return None
    moved = advance(job, JobState.RUNNING, at) or job
    updated = _with_run(
        moved, index, replace(run, state="RUNNING", stage=stage, slurm_job_id=run.slurm_job_id or slurm_job_id)
    )
    return None if updated == job else updated


def record_run_end(
    job: Job,
    index: int,
    state: str,
    metrics: Metrics | None,
    error: str | None,
    slurm_job_id: str | None,
    links: Mapping[str, str] | None = None,
) -> Job | None:
    run = _runs(job)[index]
    if job.state.is_terminal or run.ended:
        return None
    ended = replace(
        run,
        state=state,
        metrics=metrics,
        error=error,
        slurm_job_id=run.slurm_job_id or slurm_job_id,
        links=dict(links or {}),
    )
    return _with_run(job, index, ended)


def cancel_waiting_runs(job: Job) -> Job | None:
    """After scancel of the array: runs that never started will never report (no epilog runs for them)."""
    if job.state.is_terminal:
        return None
    runs = [
        replace(r, state="CANCELLED", error="cancelled before it started") if r.state == "PENDING" else r
        for r in _runs(job)
    ]
    updated = replace(job, runs=tuple(runs))
    return None if updated == job else updated


def all_ended(job: Job) -> bool:
    runs = _runs(job)
    return bool(runs) and all(r.ended for r in runs)


def results(job: Job) -> list[RunResult]:
    assert job.design is not None and job.design.sweep is not None
    settings = job.design.sweep.runs
    return [RunResult(r.index, settings[r.index], r.state, r.metrics, r.error) for r in _runs(job)]


def outcome(job: Job) -> tuple[JobState, str, int | None]:
    """(job state, reason, best run) once every run has ended."""
    assert job.design is not None and job.design.sweep is not None
    runs = _runs(job)
    counts = {s: sum(1 for r in runs if r.state == s) for s in _OUTCOME_ORDER}
    summary = ", ".join(f"{n} {s.lower()}" for s, n in counts.items() if n)
    if counts["SUCCEEDED"]:
        best = best_run(job.design.sweep, results(job))
        pick = f"best run {best}" if best is not None else "no run met the objective's conditions"
        return JobState.SUCCEEDED, f"{len(runs)} runs: {summary}; {pick}", best
    # No run succeeded: all cancelled (or all timed out) says so; any other mix is a failure.
    state = next((JobState(s) for s in ("CANCELLED", "TIMEOUT") if counts[s] == len(runs)), JobState.FAILED)
    return state, f"{len(runs)} runs: {summary}; none succeeded", None
