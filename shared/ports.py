"""The outside world as the services see it. Adapters in shared/adapters implement these; tests may fake them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, Protocol, runtime_checkable

from shared.domain.admission_inputs import QueueEntry, RunLoad
from shared.domain.events import DeadLetter
from shared.domain.git_source import FetchedDesign, GitSource
from shared.domain.job import Job, JobState
from shared.domain.mail import OutgoingMail
from shared.domain.messages import Published
from shared.domain.quota import QuotaLimits, UserQuota
from shared.domain.reconcile_inputs import QuietJob
from shared.domain.slurm import SlurmJobStatus, SlurmSubmission, SubmitResult
from shared.domain.sweeps.judging import ParetoChart
from shared.domain.sweeps.search import SearchPlan, Trial
from shared.domain.webhooks import Registration


class SecretSource(Protocol):
    def get(self, name: str) -> str:
        """The current value of secret NAME; raises SecretNotFound naming it."""
        ...


class SecretNotFound(LookupError):
    pass


class LoginNodeFinder(Protocol):
    def find_login_host(self) -> str:
        """Address (internal IP or DNS name) of the Slurm login node to SSH to."""
        ...


class JobRepository(Protocol):
    def create(self, job: Job) -> bool:
        """Store a new job; False if a job with that id already exists (nothing is overwritten)."""
        ...

    def get(self, job_id: str) -> Job | None: ...

    def get_many(self, job_ids: Sequence[str]) -> dict[str, Job]:
        """The jobs that exist among `job_ids`, by id, in few round trips."""
        ...

    def mutate(self, job_id: str, change: Callable[[Job], Job | None]) -> Job | None:
        """Apply `change` to the current job with optimistic concurrency (re-read and retry on conflict).
        `change` returns the new job, or None to leave it untouched. Returns the job as stored afterwards."""
        ...

    def queue_entries(self, limit: int) -> list[QueueEntry]:
        """The oldest `limit` QUEUED jobs' queue entries, oldest first: read from the fields
        shared.domain.admission_inputs names, not whole jobs."""
        ...

    def list_for_owner(
        self,
        owner: str,
        limit: int = 100,
        states: Sequence[JobState] = (),
        before: datetime | None = None,
        design: str | None = None,
    ) -> list[Job]:
        """The owner's jobs newest first, optionally only in `states`, of design `design` (its design_name) and
        created before `before`."""
        ...

    def delete(self, job_id: str) -> None: ...

    def count_in_state(self, state: JobState) -> int: ...

    def recent_in_states(self, states: Sequence[JobState], limit: int) -> list[Job]:
        """The newest jobs in these states, newest first (queue wait figures)."""
        ...

    def active_loads(self) -> list[RunLoad]:
        """What every active job (SUBMITTED, RUNNING) holds: read from the fields shared.domain.admission_inputs
        names, not whole jobs."""
        ...

    def quiet_active(self, before: datetime, limit: int) -> list[QuietJob]:
        """Active jobs (SUBMITTED, RUNNING) whose last state change (`updated_at`) was before `before`, the quietest
        first: read from the fields shared.domain.reconcile_inputs names, not whole jobs."""
        ...

    def count_for_owner(self, owner: str, state: JobState) -> int: ...

    def set_queue_positions(self, positions: Mapping[str, tuple[int, datetime]]) -> None:
        """Write queue position and estimated start of waiting jobs (fields only; no state change)."""
        ...

    def recent_run_seconds(self, limit: int) -> list[float]:
        """Wall seconds from submission to end of the latest successful runs."""
        ...

    def succeeded_with_key(self, content_key: str, owner: str | None) -> list[Job]:
        """SUCCEEDED jobs with this content key (of `owner` only, unless None), at most a few."""
        ...


@runtime_checkable
class BatchMutations(Protocol):
    """Optional for a JobRepository: many `mutate`s in fewer round trips (the dispatcher's recording)."""

    def mutate_many(self, changes: Mapping[str, Callable[[Job], Job | None]]) -> dict[str, Job | None]:
        """As `mutate` of each job (the same result per job id), a concurrent change never overwritten."""
        ...


class QuotaStore(Protocol):
    def limits(self, base: QuotaLimits) -> QuotaLimits:
        """`base` (from configuration) with the operator's stored defaults applied."""
        ...

    def overrides(self, users: Iterable[str]) -> dict[str, UserQuota]: ...

    def usage(self, users: Iterable[str], month: str) -> dict[str, float]:
        """Core-hours each user's finished runs used in `month` (YYYY-MM)."""
        ...

    def add_usage(self, user: str, month: str, core_hours: float) -> None: ...

    def is_admin(self, user: str) -> bool: ...

    def set_user(self, user: str, quota: UserQuota) -> None: ...

    def set_defaults(self, values: Mapping[str, object]) -> None: ...


class DeadLetterStore(Protocol):
    def record(self, key: str, letter: DeadLetter, job_id: str | None, at: datetime) -> None:
        """Keep the letter for operators; idempotent per key."""
        ...


class ReplayGuard(Protocol):
    def first_use(self, token: str, keep_until: datetime) -> bool:
        """True the first time `token` is seen (remembered until `keep_until`), False on every later call."""
        ...


class Lease(Protocol):
    def acquire(self, holder: str, ttl_s: float) -> bool: ...

    def release(self, holder: str) -> None: ...


class MessagePublisher(Protocol):
    def publish(self, topic: str, message: Published) -> None:
        """Publish `message` on `topic` in its wire form (shared/domain/messages.py `encode`)."""
        ...


class ObjectExists(RuntimeError):
    """A create-only write found the object there already."""


class ObjectGone(LookupError):
    """The object (at that generation) does not exist (any more)."""


class ObjectStore(Protocol):
    def open_read(self, bucket: str, name: str, generation: int | None = None) -> IO[bytes]:
        """Raises ObjectGone when that generation of the object no longer exists."""
        ...

    def read_text(self, bucket: str, name: str, max_bytes: int = 1 << 20) -> str | None:
        """Small text object, or None when absent."""
        ...

    def read_bytes(self, bucket: str, name: str, max_bytes: int) -> bytes | None:
        """Small object's bytes, or None when absent or larger than `max_bytes` (a cut picture is no picture)."""
        ...

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
        """Create or replace a small object (a sweep's summary files, a git submission's packed design), with
        custom metadata; returns the new generation. `create_only`: ObjectExists when it exists already."""
        ...

    def metadata(self, bucket: str, name: str, generation: int | None = None) -> dict[str, str]:
        """The object's custom metadata (x-goog-meta-*); ObjectGone when that generation no longer exists."""
        ...

    def copy(
        self, bucket: str, name: str, new_name: str, metadata: Mapping[str, str], generation: int | None = None
    ) -> int:
        """Copy an object within its bucket (server-side), replacing its custom metadata; returns the new
        generation. ObjectGone when the source no longer exists."""
        ...


@dataclass(frozen=True)
class StoredObject:
    name: str
    size: int
    updated: datetime | None = None
    content_type: str | None = None


class ResultsStore(Protocol):
    """What users may fetch of their runs: listings, time-limited links, streamed reads, and removal."""

    def list_objects(self, bucket: str, prefix: str, limit: int = 10_000) -> list[StoredObject]: ...

    def signed_url(
        self,
        bucket: str,
        name: str,
        *,
        method: str = "GET",
        expires_s: int = 900,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> str:
        """A URL that lets its holder GET (or PUT) this one object until it expires, without other credentials.
        `headers` (e.g. x-goog-meta-*) are signed too: the holder must send exactly those."""
        ...

    def iter_bytes(self, bucket: str, name: str, chunk_bytes: int = 1 << 20) -> Iterable[bytes]:
        """The object's content in chunks, never all in memory."""
        ...

    def delete_prefix(self, bucket: str, prefix: str) -> int:
        """Delete every object below `prefix`; returns how many."""
        ...

    def copy_prefix(self, bucket: str, prefix: str, new_prefix: str) -> int:
        """Copy every object below `prefix` to the same name below `new_prefix` (server-side); returns how many."""
        ...


class DesignFetcher(Protocol):
    def fetch(self, source: GitSource) -> FetchedDesign:
        """The design folder of `source` at its ref, packed as a .tar.gz; GitFetchError (shared/domain/git_source.py)
        saying why not."""
        ...


class SearchSampler(Protocol):
    def propose(self, plan: SearchPlan, trials: Sequence[Trial], count: int) -> list[dict[str, Any]]:
        """`count` new settings for a search, given every run told so far. Deterministic: the same plan and trials
        propose the same settings (a redelivered report proposes the batch the first attempt did)."""
        ...


class Cluster(Protocol):
    def submit(self, submissions: Sequence[SlurmSubmission]) -> SubmitResult:
        """Submit many batch scripts in one round trip. Raises ClusterError when the cluster cannot be reached."""
        ...

    def status(self, slurm_job_ids: Sequence[str]) -> dict[str, SlurmJobStatus]: ...

    def cancel(self, slurm_job_ids: Sequence[str]) -> None: ...

    def release(self, slurm_job_ids: Sequence[str]) -> None:
        """Let held jobs be scheduled again."""
        ...


class ClusterError(RuntimeError):
    pass


class Mailer(Protocol):
    def send(self, mail: OutgoingMail) -> None: ...


class ParetoPlotter(Protocol):
    def draw_png(self, chart: ParetoChart) -> bytes:
        """The chart of a sweep's runs (what it shows is decided in shared/domain/sweeps/judging.py) as a PNG."""
        ...

    def draw_svg(self, chart: ParetoChart, run_link: Callable[[int], str]) -> bytes:
        """The same chart as an SVG in which each run's point links to `run_link(run index)`."""
        ...


class RepoRegistry(Protocol):
    """Repository registrations ("run on every push"), one per id."""

    def add(self, registration: Registration) -> None: ...

    def get(self, repo_id: str) -> Registration | None: ...

    def for_owner(self, owner: str, limit: int) -> list[Registration]:
        """The owner's registrations, oldest first."""
        ...

    def with_url_key(self, url_key: str, limit: int) -> list[Registration]:
        """Every registration of the repository with this key (shared/domain/webhooks.py `url_key`), any owner."""
        ...

    def remove(self, repo_id: str) -> None: ...
