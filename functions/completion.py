"""Entry point (HTTP): the cluster reports a run's stage (job kit) or its end (epilog)."""

from __future__ import annotations

from datetime import UTC, datetime

import flask
import functions_framework

from shared import bootstrap
from shared.config import settings
from shared.services.complete import handle_callback
from shared.structured_log import set_trace_from_headers


@functions_framework.http
def completion(request: flask.Request) -> flask.Response:
    if request.method != "POST":
        return flask.jsonify(error="use POST"), 405
    set_trace_from_headers(request.headers, settings().project_id)
    reply = handle_callback(
        request.get_data(cache=False), request.headers, bootstrap.completion_deps(), lambda: datetime.now(UTC)
    )
    return flask.jsonify(status=reply.status, message=reply.message), reply.status
