"""Use case: a design archive was uploaded. Validate it and record the job (QUEUED or REJECTED with the reason).

Idempotent: the job id is derived from (bucket, name, generation), so a redelivered event finds its job and, if it
is still queued, only re-announces it. Nothing of the user's is touched: the upload stays where it is.

A git submission's packed design (`<owner>/olc-git/<job id>.tar.gz`) names its job, which waits FETCHING: the same
checks move that job on instead of recording a new one. A rerun's copy of an earlier upload carries the changed
settings and the parent job in its metadata (shared/services/rerun.py).

Before a job is queued its content key is computed (shared/domain/content_key.py); when a job of the same user (or
of anyone, where the deployment allows) succeeded with that key, its results are copied to the new job, which ends
SUCCEEDED at once without running.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from shared.domain.archive import ArchiveError, ArchiveLimits, read_design_archive
from shared.domain.content_key import content_key, reuse_wanted
from shared.domain.design import DesignSpec, Resources
from shared.domain.design_config import DesignConfigError, apply_overrides, override_problems, parse_design_config
from shared.domain.events import UploadEvent
from shared.domain.git_source import FULL_SHA
from shared.domain.job import Job, JobState, advance, clean_log_tail, new_job
from shared.domain.messages import Queued
from shared.domain.quota import QuotaLimits, queued_limit_reason
from shared.domain.reuse import may_reuse, reuse_results
from shared.domain.sweeps.spec import with_proposed_runs
from shared.domain.upload import (
    FETCH_FAILED_SUFFIX,
    GIT_COMMIT_META,
    JOB_ID_PATTERN,
    UploadNameError,
    is_archive_name,
    job_id_for,
    job_named_by,
    owner_of,
    results_prefix,
)
from shared.ports import (
    JobRepository,
    MessagePublisher,
    ObjectGone,
    ObjectStore,
    QuotaStore,
    ResultsStore,
    SearchSampler,
)
from shared.services.notify import Notifier
from shared.structured_log import fields, get, job_context

log = get(__name__)
UNKNOWN_OWNER = ""
_NO = ("false", "0", "no", "off")
# Upload metadata (x-goog-meta-*) ingest reads: set by `olc`, the upload page, and the rerun use case.
NOTIFY_META = "notify"
REUSE_META = "cache"
OVERRIDES_META = "olc-overrides"
PARENT_META = "olc-parent"
_MAX_FAILURE_BYTES = 8 << 10
_MAX_REASON_CHARS = 600


@dataclass(frozen=True)
class IngestPolicy:
    designs_bucket: str
    jobs_topic: str
    flow: str
    offered_flows: tuple[str, ...]
    resources: Resources
    max_time_limit_minutes: int
    max_upload_bytes: int
    limits: ArchiveLimits = field(default_factory=ArchiveLimits)
    max_cpus_per_job: int = 8
    max_memory_mb_per_job: int = 32768
    max_sweep_runs: int = 24
    # The version of each flow that goes into the content key (image reference or installed tool versions).
    flow_versions: Mapping[str, str] = field(default_factory=dict)
    default_pdk: str = ""
    reuse_scope: str = "user"  # user: reuse a user's own runs; all: anyone's identical run; off: never reuse
    results_bucket: str = ""


@dataclass(frozen=True)
class IngestDeps:
    jobs: JobRepository
    store: ObjectStore
    publisher: MessagePublisher
    notifier: Notifier
    policy: IngestPolicy
    quotas: QuotaStore
    limits: QuotaLimits
    results: ResultsStore
    sampler: SearchSampler | None = None  # proposes a search's first batch


def ingest_upload(event: UploadEvent, deps: IngestDeps, now: datetime) -> Job | None:
    source = event.source
    if source.bucket != deps.policy.designs_bucket:
        log.warning("ignoring an object outside the designs bucket", extra=fields(object=source.uri))
        return None
    named = job_named_by(source.name)
    if named is not None:
        continued = _continue_git_submission(named, event, deps, now)
        if continued is not None:
            return continued
    job_id = job_id_for(source)
    with job_context(job_id):
        existing = deps.jobs.get(job_id)
        if existing is not None:
            log.info("upload already recorded; event was a redelivery", extra=fields(state=existing.state.value))
            _announce(existing, deps)
            _tell_owner(existing, deps)  # the first delivery may have crashed before it could
            return existing
        job = _reuse_if_identical(_evaluate(job_id, event, deps, now), deps, now)
        if not deps.jobs.create(job):
            job = deps.jobs.get(job_id) or job  # a concurrent delivery won the race
            _announce(job, deps)
            _tell_owner(job, deps)
            return job
        log.info(
            "upload recorded",
            extra=fields(state=job.state.value, owner=job.owner, object=source.uri, reason=job.reason),
        )
        _announce(job, deps)
        _tell_owner(job, deps)
        return job


def _continue_git_submission(job_id: str, event: UploadEvent, deps: IngestDeps, now: datetime) -> Job | None:
    """The FETCHING job this packed design belongs to, moved on; None when the name only looks like one (an upload
    by hand into that folder), which is then an upload like any other."""
    with job_context(job_id):
        waiting = deps.jobs.get(job_id)
        if waiting is None or waiting.git is None or waiting.owner != event.source.name.split("/", 1)[0]:
            return None
        if waiting.state is JobState.FETCHING:
            moved = _fetched(waiting, event, deps, now)
            waiting = deps.jobs.mutate(job_id, lambda j: moved if j.state is JobState.FETCHING else None) or moved
            log.info("git submission ingested", extra=fields(state=waiting.state.value, reason=waiting.reason))
        _announce(waiting, deps)
        _tell_owner(waiting, deps)
        return waiting


def _fetched(waiting: Job, event: UploadEvent, deps: IngestDeps, now: datetime) -> Job:
    """The waiting job once its design was fetched (checked like any upload), or REJECTED when it could not be."""
    assert waiting.git is not None
    origin = waiting.git
    if event.source.name.endswith(FETCH_FAILED_SUFFIX):
        said = _fetch_failure(deps, event)
        reason = f"could not fetch the design from {origin.url} ({origin.ref}): {said}"
        return advance(waiting, JobState.REJECTED, now, reason) or waiting
    checked = _evaluate(waiting.id, event, deps, now, waiting)
    commit = event.metadata.get(GIT_COMMIT_META, "")
    moved = replace(
        checked,
        created_at=waiting.created_at,
        history=(*waiting.history, *checked.history),
        git=replace(origin, commit=commit) if FULL_SHA.fullmatch(commit) else origin,
    )
    return _reuse_if_identical(moved, deps, now)


def _fetch_failure(deps: IngestDeps, event: UploadEvent) -> str:
    """The fetcher's reason, bounded and as plain text (it may echo what the git server said)."""
    source = event.source
    text = deps.store.read_text(source.bucket, source.name, max_bytes=_MAX_FAILURE_BYTES) or ""
    try:
        reason = json.loads(text).get("reason")
    except (ValueError, AttributeError):
        reason = None
    cleaned = clean_log_tail(reason) if isinstance(reason, str) else None
    return (cleaned or "the fetch failed without saying why").replace("\n", " ")[:_MAX_REASON_CHARS]


