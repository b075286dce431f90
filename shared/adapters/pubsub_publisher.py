"""Publish messages to Pub/Sub topics (the emulator when PUBSUB_EMULATOR_HOST is set)."""

from __future__ import annotations

from google.cloud import pubsub_v1

from shared.domain.messages import Published, encode

_PUBLISH_TIMEOUT_S = 30


class PubSubPublisher:
    def __init__(self, project_id: str, client: pubsub_v1.PublisherClient | None = None) -> None:
        self._project_id = project_id
        self._client = client or pubsub_v1.PublisherClient()

    def publish(self, topic: str, message: Published) -> None:
        path = self._client.topic_path(self._project_id, topic)
        wire = encode(message)
        self._client.publish(path, wire.data, **wire.attributes).result(timeout=_PUBLISH_TIMEOUT_S)
