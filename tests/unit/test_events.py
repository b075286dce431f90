"""The two shapes in which an upload reaches ingest: Eventarc storage events and Pub/Sub push deliveries."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from shared.domain.events import (
    PUBSUB_PUBLISHED,
    STORAGE_FINALIZED,
    EventShapeError,
    UploadEvent,
    upload_from_cloudevent,
)
from shared.domain.job import SourceObject

NAME = "ada@example.com/spm.tar.gz"
GENERATION = "1741064767890123"

# What Eventarc delivers as the data of google.cloud.storage.object.v1.finalized (StorageObjectData: int64
# fields such as generation and size arrive as strings).
STORAGE_OBJECT_DATA: dict[str, Any] = {
    "kind": "storage#object",
    "id": f"designs/{NAME}/{GENERATION}",
    "bucket": "designs",
    "name": NAME,
    "generation": GENERATION,
    "metageneration": "1",
    "contentType": "application/gzip",
    "size": "2048",
    "md5Hash": "XUFAKrxLKna5cZ2REBfFkg==",
    "metadata": {"notify": "false"},
    "timeCreated": "2025-03-04T05:06:07.890Z",
}


def pubsub_envelope(
    event_type: str = "OBJECT_FINALIZE", resource: dict[str, Any] | None = None, **attributes: str
) -> dict[str, Any]:
    """A push delivery of a bucket notification (payload format JSON_API_V1)."""
    resource = STORAGE_OBJECT_DATA if resource is None else resource
    return {
        "message": {
            "attributes": {
                "eventType": event_type,
                "bucketId": "designs",
                "objectId": NAME,
                "objectGeneration": GENERATION,
                "payloadFormat": "JSON_API_V1",
                **attributes,
            },
            "data": base64.b64encode(json.dumps(resource).encode()).decode(),
            "messageId": "1234567890",
            "publishTime": "2025-03-04T05:06:08.000Z",
        },
        "subscription": "projects/p/subscriptions/olc-ingest",
    }


EXPECTED = UploadEvent(
    source=SourceObject("designs", NAME, int(GENERATION), size=2048),
    metadata={"notify": "false"},
    content_type="application/gzip",
)


def test_eventarc_storage_object_data() -> None:
    assert upload_from_cloudevent(STORAGE_FINALIZED, STORAGE_OBJECT_DATA) == EXPECTED


def test_eventarc_without_optional_fields() -> None:
    event = upload_from_cloudevent(STORAGE_FINALIZED, {"bucket": "designs", "name": NAME, "generation": GENERATION})
    assert event == UploadEvent(source=SourceObject("designs", NAME, int(GENERATION)))


def test_numeric_generation_and_size_are_accepted_too() -> None:
    data = {**STORAGE_OBJECT_DATA, "generation": int(GENERATION), "size": 2048}
    assert upload_from_cloudevent(STORAGE_FINALIZED, data) == EXPECTED


def test_metadata_values_become_strings() -> None:
    data = {**STORAGE_OBJECT_DATA, "metadata": {"notify": False, "priority": 3}}
    event = upload_from_cloudevent(STORAGE_FINALIZED, data)
    assert event is not None and event.metadata == {"notify": "False", "priority": "3"}


def test_pubsub_push_envelope() -> None:
    assert upload_from_cloudevent(PUBSUB_PUBLISHED, pubsub_envelope()) == EXPECTED


def test_pubsub_attributes_fill_what_the_data_lacks() -> None:
    envelope = pubsub_envelope(resource={"size": "10"})
    event = upload_from_cloudevent(PUBSUB_PUBLISHED, envelope)
    assert event == UploadEvent(source=SourceObject("designs", NAME, int(GENERATION), size=10))


def test_pubsub_message_without_data_uses_the_attributes() -> None:
    envelope = pubsub_envelope()
    del envelope["message"]["data"]
    event = upload_from_cloudevent(PUBSUB_PUBLISHED, envelope)
    assert event is not None and event.source == SourceObject("designs", NAME, int(GENERATION))


@pytest.mark.parametrize("event_type", ["OBJECT_DELETE", "OBJECT_ARCHIVE", "OBJECT_METADATA_UPDATE"])
def test_pubsub_events_other_than_finalize_are_ignored(event_type: str) -> None:
    assert upload_from_cloudevent(PUBSUB_PUBLISHED, pubsub_envelope(event_type)) is None


def test_pubsub_message_without_attributes_is_ignored() -> None:
    assert upload_from_cloudevent(PUBSUB_PUBLISHED, {"message": {"data": ""}}) is None


@pytest.mark.parametrize(
    ("event_type", "data"),
    [
        ("google.cloud.storage.object.v1.deleted", STORAGE_OBJECT_DATA),
        (STORAGE_FINALIZED, ["not", "an", "object"]),
        (STORAGE_FINALIZED, None),
        (STORAGE_FINALIZED, {"bucket": "designs", "name": NAME}),  # no generation
        (STORAGE_FINALIZED, {**STORAGE_OBJECT_DATA, "generation": "latest"}),
        (STORAGE_FINALIZED, {**STORAGE_OBJECT_DATA, "size": "big"}),
        (STORAGE_FINALIZED, {**STORAGE_OBJECT_DATA, "metadata": ["notify"]}),
        (STORAGE_FINALIZED, {"name": NAME, "generation": GENERATION}),  # no bucket
        (STORAGE_FINALIZED, {"bucket": "designs", "generation": GENERATION}),  # no name
        (STORAGE_FINALIZED, {"bucket": None, "name": NAME, "generation": GENERATION}),
        (PUBSUB_PUBLISHED, {"subscription": "s"}),  # no message
        (PUBSUB_PUBLISHED, {"message": "text"}),
        (PUBSUB_PUBLISHED, {"message": {"attributes": ["eventType"]}}),
    ],
)
def test_malformed_events_raise_event_shape_error(event_type: str, data: Any) -> None:
    with pytest.raises(EventShapeError):
        upload_from_cloudevent(event_type, data)


@pytest.mark.parametrize(
    "data",
    [
        base64.b64encode(b"not json").decode(),
        base64.b64encode(b"[1, 2]").decode(),  # JSON, but not an object
        "%%%=",  # not base64
    ],
)
def test_pubsub_data_that_is_not_base64_json_object(data: str) -> None:
    envelope = pubsub_envelope()
    envelope["message"]["data"] = data
    with pytest.raises(EventShapeError):
        upload_from_cloudevent(PUBSUB_PUBLISHED, envelope)


def test_pubsub_finalize_without_any_object_name_is_malformed() -> None:
    envelope = pubsub_envelope(resource={"generation": GENERATION})
    del envelope["message"]["attributes"]["objectId"]
    with pytest.raises(EventShapeError):
        upload_from_cloudevent(PUBSUB_PUBLISHED, envelope)
