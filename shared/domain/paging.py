"""Cursor pagination of job lists: an opaque token that says where the previous page ended."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class PageCursor:
    """Jobs are listed newest first; the next page starts after the job created at `created_at`."""

    created_at: datetime

    def encode(self) -> str:
        raw = json.dumps({"c": self.created_at.astimezone(UTC).isoformat()}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    @classmethod
    def decode(cls, token: str) -> PageCursor:
        try:
            data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            created = datetime.fromisoformat(data["c"])
        except (binascii.Error, ValueError, KeyError, TypeError) as exc:
            raise InvalidCursor("the cursor is not one this API returned; start again without it") from exc
        if created.tzinfo is None:
            raise InvalidCursor("the cursor is not one this API returned; start again without it")
        return cls(created)
