"""Entry point: a message for the dispatcher (queued, slot freed, cancel, tick, or a dead letter).

What each kind does: shared/services/jobs_topic.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

import functions_framework
from cloudevents.http import CloudEvent

from shared import bootstrap
from shared.services.jobs_topic import receive


@functions_framework.cloud_event
def dispatcher(event: CloudEvent) -> None:
    receive(event["type"], event.data, event["id"], bootstrap.jobs_topic_deps(), lambda: datetime.now(UTC))
