"""Use case: tell a job's owner by e-mail that it ended — once, even when several calls race to do it."""

from __future__ import annotations

from dataclasses import dataclass, replace

from shared.domain.job import Job, JobState
from shared.domain.notifications import job_ended_mail
from shared.ports import JobRepository, Mailer
from shared.structured_log import fields, get

log = get(__name__)
ENDED = "ended"


@dataclass(frozen=True)
class Notifier:
    jobs: JobRepository
    mailer: Mailer
    results_bucket: str
    status_base_url: str = ""

    def job_ended(self, job: Job) -> None:
        if not job.owner or not job.notifications_enabled or ENDED in job.notified or not job.state.is_terminal:
            return
        if not self._claim(job.id):
            return  # another call is sending it, or has
        results = (
            f"gs://{self.results_bucket}/{job.results_prefix}"
            if job.results_prefix and job.state is not JobState.REJECTED
            else None
        )
        status = f"{self.status_base_url.rstrip('/')}/v1/jobs/{job.id}" if self.status_base_url else None
        try:
            self.mailer.send(job_ended_mail(job, results_uri=results, status_url=status))
        except OSError as exc:
            # The state is recorded either way; release the claim so a later call (reconciler) can try again.
            self.jobs.mutate(job.id, lambda j: replace(j, notified=tuple(n for n in j.notified if n != ENDED)))
            log.error("could not send the job's e-mail", extra=fields(job_id=job.id, error=str(exc)))
            return
        log.info("owner notified", extra=fields(job_id=job.id, to=job.owner, state=job.state.value))

    def _claim(self, job_id: str) -> bool:
        """Mark the job as notified before sending, with the repository's optimistic concurrency, so that of
        several racing calls exactly one sends."""
        claimed: list[bool] = []

        def mark(current: Job) -> Job | None:
            claimed[:] = []
            if ENDED in current.notified:
                return None
            claimed.append(True)
            return replace(current, notified=(*current.notified, ENDED))

        self.jobs.mutate(job_id, mark)
        return bool(claimed)
