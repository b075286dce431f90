"""The OpenAPI 3.1 document, generated from the route table so it cannot drift from what is served.

`document(routes)` builds it from the table it is given; app.py, which owns the table, serves it at
/v1/openapi.json. docs/openapi.json is this document, written by `python -m shared.web.openapi > docs/openapi.json`
(the one use that starts from the table rather than from app.py); a test keeps the two equal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from shared.web.routing import PARAMETER_PATTERNS, Route
from shared.web.schemas import SCHEMAS

_ERROR_TEXT = {
    400: "The request is malformed; the message says what to change.",
    401: "Not signed in: send a valid ID token as `Authorization: Bearer <token>`.",
    403: "Signed in, but not allowed (admins only, or another user's data).",
    404: "No such job of yours, no such result, or no such endpoint (e.g. a malformed job id).",
    409: "The job's state does not allow this now.",
    413: "The request body is too large.",
}
_PARAMETER_TEXT = {"job_id": "A job id, e.g. j0123456789abcdef012.", "user": "A user's e-mail, or `_defaults`."}


def document(routes: Iterable[Route]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if route.in_api_document:
            paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "OpenLane Cloud API",
            "version": "1.0.0",
            "description": (
                "Run the OpenLane RTL-to-GDSII flow on uploaded designs. Sign in with an ID token "
                "(`Authorization: Bearer ...`). Every error has the shape of the `Error` schema."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"idToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


def _operation(route: Route) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": route.handler.__name__,
        "summary": route.summary,
        "tags": [route.path.split("/")[2] if route.path.count("/") >= 2 else "pages"],
        "parameters": [
            {
                "name": name,
                "in": "path",
                "required": True,
                "description": _PARAMETER_TEXT.get(name, name),
                "schema": {"type": "string", "pattern": f"^{PARAMETER_PATTERNS[name]}$"},
            }
            for name in route.path_params
        ]
        + [
            {"name": q.name, "in": "query", "required": False, "description": q.description, "schema": dict(q.schema)}
            for q in route.query
        ],
        "responses": {str(route.status): _success(route)},
    }
    if route.response == "application/zip":
        operation["responses"]["302"] = {"description": "With ?path=: a redirect to that file (a signed link)."}
    if route.access == "public":
        operation["security"] = []
    else:
        operation["security"] = [{"idToken": []}]
        operation["responses"]["401"] = _error_response(401)
    operation["responses"]["404"] = _error_response(404)  # no such job, result or endpoint
    if route.access in ("user", "admin"):
        operation["responses"]["403"] = _error_response(403)
    for status in route.errors:
        operation["responses"][str(status)] = _error_response(status)
    if route.request_body:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{route.request_body}"}}},
        }
    return operation


def _success(route: Route) -> dict[str, Any]:
    if route.response in SCHEMAS:
        content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{route.response}"}}}
        return {"description": route.summary, "content": content}
    if route.response == "object":
        return {"description": route.summary, "content": {"application/json": {"schema": {"type": "object"}}}}
    if route.response == "image/png":
        return {"description": "A redirect to the image (a signed link valid for 15 minutes)."}
    return {"description": route.summary, "content": {route.response: {"schema": {"type": "string"}}}}


def _error_response(status: int) -> dict[str, Any]:
    return {
        "description": _ERROR_TEXT[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


if __name__ == "__main__":
    # Run as a program this module is __main__, not shared.web.openapi, so taking the table from app.py (which
    # imports shared.web.openapi) is no import cycle.
    from shared.web.app import ROUTES

    print(json.dumps(document(ROUTES), indent=2, sort_keys=True))
