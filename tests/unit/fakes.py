"""Small in-memory stand-ins for the ports in shared/ports.py, for service tests.

FakeJobs stores every job as the plain dictionary the Firestore adapter writes (shared/domain/job_codec.py), so
a service under test sees exactly what a round trip through the database would give it.
"""

from __future__ import annotations

import html
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import IO, Any

from shared.domain.admission_inputs import QueueEntry, RunLoad, queue_entry, run_load
from shared.domain.job import ACTIVE_STATES, Job, JobState
from shared.domain.job_codec import job_from_dict, job_to_dict
from shared.domain.mail import OutgoingMail
from shared.domain.messages import Published, encode
from shared.domain.quota import QuotaLimits, UserQuota
from shared.domain.reconcile_inputs import QuietJob, quiet_job
from shared.domain.slurm import LAUNCH_FAILED_HELD, SlurmJobStatus, SlurmSubmission, SubmitResult
from shared.domain.sweeps.judging import ParetoChart
from shared.domain.webhooks import Registration, registration_from_dict, registration_to_dict
from shared.ports import ClusterError, ObjectExists, ObjectGone


class FakeJobs:
    """JobRepository. `mutate` follows the adapter: None from `change` (or no change) leaves the job as it is."""

    def __init__(self, *jobs: Job) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.writes = 0
        for job in jobs:
            self.create(job)

    def create(self, job: Job) -> bool:
        if job.id in self.docs:
            return False
        self.docs[job.id] = job_to_dict(job)
        self.writes += 1
        return True

    def get(self, job_id: str) -> Job | None:
        doc = self.docs.get(job_id)
        return job_from_dict(doc) if doc is not None else None

    def mutate(self, job_id: str, change: Callable[[Job], Job | None]) -> Job | None:
        current = self.get(job_id)
        if current is None:
            return None
        updated = change(current)
        if updated is None or updated == current:
            return current
        self.docs[job_id] = job_to_dict(updated)
        self.writes += 1
        return updated

    def oldest_in_state(self, state: JobState, limit: int) -> list[Job]:
        if limit <= 0:
            return []
        return sorted((j for j in self.all() if j.state is state), key=lambda j: j.created_at)[:limit]

    def queue_entries(self, limit: int) -> list[QueueEntry]:
        return [queue_entry(job) for job in self.oldest_in_state(JobState.QUEUED, limit)]

    def get_many(self, job_ids: Sequence[str]) -> dict[str, Job]:
        return {job.id: job for job in map(self.get, job_ids) if job is not None}

    def list_for_owner(
        self,
        owner: str,
        limit: int = 100,
        states: Sequence[JobState] = (),
        before: datetime | None = None,
        design: str | None = None,
    ) -> list[Job]:
        mine = [
            j
            for j in self.all()
            if j.owner == owner
            and (not states or j.state in states)
            and (before is None or j.created_at < before)
            and (design is None or j.design_name == design)
        ]
        return sorted(mine, key=lambda j: j.created_at, reverse=True)[:limit]

    def delete(self, job_id: str) -> None:
        self.docs.pop(job_id, None)

    def count_in_state(self, state: JobState) -> int:
        return sum(1 for job in self.all() if job.state is state)

    def recent_in_states(self, states: Sequence[JobState], limit: int) -> list[Job]:
        return sorted(self.in_states(states), key=lambda j: j.created_at, reverse=True)[:limit]

    def in_states(self, states: Sequence[JobState]) -> list[Job]:
        return [job for job in self.all() if job.state in states]

    def active_loads(self) -> list[RunLoad]:
        return [run_load(job) for job in self.in_states(ACTIVE_STATES)]

    def quiet_active(self, before: datetime, limit: int) -> list[QuietJob]:
        quiet = sorted((j for j in self.in_states(ACTIVE_STATES) if j.changed_at < before), key=lambda j: j.changed_at)
        return [quiet_job(j) for j in quiet[:limit]]

    def count_for_owner(self, owner: str, state: JobState) -> int:
        return sum(1 for job in self.all() if job.owner == owner and job.state is state)

    def set_queue_positions(self, positions: Mapping[str, tuple[int, datetime]]) -> None:
        for job_id, (position, eta) in positions.items():
            if job_id in self.docs:
                self.docs[job_id] |= {"queue_position": position, "estimated_start_at": eta}

    def recent_run_seconds(self, limit: int) -> list[float]:
        ended = sorted(self.in_states([JobState.SUCCEEDED]), key=lambda j: j.created_at, reverse=True)[:limit]
        seconds = []
        for job in ended:
            started, finished = job.entered_at(JobState.SUBMITTED), job.entered_at(JobState.SUCCEEDED)
            if started and finished:
                seconds.append((finished - started).total_seconds())
        return seconds

    def succeeded_with_key(self, content_key: str, owner: str | None) -> list[Job]:
        return [
            job
            for job in self.in_states([JobState.SUCCEEDED])
            if job.content_key == content_key and (owner is None or job.owner == owner)
        ][:5]

    def all(self) -> list[Job]:
        return [job_from_dict(doc) for doc in self.docs.values()]


