"""Entry point (HTTP): the users' API under /v1 and the status pages. Routes: shared/web/app.py ROUTES."""

from __future__ import annotations

import flask
import functions_framework

from shared.web.app import handle
from shared.web.routing import ApiError


@functions_framework.http
def api(request: flask.Request) -> flask.Response:
    return handle(request)


# Paths the framework itself cannot route (e.g. with a newline) never reach `api`: answer them in the API's format.
@functions_framework.errorhandler(404)
def _no_route(_error: Exception) -> flask.Response:
    return ApiError(404, "no_route", "no such endpoint; the API is described at /v1/openapi.json").response()


@functions_framework.errorhandler(405)
def _no_method(_error: Exception) -> flask.Response:
    return ApiError(405, "method_not_allowed", "this method is not supported here").response()
