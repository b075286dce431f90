"""Entry point: a job was queued, a slot was freed, or the scheduler ticked — admit what fits into Slurm.

On a tick it first reconciles: active jobs whose end was never reported are looked up in Slurm and finished.
It also receives the jobs topic's dead letters (and, locally, ingest's) and records them.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime

import functions_framework
from cloudevents.http import CloudEvent

from shared import bootstrap
from shared.config import settings
from shared.domain.events import EventShapeError, dead_letter_from_cloudevent, decode_message_data
from shared.services.cancel import stop_in_slurm
from shared.services.dead_letters import record_dead_letter
from shared.services.dispatch import dispatch
from shared.services.reconcile import reconcile
from shared.services.sweep_completion import finish_cancelled_sweep
from shared.structured_log import fields, get

log = get("functions.dispatcher")


def _now() -> datetime:
    return datetime.now(UTC)


def _message(event: CloudEvent) -> dict:
    try:
        return decode_message_data((event.data or {}).get("message") or {})
    except (EventShapeError, AttributeError):
        return {}


@functions_framework.cloud_event
def dispatcher(event: CloudEvent) -> None:
    letter = dead_letter_from_cloudevent(event["type"], event.data)
    if letter is not None:
        record_dead_letter(letter, bootstrap.dead_letters(), bootstrap.jobs(), bootstrap.notifier(), _now)
        return
    message = _message(event)
    kind = str(message.get("kind", ""))
    if kind == "cancel":
        job_id = str(message.get("job_id", ""))
        if stop_in_slurm(bootstrap.jobs(), bootstrap.cluster(), job_id):
            finish_cancelled_sweep(job_id, bootstrap.completion_deps(), _now)
        return
    if kind == "tick":
        repaired = reconcile(bootstrap.completion_deps(), _now, settings().reconcile_after_s)
        if repaired.repaired:
            log.info("reconciled lost job ends", extra=fields(repaired=len(repaired.repaired)))
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    report = dispatch(bootstrap.dispatch_deps(), holder, _now)
    if report.submitted or report.failed or report.rejected:
        log.info(
            "dispatch round done",
            extra=fields(
                submitted=len(report.submitted), failed=len(report.failed), rejected=len(report.rejected), trigger=kind
            ),
        )
