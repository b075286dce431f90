"""FirestoreJobs on a real Firestore emulator: the dispatcher's and reconciler's fast reads (FirestoreJobs.active_loads,
the active jobs' loads from a few fields, not whole jobs; FirestoreJobs.quiet_active, the quiet active jobs, the same
way), queries by phase and the upgrade that stores it on older jobs (shared/adapters/firestore_upgrade.py), and
FirestoreJobs.mutate_many (one read and one commit for many jobs, each write guarded by its document's update time)
with a whole burst through dispatch().

The property that matters for recording: a change made by someone else between the batch's read and its commit (an
owner's cancel) is never overwritten; the batch then falls back to `mutate` job by job.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from google.cloud import firestore

from devstack import process
from devstack.stack import FIRESTORE_EMULATOR
from shared.adapters import firestore_upgrade
from shared.adapters.firestore_jobs import FirestoreJobs, FirestoreLease
from shared.domain.admission_inputs import queue_entry, run_load
from shared.domain.design import DesignSpec, Resources
from shared.domain.job import (
    Job,
    JobState,
    RunProgress,
    SourceObject,
    advance,
    new_job,
    record_submission,
)
from shared.domain.job_codec import job_to_dict
from shared.domain.quota import QuotaLimits
from shared.domain.reconcile_inputs import quiet_job
from shared.domain.sweeps.objective import DEFAULT_OBJECTIVE
from shared.domain.sweeps.spec import SweepSpec
from shared.ports import BatchMutations
from shared.services.cancel import CANCELLED_BY_OWNER
from shared.services.dispatch import SUBMIT_CHUNK, DispatchDeps, dispatch
from shared.services.notify import Notifier
from tests.unit.fakes import FakeCluster, FakeMailer, FakeQuotas

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    if not FIRESTORE_EMULATOR.exists():
        pytest.fail("the Firestore emulator (a gcloud component) is not installed")
    state = tmp_path_factory.mktemp("firestore")
    port = free_port()
    env = {**os.environ, "CLOUDSDK_CONFIG": str(state / "gcloud"), "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}
    argv = [str(FIRESTORE_EMULATOR), "start", "--host=127.0.0.1", f"--port={port}"]
    process.start_daemon(state, "firestore", argv, env=env)
    saved = os.environ.get("FIRESTORE_EMULATOR_HOST")
    try:
        process.wait_until(lambda: process.port_open(port), timeout_s=60, what="firestore")
        os.environ["FIRESTORE_EMULATOR_HOST"] = f"127.0.0.1:{port}"
        yield
    finally:
        if saved is None:
            os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
        else:
            os.environ["FIRESTORE_EMULATOR_HOST"] = saved
        process.stop_daemon(state, "firestore")


@pytest.fixture
def db(emulator: None) -> firestore.Client:
    return firestore.Client(project=f"record-{uuid.uuid4().hex[:8]}")  # a project of its own: an empty database


def queued(n: int, owner: str = "ada@example.com") -> Job:
    source = SourceObject("designs", f"{owner}/d{n}.tar.gz", 1000 + n)
    return new_job(job_id=f"j{n:019x}", owner=owner, source=source, at=T0 + timedelta(seconds=n))


def recording(slurm_id: str) -> Callable[[Job], Job | None]:
    return lambda j: record_submission(j, slurm_id, T0 + timedelta(hours=1))


class CancelDuringRecording(FirestoreJobs):
    """Cancels `victim` (as cancel_job does a queued job) after the batch has read the jobs and before it commits:
    the first change applied does it."""

    def __init__(self, client: firestore.Client, victim: Callable[[Mapping[str, object]], str | None]) -> None:
        super().__init__(client)
        self._victim = victim
        self.cancelled: list[str] = []

    def mutate_many(self, changes: Mapping[str, Callable[[Job], Job | None]]) -> dict[str, Job | None]:
        victim = self._victim(changes)

        def wrap(change: Callable[[Job], Job | None]) -> Callable[[Job], Job | None]:
            def wrapped(job: Job) -> Job | None:
                if victim is not None and victim not in self.cancelled:
                    self.cancelled.append(victim)
                    self.mutate(victim, lambda j: advance(j, JobState.CANCELLED, T0, CANCELLED_BY_OWNER))
                return change(job)

            return wrapped

        return super().mutate_many({job_id: wrap(change) for job_id, change in changes.items()})


def test_loads_read_from_a_few_fields_are_what_the_whole_jobs_hold(db: firestore.Client) -> None:
    """A plain run with its history, stages and log, and a sweep of 6 runs (throttle 5, 4 still open) whose owner has
    a second one: the loads read from RUN_LOAD_FIELDS equal run_load of the whole jobs; waiting jobs hold nothing."""
    jobs = FirestoreJobs(db)
    plain = replace(
        advance(record_submission(queued(1), "7", T0), JobState.RUNNING, T0 + timedelta(seconds=1)),
        resources=Resources(cpus=4, memory_mb=2048, time_limit_minutes=90),
        stage="synthesis",
        log_tail="line\n" * 40,
    )
    sweep_spec = SweepSpec(
        parameters={"CLOCK_PERIOD": tuple(range(5, 11))},
        strategy="grid",
        sample_size=None,
        objective=DEFAULT_OBJECTIVE,
        max_runs=6,
        seed="s",
        runs=tuple({"CLOCK_PERIOD": p} for p in range(5, 11)),
    )
    design = DesignSpec(design_name="spm", top_module="spm", verilog_files=("src/spm.v",), sweep=sweep_spec)
    sweep = replace(
        record_submission(replace(queued(2, "bob@example.com"), design=design), "8", T0, array_throttle=5),
        runs=(RunProgress(0, "SUCCEEDED"), RunProgress(1, "FAILED"), RunProgress(2, "RUNNING")),
    )
    other = record_submission(queued(3, "bob@example.com"), "9", T0)
    waiting = queued(4)
    for job in (plain, sweep, other, waiting):
        jobs.create(job)

    loads = jobs.active_loads()

    expected = [run_load(j) for j in (plain, sweep, other)]
    assert sorted(loads, key=repr) == sorted(expected, key=repr)
    # Each field counts: the sweep's open runs (not its throttle), the plain run's CPUs and time limit.
    assert sorted((load.owner, load.slots) for load in loads) == [
        ("ada@example.com", 1),
        ("bob@example.com", 1),
        ("bob@example.com", 4),
    ]
    assert run_load(plain).reserved_core_hours == 6.0
    assert run_load(sweep).reserved_core_hours == 6 * run_load(other).reserved_core_hours


def test_queue_entries_are_the_oldest_waiting_jobs_and_get_many_reads_them_whole(db: firestore.Client) -> None:
    jobs = FirestoreJobs(db)
    newer, older, running = queued(7), queued(5), advance(record_submission(queued(6), "9", T0), JobState.RUNNING, T0)
    for job in (newer, older, running):
        jobs.create(job)
    shown_at = T0 + timedelta(minutes=3)
    jobs.set_queue_positions({newer.id: (2, shown_at)})

    entries = jobs.queue_entries(10)

    assert entries == [queue_entry(older), queue_entry(replace(newer, queue_position=2, estimated_start_at=shown_at))]
    assert jobs.queue_entries(1) == entries[:1] and jobs.queue_entries(0) == []
    whole = jobs.get_many([newer.id, "j" + "0" * 19, older.id])
    assert whole == {newer.id: jobs.get(newer.id), older.id: older}


def test_quiet_active_jobs_read_from_a_few_fields_are_what_the_whole_jobs_hold(db: firestore.Client) -> None:
    """Active jobs unchanged since before the cutoff, quietest first, as quiet_job of the whole jobs: a running sweep
    and a submitted run; not a run that changed since, a waiting job or an ended one."""
    jobs = FirestoreJobs(db)
    design = DesignSpec(
        design_name="spm",
        top_module="spm",
        verilog_files=("src/spm.v",),
        sweep=SweepSpec(
            parameters={"CLOCK_PERIOD": (5, 6)},
            strategy="grid",
            sample_size=None,
            objective=DEFAULT_OBJECTIVE,
            max_runs=2,
            seed="s",
            runs=({"CLOCK_PERIOD": 5}, {"CLOCK_PERIOD": 6}),
        ),
    )
    submitted = record_submission(queued(1), "7", T0 + timedelta(minutes=2))
    sweep = advance(
        record_submission(replace(queued(2), design=design), "8", T0), JobState.RUNNING, T0 + timedelta(minutes=1)
    )
    changed_since = advance(record_submission(queued(3), "9", T0), JobState.RUNNING, T0 + timedelta(minutes=20))
    ended = advance(record_submission(queued(4), "10", T0), JobState.SUCCEEDED, T0 + timedelta(minutes=1))
    for job in (submitted, sweep, changed_since, ended, queued(5)):
        jobs.create(job)

    quiet = jobs.quiet_active(T0 + timedelta(minutes=10), limit=10)

    assert quiet == [quiet_job(sweep), quiet_job(submitted)]
    assert [(q.slurm_job_id, q.is_sweep, q.changed_at) for q in quiet] == [
        ("8", True, T0 + timedelta(minutes=1)),
        ("7", False, T0 + timedelta(minutes=2)),
    ]
    assert jobs.quiet_active(T0 + timedelta(minutes=10), limit=1) == quiet[:1]


def test_a_list_of_whole_phases_is_the_list_of_their_states(db: firestore.Client) -> None:
    jobs = FirestoreJobs(db)
    fetching = replace(queued(1), state=JobState.FETCHING)
    running = advance(record_submission(queued(2), "7", T0), JobState.RUNNING, T0 + timedelta(minutes=1))
    ended = advance(record_submission(queued(4), "8", T0), JobState.FAILED, T0 + timedelta(minutes=1))
    others = replace(queued(5, "bob@example.com"), id="j" + "e" * 19)
    for job in (fetching, running, queued(3), ended, others):
        jobs.create(job)
    not_ended = (JobState.FETCHING, JobState.QUEUED, JobState.SUBMITTED, JobState.RUNNING)

    listed = jobs.list_for_owner("ada@example.com", states=not_ended)

    assert [j.id for j in listed] == [queued(3).id, running.id, fetching.id]  # newest first, the owner's only
    assert [j.id for j in jobs.list_for_owner("ada@example.com", states=(JobState.FAILED,))] == [ended.id]


def _stored_before_phases(db: firestore.Client, job: Job) -> None:
    data = job_to_dict(job)
    del data["phase"]
    db.collection("jobs").document(job.id).set(data)


def test_the_upgrade_stores_the_phase_of_older_jobs_once(db: firestore.Client) -> None:
    jobs = FirestoreJobs(db)
    running = advance(record_submission(queued(1), "7", T0), JobState.RUNNING, T0)
    submitted = record_submission(queued(2), "8", T0)
    for job in (running, submitted, queued(3)):
        _stored_before_phases(db, job)
    jobs.create(record_submission(queued(4), "9", T0))  # stored with its phase: not written again
    assert len(jobs.active_loads()) == 1  # the older active ones are invisible to the dispatcher's count

    assert firestore_upgrade.upgrade_jobs(db) == 3

    assert sorted(q.job_id for q in jobs.quiet_active(T0 + timedelta(hours=1), 10)) == sorted(
        [running.id, submitted.id, queued(4).id]
    )
    assert len(jobs.active_loads()) == 3
    assert db.collection("jobs").document(queued(3).id).get().get("phase") == "waiting"
    _stored_before_phases(db, queued(5))
    assert firestore_upgrade.upgrade_jobs(db) == 0  # the version is recorded: a later deploy reads one document


def test_the_firestore_repository_offers_batched_mutations(db: firestore.Client) -> None:
    assert isinstance(FirestoreJobs(db), BatchMutations)


def test_mutate_many_applies_each_change_and_answers_like_mutate(db: firestore.Client) -> None:
    jobs = FirestoreJobs(db)
    a, b, c = queued(1), queued(2), queued(3)
    for job in (a, b, c):
        jobs.create(job)

    stored = jobs.mutate_many({a.id: recording("101"), b.id: lambda j: None, "j" + "0" * 19: recording("103")})

    assert stored[a.id] is not None and (stored[a.id].state, stored[a.id].slurm_job_id) == (JobState.SUBMITTED, "101")
    assert stored[b.id] == b  # no change: the job as stored
    assert stored["j" + "0" * 19] is None  # no such job
    assert jobs.get(a.id) == stored[a.id]
    # Written field by field, the document is exactly what writing the whole job makes it.
    assert db.collection("jobs").document(a.id).get().to_dict() == job_to_dict(stored[a.id])
    assert jobs.get(b.id) == b and jobs.get(c.id) == c

    single = jobs.mutate(c.id, recording("104"))
    assert single is not None and db.collection("jobs").document(c.id).get().to_dict() == job_to_dict(single)


def test_a_cancel_between_the_batch_read_and_its_commit_is_kept(db: firestore.Client) -> None:
    jobs = CancelDuringRecording(db, victim=lambda changes: sorted(changes)[1])
    batch = [queued(n) for n in range(1, 6)]
    for job in batch:
        jobs.create(job)

    stored = jobs.mutate_many({job.id: recording(str(100 + i)) for i, job in enumerate(batch)})

    victim = batch[1]
    assert jobs.cancelled == [victim.id]
    kept = jobs.get(victim.id)
    # The cancel stands, with the Slurm id recorded so that the run can be stopped.
    assert kept is not None and (kept.state, kept.reason, kept.slurm_job_id) == (
        JobState.CANCELLED,
        CANCELLED_BY_OWNER,
        "101",
    )
    assert stored[victim.id] == kept
    for i, job in enumerate(batch):
        if job is not victim:
            assert (jobs.get(job.id).state, jobs.get(job.id).slurm_job_id) == (JobState.SUBMITTED, str(100 + i))


class Scripts:
    def render(self, job: Job) -> str:
        return f"#!/bin/bash\necho {job.id}\n"


def test_a_burst_is_dispatched_round_robin_recorded_once_and_a_cancel_meanwhile_stops_its_run(
    db: firestore.Client,
) -> None:
    """Three chunks of a burst through dispatch() on Firestore: each chunk recorded (while the next is submitted)
    before the next count; a job cancelled while its chunk was being recorded is scancelled, not overwritten."""
    users = [f"u{i}@example.com" for i in range(3)]
    # Oldest first, the users' jobs come one user after another: only the fair order interleaves them.
    burst = [queued(n, users[(n - 1) // 40]) for n in range(1, 121)]
    picked: list[str] = []

    def second_chunk_victim(changes: Mapping[str, object]) -> str | None:
        picked.append("")
        return sorted(changes)[7] if len(picked) == 2 else None

    jobs = CancelDuringRecording(db, victim=second_chunk_victim)
    for job in burst:
        jobs.create(job)
    cluster = FakeCluster()
    deps = DispatchDeps(
        jobs=jobs,
        lease=FirestoreLease(db, "dispatcher"),
        cluster=cluster,
        scripts=Scripts(),  # type: ignore[arg-type]
        quotas=FakeQuotas(),
        notifier=Notifier(jobs, FakeMailer(), "results"),
        limits=QuotaLimits(global_concurrency=1000, user_concurrency=1000, user_monthly_core_hours=1e9),
    )

    report = dispatch(deps, "dispatcher-1", lambda: T0 + timedelta(hours=1))

    assert len(cluster.batches) == 3 and max(len(b) for b in cluster.batches) == SUBMIT_CHUNK
    assert sorted(cluster.submitted_ids) == sorted(j.id for j in burst)  # each once
    # Round robin: no user is ever more than one submission ahead of another.
    owner = {j.id: j.owner for j in burst}
    counts = dict.fromkeys(users, 0)
    for job_id in cluster.submitted_ids:
        counts[owner[job_id]] += 1
        assert max(counts.values()) - min(counts.values()) <= 1
    (victim,) = jobs.cancelled
    stored = {j.id: jobs.get(j.id) for j in burst}
    assert report.submitted == {job_id: job.slurm_job_id for job_id, job in stored.items()}
    assert stored[victim].state is JobState.CANCELLED
    assert cluster.cancelled == [stored[victim].slurm_job_id]
    assert all(j.state is JobState.SUBMITTED for job_id, j in stored.items() if job_id != victim)
