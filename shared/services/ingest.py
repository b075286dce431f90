"""Use case: a design archive was uploaded. Validate it and record the job (QUEUED or REJECTED with the reason).

Idempotent: the job id is derived from (bucket, name, generation), so a redelivered event finds its job and, if it
is still queued, only re-announces it. Nothing of the user's is touched: the upload stays where it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from shared.domain.archive import ArchiveError, ArchiveLimits, read_design_archive
from shared.domain.design import DesignSpec, Resources
from shared.domain.design_config import DesignConfigError, parse_design_config
from shared.domain.events import UploadEvent
from shared.domain.job import Job, JobState, new_job
from shared.domain.messages import Queued
from shared.domain.quota import QuotaLimits, queued_limit_reason
from shared.domain.upload import UploadNameError, is_archive_name, job_id_for, owner_of, results_prefix
from shared.ports import JobRepository, MessagePublisher, ObjectGone, ObjectStore, QuotaStore
from shared.services.notify import Notifier
from shared.structured_log import fields, get, job_context

log = get(__name__)
UNKNOWN_OWNER = ""


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


@dataclass(frozen=True)
class IngestDeps:
    jobs: JobRepository
    store: ObjectStore
    publisher: MessagePublisher
    notifier: Notifier
    policy: IngestPolicy
    quotas: QuotaStore
    limits: QuotaLimits


def ingest_upload(event: UploadEvent, deps: IngestDeps, now: datetime) -> Job | None:
    source = event.source
    if source.bucket != deps.policy.designs_bucket:
        log.warning("ignoring an object outside the designs bucket", extra=fields(object=source.uri))
        return None
    job_id = job_id_for(source)
    with job_context(job_id):
        existing = deps.jobs.get(job_id)
        if existing is not None:
            log.info("upload already recorded; event was a redelivery", extra=fields(state=existing.state.value))
            _announce(existing, deps)
            _tell_owner(existing, deps)  # the first delivery may have crashed before it could
            return existing
        job = _evaluate(job_id, event, deps, now)
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
        return deps.jobs.get(job_id) or job


def _evaluate(job_id: str, event: UploadEvent, deps: IngestDeps, now: datetime) -> Job:  # noqa: PLR0911 - each check of an upload that fails ends it REJECTED with its own reason
    source = event.source
    policy = deps.policy
    notify = event.metadata.get("notify", "true").lower() not in ("false", "0", "no", "off")
    common = {
        "job_id": job_id,
        "source": source,
        "at": now,
        "notifications_enabled": notify,
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
    try:
        with deps.store.open_read(source.bucket, source.name, source.generation) as stream:
            archive = read_design_archive(stream, policy.limits, declared_name=source.name)
        design = parse_design_config(
            archive.config_text,
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
    return new_job(
        owner=owner,
        design_name=design.design_name,
        design_root=archive.design_root,
        design=design,
        flow=design.flow,
        resources=_resources(policy.resources, design),
        results_prefix=results_prefix(owner, job_id),
        **common,
    )


def _resources(defaults: Resources, design: DesignSpec) -> Resources:
    """The deployment's defaults, with what config.json asked for (already bounded) in their place."""
    requested = {"cpus": design.cpus, "memory_mb": design.memory_mb, "time_limit_minutes": design.time_limit_minutes}
    return replace(defaults, **{key: value for key, value in requested.items() if value})


def _tell_owner(job: Job, deps: IngestDeps) -> None:
    """Accepted or rejected, by e-mail; each at most once per job (the notifier claims before sending)."""
    if job.state is JobState.REJECTED:
        deps.notifier.job_ended(job)
    else:
        deps.notifier.job_accepted(job)


def _announce(job: Job, deps: IngestDeps) -> None:
    """Tell the dispatcher a job waits. Repeated on redelivery so a crash after the write cannot strand it."""
    if job.state is JobState.QUEUED:
        deps.publisher.publish(deps.policy.jobs_topic, Queued(job.id))
