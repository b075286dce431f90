"""Authenticating calls from the cluster (run progress, epilog) to the completion hook.

Each job gets its own key, HMAC(master, job id): the job script carries only its own key, so a run can speak only
for itself, while the epilog (root, holds the master key) and the hook can derive any job's key.
The signature covers a timestamp and the exact body; stale or future timestamps are refused.
The same few lines are mirrored in the stdlib-only cluster scripts infra/slurm/olc_job.py and olc_notify.py.
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-OLC-Timestamp"
SIGNATURE_HEADER = "X-OLC-Signature"
MAX_SKEW_S = 300


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
