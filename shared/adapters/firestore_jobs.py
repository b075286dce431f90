"""Jobs in Firestore: one document per job in `jobs`, written with optimistic concurrency.

No transactions: concurrent transactions on one document livelock on the emulator and abort in production
(docs/architecture.md). Every change is read, computed, then written with a last-update-time precondition and
retried on conflict.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_document import DocumentSnapshot
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.domain.admission_inputs import (
    QUEUE_ENTRY_FIELDS,
    RUN_LOAD_FIELDS,
    QueueEntry,
    RunLoad,
    queue_entry,
    run_load,
)
from shared.domain.job import Job, JobState, Phase, phases_made_of
from shared.domain.job_codec import job_from_dict, job_to_dict
from shared.domain.reconcile_inputs import QUIET_JOB_FIELDS, QuietJob, quiet_job

JOBS = "jobs"
LOCKS = "locks"
_MAX_ATTEMPTS = 25
_BATCH = 400  # Firestore allows 500 writes per batch
_MANY = 100  # jobs per read and commit of mutate_many (a commit carries at most 10 MiB)


class ConcurrentUpdateError(RuntimeError):
    pass


class FirestoreJobs:
    def __init__(self, client: firestore.Client) -> None:
        self._db = client
        self._jobs = client.collection(JOBS)

    def create(self, job: Job) -> bool:
        try:
            self._jobs.document(job.id).create(job_to_dict(job))
        except gexc.AlreadyExists:
            return False
        return True

    def get(self, job_id: str) -> Job | None:
        snapshot = self._jobs.document(job_id).get()
        return job_from_dict(snapshot.to_dict()) if snapshot.exists else None

    def get_many(self, job_ids: Sequence[str]) -> dict[str, Job]:
        found: dict[str, Job] = {}
        for start in range(0, len(job_ids), _MANY):
            refs = [self._jobs.document(job_id) for job_id in job_ids[start : start + _MANY]]
            found |= {s.id: job_from_dict(s.to_dict()) for s in self._db.get_all(refs) if s.exists}
        return found

    def mutate(self, job_id: str, change: Callable[[Job], Job | None]) -> Job | None:
        ref = self._jobs.document(job_id)
        for attempt in range(_MAX_ATTEMPTS):
            snapshot = ref.get()
            if not snapshot.exists:
                return None
            result, changed = _apply(snapshot, change)
            if not changed:
                return result
            try:
                ref.update(changed, option=self._db.write_option(last_update_time=snapshot.update_time))
            except gexc.FailedPrecondition:
                time.sleep(min(0.01 * 2**attempt, 0.5))
                continue
            return result
        raise ConcurrentUpdateError(f"job {job_id}: gave up after {_MAX_ATTEMPTS} conflicting updates")

    def mutate_many(self, changes: Mapping[str, Callable[[Job], Job | None]]) -> dict[str, Job | None]:
        """`mutate` of many jobs in two round trips: one read of them all, then one commit of every change, each
        write guarded by its document's update time like `mutate`'s. The commit is all or nothing: if any of the
        jobs changed (or vanished) since the read, nothing is written and each job goes through `mutate` (re-read,
        retried on conflict), so a concurrent change such as a cancel is never overwritten."""
        items = list(changes.items())
        stored: dict[str, Job | None] = {}
        for start in range(0, len(items), _MANY):
            part = dict(items[start : start + _MANY])
            refs = [self._jobs.document(job_id) for job_id in part]
            snapshots = {s.id: s for s in self._db.get_all(refs)}
            batch = self._db.batch()
            result: dict[str, Job | None] = {}
            for ref in refs:
                snapshot = snapshots.get(ref.id)
                if snapshot is None or not snapshot.exists:
                    result[ref.id] = None
                    continue
                result[ref.id], changed = _apply(snapshot, part[ref.id])
                if changed:
                    option = self._db.write_option(last_update_time=snapshot.update_time)
                    batch.update(ref, changed, option=option)
            try:
                if len(batch):
                    batch.commit()
            except (gexc.FailedPrecondition, gexc.NotFound, gexc.Aborted):
                result = {job_id: self.mutate(job_id, change) for job_id, change in part.items()}
            stored.update(result)
        return stored

    def queue_entries(self, limit: int) -> list[QueueEntry]:
        if limit <= 0:
            return []
        query = (
            self._jobs.where(filter=FieldFilter("state", "==", JobState.QUEUED.value))
            .order_by("created_at")
            .limit(limit)
            .select(QUEUE_ENTRY_FIELDS)
        )
        return [queue_entry(job_from_dict(s.to_dict())) for s in query.stream()]

    def list_for_owner(
        self,
        owner: str,
        limit: int = 100,
        states: Sequence[JobState] = (),
        before: datetime | None = None,
        design: str | None = None,
    ) -> list[Job]:
        # Whole chains rather than a conditionally built one, so each query shape (and the composite index it
        # needs) is visible to tests/static/test_terraform_consistency.py.
        phases = phases_made_of(states) if states else None
        if design is not None and states:
            query = (
                self._jobs.where(filter=FieldFilter("owner", "==", owner))
                .where(filter=FieldFilter("design_name", "==", design))
                .where(filter=FieldFilter("state", "in", [s.value for s in states]))
                .order_by("created_at", direction=firestore.Query.DESCENDING)
            )
        elif design is not None:  # a design's history
            query = (
                self._jobs.where(filter=FieldFilter("owner", "==", owner))
                .where(filter=FieldFilter("design_name", "==", design))
                .order_by("created_at", direction=firestore.Query.DESCENDING)
            )
        elif phases:  # whole phases (the page's "not ended" poll): fewer disjuncts than their states
            query = (
                self._jobs.where(filter=FieldFilter("owner", "==", owner))
                .where(filter=FieldFilter("phase", "in", [p.value for p in phases]))
                .order_by("created_at", direction=firestore.Query.DESCENDING)
            )
        elif states:
            query = (
                self._jobs.where(filter=FieldFilter("owner", "==", owner))
                .where(filter=FieldFilter("state", "in", [s.value for s in states]))
                .order_by("created_at", direction=firestore.Query.DESCENDING)
            )
        else:
            query = self._jobs.where(filter=FieldFilter("owner", "==", owner)).order_by(
                "created_at", direction=firestore.Query.DESCENDING
            )
        if before is not None:
            query = query.start_after({"created_at": before})
        return [job_from_dict(s.to_dict()) for s in query.limit(limit).stream()]

    def delete(self, job_id: str) -> None:
        self._jobs.document(job_id).delete()

    def count_in_state(self, state: JobState) -> int:
        query = self._jobs.where(filter=FieldFilter("state", "==", state.value))
        return int(query.count().get()[0][0].value)

    def recent_in_states(self, states: Sequence[JobState], limit: int) -> list[Job]:
        query = self._jobs.where(filter=FieldFilter("state", "in", [s.value for s in states])).order_by(
            "created_at", direction=firestore.Query.DESCENDING
        )
        return [job_from_dict(s.to_dict()) for s in query.limit(limit).stream()]

    def active_loads(self) -> list[RunLoad]:
        # Only the fields a load comes from: decoding whole jobs (history, stages, log tails) took ~3/4 of the time
        # of reading 600 active jobs, and every dispatch round reads them all.
        query = self._jobs.where(filter=FieldFilter("phase", "==", Phase.ACTIVE.value)).select(RUN_LOAD_FIELDS)
        return [run_load(job_from_dict(s.to_dict())) for s in query.stream()]

    def quiet_active(self, before: datetime, limit: int) -> list[QuietJob]:
        query = (
            self._jobs.where(filter=FieldFilter("phase", "==", Phase.ACTIVE.value))
            .where(filter=FieldFilter("updated_at", "<", before))
            .order_by("updated_at")
            .select(QUIET_JOB_FIELDS)
            .limit(limit)
        )
        return [quiet_job(job_from_dict(s.to_dict())) for s in query.stream()]

    def count_for_owner(self, owner: str, state: JobState) -> int:
        query = self._jobs.where(filter=FieldFilter("owner", "==", owner)).where(
            filter=FieldFilter("state", "==", state.value)
        )
        return int(query.count().get()[0][0].value)

    def set_queue_positions(self, positions: Mapping[str, tuple[int, datetime]]) -> None:
        items = list(positions.items())
        for start in range(0, len(items), _BATCH):
            batch = self._db.batch()
            for job_id, (position, eta) in items[start : start + _BATCH]:
                batch.update(self._jobs.document(job_id), {"queue_position": position, "estimated_start_at": eta})
            try:
                batch.commit()
            except gexc.NotFound:
                pass  # a job vanished (deleted) meanwhile; the next round rewrites the rest

    def recent_run_seconds(self, limit: int) -> list[float]:
        query = (
            self._jobs.where(filter=FieldFilter("state", "==", JobState.SUCCEEDED.value))
            .order_by("created_at", direction=firestore.Query.DESCENDING)
            .limit(limit)
        )
        seconds = []
        for snapshot in query.stream():
            job = job_from_dict(snapshot.to_dict())
            started, ended = job.entered_at(JobState.SUBMITTED), job.entered_at(JobState.SUCCEEDED)
            if started and ended:
                seconds.append((ended - started).total_seconds())
        return seconds

    def succeeded_with_key(self, content_key: str, owner: str | None) -> list[Job]:
        # Equality filters only: Firestore merges the single-field indexes, so no composite index is needed.
        if owner is None:
            query = self._jobs.where(filter=FieldFilter("content_key", "==", content_key)).where(
                filter=FieldFilter("state", "==", JobState.SUCCEEDED.value)
            )
        else:
            query = (
                self._jobs.where(filter=FieldFilter("content_key", "==", content_key))
                .where(filter=FieldFilter("state", "==", JobState.SUCCEEDED.value))
                .where(filter=FieldFilter("owner", "==", owner))
            )
        return [job_from_dict(s.to_dict()) for s in query.limit(5).stream()]


class FirestoreLease:
    """A named lease (`locks/NAME`) held by one holder until released or expired; taken with preconditions."""

    def __init__(self, client: firestore.Client, name: str) -> None:
        self._db = client
        self._ref = client.collection(LOCKS).document(name)

    def acquire(self, holder: str, ttl_s: float) -> bool:
        now = datetime.now(UTC)
        record = {"holder": holder, "expires_at": now + timedelta(seconds=ttl_s)}
        snapshot = self._ref.get()
        try:
            if not snapshot.exists:
                self._ref.create(record)
                return True
            current = snapshot.to_dict()
            if current.get("holder") and current["expires_at"] > now and current["holder"] != holder:
                return False
            self._ref.update(record, option=self._db.write_option(last_update_time=snapshot.update_time))
        except (gexc.AlreadyExists, gexc.FailedPrecondition):
            return False
        return True

    def release(self, holder: str) -> None:
        snapshot = self._ref.get()
        if not snapshot.exists or snapshot.to_dict().get("holder") != holder:
            return
        try:
            self._ref.update(
                {"holder": None, "expires_at": datetime.now(UTC)},
                option=self._db.write_option(last_update_time=snapshot.update_time),
            )
        except gexc.FailedPrecondition:
            pass  # someone took it over after expiry; theirs now


def _apply(snapshot: DocumentSnapshot, change: Callable[[Job], Job | None]) -> tuple[Job, dict[str, Any]]:
    """`change` applied to the stored job: the job as it will be, and the fields to write (none: nothing changed).

    Only the fields that differ from the stored document are written. That makes the same document as writing them
    all (the update-time precondition guarantees nothing else changed since the read), at less cost: encoding whole
    jobs was half of recording a 50-job chunk's CPU in bench/dispatch.py's burst."""
    stored = snapshot.to_dict() or {}
    current = job_from_dict(stored)
    updated = change(current)
    if updated is None or updated == current:
        return current, {}
    fields = job_to_dict(updated)
    return updated, {name: value for name, value in fields.items() if name not in stored or stored[name] != value}
