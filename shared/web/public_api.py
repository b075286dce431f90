"""Handler of the public queue overview (no personal data). The API's own description is served by app.py."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import flask

from shared import bootstrap
from shared.services.overview import QueueOverview, queue_overview
from shared.web.routing import Call
from shared.web.views import overview_view


class _FreshEnough:
    """The overview costs a few count queries and one read of recent jobs; anyone may ask for it, so every
    instance answers from a copy at most OVERVIEW_MAX_AGE_S old instead of querying per request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: tuple[float, QueueOverview] | None = None

    def get(self, now: datetime) -> QueueOverview:
        with self._lock:
            if self._value is None or time.monotonic() - self._value[0] > OVERVIEW_MAX_AGE_S:
                self._value = (time.monotonic(), queue_overview(bootstrap.jobs(), now))
            return self._value[1]


OVERVIEW_MAX_AGE_S = 5.0
_overview = _FreshEnough()


def queue(call: Call) -> flask.Response:
    response = flask.jsonify(overview_view(_overview.get(call.now)))
    response.headers["Cache-Control"] = f"public, max-age={int(OVERVIEW_MAX_AGE_S)}"
    return response
