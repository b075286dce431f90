"""Authenticating calls from the cluster (run progress, epilog) to the completion hook.

Each job gets its own key, HMAC(master, job id): the job script carries only its own key, so a run can speak only
for itself, while the epilog (root, holds the master key) and the hook can derive any job's key.
The signature covers a timestamp and the exact body; stale or future timestamps are refused.
The same few lines are mirrored in the stdlib-only cluster scripts infra/slurm/olc_job.py and olc_notify.py.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta

TIMESTAMP_HEADER = "X-OLC-Timestamp"
SIGNATURE_HEADER = "X-OLC-Signature"
MAX_SKEW_S = 300
# A signature is valid for MAX_SKEW_S either side of its timestamp; remembering it that long refuses every replay.
RECEIPT_KEPT = timedelta(seconds=2 * MAX_SKEW_S)
# 128 bits of the signature tell calls apart; nobody without the key can make two calls share them.
_RECEIPT_CHARS = 32


class CallbackAuthError(PermissionError):
    pass


def job_key(master_key: str, job_id: str) -> str:
    return hmac.new(master_key.encode(), f"job:{job_id}".encode(), hashlib.sha256).hexdigest()


def sign(key: str, timestamp: int, body: bytes) -> str:
    return hmac.new(key.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(key: str, timestamp_header: str | None, signature: str | None, body: bytes, now: float) -> None:
    if not timestamp_header or not signature:
        raise CallbackAuthError("missing signature headers")
    try:
        timestamp = int(timestamp_header)
    except ValueError as exc:
        raise CallbackAuthError("malformed timestamp") from exc
    if abs(now - timestamp) > MAX_SKEW_S:
        raise CallbackAuthError(f"timestamp {timestamp} is more than {MAX_SKEW_S} s away from now")
    if not hmac.compare_digest(sign(key, timestamp, body), signature):
        raise CallbackAuthError("bad signature")


def receipt_of(signature: str) -> str:
    """What is remembered of an accepted call's signature."""
    return signature[:_RECEIPT_CHARS]


def already_received(receipts: Mapping[str, float], signature: str, now: datetime) -> bool:
    expires = receipts.get(receipt_of(signature))
    return expires is not None and expires > now.timestamp()


def with_receipt(receipts: Mapping[str, float], signature: str, now: datetime) -> dict[str, float]:
    """`receipts` (receipt -> expiry, epoch seconds) without the expired ones, plus this call's."""
    moment = now.timestamp()
    kept = {receipt: expires for receipt, expires in receipts.items() if expires > moment}
    kept[receipt_of(signature)] = round((now + RECEIPT_KEPT).timestamp(), 3)
    return kept
