"""Handlers of "run on every push": repository registrations (`/v1/repos`) and the push webhook (`/v1/hooks/git`)."""

from __future__ import annotations

from typing import Any

import flask

from shared import bootstrap
from shared.domain.git_source import GitSourceError
from shared.domain.webhooks import EventError, Registration, SignatureError
from shared.services.repos import (
    AlreadyRegistered,
    HookDelivery,
    RegistrationNotFound,
    RepoLimitReached,
    list_repos,
    receive_push,
    register_repo,
    remove_repo,
)
from shared.web.routing import ApiError, Call

HOOK_PATH = "/v1/hooks/git"
_REPO_EXAMPLE = '{"url": "https://github.com/owner/repo.git", "branch": "main", "path": "designs/spm"}'


def add_repo(call: Call) -> flask.Response:
    body = call.body
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", f"send a JSON object like {_REPO_EXAMPLE}")
    try:
        registration = register_repo(
            bootstrap.repo_deps(),
            call.user,
            body.get("url"),
            body.get("branch", "main"),
            body.get("path", ""),
            call.now,
        )
    except GitSourceError as exc:
        raise ApiError(400, "invalid_git_source", str(exc), {"problems": list(exc.problems)}) from exc
    except AlreadyRegistered as exc:
        raise ApiError(409, "already_registered", str(exc), {"id": exc.existing.id}) from exc
    except RepoLimitReached as exc:
        raise ApiError(409, "too_many_repos", str(exc)) from exc
    # The secret is shown this once: the webhook needs it, and no later answer carries it.
    response = flask.jsonify(
        **_shown(registration, call.base_url),
        secret=registration.secret,
        content_type="application/json",
        events=["push"],
    )
    response.status_code = 201
    return response


def my_repos(call: Call) -> flask.Response:
    return flask.jsonify(repos=[_shown(r, call.base_url) for r in list_repos(bootstrap.repos(), call.user)])


def delete_repo(call: Call) -> flask.Response:
    repo_id = call.params["repo_id"]
    try:
        remove_repo(bootstrap.repos(), call.user, repo_id)
    except RegistrationNotFound as exc:
        # Someone else's registration answers exactly like a missing one.
        raise ApiError(404, "not_found", f"you have no repository registration {repo_id}") from exc
    return flask.jsonify(id=repo_id, removed=True)


def git_push_hook(call: Call) -> flask.Response:
    """Public: the delivery authenticates itself by its signature (X-Hub-Signature-256)."""
    delivery = HookDelivery(call.headers, call.raw_body, call.body)
    try:
        answer = receive_push(bootstrap.repo_deps(), delivery, call.now)
    except SignatureError as exc:
        raise ApiError(401, exc.code, exc.message) from exc
    except EventError as exc:
        raise ApiError(400, exc.code, exc.message) from exc
    except GitSourceError as exc:
        raise ApiError(400, "invalid_git_source", f"the registration is no longer accepted: {exc}") from exc
    if answer.outcome == "pong":
        return flask.jsonify(pong=True)
    if answer.outcome == "duplicate":
        return flask.jsonify(duplicate=True, job_id=answer.job_ids[0], job_ids=list(answer.job_ids))
    reply: dict[str, Any] = {"ignored": answer.reason} if answer.outcome == "ignored" else {}
    if answer.outcome == "started":
        reply = {"job_ids": list(answer.job_ids), "pages": [f"{call.base_url}/jobs/{j}" for j in answer.job_ids]}
    response = flask.jsonify(reply)
    response.status_code = 202
    return response


def _shown(registration: Registration, base_url: str) -> dict[str, Any]:
    return {
        "id": registration.id,
        "url": registration.url,
        "branch": registration.branch,
        "path": registration.path,
        "created_at": registration.created_at.isoformat().replace("+00:00", "Z"),
        "webhook_url": base_url + HOOK_PATH,
    }
