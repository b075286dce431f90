"""Entry point: a design archive landed in the designs bucket (Eventarc storage event or bucket notification)."""

from __future__ import annotations

from datetime import UTC, datetime

import functions_framework
from cloudevents.http import CloudEvent

from shared import bootstrap
from shared.domain.events import EventShapeError, upload_from_cloudevent
from shared.services.ingest import ingest_upload
from shared.structured_log import fields, get

log = get("functions.ingest")


@functions_framework.cloud_event
def ingest(event: CloudEvent) -> None:
    try:
        upload = upload_from_cloudevent(event["type"], event.data)
    except EventShapeError as exc:
        # Retrying a malformed event cannot help: log it loudly and acknowledge.
        log.error("unusable storage event", extra=fields(error=str(exc), event_id=event["id"]))
        return
    if upload is None:
        return
    ingest_upload(upload, bootstrap.ingest_deps(), datetime.now(UTC))
