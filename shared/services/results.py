"""Use cases: what came out of a run — its files with time-limited links, the whole run as one archive, its log.

Access is checked by the caller (the job comes from queries.get_job); these functions only read the results
bucket below the job's own prefix, so nothing outside it can be named or reached.
"""

from __future__ import annotations

import contextvars
import posixpath
import zipfile
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.domain.job import ACTIVE_STATES, Job
from shared.ports import ResultsStore

LINK_LIFETIME_S = 900
LOG_FOLDER = "files/logs/"
MAX_LOG_LINES = 500
# Signing a link is CPU work with a key (an IAM call each in production) that releases the GIL, so a listing's links
# are signed side by side (49 links of an spm run: 17 ms one by one, 9 ms on 4 threads).
_SIGNERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="link-signing")


class NoResults(LookupError):
    """The job has no results (yet, or ever: rejected and cancelled-while-queued jobs)."""


@dataclass(frozen=True)
class Artifact:
    path: str  # relative to the job's results folder, e.g. "files/qflow/layout/spm.gds"
    size: int
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class LogTail:
    source: str  # "live" while the run goes on, else the log file's path
    lines: list[str]


def list_artifacts(store: ResultsStore, bucket: str, job: Job, now: datetime) -> list[Artifact]:
    prefix = _prefix(job)
    expires = now + timedelta(seconds=LINK_LIFETIME_S)
    objects = store.list_objects(bucket, prefix)
    context = contextvars.copy_context()  # the request's (its trace, for log lines), in each signing thread

    def sign(name: str) -> str:
        return context.copy().run(store.signed_url, bucket, name, expires_s=LINK_LIFETIME_S)

    urls = _SIGNERS.map(sign, [obj.name for obj in objects])
    return [
        Artifact(path=obj.name[len(prefix) :], size=obj.size, url=url, expires_at=expires)
        for obj, url in zip(objects, urls, strict=True)
    ]


def artifact_link(store: ResultsStore, bucket: str, job: Job, path: str) -> str:
    """A signed link to one file of the run; `path` must name an existing object below the job's folder."""
    prefix = _prefix(job)
    clean = posixpath.normpath(path)
    if clean.startswith(("/", "..")) or clean != path:
        raise NoResults(f"{path!r} is not a file of this run")
    if not any(obj.name == prefix + clean for obj in store.list_objects(bucket, prefix + clean, limit=1)):
        raise NoResults(f"this run has no file {path!r}")
    return store.signed_url(bucket, prefix + clean, expires_s=LINK_LIFETIME_S)


def archive_name(job: Job) -> str:
    return f"{job.design_name or 'design'}-{job.id}.zip"


def stream_archive(store: ResultsStore, bucket: str, job: Job) -> Iterator[bytes]:
    """The run's whole results folder as a ZIP, produced while it is sent (bounded memory, any size)."""
    prefix = _prefix(job)
    objects = store.list_objects(bucket, prefix)
    if not objects:
        raise NoResults(f"job {job.id} has no results to download")
    return _zip_stream((obj.name[len(prefix) :], obj.updated, store.iter_bytes(bucket, obj.name)) for obj in objects)


def log_tail(store: ResultsStore, bucket: str, job: Job, lines: int) -> LogTail:
    lines = min(max(lines, 1), MAX_LOG_LINES)
    if job.state in ACTIVE_STATES:
        return LogTail("live", (job.log_tail or "").splitlines()[-lines:])
    logs = sorted(
        obj.name for obj in store.list_objects(bucket, _prefix(job) + LOG_FOLDER) if obj.name.endswith(".log")
    )
    if not logs:
        raise NoResults(f"job {job.id} left no log")
    last: deque[str] = deque(maxlen=lines)
    pending = b""
    for chunk in store.iter_bytes(bucket, logs[-1]):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        last.extend(line.decode("utf-8", errors="replace") for line in complete)
    if pending:
        last.append(pending.decode("utf-8", errors="replace"))
    return LogTail(logs[-1][len(_prefix(job)) :], list(last))


def _prefix(job: Job) -> str:
    if not job.results_prefix:
        raise NoResults(f"job {job.id} has no results ({job.state.value})")
    return job.results_prefix


class _Spout:
    """A write-only file for zipfile whose bytes are taken out as they come."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.offset = 0

    def write(self, data: bytes) -> int:
        self.buffer += data
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


def _zip_stream(members: Iterable[tuple[str, datetime | None, Iterable[bytes]]]) -> Iterator[bytes]:
    spout = _Spout()
    with zipfile.ZipFile(spout, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:  # type: ignore[arg-type]
        for name, updated, chunks in members:
            info = zipfile.ZipInfo(name, (updated or datetime.now(UTC)).timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, mode="w", force_zip64=True) as member:
                for chunk in chunks:
                    member.write(chunk)
                    if len(spout.buffer) >= 1 << 20:
                        yield spout.take()
            yield spout.take()
    yield spout.take()
