"""Use case: tell a job's owner by e-mail that it ended, once, and remember that it was done."""

from __future__ import annotations

from dataclasses import dataclass, replace

from shared.domain.job import Job
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
        if not job.owner or not job.notifications_enabled or ENDED in job.notified:
            return
        results = (
            f"gs://{self.results_bucket}/{job.results_prefix}"
            if job.results_prefix and job.state.value != "REJECTED"
            else None
        )
        status = f"{self.status_base_url.rstrip('/')}/v1/jobs/{job.id}" if self.status_base_url else None
        try:
            self.mailer.send(job_ended_mail(job, results_uri=results, status_url=status))
        except OSError as exc:
            # The state is already recorded; a lost e-mail must not undo it. The log carries the reason.
            log.error("could not send the job's e-mail", extra=fields(job_id=job.id, error=str(exc)))
            return
        self.jobs.mutate(job.id, lambda j: None if ENDED in j.notified else replace(j, notified=(*j.notified, ENDED)))
        log.info("owner notified", extra=fields(job_id=job.id, to=job.owner, state=job.state.value))
