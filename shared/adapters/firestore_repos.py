"""Repository registrations in Firestore: `repos/<registration id>`, one document each (shared/domain/webhooks.py
says what is in it). Queries are single-field equalities (owner, url_key), so no composite index is needed."""

from __future__ import annotations

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.domain.webhooks import Registration, registration_from_dict, registration_to_dict

REPOS = "repos"


class FirestoreRepos:
    def __init__(self, client: firestore.Client) -> None:
        self._repos = client.collection(REPOS)

    def add(self, registration: Registration) -> None:
        self._repos.document(registration.id).create(registration_to_dict(registration))

    def get(self, repo_id: str) -> Registration | None:
        data = self._repos.document(repo_id).get().to_dict()
        return registration_from_dict(data) if data else None

    def for_owner(self, owner: str, limit: int) -> list[Registration]:
        found = self._query("owner", owner, limit)
        return sorted(found, key=lambda r: r.created_at)

    def with_url_key(self, url_key: str, limit: int) -> list[Registration]:
        return self._query("url_key", url_key, limit)

    def remove(self, repo_id: str) -> None:
        self._repos.document(repo_id).delete()

    def _query(self, field: str, value: str, limit: int) -> list[Registration]:
        query = self._repos.where(filter=FieldFilter(field, "==", value)).limit(limit)
        return [registration_from_dict(d.to_dict() or {}) for d in query.stream()]