def _reuse_if_identical(job: Job, deps: IngestDeps, now: datetime) -> Job:
    """`job` ended with the results of a job that succeeded with the same content key, or `job` as it was."""
    scope = deps.policy.reuse_scope
    if job.state is not JobState.QUEUED or not job.content_key or not job.reuse_allowed or scope == "off":
        return job
    across_users = scope == "all"
    candidates = deps.jobs.succeeded_with_key(job.content_key, None if across_users else job.owner)
    original = next((c for c in candidates if c.id != job.id and may_reuse(c, job.owner, across_users)), None)
    if original is None or original.results_prefix is None or job.results_prefix is None:
        return job
    bucket = deps.policy.results_bucket
    # Copied before the job is written: a crash in between repeats the copy on redelivery, and the reusing job's
    # files are its own, so deleting the original loses nothing.
    copied = deps.results.copy_prefix(bucket, original.results_prefix, job.results_prefix)
    log.info("same inputs as an earlier run: results reused", extra=fields(reused_from=original.id, objects=copied))
    return reuse_results(job, original, now)


def _evaluate(  # noqa: PLR0911 - each check of an upload that fails ends it REJECTED with its own reason
    job_id: str, event: UploadEvent, deps: IngestDeps, now: datetime, waiting: Job | None = None
) -> Job:
    """`waiting`: the FETCHING job of a git submission, whose owner and wishes the upload's metadata do not change."""
    source = event.source
    policy = deps.policy
    metadata = event.metadata
    notify = metadata.get(NOTIFY_META, "true").lower() not in _NO
    reuse = metadata.get(REUSE_META, "true").lower() not in _NO
    if waiting is not None:
        notify, reuse = waiting.notifications_enabled, waiting.reuse_allowed
    common: dict[str, Any] = {
        "job_id": job_id,
        "source": source,
        "at": now,
        "notifications_enabled": notify,
        "reuse_allowed": reuse,
    }
    try:
        owner = owner_of(source.name)
    except UploadNameError as exc:
        return new_job(owner=UNKNOWN_OWNER, rejected_reason=str(exc), **common)
    if not is_archive_name(source.name):
        reason = f"{source.name.rsplit('/', 1)[-1]!r} is not a design archive: upload a .tar.gz, .tgz, .tar or .zip"
        return new_job(owner=owner, rejected_reason=reason, **common)
    limits = deps.quotas.limits(deps.limits).for_user(deps.quotas.overrides([owner]).get(owner))
    # Counted, not locked: simultaneous uploads of one user can pass this check together (by at most the number
    # of concurrent ingest instances); admission limits are exact regardless.
    too_many = queued_limit_reason(limits, deps.jobs.count_for_owner(owner, JobState.QUEUED))
    if too_many:
        return new_job(owner=owner, rejected_reason=too_many, **common)
    if source.size is not None and source.size > policy.max_upload_bytes:
        reason = f"the upload is {source.size} bytes; the limit is {policy.max_upload_bytes} bytes"
        return new_job(owner=owner, rejected_reason=reason, **common)
    rerun = _rerun_of(metadata, owner, deps)
    common |= rerun.details
    if rerun.problems:
        reason = "the changed settings of this rerun cannot be used: " + "; ".join(rerun.problems)
        return new_job(owner=owner, rejected_reason=reason, **common)
    try:
        with deps.store.open_read(source.bucket, source.name, source.generation) as stream:
            archive = read_design_archive(stream, policy.limits, declared_name=source.name)
        design = parse_design_config(
            apply_overrides(archive.config_text, rerun.overrides),
            archive.design_files(),
            flow=policy.flow,
            offered_flows=policy.offered_flows,
            max_time_limit_minutes=policy.max_time_limit_minutes,
            max_cpus=policy.max_cpus_per_job,
            max_memory_mb=policy.max_memory_mb_per_job,
            max_sweep_runs=policy.max_sweep_runs,
            seed=job_id,  # a random sample of a sweep's grid is the same on every delivery of the upload
        )
    except (ArchiveError, DesignConfigError) as exc:
        return new_job(owner=owner, rejected_reason=str(exc), **common)
    except ObjectGone:
        # Overwritten (a new generation, which is a job of its own) or deleted before it could be read.
        reason = "this upload was replaced or deleted before it could be read; a newer upload is a job of its own"
        return new_job(owner=owner, rejected_reason=reason, **common)
    if design.sweep is not None and design.sweep.search is not None and not design.sweep.runs:
        if deps.sampler is None:
            return new_job(owner=owner, rejected_reason="this deployment does not run searches", **common)
        plan = design.sweep.search
        first = deps.sampler.propose(plan, [], min(plan.batch, plan.budget))
        design = replace(design, sweep=with_proposed_runs(design.sweep, first))
    key = content_key(
        design, archive.design_file_digests(), policy.flow_versions.get(design.flow, ""), policy.default_pdk
    )
    return new_job(
        owner=owner,
        design_name=design.design_name,
        design_root=archive.design_root,
        design=design,
        flow=design.flow,
        resources=_resources(policy.resources, design),
        results_prefix=results_prefix(owner, job_id),
        content_key=key,
        **{**common, "reuse_allowed": common["reuse_allowed"] and reuse_wanted(design)},
    )


