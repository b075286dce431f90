"""Git hook deliveries already received (`callback_signatures/git-hook:<registration>:<delivery>`), so none starts
a job twice. (Signed cluster calls keep their receipts on their job: shared/services/completion/receipts.py.)

Documents carry `expire_at`; a Firestore TTL policy on that field (terraform/modules/firestore) deletes them once a
replay would be refused for its timestamp anyway.
"""

from __future__ import annotations

from datetime import datetime

from google.api_core import exceptions as gexc
from google.cloud import firestore

CALLBACK_SIGNATURES = "callback_signatures"


class FirestoreReplayGuard:
    def __init__(self, client: firestore.Client) -> None:
        self._collection = client.collection(CALLBACK_SIGNATURES)

    def first_use(self, token: str, keep_until: datetime) -> bool:
        try:
            self._collection.document(token).create({"expire_at": keep_until})
        except gexc.AlreadyExists:
            return False
        return True
