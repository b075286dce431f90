"""Handlers that start jobs without an upload from the caller: a design in a git repository, and a rerun of a job."""

from __future__ import annotations

from typing import Any

import flask

from shared import bootstrap
from shared.domain.git_source import GitSourceError
from shared.services.git_submit import GitRequest, submit_git
from shared.services.queries import get_job
from shared.services.rerun import InvalidOverrides, NotRerunnable, SourceGone, rerun
from shared.web.routing import ApiError, Call

_GIT_EXAMPLE = '{"git": {"url": "https://github.com/owner/repo.git", "ref": "main", "path": "designs/spm"}}'


def submit_from_git(call: Call) -> flask.Response:
    body = _object(call.body, _GIT_EXAMPLE)
    git = _object(body.get("git"), _GIT_EXAMPLE)
    request = GitRequest(
        url=git.get("url"),
        ref=git.get("ref", "main"),
        path=git.get("path", ""),
        notify=_flag(body, "notify"),
        reuse=_flag(body, "reuse"),
    )
    try:
        job = submit_git(bootstrap.git_submit_deps(), call.user, request, call.now)
    except GitSourceError as exc:
        raise ApiError(400, "invalid_git_source", str(exc), {"problems": list(exc.problems)}) from exc
    assert job.git is not None
    response = flask.jsonify(
        job_id=job.id,
        state=job.state.value,
        git={"url": job.git.url, "ref": job.git.ref, "path": job.git.path},
        page=f"{call.base_url}/jobs/{job.id}",
    )
    response.status_code = 202
    return response


def rerun_one_job(call: Call) -> flask.Response:
    # Only the owner: a rerun is a job of the parent's owner, which not even an admin starts for them.
    parent = get_job(bootstrap.jobs(), call.user, call.params["job_id"], is_admin=lambda _user: False)
    body = _object(call.body if call.body is not None else {}, '{"overrides": {"CLOCK_PERIOD": 12}}')
    try:
        ticket = rerun(
            bootstrap.object_store(),
            parent,
            body.get("overrides", {}),
            call.now,
            notify=_flag(body, "notify", parent.notifications_enabled),
            reuse=_flag(body, "reuse"),
        )
    except InvalidOverrides as exc:
        raise ApiError(400, "invalid_overrides", str(exc), {"problems": list(exc.problems)}) from exc
    except NotRerunnable as exc:
        raise ApiError(409, "not_rerunnable", str(exc)) from exc
    except SourceGone as exc:
        raise ApiError(409, "source_gone", str(exc)) from exc
    response = flask.jsonify(
        job_id=ticket.job_id,
        parent_job=ticket.parent_job,
        upload=ticket.upload.name,
        page=f"{call.base_url}/jobs/{ticket.job_id}",
    )
    response.status_code = 201
    return response


def _object(value: object, example: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_body", f"send a JSON object like {example}")
    return value


def _flag(body: dict[str, Any], name: str, default: bool = True) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise ApiError(400, "invalid_body", f"{name} must be true or false")
    return value
