"""Use case: tell a job's owner by e-mail that the job was accepted, and that it ended — each at most once, even
when several calls race to do it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from shared.domain.job import Job, JobState
from shared.domain.mail import OutgoingMail
from shared.domain.notifications import MailLinks, job_accepted_mail, job_ended_mail
from shared.ports import JobRepository, Mailer, ObjectStore
from shared.structured_log import fields, get

log = get(__name__)
ACCEPTED = "accepted"
ENDED = "ended"
THUMBNAIL_ARTIFACT = "layout_thumb_png"  # render.PRIMARY_OUTPUTS: the job's link to its layout thumbnail
THUMBNAIL_MAX_BYTES = 512 << 10  # KLayout's 320 x 320 pictures are 20-60 kB; mail relays cap whole messages
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Notifier:
    jobs: JobRepository
    mailer: Mailer
    results_bucket: str
    status_base_url: str = ""
    # Reads the layout thumbnail for the "finished" e-mail; without it that e-mail simply has no picture.
    store: ObjectStore | None = None

    def job_accepted(self, job: Job) -> None:
        """The upload became a job that waits for the cluster (ingest calls this for every job it records)."""
        if not self._wanted(job, ACCEPTED) or job.state.is_terminal:
            return
        # A job that ended before this call gets its end e-mail instead: "accepted" would then be news from the past.
        if not self._claim(job.id, ACCEPTED, lambda current: not current.state.is_terminal):
            return
        self._send(job, ACCEPTED, job_accepted_mail(job, self._links(job)))

    def job_ended(self, job: Job) -> None:
        if not self._wanted(job, ENDED) or not job.state.is_terminal:
            return
        if not self._claim(job.id, ENDED, lambda current: True):
            return  # another call is sending it, or has
        self._send(job, ENDED, job_ended_mail(job, self._links(job), self._thumbnail(job)))

    def _wanted(self, job: Job, kind: str) -> bool:
        return bool(job.owner) and job.notifications_enabled and kind not in job.notified

    def _send(self, job: Job, kind: str, mail: OutgoingMail) -> None:
        try:
            self.mailer.send(mail)
        except OSError as exc:
            # The state is recorded either way; release the claim so a later call (reconciler) can try again.
            self.jobs.mutate(job.id, lambda j: replace(j, notified=tuple(n for n in j.notified if n != kind)))
            log.error("could not send the job's e-mail", extra=fields(job_id=job.id, kind=kind, error=str(exc)))
            return
        log.info("owner notified", extra=fields(job_id=job.id, to=job.owner, state=job.state.value, kind=kind))

    def _claim(self, job_id: str, kind: str, still_wanted: Callable[[Job], bool]) -> bool:
        """Mark the job as notified of `kind` before sending, with the repository's optimistic concurrency, so that
        of several racing calls exactly one sends."""
        claimed: list[bool] = []

        def mark(current: Job) -> Job | None:
            claimed[:] = []
            if kind in current.notified or not still_wanted(current):
                return None
            claimed.append(True)
            return replace(current, notified=(*current.notified, kind))

        self.jobs.mutate(job_id, mark)
        return bool(claimed)

    def _links(self, job: Job) -> MailLinks:
        base = self.status_base_url.rstrip("/")
        has_results = bool(job.results_prefix) and job.state is not JobState.REJECTED
        return MailLinks(
            job_page=f"{base}/jobs/{job.id}" if base else None,
            download=f"{base}/v1/jobs/{job.id}/download" if base and has_results else None,
            results_uri=f"gs://{self.results_bucket}/{job.results_prefix}" if has_results else None,
        )

    def _thumbnail(self, job: Job) -> bytes | None:
        """The run's layout thumbnail from the results bucket, when it succeeded and drew one."""
        link = job.artifacts.get(THUMBNAIL_ARTIFACT)
        bucket = f"gs://{self.results_bucket}/"
        if self.store is None or job.state is not JobState.SUCCEEDED or not link or not job.results_prefix:
            return None
        if not link.startswith(bucket + job.results_prefix):
            return None  # only this job's own results are read
        try:
            data = self.store.read_bytes(self.results_bucket, link.removeprefix(bucket), THUMBNAIL_MAX_BYTES)
        except Exception as exc:  # a picture is not worth losing the e-mail over, whatever the store raised
            log.warning("could not read the layout thumbnail", extra=fields(job_id=job.id, error=str(exc)))
            return None
        return data if data and data.startswith(PNG_SIGNATURE) else None