@dataclass(frozen=True)
class _Rerun:
    overrides: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # the parent, and its git origin
    problems: tuple[str, ...] = ()


def _rerun_of(metadata: Mapping[str, str], owner: str, deps: IngestDeps) -> _Rerun:
    """What the upload's metadata says of a rerun: the changed settings (checked again: metadata can be set by
    anyone who can upload) and the parent job, whose git origin the rerun keeps when it is the owner's."""
    parent_id = metadata.get(PARENT_META, "")
    raw = metadata.get(OVERRIDES_META)
    if not parent_id and raw is None:
        return _Rerun()
    try:
        overrides = json.loads(raw) if raw else {}
    except ValueError:
        return _Rerun(problems=("they are not JSON",))
    problems = override_problems(overrides)
    details: dict[str, Any] = {}
    if JOB_ID_PATTERN.fullmatch(parent_id):
        parent = deps.jobs.get(parent_id)
        if parent is not None and parent.owner == owner:
            details = {"parent_job": parent_id, "git": parent.git}
    return _Rerun(overrides if not problems else {}, details, tuple(problems))


def _resources(defaults: Resources, design: DesignSpec) -> Resources:
    """The deployment's defaults, with what config.json asked for (already bounded) in their place."""
    requested = {"cpus": design.cpus, "memory_mb": design.memory_mb, "time_limit_minutes": design.time_limit_minutes}
    return replace(defaults, **{key: value for key, value in requested.items() if value})


def _tell_owner(job: Job, deps: IngestDeps) -> None:
    """Accepted, or ended (rejected, or results reused), by e-mail; each at most once per job (the notifier claims
    before sending)."""
    if job.state.is_terminal:
        deps.notifier.job_ended(job)
    else:
        deps.notifier.job_accepted(job)


def _announce(job: Job, deps: IngestDeps) -> None:
    """Tell the dispatcher a job waits. Repeated on redelivery so a crash after the write cannot strand it."""
    if job.state is JobState.QUEUED:
        deps.publisher.publish(deps.policy.jobs_topic, Queued(job.id))
