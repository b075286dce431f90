"""Use case: a git submission waits (FETCHING). Fetch its design, pack it, and upload it where ingest takes over.

The fetcher talks to hosts users choose, so it is given the least: the `fetch` message carries the owner, URL, ref
and folder, and all it may do is create objects in the owner's `olc-git/` folder of the designs bucket. It never
reads or writes jobs:

- the packed design goes to `<owner>/olc-git/<job id>.tar.gz` with the commit in its metadata; ingest validates it
  exactly like any upload and moves the waiting job on to QUEUED or REJECTED (shared/services/ingest.py);
- a fetch that fails leaves `<owner>/olc-git/<job id>.fetch-failed.json` with the reason in the designer's words
  (repository, ref or folder not found, too large, too slow), which ingest records on the job as REJECTED.

Idempotent: when either object exists already (a redelivered message), nothing is fetched again; two deliveries
fetching at the same time both try a create-only upload, and only the first one's object is made.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from shared.domain.git_source import GitFetchError, GitSourceError, parse_git_source
from shared.domain.messages import FetchDesign
from shared.domain.upload import GIT_COMMIT_META, git_archive_name, git_failure_name
from shared.ports import DesignFetcher, ObjectExists, ObjectGone, ObjectStore
from shared.structured_log import fields, get, job_context

log = get(__name__)


@dataclass(frozen=True)
class FetchDeps:
    store: ObjectStore
    fetcher: DesignFetcher
    designs_bucket: str
    allowed_http_hosts: tuple[str, ...]


def fetch_submitted_design(request: FetchDesign, deps: FetchDeps) -> str:
    """What became of the request: "uploaded", "failed" or "already done"."""
    archive = git_archive_name(request.owner, request.job_id)
    failure = git_failure_name(request.owner, request.job_id)
    with job_context(request.job_id):
        if _exists(deps, archive) or _exists(deps, failure):
            log.info("design already fetched (or refused); ingest takes it from there")
            return "already done"
        try:
            # Checked again: only the API publishes these messages, but the fetcher trusts no input.
            source = parse_git_source(request.url, request.ref, request.path, deps.allowed_http_hosts)
            fetched = deps.fetcher.fetch(source)
        except (GitSourceError, GitFetchError) as exc:
            reason = exc.message if isinstance(exc, GitFetchError) else str(exc)
            code = exc.code if isinstance(exc, GitFetchError) else "invalid_source"
            log.warning("git fetch refused", extra=fields(code=code, reason=reason, url=request.url))
            body = json.dumps({"code": code, "reason": reason}).encode()
            return "failed" if _create(deps, failure, body, "application/json", {}) else "already done"
        meta = {GIT_COMMIT_META: fetched.commit_sha}
        if not _create(deps, archive, fetched.archive, "application/gzip", meta):
            return "already done"
        log.info("design fetched and uploaded", extra=fields(commit=fetched.commit_sha, bytes=len(fetched.archive)))
        return "uploaded"


def _create(deps: FetchDeps, name: str, data: bytes, content_type: str, metadata: dict[str, str]) -> bool:
    """Create-only: two deliveries fetching at once leave one object (one upload event), never two generations."""
    try:
        deps.store.write_bytes(deps.designs_bucket, name, data, content_type, metadata, create_only=True)
    except ObjectExists:
        log.info("another delivery uploaded this design first")
        return False
    return True


def _exists(deps: FetchDeps, name: str) -> bool:
    try:
        deps.store.metadata(deps.designs_bucket, name)
    except ObjectGone:
        return False
    return True
