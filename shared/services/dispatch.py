"""Use case: admit queued jobs to Slurm, fairly and within every quota (shared/domain/quota.py).

One dispatcher at a time holds a lease (locks/dispatcher) and submits each admitted batch in chunks, each in one SSH
round trip; a chunk's Slurm ids are recorded (with a repository that can, in one read and one commit) while the next
chunk goes to Slurm, and all of them before the next count.
An invocation that finds the lease taken returns at once; the holder re-checks for work after releasing it, so a job
queued while the lease was held is never left waiting for the next tick. The lease is renewed before every sbatch
round, so a holder that stalled past its lease never submits on stale counts.
"""

from __future__ import annotations

import os
import socket
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from shared.domain.admission_inputs import QueueEntry, RunLoad
from shared.domain.job import (
    Job,
    JobState,
    advance,
    record_submission,
    record_submit_failure,
)
from shared.domain.job_script import (
    RenderError,
)
from shared.domain.quota import Admission, QuotaLimits, UserState, estimated_starts, plan_admission
from shared.domain.slurm import SlurmSubmission
from shared.ports import BatchMutations, Cluster, ClusterError, JobRepository, Lease, QuotaStore
from shared.services.notify import Notifier
from shared.services.scripts import ScriptFactory
from shared.structured_log import fields, get

log = get(__name__)
_MAX_ROUNDS = 50
MAX_QUEUE_SCAN = 5000
DEFAULT_RUN_S = 300.0
ETA_SLACK_S = 30
# Jobs per SSH round trip: large enough for throughput, small enough that the first of a burst are recorded soon.
SUBMIT_CHUNK = 50
_RECORD_THREADS = 8  # recording one job at a time, for a repository without mutate_many


@dataclass(frozen=True)
class DispatchDeps:
    jobs: JobRepository
    lease: Lease
    cluster: Cluster
    scripts: ScriptFactory
    quotas: QuotaStore
    notifier: Notifier
    limits: QuotaLimits
    lease_ttl_s: float = 60
    submit_give_up: timedelta = timedelta(minutes=30)


@dataclass
class DispatchReport:
    submitted: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    lease_busy: bool = False


def month_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


