"""Entry point (HTTP): the users' API, versioned under /v1. Routes are listed in ROUTES."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import flask
import functions_framework

from shared import bootstrap
from shared.adapters.identity import DevHeaderIdentity, GoogleIdTokenIdentity, Unauthenticated
from shared.config import settings
from shared.domain.job_codec import job_to_json
from shared.services.cancel import cancel_job
from shared.services.queries import NotFound, get_job, list_jobs
from shared.services.quota_admin import Forbidden, InvalidQuota, set_quota, show_quota
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


def _cancel_job(caller: str, match: re.Match[str]) -> flask.Response:
    result = cancel_job(bootstrap.cancel_deps(), caller, match["job_id"], lambda: datetime.now(UTC))
    return flask.jsonify(job_id=result.job_id, state=result.state, message=result.message)


def _show_quota(caller: str, match: re.Match[str]) -> flask.Response:
    config = settings()
    user = match["user"] or caller
    return flask.jsonify(
        show_quota(bootstrap.quotas(), bootstrap.quota_limits(config), caller, user.lower(), datetime.now(UTC))
    )


def _set_quota(caller: str, match: re.Match[str]) -> flask.Response:
    body = flask.request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidQuota("send a JSON object of quota fields")
    set_quota(bootstrap.quotas(), caller, match["user"].lower(), body)
    return _show_quota(caller, match)


ROUTES: tuple[tuple[str, re.Pattern[str], Handler], ...] = (
    ("GET", re.compile(r"^/v1/jobs/?$"), _list_jobs),
    ("GET", re.compile(r"^/v1/jobs/(?P<job_id>[A-Za-z0-9]+)$"), _get_job),
    ("POST", re.compile(r"^/v1/jobs/(?P<job_id>[A-Za-z0-9]+)/cancel$"), _cancel_job),
    ("GET", re.compile(r"^/v1/quota(?:s/(?P<user>[^/]+))?$"), _show_quota),
    ("PUT", re.compile(r"^/v1/quotas/(?P<user>[^/]+)$"), _set_quota),
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
                except Forbidden as exc:
                    return _error(403, "forbidden", str(exc))
                except InvalidQuota as exc:
                    return _error(400, "invalid_quota", str(exc))
    if allowed:
        return _error(405, "method_not_allowed", f"{request.method} is not supported on {request.path}")
    return _error(404, "no_route", f"no endpoint {request.path}")
