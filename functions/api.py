"""Entry point (HTTP): the users' API, versioned under /v1. Every endpoint is a Route in ROUTES.

Each route declares who may use it (`access`), and a test walks this table to prove that no endpoint lets one user
read or act on another's jobs — so a new route cannot be added without saying who it is for.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import flask
import functions_framework

from shared import bootstrap
from shared.adapters.identity import Unauthenticated
from shared.config import settings
from shared.domain.job_codec import job_to_json
from shared.services.cancel import cancel_job
from shared.services.queries import NotFound, get_job, list_jobs
from shared.services.quota_admin import Forbidden, InvalidQuota, set_quota, show_quota
from shared.structured_log import set_trace_from_headers

# job: the path names a job; only its owner and admins reach it (others get the same 404 as a missing job).
# user: the path names a user (or none = the caller); only that user and admins.
# admin: admins only. caller: acts on the caller's own data only.
Access = Literal["job", "user", "admin", "caller"]
Handler = Callable[[str, dict[str, str]], flask.Response | tuple[flask.Response, int]]
_PARAMETER = re.compile(r"\{(\w+)\}")
_PARAMETER_PATTERNS = {"job_id": r"[A-Za-z0-9]{1,64}", "user": r"[^/]{1,254}"}


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # OpenAPI-style template, e.g. /v1/jobs/{job_id}
    handler: Handler
    access: Access
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        regex = _PARAMETER.sub(lambda m: f"(?P<{m[1]}>{_PARAMETER_PATTERNS[m[1]]})", self.path)
        object.__setattr__(self, "pattern", re.compile(f"^{regex}/?$"))


def _error(status: int, code: str, message: str) -> tuple[flask.Response, int]:
    return flask.jsonify(error={"code": code, "message": message}), status


def _list_jobs(caller: str, _params: dict[str, str]) -> flask.Response:
    limit = flask.request.args.get("limit", "100")
    jobs = list_jobs(bootstrap.jobs(), caller, int(limit) if limit.isdigit() else 100)
    return flask.jsonify(jobs=[job_to_json(j) for j in jobs])


def _get_job(caller: str, params: dict[str, str]) -> flask.Response:
    job = get_job(bootstrap.jobs(), caller, params["job_id"], is_admin=bootstrap.quotas().is_admin)
    return flask.jsonify(job_to_json(job))


def _cancel_job(caller: str, params: dict[str, str]) -> flask.Response:
    result = cancel_job(bootstrap.cancel_deps(), caller, params["job_id"], lambda: datetime.now(UTC))
    return flask.jsonify(job_id=result.job_id, state=result.state, message=result.message)


def _show_quota(caller: str, params: dict[str, str]) -> flask.Response:
    config = settings()
    user = params.get("user") or caller
    return flask.jsonify(
        show_quota(bootstrap.quotas(), bootstrap.quota_limits(config), caller, user.lower(), datetime.now(UTC))
    )


def _set_quota(caller: str, params: dict[str, str]) -> flask.Response:
    body = flask.request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidQuota("send a JSON object of quota fields")
    set_quota(bootstrap.quotas(), caller, params["user"].lower(), body)
    return _show_quota(caller, params)


ROUTES: tuple[Route, ...] = (
    Route("GET", "/v1/jobs", _list_jobs, "caller"),
    Route("GET", "/v1/jobs/{job_id}", _get_job, "job"),
    Route("POST", "/v1/jobs/{job_id}/cancel", _cancel_job, "job"),
    Route("GET", "/v1/quota", _show_quota, "caller"),
    Route("GET", "/v1/quotas/{user}", _show_quota, "user"),
    Route("PUT", "/v1/quotas/{user}", _set_quota, "admin"),
)


def _dispatch(request: flask.Request, caller: str) -> flask.Response | tuple[flask.Response, int]:
    matched = [(route, m) for route in ROUTES if (m := route.pattern.match(request.path))]
    for route, match in matched:
        if route.method != request.method:
            continue
        params = {k: v for k, v in match.groupdict().items() if v is not None}
        try:
            return route.handler(caller, params)
        except NotFound:
            return _error(404, "not_found", f"you have no job {params.get('job_id', '')}")
        except Forbidden as exc:
            return _error(403, "forbidden", str(exc))
        except InvalidQuota as exc:
            return _error(400, "invalid_quota", str(exc))
    if matched:
        return _error(405, "method_not_allowed", f"{request.method} is not supported on {request.path}")
    return _error(404, "no_route", f"no endpoint {request.path}")


@functions_framework.http
def api(request: flask.Request) -> flask.Response | tuple[flask.Response, int]:
    set_trace_from_headers(request.headers, settings().project_id)
    try:
        caller = bootstrap.identity().caller(request.headers)
    except Unauthenticated as exc:
        response, status = _error(401, "unauthenticated", str(exc))
        response.headers["WWW-Authenticate"] = 'Bearer realm="olc"'
        return response, status
    return _dispatch(request, caller)