class FakeReplayGuard:
    def __init__(self) -> None:
        self.seen: dict[str, datetime] = {}

    def first_use(self, token: str, keep_until: datetime) -> bool:
        if token in self.seen:
            return False
        self.seen[token] = keep_until
        return True


class FakeLease:
    """Lease. `other_holder` set means someone else holds it for the whole test."""

    def __init__(self, other_holder: str | None = None) -> None:
        self.holder: str | None = other_holder
        self.acquired = 0
        self.released = 0

    def acquire(self, holder: str, ttl_s: float) -> bool:
        if self.holder not in (None, holder):
            return False
        self.holder = holder
        self.acquired += 1
        return True

    def release(self, holder: str) -> None:
        if self.holder == holder:
            self.holder = None
            self.released += 1


class FakeCluster:
    """Cluster. Accepts every submission (with increasing Slurm ids) unless its job id is in `refuse`;
    `states[slurm_id]` is the sequence of JobStates successive status calls report (the last one repeats);
    `arrays[array id]` is what Slurm lists for a job array: its tasks' records, each under its own Slurm id."""

    def __init__(self, *, first_id: int = 1000) -> None:
        self.batches: list[list[SlurmSubmission]] = []
        self.refuse: dict[str, str] = {}
        self.states: dict[str, list[str]] = {}
        self.arrays: dict[str, list[SlurmJobStatus]] = {}
        self.status_calls: list[list[str]] = []
        self.cancelled: list[str] = []
        self.released: list[str] = []
        self.held: dict[str, int] = {}  # Slurm id -> restarts: held by Slurm after a failed launch
        self.unreachable = 0  # how many of the next submit calls raise ClusterError
        self._next_id = first_id

    @property
    def submitted_ids(self) -> list[str]:
        return [s.job_id for batch in self.batches for s in batch]

    def submit(self, submissions: Sequence[SlurmSubmission]) -> SubmitResult:
        if self.unreachable > 0:
            self.unreachable -= 1
            raise ClusterError("fake: the login node does not answer")
        self.batches.append(list(submissions))
        accepted: dict[str, str] = {}
        refused: dict[str, str] = {}
        for submission in submissions:
            if submission.job_id in self.refuse:
                refused[submission.job_id] = self.refuse[submission.job_id]
            else:
                accepted[submission.job_id] = str(self._next_id)
                self._next_id += 1
        return SubmitResult(accepted=accepted, refused=refused)

    def status(self, slurm_job_ids: Sequence[str]) -> dict[str, SlurmJobStatus]:
        self.status_calls.append(list(slurm_job_ids))
        statuses: dict[str, SlurmJobStatus] = {}
        for slurm_id in slurm_job_ids:
            statuses |= {task.slurm_job_id: task for task in self.arrays.get(slurm_id, [])}
            if slurm_id in self.held and slurm_id not in self.released:
                statuses[slurm_id] = SlurmJobStatus(
                    slurm_id, "PENDING", reason=LAUNCH_FAILED_HELD, restarts=self.held[slurm_id]
                )
                continue
            sequence = self.states.get(slurm_id)
            if not sequence:
                continue  # Slurm has forgotten the job
            state = sequence.pop(0) if len(sequence) > 1 else sequence[0]
            statuses[slurm_id] = SlurmJobStatus(slurm_job_id=slurm_id, state=state)
        return statuses

    def cancel(self, slurm_job_ids: Sequence[str]) -> None:
        self.cancelled.extend(slurm_job_ids)

    def release(self, slurm_job_ids: Sequence[str]) -> None:
        self.released.extend(slurm_job_ids)


@dataclass
class FakeStore:
    """ObjectStore over a dict {(bucket, name): bytes}; generations are ignored."""

    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)
    meta: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    def put(self, bucket: str, name: str, data: bytes | str) -> None:
        self.objects[(bucket, name)] = data.encode() if isinstance(data, str) else data

    def open_read(self, bucket: str, name: str, generation: int | None = None) -> IO[bytes]:
        try:
            return io.BytesIO(self.objects[(bucket, name)])
        except KeyError:
            raise ObjectGone(f"gs://{bucket}/{name}") from None

    def read_text(self, bucket: str, name: str, max_bytes: int = 1 << 20) -> str | None:
        data = self.objects.get((bucket, name))
        return None if data is None else data[:max_bytes].decode()

    def write_bytes(
        self,
        bucket: str,
        name: str,
        data: bytes,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
        *,
        create_only: bool = False,
    ) -> int:
        if create_only and (bucket, name) in self.objects:
            raise ObjectExists(f"gs://{bucket}/{name}")
        self.objects[(bucket, name)] = data
        self.meta[(bucket, name)] = dict(metadata or {})
        return 1

    def metadata(self, bucket: str, name: str, generation: int | None = None) -> dict[str, str]:
        if (bucket, name) not in self.objects:
            raise ObjectGone(f"gs://{bucket}/{name}")
        return dict(self.meta.get((bucket, name), {}))

    def copy(
        self, bucket: str, name: str, new_name: str, metadata: Mapping[str, str], generation: int | None = None
    ) -> int:
        if (bucket, name) not in self.objects:
            raise ObjectGone(f"gs://{bucket}/{name}")
        return self.write_bytes(bucket, new_name, self.objects[(bucket, name)], "", metadata)

    def read_bytes(self, bucket: str, name: str, max_bytes: int) -> bytes | None:
        data = self.objects.get((bucket, name))
        return None if data is None or len(data) > max_bytes else data

    def copy_prefix(self, bucket: str, prefix: str, new_prefix: str) -> int:
        """ResultsStore's server-side copy of a run's results (reuse)."""
        below = [(b, n) for (b, n) in self.objects if b == bucket and n.startswith(prefix)]
        for b, name in below:
            self.objects[(b, new_prefix + name[len(prefix) :])] = self.objects[(b, name)]
        return len(below)


