"""Use case: run one of my jobs again, from the same source (the same upload, or the same commit's packed design),
with some settings changed.

The source archive is copied server-side to a new upload whose metadata carries the changed settings and the parent
job; ingest then validates it like any upload, with the changes applied to config.json (shared/services/ingest.py),
so a rerun is checked exactly like config.json and a bad change ends in a REJECTED job naming it. The settings are
also checked here first, so the caller hears of a typo at once.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime

from shared.domain.design_config import override_problems
from shared.domain.job import Job, JobState, SourceObject
from shared.domain.upload import ARCHIVE_SUFFIXES, job_id_for
from shared.ports import ObjectGone, ObjectStore
from shared.services.ingest import NOTIFY_META, OVERRIDES_META, PARENT_META, REUSE_META

MAX_OVERRIDES_CHARS = 6000  # Cloud Storage keeps at most 8 KiB of custom metadata per object


class InvalidOverrides(ValueError):
    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(problems))


class SourceGone(LookupError):
    pass


class NotRerunnable(ValueError):
    pass


@dataclass(frozen=True)
class RerunTicket:
    job_id: str
    parent_job: str
    upload: SourceObject


def rerun(
    store: ObjectStore, parent: Job, overrides: object, now: datetime, *, notify: bool, reuse: bool
) -> RerunTicket:
    """The new job's id (it appears once ingest has read the copy, within a second); raises InvalidOverrides,
    NotRerunnable (a job still fetching its design, or one whose upload was unusable) or SourceGone."""
    problems = override_problems(overrides)
    if problems:
        raise InvalidOverrides(problems)
    assert isinstance(overrides, dict)
    if parent.state is JobState.FETCHING or parent.design is None:
        raise NotRerunnable(
            f"job {parent.id} has no validated design to run again ({parent.state.value}); submit the design anew"
        )
    source = parent.source
    suffix = next((s for s in ARCHIVE_SUFFIXES if source.name.lower().endswith(s)), ".tar.gz")
    stamp = time.strftime("%Y%m%dT%H%M%S", now.timetuple())
    name = f"{parent.owner}/rerun-of-{parent.id}-{stamp}-{now.microsecond:06d}{suffix}"
    changes = json.dumps(overrides, separators=(",", ":"))
    if len(changes) > MAX_OVERRIDES_CHARS:
        raise InvalidOverrides(
            [f"the changed settings are {len(changes)} characters of JSON; at most {MAX_OVERRIDES_CHARS}"]
        )
    metadata = {
        NOTIFY_META: "true" if notify else "false",
        REUSE_META: "true" if reuse else "false",
        PARENT_META: parent.id,
        OVERRIDES_META: changes,
    }
    try:
        generation = store.copy(source.bucket, source.name, name, metadata, generation=source.generation)
    except ObjectGone as exc:
        raise SourceGone(
            f"the upload of job {parent.id} ({source.name}) no longer exists, so it cannot run again"
        ) from exc
    upload = SourceObject(source.bucket, name, generation)
    return RerunTicket(job_id_for(upload), parent.id, upload)
