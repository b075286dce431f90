"""Dead-lettered messages kept in Firestore (`dead_letters/<message id>`) for operators."""

from __future__ import annotations

from datetime import datetime

from google.cloud import firestore

from shared.domain.events import DeadLetter

DEAD_LETTERS = "dead_letters"


class FirestoreDeadLetters:
    def __init__(self, client: firestore.Client) -> None:
        self._collection = client.collection(DEAD_LETTERS)

    def record(self, key: str, letter: DeadLetter, job_id: str | None, at: datetime) -> None:
        self._collection.document(key).set(
            {
                "recorded_at": at,
                "job_id": job_id,
                "source_subscription": letter.source_subscription,
                "delivery_attempts": letter.delivery_attempts,
                "attributes": dict(letter.attributes),
                "data": letter.data,
            }
        )
