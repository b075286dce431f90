"""Use cases: run on every push. A user registers a repository (URL, branch, design folder) and adds the webhook it
is given; every push to that branch then submits the design at the pushed commit (shared/services/git_submit.py).

Trust: a delivery is believed only once its signature verifies with the secret of a registration of its repository,
and the job always runs the registration's URL, branch and folder, never what the delivery names. A delivery
delivered again (same delivery id) answers with the job it started; the same commit pushed again, even with a new
delivery id, finds that job too, because the job is named by (registration, commit).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from shared.domain.git_source import GitSourceError, parse_git_source
from shared.domain.webhooks import (
    DELIVERY_HEADER,
    DELIVERY_KEEP,
    EVENT_HEADER,
    MAX_REGISTRATIONS_PER_URL,
    MAX_REPOS_PER_USER,
    SIGNATURE_HEADER,
    Registration,
    branch_problem,
    delivery_id,
    ignored_reason,
    new_registration_id,
    not_verified,
    parse_push,
    repository_urls,
    signature_digest,
    signature_matches,
    url_key,
)
from shared.ports import ReplayGuard, RepoRegistry
from shared.services.git_submit import GitRequest, GitSubmitDeps, PushedCommit, pushed_job_id, submit_git
from shared.structured_log import fields, get

log = get(__name__)


@dataclass(frozen=True)
class RepoDeps:
    registry: RepoRegistry
    replays: ReplayGuard
    git: GitSubmitDeps


class RepoLimitReached(Exception):
    pass


class AlreadyRegistered(Exception):
    def __init__(self, existing: Registration) -> None:
        self.existing = existing
        super().__init__(
            f"you registered {existing.url} (branch {existing.branch}, folder {existing.path or '/'}) already as "
            f"{existing.id}; remove it first to get a new secret"
        )


class RegistrationNotFound(LookupError):
    pass


def register_repo(deps: RepoDeps, owner: str, url: object, branch: object, path: object, now: datetime) -> Registration:
    """A new registration with a fresh secret; GitSourceError listing every problem with the URL, branch or folder."""
    source = parse_git_source(url, branch, path, deps.git.allowed_http_hosts)
    problem = branch_problem(source.ref, source.is_commit)
    if problem:
        raise GitSourceError([problem])
    mine = deps.registry.for_owner(owner, MAX_REPOS_PER_USER + 1)
    for existing in mine:
        if (existing.url_key, existing.branch, existing.path) == (url_key(source.url), source.ref, source.path):
            raise AlreadyRegistered(existing)
    if len(mine) >= MAX_REPOS_PER_USER:
        raise RepoLimitReached(
            f"you have {len(mine)} repositories registered, the most allowed; remove one with `olc repo remove ID`"
        )
    registration = Registration(
        id=new_registration_id(secrets.token_hex(10)),
        owner=owner,
        url=source.url,
        branch=source.ref,
        path=source.path,
        secret=secrets.token_hex(32),
        created_at=now,
    )
    deps.registry.add(registration)
    log.info("repository registered", extra=fields(repo=registration.id, url=source.url, branch=source.ref))
    return registration


def list_repos(registry: RepoRegistry, owner: str) -> list[Registration]:
    return registry.for_owner(owner, MAX_REPOS_PER_USER * 2)


def remove_repo(registry: RepoRegistry, owner: str, repo_id: str) -> Registration:
    """Removes the caller's own registration; someone else's is RegistrationNotFound exactly like a missing one."""
    registration = registry.get(repo_id)
    if registration is None or registration.owner != owner:
        raise RegistrationNotFound(repo_id)
    registry.remove(repo_id)
    log.info("repository registration removed", extra=fields(repo=repo_id))
    return registration


@dataclass(frozen=True)
class HookDelivery:
    """One webhook request: its headers as sent and the exact bytes of its body (what the signature covers)."""

    headers: Mapping[str, str]
    body: bytes
    payload: object  # the body as JSON


@dataclass(frozen=True)
class HookAnswer:
    outcome: Literal["pong", "ignored", "duplicate", "started"]
    job_ids: tuple[str, ...] = ()
    reason: str = ""


def receive_push(deps: RepoDeps, delivery: HookDelivery, now: datetime) -> HookAnswer:
    """What a webhook delivery does. SignatureError when it is unsigned or no registration of its repository
    verifies it (the same answer for unregistered repositories); EventError for a signed delivery that is not a
    push event; GitSourceError when a registration no longer passes today's checks."""
    digest = signature_digest(delivery.headers.get(SIGNATURE_HEADER))
    verified = [
        r for r in _registrations_of(deps, delivery.payload) if signature_matches(r.secret, delivery.body, digest)
    ]
    if not verified:
        log.warning("webhook delivery not verified by any registration")
        raise not_verified()
    event = delivery.headers.get(EVENT_HEADER) or ""
    if event == "ping":
        return HookAnswer("pong")
    if event != "push":
        return HookAnswer("ignored", reason=f"{event or 'an unnamed'} event: only push events start jobs")
    delivered = delivery_id(delivery.headers.get(DELIVERY_HEADER))
    push = parse_push(delivery.payload)
    started: list[str] = []
    duplicates: list[str] = []
    ignored: list[str] = []
    for registration in verified:
        reason = ignored_reason(registration, push)
        if reason:
            ignored.append(reason)
            continue
        pushed = PushedCommit(registration.id, push.after)
        job_id = pushed_job_id(pushed)
        repeated = not deps.replays.first_use(f"git-hook:{registration.id}:{delivered}", now + DELIVERY_KEEP)
        # A delivery seen before, or the same commit sent again under a new delivery id, answers with the job it
        # started, without submitting again (which would ask the fetcher for the design a second time). Only when
        # that job is missing (the first attempt died before recording it) is it started now.
        if deps.git.jobs.get(job_id) is not None:
            duplicates.append(job_id)
            log.info(
                "push already received", extra=fields(job_id=job_id, delivery=delivered, repeated_delivery=repeated)
            )
            continue
        request = GitRequest(registration.url, registration.branch, registration.path)
        job = submit_git(deps.git, registration.owner, request, now, pushed)
        started.append(job.id)
    log.info(
        "push received",
        extra=fields(delivery=delivered, ref=push.ref, commit=push.after, started=started, duplicates=duplicates),
    )
    if started:
        return HookAnswer("started", tuple(started + duplicates))
    if duplicates:
        return HookAnswer("duplicate", tuple(duplicates))
    return HookAnswer("ignored", reason="; ".join(ignored))


def _registrations_of(deps: RepoDeps, payload: object) -> list[Registration]:
    keys = []
    for url in repository_urls(payload):
        try:
            keys.append(url_key(parse_git_source(url, "main", "", deps.git.allowed_http_hosts).url))
        except GitSourceError:
            continue  # a URL that could never be registered
    found: dict[str, Registration] = {}
    for key in dict.fromkeys(keys):
        for registration in deps.registry.with_url_key(key, MAX_REGISTRATIONS_PER_URL):
            found[registration.id] = registration
    return list(found.values())
