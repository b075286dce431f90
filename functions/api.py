"""Entry point (HTTP): the users' API, versioned under /v1. Routes are listed in ROUTES."""

from __future__ import annotations

import re
from collections.abc import Callable

import flask
import functions_framework

from shared import bootstrap
from shared.adapters.identity import DevHeaderIdentity, GoogleIdTokenIdentity, Unauthenticated
from shared.config import settings
from shared.domain.job_codec import job_to_json
from shared.services.queries import NotFound, get_job, list_jobs
from shared.structured_log import set_trace_from_headers

Handler = Callable[[str, re.Match[str]], flask.Response | tuple[flask.Response, int]]


def _error(status: int, code: str, message: str) -> tuple[flask.Response, int]:
    return flask.jsonify(error={"code": code, "message": message}), status


def _list_jobs(caller: str, _match: re.Match[str]) -> flask.Response:
    limit = flask.request.args.get("limit", "100")
    jobs = list_jobs(bootstrap.jobs(), caller, int(limit) if limit.isdigit() else 100)
    return flask.jsonify(jobs=[job_to_json(j) for j in jobs])


def _get_job(caller: str, match: re.Match[str]) -> flask.Response:
    return flask.jsonify(job_to_json(get_job(bootstrap.jobs(), caller, match["job_id"])))


ROUTES: tuple[tuple[str, re.Pattern[str], Handler], ...] = (
    ("GET", re.compile(r"^/v1/jobs/?$"), _list_jobs),
    ("GET", re.compile(r"^/v1/jobs/(?P<job_id>[A-Za-z0-9]+)$"), _get_job),
)


def _identity() -> DevHeaderIdentity | GoogleIdTokenIdentity:
    config = settings()
    if config.environment == "local":
        return DevHeaderIdentity()
    return GoogleIdTokenIdentity(audience=config.status_base_url)


@functions_framework.http
def api(request: flask.Request) -> flask.Response | tuple[flask.Response, int]:
    set_trace_from_headers(request.headers, settings().project_id)
    try:
        caller = _identity().caller(request.headers)
    except Unauthenticated as exc:
        return _error(401, "unauthenticated", str(exc))
    allowed = False
    for method, pattern, handler in ROUTES:
        match = pattern.match(request.path)
        if match:
            allowed = True
            if method == request.method:
                try:
                    return handler(caller, match)
                except NotFound:
                    return _error(404, "not_found", f"no job {match.groupdict().get('job_id')} of yours")
    if allowed:
        return _error(405, "method_not_allowed", f"{request.method} is not supported on {request.path}")
    return _error(404, "no_route", f"no endpoint {request.path}")
