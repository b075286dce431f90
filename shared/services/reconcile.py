"""Use case: repair jobs whose end was never reported.

Callbacks can be lost (hook down longer than the sender retries, a drained node), and Slurm runs no epilog at all
for a job cancelled while pending. On each tick the reconciler takes every active job that has not changed for a
while (a few fields of each), asks Slurm about all of them in one query, reads whole only those Slurm is done with
(or no longer knows), and finishes them through the same code path as the completion hook. A sweep is one job array
whose runs end one by one: each of its runs that Slurm is done with but the job never heard of is ended like a lost
run report, and the sweep ends with its last run; judging that takes the whole job, so quiet sweeps are read whole.

All the quiet jobs, not the quietest hundred: with a thousand runs at once, hundreds wait in Slurm's queue and stay
quiet as long as they wait, and a lost run that changed after them would never have been among the first hundred.
Bounded work per tick: at most `max_jobs` jobs are read whole and repaired, the ones quiet longest first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.domain.job import ACTIVE_STATES, Job
from shared.domain.outcome import is_final_slurm_state
from shared.domain.reconcile_inputs import QuietJob
from shared.domain.slurm import SlurmJobStatus, given_up, to_release
from shared.domain.sweeps import runs as sweep_runs
from shared.ports import ClusterError
from shared.services.completion.run_end import CompletionDeps
from shared.services.completion.single import finish_job
from shared.services.completion.sweep import batch_ended, repair_run
from shared.services.search import unsubmitted_batch
from shared.structured_log import fields, get

log = get(__name__)


MAX_QUIET = 5000  # quiet active jobs one pass looks at (a thousand runs at once leave room to spare)


@dataclass
class ReconcileReport:
    checked: int = 0  # quiet active jobs Slurm was asked about
    due: int = 0  # of those, the ones read whole to judge: Slurm is done with them, or they are sweeps
    repaired: dict[str, str] = field(default_factory=dict)
    released: list[str] = field(default_factory=list)  # Slurm ids held after a failed launch, released
    failed: list[str] = field(default_factory=list)  # jobs whose repair raised (logged with the error)
    # Where the pass's time went (seconds): reading the quiet jobs, asking Slurm (and releasing or cancelling held
    # runs), and reading whole, deciding and repairing the due ones.
    read_s: float = 0.0
    slurm_s: float = 0.0
    repair_s: float = 0.0


def reconcile(
    deps: CompletionDeps, now: Callable[[], datetime], quiet_for_s: float, max_jobs: int = 100
) -> ReconcileReport:
    report = ReconcileReport()
    cutoff = now() - timedelta(seconds=quiet_for_s)
    began = time.monotonic()
    quiet = [q for q in deps.jobs.quiet_active(cutoff, MAX_QUIET) if q.slurm_job_id]
    report.read_s = time.monotonic() - began
    if not quiet:
        return report
    began = time.monotonic()
    # One query for all: an array's id lists every task Slurm still knows, each under its own Slurm id.
    statuses = deps.cluster.status([q.slurm_job_id for q in quiet if q.slurm_job_id])
    report.checked = len(quiet)
    statuses = _relaunch(statuses, deps, report)
    report.slurm_s = time.monotonic() - began
    began = time.monotonic()
    try:
        # A run Slurm ended less than `quiet_for_s` ago is given as long for its end report as a quiet job is given
        # for news: the epilog sends it as the run ends and retries while the hook is busy. When 400 runs ended
        # together, the reconciler otherwise raced the reports of a dozen of them, reading their manifests in the
        # middle of that storm for the same result.
        settled = now() - timedelta(seconds=quiet_for_s)
        due = [q for q in quiet if _worth_reading(q, statuses, settled)][:max_jobs]
        report.due = len(due)
        _repair(_still_active(due, deps.jobs.get_many([q.job_id for q in due])), statuses, deps, now, report)
    finally:
        report.repair_s = time.monotonic() - began
    return report


def _worth_reading(quiet: QuietJob, statuses: dict[str, SlurmJobStatus], settled: datetime) -> bool:
    """Whether Slurm's answer leaves anything to repair: a single job still pending or running has nothing lost,
    and one whose run ended after `settled` has its end report on the way."""
    if quiet.is_sweep:
        return True  # which of its runs ended unreported, only the whole job tells
    assert quiet.slurm_job_id is not None
    status = statuses.get(quiet.slurm_job_id)
    if status is None:
        return True
    if not is_final_slurm_state(status.state):
        return False
    ended_at = quiet.ended_at(status.elapsed_s)
    return ended_at is None or ended_at <= settled


def _still_active(due: list[QuietJob], whole: dict[str, Job]) -> list[Job]:
    """The due jobs as read whole, less those whose report came (or that were submitted again) meanwhile."""
    jobs = [whole.get(q.job_id) for q in due]
    return [
        job
        for q, job in zip(due, jobs, strict=True)
        if job is not None and job.state in ACTIVE_STATES and job.slurm_job_id == q.slurm_job_id
    ]


def _repair(
    stale: list[Job],
    statuses: dict[str, SlurmJobStatus],
    deps: CompletionDeps,
    now: Callable[[], datetime],
    report: ReconcileReport,
) -> None:
    for job in stale:
        assert job.slurm_job_id is not None
        try:
            if job.is_sweep:
                array_view = [s for s in statuses.values() if s.array_job_id == job.slurm_job_id]
                result = _repair_sweep(job, array_view, deps, now)
                slurm_state = ", ".join(sorted({s.state for s in array_view})) or "unknown to Slurm"
            else:
                status = statuses.get(job.slurm_job_id)
                result = _repair_single(job, status, deps, now)
                slurm_state = status.state if status else "unknown to Slurm"
        except ClusterError:
            raise  # Slurm cannot be asked now: none of the rest could be repaired either
        except Exception:
            # One job's trouble (say, a result file that cannot be read) must not hold up every other job's repair
            # and the tick's admission, on this tick and every later one.
            report.failed.append(job.id)
            log.exception("could not reconcile a job; the next tick tries again", extra=fields(job_id=job.id))
            continue
        if result is None:
            continue
        report.repaired[job.id] = result
        log.warning(
            "reconciled a job whose end was not reported",
            extra=fields(job_id=job.id, slurm_state=slurm_state, result=result),
        )


def _relaunch(
    statuses: dict[str, SlurmJobStatus], deps: CompletionDeps, report: ReconcileReport
) -> dict[str, SlurmJobStatus]:
    """Release the runs Slurm holds after a failed launch (a node that could not start them in time), and cancel
    those that failed to launch too often. Returns the statuses to decide from: the cancelled ones as LAUNCH_FAILED."""
    released = to_release(list(statuses.values()))
    if released:
        deps.cluster.release(released)
        report.released = released
        log.warning("released runs Slurm held after a failed launch", extra=fields(slurm_job_ids=released))
    decided = {slurm_job_id: given_up(status) for slurm_job_id, status in statuses.items()}
    abandoned = [slurm_job_id for slurm_job_id, status in decided.items() if status is not statuses[slurm_job_id]]
    if abandoned:
        deps.cluster.cancel(abandoned)
    return decided


def _repair_single(
    job: Job, status: SlurmJobStatus | None, deps: CompletionDeps, now: Callable[[], datetime]
) -> str | None:
    """What was repaired, or None when nothing was lost."""
    assert job.slurm_job_id is not None
    if status is not None and not is_final_slurm_state(status.state):
        return None  # still pending or running
    reply = finish_job(job.id, job.slurm_job_id, deps, now, known_status=status)
    return None if reply.message.startswith("already") else reply.message  # "already": the report came meanwhile


def _repair_sweep(
    job: Job, array_view: list[SlurmJobStatus], deps: CompletionDeps, now: Callable[[], datetime]
) -> str | None:
    # A sweep's history does not move while its runs do, so a long sweep is looked at on every tick once quiet; a run
    # that ends just then may be recorded both here and by its report: the first wins, the second changes nothing.
    if unsubmitted_batch(job):
        return batch_ended(job, deps, now).message  # a search's batch was proposed but never reached Slurm
    repairs = sweep_runs.runs_to_repair(job, array_view)
    if not repairs and not sweep_runs.all_ended(job):
        return None  # every run without an end is still pending or running
    if not repairs:
        return batch_ended(job, deps, now).message  # every run ended, but the job (or search) never went on
    replies = [f"run {index}: {repair_run(job, index, task, deps, now).message}" for index, task in repairs]
    return "; ".join(replies)
