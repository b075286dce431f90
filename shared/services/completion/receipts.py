"""A signed cluster call is accepted once: its receipt is kept on the job it speaks for.

The receipt rides on the write the call makes to its job anyway (a stage, a log tail, an end), so refusing replays
costs no write of its own; a call that changes nothing writes its receipt alone. The job document's update-time
precondition makes two copies of one call arriving together race as a document create would: one is recorded, the
other re-reads the job, finds the receipt and is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from shared.domain.callback_auth import already_received, with_receipt
from shared.domain.job import Job
from shared.ports import JobRepository


class ReplayedCall(Exception):
    """This exact signed call was already accepted."""


class ReceiptedJobs:
    """The job store as one signed call about `job_id` sees it: reading a job that holds the call's receipt refuses
    the call (ReplayedCall), and the call's first write to the job carries the receipt. Everything else is the
    store's own."""

    def __init__(self, jobs: JobRepository, job_id: str, signature: str, now: Callable[[], datetime]) -> None:
        self._jobs = jobs
        self._job_id = job_id
        self._signature = signature
        self._now = now
        self.recorded = False

    def get(self, job_id: str) -> Job | None:
        job = self._jobs.get(job_id)
        if job is not None and job_id == self._job_id and not self.recorded:
            self._refuse_if_received(job)
        return job

    def mutate(self, job_id: str, change: Callable[[Job], Job | None]) -> Job | None:
        if job_id != self._job_id or self.recorded:
            return self._jobs.mutate(job_id, change)

        def change_with_receipt(current: Job) -> Job:
            self._refuse_if_received(current)
            changed = change(current) or current
            return replace(changed, call_receipts=with_receipt(current.call_receipts, self._signature, self._now()))

        stored = self._jobs.mutate(job_id, change_with_receipt)
        self.recorded = stored is not None
        return stored

    def record_receipt(self) -> None:
        """Keep the receipt of a call that did not write to its job (it changed nothing)."""
        if not self.recorded:
            self.mutate(self._job_id, lambda _job: None)

    def _refuse_if_received(self, job: Job) -> None:
        if already_received(job.call_receipts, self._signature, self._now()):
            raise ReplayedCall(self._job_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._jobs, name)
