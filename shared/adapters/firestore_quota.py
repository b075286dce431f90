"""Quotas in Firestore: operator defaults (`quotas/_defaults`), per-user overrides (`quotas/<email>`), the admin
list (`config/admins`), and monthly usage (`usage/<email>:<YYYY-MM>`, incremented server-side so concurrent
completions of one user never conflict)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields, replace

from google.cloud import firestore

from shared.domain.quota import QuotaLimits, UserQuota

QUOTAS = "quotas"
USAGE = "usage"
DEFAULTS_DOC = "_defaults"
ADMINS_DOC = ("config", "admins")
_LIMIT_FIELDS = {f.name for f in fields(QuotaLimits)}
_USER_FIELDS = {f.name for f in fields(UserQuota)}


class FirestoreQuotas:
    def __init__(self, client: firestore.Client, bootstrap_admins: Iterable[str] = ()) -> None:
        self._db = client
        self._quotas = client.collection(QUOTAS)
        self._bootstrap_admins = {a.lower() for a in bootstrap_admins}

    def limits(self, base: QuotaLimits) -> QuotaLimits:
        stored = self._quotas.document(DEFAULTS_DOC).get()
        values = {k: v for k, v in (stored.to_dict() or {}).items() if k in _LIMIT_FIELDS and v is not None}
        return replace(base, **values) if values else base

    def overrides(self, users: Iterable[str]) -> dict[str, UserQuota]:
        refs = [self._quotas.document(u) for u in set(users) if u]
        found: dict[str, UserQuota] = {}
        for snapshot in self._db.get_all(refs):
            if snapshot.exists:
                data = snapshot.to_dict() or {}
                found[snapshot.id] = UserQuota(**{k: v for k, v in data.items() if k in _USER_FIELDS})
        return found

    def usage(self, users: Iterable[str], month: str) -> dict[str, float]:
        refs = [self._db.collection(USAGE).document(f"{u}:{month}") for u in set(users) if u]
        return {
            s.id.rsplit(":", 1)[0]: float((s.to_dict() or {}).get("core_hours", 0.0))
            for s in self._db.get_all(refs)
            if s.exists
        }

    def add_usage(self, user: str, month: str, core_hours: float) -> None:
        self._db.collection(USAGE).document(f"{user}:{month}").set(
            {"owner": user, "month": month, "core_hours": firestore.Increment(core_hours)}, merge=True
        )

    def is_admin(self, user: str) -> bool:
        if user.lower() in self._bootstrap_admins:
            return True
        admins = self._db.collection(ADMINS_DOC[0]).document(ADMINS_DOC[1]).get().to_dict() or {}
        return user.lower() in {a.lower() for a in admins.get("emails", [])}

    def set_user(self, user: str, quota: UserQuota) -> None:
        self._quotas.document(user).set({k: getattr(quota, k) for k in _USER_FIELDS})

    def set_defaults(self, values: Mapping[str, object]) -> None:
        unknown = set(values) - _LIMIT_FIELDS
        if unknown:
            raise ValueError(f"unknown quota settings: {', '.join(sorted(unknown))}")
        self._quotas.document(DEFAULTS_DOC).set(dict(values), merge=True)
