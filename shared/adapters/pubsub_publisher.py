"""Publish JSON messages to Pub/Sub topics (the emulator when PUBSUB_EMULATOR_HOST is set)."""

from __future__ import annotations

import json

from google.cloud import pubsub_v1

_PUBLISH_TIMEOUT_S = 30


class PubSubPublisher:
    def __init__(self, project_id: str, client: pubsub_v1.PublisherClient | None = None) -> None:
        self._project_id = project_id
        self._client = client or pubsub_v1.PublisherClient()

    def publish(self, topic: str, message: dict[str, object], **attributes: str) -> None:
        path = self._client.topic_path(self._project_id, topic)
        data = json.dumps(message, separators=(",", ":")).encode()
        self._client.publish(path, data, **attributes).result(timeout=_PUBLISH_TIMEOUT_S)
