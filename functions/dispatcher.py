"""Entry point: a job was queued, a slot was freed, or the scheduler ticked — admit what fits into Slurm."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime

import functions_framework
from cloudevents.http import CloudEvent

from shared import bootstrap
from shared.services.dispatch import dispatch
from shared.structured_log import fields, get

log = get("functions.dispatcher")


@functions_framework.cloud_event
def dispatcher(event: CloudEvent) -> None:
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    report = dispatch(bootstrap.dispatch_deps(), holder, lambda: datetime.now(UTC))
    if report.submitted or report.failed:
        log.info(
            "dispatch round done",
            extra=fields(submitted=len(report.submitted), failed=len(report.failed), trigger=event["type"]),
        )