@dataclass
class FakeQuotas:
    """QuotaStore: stored defaults, per-user overrides and monthly usage in dicts; `added` logs add_usage calls."""

    defaults: dict[str, object] = field(default_factory=dict)
    users: dict[str, UserQuota] = field(default_factory=dict)
    used: dict[tuple[str, str], float] = field(default_factory=dict)
    admins: set[str] = field(default_factory=set)
    added: list[tuple[str, str, float]] = field(default_factory=list)

    def limits(self, base: QuotaLimits) -> QuotaLimits:
        return replace(base, **self.defaults)  # type: ignore[arg-type]

    def overrides(self, users: Iterable[str]) -> dict[str, UserQuota]:
        return {u: self.users[u] for u in users if u in self.users}

    def usage(self, users: Iterable[str], month: str) -> dict[str, float]:
        return {u: self.used[(u, month)] for u in users if (u, month) in self.used}

    def add_usage(self, user: str, month: str, core_hours: float) -> None:
        self.added.append((user, month, core_hours))
        self.used[(user, month)] = self.used.get((user, month), 0.0) + core_hours

    def is_admin(self, user: str) -> bool:
        return user in self.admins

    def set_user(self, user: str, quota: UserQuota) -> None:
        self.users[user] = quota

    def set_defaults(self, values: Mapping[str, object]) -> None:
        self.defaults.update(values)


@dataclass
class FakePublisher:
    messages: list[tuple[str, dict[str, object], dict[str, str]]] = field(default_factory=list)

    def publish(self, topic: str, message: Published) -> None:
        """Keeps what Pub/Sub would carry: the data as JSON and the attributes."""
        wire = encode(message)
        self.messages.append((topic, json.loads(wire.data), dict(wire.attributes)))

    def kinds(self) -> list[str]:
        return [str(message["kind"]) for _, message, _ in self.messages]


@dataclass
class FakeMailer:
    sent: list[OutgoingMail] = field(default_factory=list)

    def send(self, mail: OutgoingMail) -> None:
        self.sent.append(mail)


@dataclass
class FakeParetoPlotter:
    """ParetoPlotter: keeps every chart it was asked to draw and answers with a stand-in PNG, or an SVG of the links."""

    charts: list[ParetoChart] = field(default_factory=list)  # drawn as PNGs
    svg_links: list[dict[int, str]] = field(default_factory=list)  # for each SVG, where each listed run would link

    def draw_png(self, chart: ParetoChart) -> bytes:
        self.charts.append(chart)
        return b"\x89PNG\r\n\x1a\n" + f"chart of {len(chart.points)} runs".encode()

    def draw_svg(self, chart: ParetoChart, run_link: Callable[[int], str]) -> bytes:
        links = {index: run_link(index) for index in range(chart.listed_runs)}
        self.svg_links.append(links)
        anchors = "".join(f'<a href="{html.escape(link)}"/>' for link in links.values())
        return f'<svg xmlns="http://www.w3.org/2000/svg">{anchors}</svg>'.encode()


class FakeRepos:
    """RepoRegistry: registrations by id, kept as the adapter writes them (shared/domain/webhooks.py)."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    def add(self, registration: Registration) -> None:
        assert registration.id not in self.docs, "the adapter's create() would fail"
        self.docs[registration.id] = registration_to_dict(registration)

    def get(self, repo_id: str) -> Registration | None:
        doc = self.docs.get(repo_id)
        return registration_from_dict(doc) if doc else None

    def for_owner(self, owner: str, limit: int) -> list[Registration]:
        mine = [registration_from_dict(d) for d in self.docs.values() if d["owner"] == owner]
        return sorted(mine, key=lambda r: r.created_at)[:limit]

    def with_url_key(self, url_key: str, limit: int) -> list[Registration]:
        return [registration_from_dict(d) for d in self.docs.values() if d["url_key"] == url_key][:limit]

    def remove(self, repo_id: str) -> None:
        self.docs.pop(repo_id, None)
