"""Fault injection at the cluster and storage boundaries, for the local stack's fault tests only.

When OLC_ENV=local and OLC_FAULTS_FILE names a JSON file such as {"crash-after-sbatch": 2}, the wrapped cluster
kills its own process right after sbatch returned, that many times: the crash between submitting and recording
that the dispatcher must survive without a second run. {"storage-read-error": 5} makes that many reads of an upload
fail, as an outage of Cloud Storage would. Production never builds these wrappers (shared/bootstrap.py).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from shared.domain.slurm import SlurmJobStatus, SlurmSubmission, SubmitResult
from shared.ports import Cluster, ObjectStore
from shared.structured_log import get

log = get(__name__)
CRASH_EXIT_CODE = 70


def take_fault(path: Path, name: str) -> bool:
    """Consume one planned occurrence of fault `name`; True if it should happen now."""
    if not path.exists():
        return False
    with open(path, "r+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        plan = json.loads(handle.read() or "{}")
        if int(plan.get(name, 0)) <= 0:
            return False
        plan[name] = int(plan[name]) - 1
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(plan))
    return True


class FailingStore:
    """An ObjectStore whose upload reads fail while the fault plan says so."""

    def __init__(self, inner: ObjectStore, faults_file: Path) -> None:
        self._inner = inner
        self._faults = faults_file

    def open_read(self, bucket: str, name: str, generation: int | None = None) -> IO[bytes]:
        if take_fault(self._faults, "storage-read-error"):
            raise OSError("fault injection: Cloud Storage did not answer")
        return self._inner.open_read(bucket, name, generation)

    def read_text(self, bucket: str, name: str, max_bytes: int = 1 << 20) -> str | None:
        return self._inner.read_text(bucket, name, max_bytes)

    def read_bytes(self, bucket: str, name: str, max_bytes: int) -> bytes | None:
        return self._inner.read_bytes(bucket, name, max_bytes)

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
        return self._inner.write_bytes(bucket, name, data, content_type, metadata, create_only=create_only)

    def metadata(self, bucket: str, name: str, generation: int | None = None) -> dict[str, str]:
        return self._inner.metadata(bucket, name, generation)

    def copy(
        self, bucket: str, name: str, new_name: str, metadata: Mapping[str, str], generation: int | None = None
    ) -> int:
        return self._inner.copy(bucket, name, new_name, metadata, generation)


class CrashingCluster:
    def __init__(self, inner: Cluster, faults_file: Path) -> None:
        self._inner = inner
        self._faults = faults_file

    def submit(self, submissions: Sequence[SlurmSubmission]) -> SubmitResult:
        result = self._inner.submit(submissions)
        if result.accepted and take_fault(self._faults, "crash-after-sbatch"):
            log.critical("fault injection: killing the dispatcher after sbatch, before recording")
            os._exit(CRASH_EXIT_CODE)
        return result

    def status(self, slurm_job_ids: Sequence[str]) -> dict[str, SlurmJobStatus]:
        return self._inner.status(slurm_job_ids)

    def connect(self) -> None:
        connect = getattr(self._inner, "connect", None)
        if connect is not None:
            connect()

    def cancel(self, slurm_job_ids: Sequence[str]) -> None:
        self._inner.cancel(slurm_job_ids)

    def release(self, slurm_job_ids: Sequence[str]) -> None:
        self._inner.release(slurm_job_ids)
