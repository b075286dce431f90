"""Run on every push: repository registrations and the GitHub-style push webhook, as rules without I/O.

A user registers a repository (URL, branch, design folder) and gets a secret; the repository's webhook signs every
delivery with it (`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`). The hook trusts nothing in a
delivery until the signature verifies with the secret of a registration of that repository, and then only starts a
job for a push to the registered branch. Everything here is checked as hostile input and refused with a reason.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
SIGNATURE_PREFIX = "sha256="
MAX_REPOS_PER_USER = 50
MAX_HOOK_BODY_BYTES = 1 << 20  # GitHub caps payloads at 25 MB; a push of many commits is a few hundred KiB
# How long a delivery id is remembered: GitHub redelivers (by hand or through its API) for 3 days.
DELIVERY_KEEP = timedelta(days=7)
# Registrations of one repository whose secrets a delivery is checked against (several users may register it).
MAX_REGISTRATIONS_PER_URL = 200
REPO_ID = re.compile(r"^r[0-9a-f]{19}$")
BRANCH_REF_PREFIX = "refs/heads/"
ZERO_SHA = "0" * 40
_SHA = re.compile(r"^[0-9a-f]{40}$")
_HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_DELIVERY = re.compile(r"^[A-Za-z0-9-]{1,100}$")


class WebhookError(ValueError):
    """A delivery the hook cannot take: `code` for programs, the message for whoever reads GitHub's delivery log."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


class SignatureError(WebhookError):
    """The delivery is not signed, or not by the secret of any registration of its repository."""


class EventError(WebhookError):
    """The delivery is signed but its headers or body are not a push event the hook understands."""


def not_verified() -> SignatureError:
    """The one answer for every delivery no registration's secret verifies, whether the repository is registered or
    not, so registrations cannot be probed."""
    return SignatureError(
        "bad_signature", f"{SIGNATURE_HEADER} does not verify with the secret of any registration of this repository"
    )


@dataclass(frozen=True)
class Registration:
    """One user's "run on every push" of one repository: the push to `branch` runs the design in folder `path`."""

    id: str
    owner: str
    url: str  # normalised by parse_git_source
    branch: str
    path: str
    secret: str
    created_at: datetime

    @property
    def url_key(self) -> str:
        return url_key(self.url)


def url_key(url: str) -> str:
    """What a registration is found by: the normalised URL, lower-case, without a trailing `/` or `.git`, so the
    clone URL (`https://github.com/o/r.git`) and the page (`https://github.com/o/r`) of a repository agree. The
    signature, not this key, decides which registration a delivery is for."""
    return url.lower().rstrip("/").removesuffix(".git").rstrip("/")


def new_registration_id(random_hex: str) -> str:
    return "r" + random_hex[:19]


def registration_to_dict(registration: Registration) -> dict[str, Any]:
    return {
        "id": registration.id,
        "owner": registration.owner,
        "url": registration.url,
        "url_key": registration.url_key,
        "branch": registration.branch,
        "path": registration.path,
        "secret": registration.secret,
        "created_at": registration.created_at,
    }


def registration_from_dict(data: dict[str, Any]) -> Registration:
    return Registration(
        id=str(data["id"]),
        owner=str(data["owner"]),
        url=str(data["url"]),
        branch=str(data["branch"]),
        path=str(data.get("path") or ""),
        secret=str(data["secret"]),
        created_at=data["created_at"],
    )


def branch_problem(branch: str, is_commit: bool) -> str | None:
    """Why a (syntactically valid) ref cannot be a registration's branch, or None."""
    if is_commit:
        return "branch must be a branch name such as main, not a commit SHA (pushes move branches, not commits)"
    if branch.startswith("refs/"):
        return "branch must be a branch name such as main (not refs/...: tags are not pushed to)"
    return None


# ------------------------------------------------------------------------------------------------- signatures
def sign(secret: str, body: bytes) -> str:
    """The header value GitHub sends for `body` under `secret`: `sha256=<hex>`."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_digest(header: str | None) -> bytes:
    """The 32-byte digest the delivery claims; SignatureError when the header is missing or not `sha256=<hex>`."""
    if not header:
        raise SignatureError(
            "missing_signature",
            f"no {SIGNATURE_HEADER} header: give the webhook the secret `olc repo add` printed",
        )
    value = header.strip()
    if not value.startswith(SIGNATURE_PREFIX) or not _HEX_DIGEST.match(value[len(SIGNATURE_PREFIX) :].lower()):
        raise SignatureError(
            "bad_signature", f"{SIGNATURE_HEADER} must be sha256= and 64 hex digits (HMAC-SHA256 of the body)"
        )
    return bytes.fromhex(value[len(SIGNATURE_PREFIX) :])


def signature_matches(secret: str, body: bytes, digest: bytes) -> bool:
    """Whether `digest` is HMAC-SHA256(secret, body), compared in constant time."""
    expected = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return hmac.compare_digest(expected, digest)


# ----------------------------------------------------------------------------------------------------- events
@dataclass(frozen=True)
class PushEvent:
    ref: str  # refs/heads/<branch> or refs/tags/<tag>
    after: str  # the commit the ref points to after the push; ZERO_SHA when it was deleted
    deleted: bool

    @property
    def branch(self) -> str | None:
        return self.ref.removeprefix(BRANCH_REF_PREFIX) if self.ref.startswith(BRANCH_REF_PREFIX) else None


def repository_urls(payload: object) -> tuple[str, ...]:
    """The URLs naming the delivery's repository (`repository.clone_url`, then `html_url`); EventError without."""
    repository = payload.get("repository") if isinstance(payload, dict) else None
    if not isinstance(repository, dict):
        raise EventError("invalid_event", "the body must be a JSON object with a `repository` (a push event)")
    urls = tuple(
        value
        for key in ("clone_url", "html_url")
        if isinstance(value := repository.get(key), str) and 0 < len(value) <= 500
    )
    if not urls:
        raise EventError("invalid_event", "repository.clone_url must be the repository's URL")
    return urls


def delivery_id(header: str | None) -> str:
    if not header or not _DELIVERY.match(header.strip()):
        raise EventError(
            "invalid_delivery", f"{DELIVERY_HEADER} must be the delivery's id (letters, digits and -, at most 100)"
        )
    return header.strip()


def parse_push(payload: object) -> PushEvent:
    """The push event's ref and head commit; EventError naming every problem."""
    body = payload if isinstance(payload, dict) else {}
    problems = []
    ref = body.get("ref")
    if not isinstance(ref, str) or not ref.startswith("refs/") or len(ref) > 300:
        problems.append("ref must be the pushed ref, e.g. refs/heads/main")
    after = body.get("after")
    if not isinstance(after, str) or not _SHA.match(after):
        problems.append("after must be the 40-hex-digit commit the ref points to after the push")
    deleted = body.get("deleted", False)
    if not isinstance(deleted, bool):
        problems.append("deleted must be true or false")
    if problems:
        raise EventError("invalid_event", "not a push event: " + "; ".join(problems))
    return PushEvent(str(ref), str(after), deleted is True or after == ZERO_SHA)


def ignored_reason(registration: Registration, push: PushEvent) -> str | None:
    """Why this push starts no job for this registration, or None when it does."""
    if push.branch is None:
        return f"{push.ref} is not a branch; only pushes to branch {registration.branch} start jobs"
    if push.branch != registration.branch:
        return f"branch {push.branch} is not registered (this registration runs pushes to {registration.branch})"
    if push.deleted:
        return f"branch {push.branch} was deleted; nothing to run"
    return None