def lease_holder() -> str:
    """A name for one invocation in the lease document: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def dispatch(deps: DispatchDeps, holder: str, now: Callable[[], datetime]) -> DispatchReport:
    report = DispatchReport()
    if not deps.jobs.queue_entries(1):
        # Nothing waits (a freed slot, an idle tick): one read instead of taking and releasing the lease. A job
        # queued from now on brings its own trigger.
        return report
    for _ in range(_MAX_ROUNDS):
        if not deps.lease.acquire(holder, deps.lease_ttl_s):
            report.lease_busy = True
            return report
        try:
            seen, cluster_full = _admit(deps, holder, now, report)
        finally:
            deps.lease.release(holder)
        # A job queued while we held the lease may have had its own trigger turned away: look once more, unless the
        # cluster is full (then it could not start either; the next freed slot or tick admits it). A full cluster
        # with a long queue is when a tick's reads count most: this look is the whole queue read again.
        if cluster_full:
            return report
        if {e.job_id for e in deps.jobs.queue_entries(MAX_QUEUE_SCAN)} <= seen:
            return report
    log.warning("dispatcher stopped after many rounds; the next tick continues", extra=fields(rounds=_MAX_ROUNDS))
    return report


def _admit(
    deps: DispatchDeps, holder: str, now: Callable[[], datetime], report: DispatchReport
) -> tuple[set[str], bool]:
    """Admit while anything fits and keep the queue's positions current; returns the ids of the jobs it saw
    waiting (admitted ones included), and whether the cluster was left full."""
    admission = Admission()
    limits = deps.quotas.limits(deps.limits)
    seen: set[str] = set()
    held_since = time.monotonic()  # the lease was just taken
    while True:
        active = deps.jobs.active_loads()
        queued = deps.jobs.queue_entries(MAX_QUEUE_SCAN)
        seen |= {e.job_id for e in queued}
        if not queued:
            return seen, False
        owners = {e.waiting.owner for e in queued}
        admission = plan_admission(
            [e.waiting for e in queued],
            _user_states(deps, active, owners, month_of(now())),
            limits,
            deps.quotas.overrides(owners),
        )
        for job_id, reason in admission.reject.items():
            _end_before_start(deps, job_id, JobState.REJECTED, reason, now(), report.rejected)
        if not admission.admit:
            break
        # In the admission's order, round-robin across users: the chunks, and Slurm's job ids, follow it. Only the
        # admitted jobs are read whole (their scripts need all of them); one cancelled meanwhile is left out.
        whole = deps.jobs.get_many([w.job_id for w in admission.admit])
        admitted = [
            _with_width(whole[w.job_id], w.slots)
            for w in admission.admit
            if w.job_id in whole and whole[w.job_id].state is JobState.QUEUED
        ]
        # A chunk is recorded while the next one goes to Slurm, and every chunk is recorded before anything is
        # counted again (or the lease released): the next count must see them active.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dispatch-record") as recorder:
            recording: Future[None] | None = None
            try:
                for start in range(0, len(admitted), SUBMIT_CHUNK):
                    # Renewed once a third of its time has gone: a holder that stalled longer may have lost it, and
                    # must not submit on stale counts (lost means someone else decides now).
                    if time.monotonic() - held_since > deps.lease_ttl_s / 3:
                        if not deps.lease.acquire(holder, deps.lease_ttl_s):
                            return seen, False
                        held_since = time.monotonic()
                    result = _submit(deps, admitted[start : start + SUBMIT_CHUNK], now, report)
                    if recording is not None:
                        recording.result()
                    recording = recorder.submit(_record, deps, result, now, report)
            finally:
                if recording is not None:
                    recording.result()
    _publish_positions(deps, admission, {e.job_id: e for e in queued}, len(active), limits, now())
    return seen, admission.cluster_full


def _with_width(job: Job, slots: int) -> Job:
    return replace(job, array_throttle=slots) if job.is_sweep else job


def _user_states(
    deps: DispatchDeps, active: list[RunLoad], waiting_users: set[str], month: str
) -> dict[str, UserState]:
    counts: Counter[str] = Counter()
    reserved: Counter[str] = Counter()
    for load in active:
        counts[load.owner] += load.slots
        reserved[load.owner] += load.reserved_core_hours
    users = set(counts) | waiting_users
    used = deps.quotas.usage(users, month)
    return {u: UserState(active=counts[u], core_hours_used=used.get(u, 0.0) + reserved[u]) for u in users}


@dataclass(frozen=True)
class _Submitted:
    """What Slurm answered for one chunk, still to be recorded."""

    accepted: Mapping[str, str]  # job id -> Slurm id
    refused: Mapping[str, str]  # job id -> sbatch's error
    throttles: Mapping[str, int | None]  # a sweep's array throttle, by job id


def _submit(deps: DispatchDeps, batch: list[Job], now: Callable[[], datetime], report: DispatchReport) -> _Submitted:
    """One chunk to Slurm in one SSH round trip; a job whose script cannot be rendered ends FAILED."""
    submissions = []
    throttles = {j.id: j.array_throttle for j in batch if j.is_sweep}
    for job in batch:
        try:
            submissions.append(SlurmSubmission(job.id, deps.scripts.render(job)))
        except RenderError as exc:
            _end_before_start(deps, job.id, JobState.FAILED, f"could not prepare the run: {exc}", now(), report.failed)
    try:
        result = deps.cluster.submit(submissions)
    except ClusterError as exc:
        error = str(exc)[:300]
        for job in batch:
            deps.jobs.mutate(job.id, lambda j: record_submit_failure(j, error, now(), deps.submit_give_up))
        raise  # the trigger (Pub/Sub redelivery, next tick) retries
    return _Submitted(result.accepted, result.refused, throttles)


def _record(deps: DispatchDeps, chunk: _Submitted, now: Callable[[], datetime], report: DispatchReport) -> None:
    """Record a chunk's Slurm ids: with a repository that has mutate_many, one read and one commit for the chunk
    (per job, re-read and retried, when any of them changed meanwhile, such as a cancel)."""

    def change(slurm_id: str, throttle: int | None) -> Callable[[Job], Job | None]:
        return lambda j: record_submission(j, slurm_id, now(), throttle)

    changes = {job_id: change(slurm_id, chunk.throttles.get(job_id)) for job_id, slurm_id in chunk.accepted.items()}
    if isinstance(deps.jobs, BatchMutations):
        stored = deps.jobs.mutate_many(changes)
    else:
        # Each job is its own document, so recording in parallel contends on nothing.
        with ThreadPoolExecutor(max_workers=_RECORD_THREADS) as pool:
            stored = dict(zip(changes, pool.map(deps.jobs.mutate, changes, changes.values()), strict=True))
    to_stop = []
    for job_id, slurm_id in chunk.accepted.items():
        recorded = stored.get(job_id)
        report.submitted[job_id] = slurm_id
        # queue_wait_s feeds the log-based metric <prefix>/queue_wait (terraform/modules/monitoring).
        wait = round((now() - recorded.created_at).total_seconds(), 3) if recorded is not None else None
        log.info("submitted to Slurm", extra=fields(job_id=job_id, slurm_job_id=slurm_id, queue_wait_s=wait))
        if recorded is not None and recorded.state is JobState.CANCELLED:
            # The owner cancelled it while it was being submitted: stop the run we just started.
            to_stop.append(slurm_id)
    if to_stop:
        deps.cluster.cancel(to_stop)
    for job_id, error in chunk.refused.items():
        _end_before_start(deps, job_id, JobState.FAILED, f"Slurm refused the run: {error}", now(), report.failed)


def _end_before_start(
    deps: DispatchDeps, job_id: str, state: JobState, reason: str, at: datetime, into: dict[str, str]
) -> None:
    job = deps.jobs.mutate(job_id, lambda j: advance(j, state, at, reason))
    into[job_id] = reason
    log.warning("job ended before reaching Slurm", extra=fields(job_id=job_id, state=state.value, reason=reason))
    if job is not None and job.state is state:
        deps.notifier.job_ended(job)


def _publish_positions(
    deps: DispatchDeps,
    admission: Admission,
    queued: Mapping[str, QueueEntry],
    active_count: int,
    limits: QuotaLimits,
    now: datetime,
) -> None:
    """Queue position (1-based, fair order) and an estimated start for every waiting job, written when changed."""
    if not admission.waiting:
        return
    recent = deps.jobs.recent_run_seconds(20)
    typical = statistics.median(recent) if recent else DEFAULT_RUN_S
    free = limits.global_concurrency - active_count
    starts = estimated_starts(admission.waiting, free, limits.global_concurrency, typical, now)
    changed = {}
    for position, waiting in enumerate(admission.waiting, start=1):
        entry = queued.get(waiting.job_id)
        eta = starts[waiting.job_id]
        if entry is None or entry.queue_position != position or _moved(entry.estimated_start_at, eta):
            changed[waiting.job_id] = (position, eta)
    if changed:
        deps.jobs.set_queue_positions(changed)


def _moved(before: datetime | None, after: datetime) -> bool:
    return before is None or abs((after - before).total_seconds()) > ETA_SLACK_S
