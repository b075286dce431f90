"""Entry point: a git submission waits for its design (a `fetch` message on the git-fetch topic).

What happens: shared/services/fetch_design.py.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from shared import bootstrap
from shared.domain.events import EventShapeError, message_id_of, pubsub_message_from_cloudevent
from shared.domain.messages import FetchDesign, decode
from shared.services.fetch_design import fetch_submitted_design
from shared.structured_log import fields, get

log = get("functions.git_fetcher")


@functions_framework.cloud_event
def git_fetcher(event: CloudEvent) -> None:
    try:
        message = decode(pubsub_message_from_cloudevent(event["type"], event.data))
    except EventShapeError as exc:
        # Delivering it again cannot help: log it loudly and acknowledge.
        log.error(
            "undecodable message acknowledged", extra=fields(message_id=message_id_of(event.data), error=str(exc))
        )
        return
    if not isinstance(message, FetchDesign):
        log.error("not a fetch message; acknowledged", extra=fields(kind=getattr(message, "kind", "dead letter")))
        return
    fetch_submitted_design(message, bootstrap.fetch_deps())
