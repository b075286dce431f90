"""Rules about upload object names: who owns an upload and which job it becomes."""

from __future__ import annotations

import hashlib
import re

from shared.domain.job import SourceObject

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
# The first path segment is the owner's e-mail address. In production an IAM condition lets each user write only
# below their own prefix, so the segment cannot be forged (see docs/architecture.md, "Trust model").
_OWNER = re.compile(r"^[a-z0-9][a-z0-9._%+-]{0,63}@[a-z0-9-]+(\.[a-z0-9-]+)+$")
JOB_ID_PATTERN = re.compile(r"^j[0-9a-f]{19}$")


class UploadNameError(ValueError):
    pass


def job_id_for(source: SourceObject) -> str:
    """Deterministic, so every delivery of the same upload event names the same job."""
    digest = hashlib.sha256(f"{source.bucket}\0{source.name}\0{source.generation}".encode()).hexdigest()
    return "j" + digest[:19]


def owner_of(object_name: str) -> str:
    """The owner named by an upload path `<owner-email>/<file>`; raises UploadNameError saying what is wrong."""
    owner, sep, rest = object_name.partition("/")
    if not sep or not rest:
        raise UploadNameError(
            f"upload {object_name!r} is not inside an owner folder: upload to <your e-mail>/<design>.tar.gz"
        )
    if not _OWNER.match(owner):
        raise UploadNameError(f"folder {owner!r} of upload {object_name!r} is not a lower-case e-mail address")
    return owner


def is_archive_name(object_name: str) -> bool:
    return object_name.lower().endswith(ARCHIVE_SUFFIXES)


def results_prefix(owner: str, job_id: str) -> str:
    return f"{owner}/{job_id}/"
