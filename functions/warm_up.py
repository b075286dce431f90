"""Warm-up as an instance starts: its function's clients built and its connections opened in the background, so the
first request after a start does not pay for imports, gRPC channels and the SSH handshake to the login node
(measured: the first job after a start waited 1.3-1.4 s for sbatch, the others 0.2 s).

Cloud Run functions set FUNCTION_TARGET to the entry point an instance serves; the local stack sets it the same way.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from shared import bootstrap
from shared.structured_log import fields, get

log = get(__name__)
_ABSENT_JOB = "j" + "0" * 19  # a well-formed id no job has: reading it opens Firestore's channel


def _open_firestore() -> None:
    bootstrap.jobs().get(_ABSENT_JOB)


def _open_login_node() -> None:
    connect = getattr(bootstrap.cluster(), "connect", None)
    if connect is not None:
        connect()


# Per function: what is built as the worker starts, then what is opened in the background.
BUILD: dict[str, Callable[[], object]] = {
    "ingest": bootstrap.ingest_deps,
    "dispatcher": bootstrap.jobs_topic_deps,
    "completion": bootstrap.completion_deps,
}
OPEN: dict[str, tuple[Callable[[], object], ...]] = {
    "ingest": (_open_firestore,),
    "dispatcher": (_open_firestore, _open_login_node),
    "completion": (_open_firestore,),
}


def start(target: str | None) -> bool:
    """Warm the function `target` up in the process that will serve it. Functions Framework imports the functions
    in gunicorn's master and serves from a forked worker, and gRPC channels and SSH connections do not survive a
    fork: so nothing is built here; it happens in the worker, as it is forked (False: nothing to warm up)."""
    if target not in BUILD:
        return False
    os.register_at_fork(after_in_child=lambda: warm(target))
    return True


def warm(target: str) -> threading.Thread:
    """Build the function's clients now (before the worker serves: builders import modules lazily, and an import
    racing a request's own import of the same module fails), then open its connections in a daemon thread. A step
    that fails is left to the first request, which does it again and reports what fails."""
    _attempt(target, BUILD[target])

    def run() -> None:
        for step in OPEN[target]:
            _attempt(target, step)

    thread = threading.Thread(target=run, name=f"warm-up-{target}", daemon=True)
    thread.start()
    return thread


def _attempt(target: str, step: Callable[[], object]) -> None:
    try:
        step()
    except Exception as exc:  # best effort: the first request builds it again, and reports what fails
        log.warning("warm-up step failed", extra=fields(function=target, error=str(exc)[:300]))
