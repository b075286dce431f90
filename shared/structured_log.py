"""JSON log lines that Cloud Logging understands: severity, message, job id and trace on every line."""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

_job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("job_id", default=None)
_trace: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace", default=None)


class CloudLoggingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname if record.levelname != "WARNING" else "WARNING",
            "message": record.getMessage(),
            "logger": record.name,
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
        }
        job_id = getattr(record, "job_id", None) or _job_id.get()
        if job_id:
            entry["job_id"] = job_id
            entry["logging.googleapis.com/labels"] = {"job_id": job_id}
        trace = _trace.get()
        if trace:
            entry["logging.googleapis.com/trace"] = trace
        for key, value in getattr(record, "fields", {}).items():
            entry[key] = value
        if record.exc_info:
            entry["stack_trace"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


@functools.cache
def configure() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(CloudLoggingFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("LOG_LEVEL", "INFO"))
    for noisy in ("urllib3", "google", "paramiko"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get(name: str) -> logging.Logger:
    configure()
    return logging.getLogger(name)


@contextmanager
def job_context(job_id: str | None) -> Iterator[None]:
    token = _job_id.set(job_id)
    try:
        yield
    finally:
        _job_id.reset(token)


def set_trace_from_headers(headers: Mapping[str, str], project_id: str) -> None:
    """Tie log lines to the request's trace (X-Cloud-Trace-Context: TRACE_ID/SPAN;o=1, or W3C traceparent)."""
    trace_id = None
    if cloud := headers.get("X-Cloud-Trace-Context"):
        trace_id = cloud.split("/", 1)[0]
    elif parent := headers.get("traceparent"):
        parts = parent.split("-")
        trace_id = parts[1] if len(parts) > 2 else None
    _trace.set(f"projects/{project_id}/traces/{trace_id}" if trace_id else None)


def fields(**values: Any) -> dict[str, Any]:
    """`log.info("...", extra=fields(key=value))` adds structured fields to the line."""
    return {"fields": values}
