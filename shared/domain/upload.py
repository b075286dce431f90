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
# A git submission's packed design is uploaded as `<owner>/olc-git/<job id>.tar.gz`: the job exists already
# (FETCHING), so the upload names it rather than making a new one.
GIT_FOLDER = "olc-git"
# A fetch that failed leaves `<job id>.fetch-failed.json` there instead, with the reason, for ingest to record.
FETCH_FAILED_SUFFIX = ".fetch-failed.json"
GIT_COMMIT_META = "git-commit"  # the packed design's metadata: the commit it was packed from
_GIT_OBJECT = re.compile(rf"^[^/]+/{GIT_FOLDER}/(j[0-9a-f]{{19}})(?:\.tar\.gz|\.fetch-failed\.json)$")


class UploadNameError(ValueError):
    pass


def job_id_for(source: SourceObject) -> str:
    """Deterministic, so every delivery of the same upload event names the same job."""
    digest = hashlib.sha256(f"{source.bucket}\0{source.name}\0{source.generation}".encode()).hexdigest()
    return "j" + digest[:19]


def new_job_id(random_hex: str) -> str:
    """A job id for a job that starts before any upload (a git submission): from 19+ random hex digits."""
    return "j" + random_hex[:19]


def git_archive_name(owner: str, job_id: str) -> str:
    return f"{owner}/{GIT_FOLDER}/{job_id}.tar.gz"


def git_failure_name(owner: str, job_id: str) -> str:
    return f"{owner}/{GIT_FOLDER}/{job_id}{FETCH_FAILED_SUFFIX}"


def job_named_by(object_name: str) -> str | None:
    """The job id a git submission's archive (or failed fetch) names, or None for every other upload."""
    match = _GIT_OBJECT.match(object_name)
    return match.group(1) if match else None


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
