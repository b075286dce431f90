"""The API's route table machinery: what a route is, who may use it, and the one error format.

Every endpoint is a `Route`. Its `access` says who may use it, the OpenAPI document is generated from the same
table (shared/web/openapi.py), and tests walk it, so an endpoint cannot exist without being documented and
checked for cross-user access.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import flask

# public: anyone, no sign-in (pages, the queue overview, the OpenAPI document).
# caller: the signed-in caller's own data only.
# job:    the path names a job; only its owner and admins (others get the same 404 as for a missing job).
# user:   the path names a user; only that user and admins.
# admin:  admins only.
Access = Literal["public", "caller", "job", "user", "admin"]
PARAMETER = re.compile(r"\{(\w+)\}")
PARAMETER_PATTERNS = {
    "job_id": r"j[0-9a-f]{19}",
    "user": r"[^/]{1,254}",
    "asset": r"[a-z0-9-]{1,40}\.(?:js|css)",
    "design_name": r"[A-Za-z_][A-Za-z0-9_]{0,63}",  # config.json's DESIGN_NAME (config_schema.IDENTIFIER)
    "repo_id": r"r[0-9a-f]{19}",  # a repository registration (shared/domain/webhooks.py REPO_ID)
}


class ApiError(Exception):
    """An answer other than success, in the one error format: {"error": {"code", "message", "details"?}}."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def response(self) -> flask.Response:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        response = flask.jsonify(error=error)
        response.status_code = self.status
        if self.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="olc"'
        return response


@dataclass(frozen=True)
class Call:
    """One request as a handler sees it."""

    caller: str | None  # None on public routes
    params: Mapping[str, str]
    args: Mapping[str, str]
    body: Any
    now: datetime
    base_url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    raw_body: bytes = b""  # the body's exact bytes on routes with a request body (what a webhook signs)

    def arg_int(self, name: str, default: int, lowest: int, highest: int) -> int:
        raw = self.args.get(name)
        if raw is None or raw == "":
            return default
        if not raw.isdigit() or not lowest <= int(raw) <= highest:
            raise ApiError(400, "invalid_parameter", f"{name} must be a whole number from {lowest} to {highest}")
        return int(raw)

    @property
    def user(self) -> str:
        assert self.caller is not None, "a signed-in route"
        return self.caller


Handler = Callable[[Call], flask.Response]


@dataclass(frozen=True)
class QueryParam:
    name: str
    description: str
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # OpenAPI-style template, e.g. /v1/jobs/{job_id}
    handler: Handler
    access: Access
    summary: str
    response: str = "object"  # schema name in shared/web/schemas.py, or a media type ("text/html", "application/zip")
    status: int = 200
    query: tuple[QueryParam, ...] = ()
    request_body: str | None = None  # schema name
    errors: tuple[int, ...] = ()  # error statuses this route may answer besides 401/404
    in_api_document: bool = True
    max_body_bytes: int = 64 << 10  # larger request bodies are refused with 413
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex = PARAMETER.sub(lambda m: f"(?P<{m[1]}>{PARAMETER_PATTERNS[m[1]]})", self.path)
        # \Z, not $: `$` would also match before a trailing newline.
        object.__setattr__(self, "pattern", re.compile(rf"\A{regex}/?\Z" if self.path != "/" else r"\A/\Z"))

    @property
    def path_params(self) -> list[str]:
        return PARAMETER.findall(self.path)


def find_route(routes: tuple[Route, ...], method: str, path: str) -> tuple[Route, dict[str, str]]:
    allowed = []
    for route in routes:
        match = route.pattern.match(path)
        if match:
            if route.method == method or (method == "HEAD" and route.method == "GET"):
                return route, {k: v for k, v in match.groupdict().items() if v is not None}
            allowed.append(route.method)
    if allowed:
        raise ApiError(405, "method_not_allowed", f"{method} is not supported on {path}; use {', '.join(allowed)}")
    raise ApiError(404, "no_route", f"no endpoint {path}; the API is described at /v1/openapi.json")
