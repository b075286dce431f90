"""Use case: an authenticated user asks to upload a design from a browser or `olc` without bucket credentials.

The API answers with a signed PUT URL for one object below the caller's own folder, so the owner in the path is
the signed-in user by construction; the upload then flows through ingest like any other.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.domain.upload import ARCHIVE_SUFFIXES
from shared.ports import ResultsStore

UPLOAD_LINK_LIFETIME_S = 900
_SAFE_STEM = re.compile(r"[^A-Za-z0-9._-]+")


class InvalidUpload(ValueError):
    pass


@dataclass(frozen=True)
class UploadTicket:
    object_name: str
    url: str
    method: str
    headers: dict[str, str]
    expires_at: datetime


@dataclass(frozen=True)
class UploadWishes:
    notify: bool = True  # e-mail the owner about the job
    reuse: bool = True  # reuse an earlier identical run's results (False: --no-cache)


def issue_upload(
    store: ResultsStore, designs_bucket: str, caller: str, file_name: str, wishes: UploadWishes, now: datetime
) -> UploadTicket:
    lowered = file_name.lower()
    suffix = next((s for s in ARCHIVE_SUFFIXES if lowered.endswith(s)), None)
    if suffix is None:
        raise InvalidUpload(f"{file_name!r} is not a design archive: name a .tar.gz, .tgz, .tar or .zip file")
    stem = _SAFE_STEM.sub("-", file_name[: -len(suffix)]).strip("-.")[:80] or "design"
    # A time stamp keeps every upload a new object (a new job) without asking the user for unique names.
    object_name = f"{caller}/{stem}-{time.strftime('%Y%m%dT%H%M%S', now.timetuple())}{suffix}"
    content_type = "application/zip" if suffix == ".zip" else "application/octet-stream"
    # Read by ingest (shared/services/ingest.py NOTIFY_META, REUSE_META).
    metadata = {
        "x-goog-meta-notify": "true" if wishes.notify else "false",
        "x-goog-meta-cache": "true" if wishes.reuse else "false",
    }
    url = store.signed_url(
        designs_bucket,
        object_name,
        method="PUT",
        expires_s=UPLOAD_LINK_LIFETIME_S,
        content_type=content_type,
        headers=dict(metadata),  # the signing library adds Host to the dict it is given
    )
    headers = {"Content-Type": content_type, **metadata}
    return UploadTicket(object_name, url, "PUT", headers, now + timedelta(seconds=UPLOAD_LINK_LIFETIME_S))
