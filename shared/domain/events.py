"""The shapes in which events reach the functions.

Uploads reach ingest in two:
- Eventarc Cloud Storage trigger: CloudEvent `google.cloud.storage.object.v1.finalized`, data = StorageObjectData.
- Bucket Pub/Sub notification (JSON_API_V1; what the local Cloud Storage emulator emits), delivered through a push
  subscription as `google.cloud.pubsub.topic.v1.messagePublished`: attributes eventType/bucketId/objectId/
  objectGeneration, data = the object resource as base64 JSON.

Every Pub/Sub message (the jobs topic's, the tick's, a dead letter) reaches its function as such a push delivery:
`pubsub_message_from_cloudevent` unwraps it into a `PubSubMessage`, which shared/domain/messages.py decodes.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.domain.job import SourceObject

STORAGE_FINALIZED = "google.cloud.storage.object.v1.finalized"
PUBSUB_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"
_NOTIFICATION_FINALIZE = "OBJECT_FINALIZE"


class EventShapeError(ValueError):
    pass


@dataclass(frozen=True)
class UploadEvent:
    source: SourceObject
    metadata: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = None


def upload_from_cloudevent(event_type: str, data: Any) -> UploadEvent | None:
    """The upload this event announces, or None for events that are not a finished upload (deletes, metadata)."""
    if event_type == STORAGE_FINALIZED:
        return _from_object_resource(_as_mapping(data))
    if event_type == PUBSUB_PUBLISHED:
        message = _as_mapping(_as_mapping(data).get("message"))
        attributes = _as_mapping(message.get("attributes") or {})
        if attributes.get("eventType") != _NOTIFICATION_FINALIZE:
            return None
        resource = decode_message_data(message)
        resource.setdefault("bucket", attributes.get("bucketId"))
        resource.setdefault("name", attributes.get("objectId"))
        resource.setdefault("generation", attributes.get("objectGeneration"))
        return _from_object_resource(resource)
    raise EventShapeError(f"unexpected event type {event_type!r}")


def decode_message_data(message: Mapping[str, Any]) -> dict[str, Any]:
    """A Pub/Sub message's data as JSON (push deliveries carry it base64-encoded)."""
    try:
        value = json.loads(_message_bytes(message) or b"{}")
    except ValueError as exc:
        raise EventShapeError(f"message data is not base64 JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise EventShapeError("message data is not a JSON object")
    return value


def _message_bytes(message: Mapping[str, Any]) -> bytes:
    raw = message.get("data") or ""
    try:
        return base64.b64decode(raw, validate=True) if isinstance(raw, str) else bytes(raw)
    except (binascii.Error, TypeError, ValueError) as exc:
        raise EventShapeError(f"message data is not base64: {exc}") from exc


def _from_object_resource(resource: Mapping[str, Any]) -> UploadEvent:
    bucket, name = resource.get("bucket"), resource.get("name")
    if not isinstance(bucket, str) or not bucket or not isinstance(name, str) or not name:
        raise EventShapeError(f"storage object without a usable bucket/name: {bucket!r}, {name!r}")
    try:
        source = SourceObject(
            bucket=bucket,
            name=name,
            generation=int(resource["generation"]),
            size=int(resource["size"]) if resource.get("size") not in (None, "") else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise EventShapeError(f"storage object without a usable bucket/name/generation: {exc}") from exc
    metadata = resource.get("metadata") or {}
    return UploadEvent(
        source=source,
        metadata={str(k): str(v) for k, v in _as_mapping(metadata).items()},
        content_type=resource.get("contentType"),
    )


def _as_mapping(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise EventShapeError(f"expected a JSON object, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class PubSubMessage:
    """One Pub/Sub message as it is published and as a push subscription delivers it."""

    data: bytes
    attributes: Mapping[str, str] = field(default_factory=dict)
    message_id: str = ""  # Pub/Sub's id; empty until published


def pubsub_message_from_cloudevent(event_type: str, data: Any) -> PubSubMessage:
    """The message a Pub/Sub push delivery carries (its data no longer base64); EventShapeError for anything else."""
    if event_type != PUBSUB_PUBLISHED:
        raise EventShapeError(f"expected a Pub/Sub delivery ({PUBSUB_PUBLISHED}), got {event_type!r}")
    message = _as_mapping(_as_mapping(data).get("message"))
    attributes = _as_mapping(message.get("attributes") or {})
    return PubSubMessage(
        data=_message_bytes(message),
        attributes={str(k): str(v) for k, v in attributes.items()},
        message_id=message_id_of(data),
    )


def message_id_of(data: Any) -> str:
    """The Pub/Sub message id of a push delivery, as far as it can be read (for logs about unusable ones)."""
    message = data.get("message") if isinstance(data, Mapping) else None
    if not isinstance(message, Mapping):
        return ""
    return str(message.get("messageId") or message.get("message_id") or "")


DEAD_LETTER_SOURCE = "CloudPubSubDeadLetterSourceSubscription"
DEAD_LETTER_COUNT = "CloudPubSubDeadLetterSourceDeliveryCount"


@dataclass(frozen=True)
class DeadLetter:
    """A message Pub/Sub gave up delivering, as its dead-letter topic hands it on: the original data, and the
    original attributes plus Pub/Sub's CloudPubSubDeadLetter* ones (shared/domain/messages.py reads and writes it)."""

    message_id: str
    attributes: Mapping[str, str]
    data: dict[str, Any] | None  # the original message's data; None when it was not a JSON object

    @property
    def source_subscription(self) -> str:
        return self.attributes.get(DEAD_LETTER_SOURCE, "")

    @property
    def delivery_attempts(self) -> int:
        count = self.attributes.get(DEAD_LETTER_COUNT, "0")
        return int(count) if count.isdigit() else 0

    @property
    def upload(self) -> SourceObject | None:
        """The upload a dead-lettered bucket notification announced, if it is one."""
        if self.attributes.get("eventType") != _NOTIFICATION_FINALIZE:
            return None
        try:
            return SourceObject(
                self.attributes["bucketId"], self.attributes["objectId"], int(self.attributes["objectGeneration"])
            )
        except (KeyError, ValueError):
            return None
