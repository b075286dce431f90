"""Use case: a user (through the API) or a registered repository's push (through the webhook) submits a design held
in a git repository.

The request is checked (shared/domain/git_source.py) and recorded at once as a FETCHING job, and a `fetch` message
asks the git fetcher (shared/services/fetch_design.py) to fetch and pack it; the caller never waits for git. The
message is published again when the same submission (a redelivered push) finds its job still FETCHING. From
the packed upload on, the job takes the path every upload takes (ingest).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from shared.domain.git_source import parse_git_source
from shared.domain.job import GitOrigin, Job, JobState, SourceObject, StateChange
from shared.domain.messages import FetchDesign
from shared.domain.upload import git_archive_name, new_job_id
from shared.ports import JobRepository, MessagePublisher
from shared.structured_log import fields, get, job_context

log = get(__name__)


@dataclass(frozen=True)
class GitRequest:
    """What the user asked for; `url`, `ref` and `path` are untrusted until parse_git_source has checked them."""

    url: object
    ref: object = "main"
    path: object = ""
    notify: bool = True
    reuse: bool = True  # False: run even when a run with the same inputs succeeded before (--no-cache)


@dataclass(frozen=True)
class GitSubmitDeps:
    jobs: JobRepository
    publisher: MessagePublisher
    designs_bucket: str
    fetch_topic: str
    allowed_http_hosts: tuple[str, ...]


@dataclass(frozen=True)
class PushedCommit:
    """A push of a registered repository: the job is named by (registration, commit), so a redelivered or repeated
    push of the same commit finds the job it already started."""

    registration: str
    commit: str


def submit_git(
    deps: GitSubmitDeps, owner: str, request: GitRequest, now: datetime, pushed: PushedCommit | None = None
) -> Job:
    """The FETCHING job (or the job this push already started); GitSourceError listing every problem."""
    source = parse_git_source(request.url, request.ref, request.path, deps.allowed_http_hosts)
    job_id = pushed_job_id(pushed) if pushed else new_job_id(secrets.token_hex(10))
    job = Job(
        id=job_id,
        owner=owner,
        source=SourceObject(deps.designs_bucket, git_archive_name(owner, job_id), 0),
        state=JobState.FETCHING,
        created_at=now,
        history=(StateChange(JobState.FETCHING, now),),
        notifications_enabled=request.notify,
        git=GitOrigin(
            source.url,
            source.ref,
            source.path,
            commit=pushed.commit if pushed else None,
            registration=pushed.registration if pushed else None,
        ),
        reuse_allowed=request.reuse,
    )
    with job_context(job_id):
        if not deps.jobs.create(job):
            job = deps.jobs.get(job_id) or job
            log.info("push already started this job", extra=fields(state=job.state.value))
        else:
            log.info("git submission recorded", extra=fields(url=source.url, ref=source.ref, path=source.path))
        if job.state is JobState.FETCHING and job.git is not None:
            fetch = job.git.commit or job.git.ref  # a push fetches exactly the pushed commit
            deps.publisher.publish(deps.fetch_topic, FetchDesign(job_id, job.owner, job.git.url, fetch, job.git.path))
    return job


def pushed_job_id(pushed: PushedCommit) -> str:
    """The job a push of this commit starts (or started): one per registration and commit."""
    return new_job_id(hashlib.sha256(f"push\0{pushed.registration}\0{pushed.commit}".encode()).hexdigest())
