"""Cloud Storage for what users fetch and send directly: listings, V4 signed URLs, streamed reads, deletion.

Signing: production signs through the IAM Credentials API (signBlob) as the function's own service account, so no
private key exists anywhere; the local stack (and any deployment that prefers it) signs with a key from the secret
store. Signed URLs point at `public_endpoint` — https://storage.googleapis.com, or the emulator on the local stack.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import google.auth
import google.auth.transport.requests
from google.api_core import exceptions as gexc
from google.cloud import storage
from google.oauth2 import service_account

from shared.ports import StoredObject

_COPY_THREADS = 8


class UrlSigningError(RuntimeError):
    pass


class GcsResultsStore:
    def __init__(self, client: storage.Client, public_endpoint: str, signing_key: Callable[[], str] | None) -> None:
        """`signing_key` returns a service-account key (JSON); None signs through IAM as the runtime identity."""
        self._client = client
        self._public_endpoint = public_endpoint.rstrip("/")
        self._signing_key = signing_key
        # Parsing a key or fetching a token costs tens of milliseconds: once per instance (tokens: until they expire),
        # not once per link, as a run's file list asks for dozens of links.
        self._key_credentials: service_account.Credentials | None = None
        self._runtime: Any = None
        self._lock = threading.Lock()

    def list_objects(self, bucket: str, prefix: str, limit: int = 10_000) -> list[StoredObject]:
        return [
            StoredObject(name=b.name, size=int(b.size or 0), updated=b.updated, content_type=b.content_type)
            for b in self._client.list_blobs(bucket, prefix=prefix, max_results=limit)
        ]

    def signed_url(
        self,
        bucket: str,
        name: str,
        *,
        method: str = "GET",
        expires_s: int = 900,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> str:
        blob = self._client.bucket(bucket).blob(name)
        common = {
            "version": "v4",
            "expiration": timedelta(seconds=expires_s),
            "method": method,
            "content_type": content_type,
            "headers": headers,
            "api_access_endpoint": self._public_endpoint,
        }
        if self._signing_key is not None:
            return blob.generate_signed_url(credentials=self._key(), **common)
        email, token = self._runtime_identity()
        return blob.generate_signed_url(service_account_email=email, access_token=token, **common)

    def _key(self) -> service_account.Credentials:
        with self._lock:
            if self._key_credentials is None:
                assert self._signing_key is not None
                info = json.loads(self._signing_key())
                self._key_credentials = service_account.Credentials.from_service_account_info(info)
            return self._key_credentials

    def _runtime_identity(self) -> tuple[str, str]:
        with self._lock:
            if self._runtime is None:
                self._runtime, _project = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
            if not self._runtime.valid:
                self._runtime.refresh(google.auth.transport.requests.Request())
            email = getattr(self._runtime, "service_account_email", None)
            if not email or not self._runtime.token:
                raise UrlSigningError("cannot sign URLs: the runtime identity is not a service account")
            return email, self._runtime.token

    def iter_bytes(self, bucket: str, name: str, chunk_bytes: int = 1 << 20) -> Iterator[bytes]:
        with self._client.bucket(bucket).blob(name).open("rb", chunk_size=chunk_bytes) as reader:
            while chunk := reader.read(chunk_bytes):
                yield chunk

    def copy_prefix(self, bucket: str, prefix: str, new_prefix: str) -> int:
        if not (prefix.endswith("/") and new_prefix.endswith("/")):
            raise ValueError(f"refusing to copy {prefix!r} to {new_prefix!r}: prefixes must end with /")
        source = self._client.bucket(bucket)
        blobs = list(self._client.list_blobs(bucket, prefix=prefix))
        # Server-side copies, a few at a time: a run's results are tens of objects, each a round trip.
        with ThreadPoolExecutor(max_workers=_COPY_THREADS) as pool:
            list(pool.map(lambda b: source.copy_blob(b, source, new_prefix + b.name[len(prefix) :]), blobs))
        return len(blobs)

    def delete_prefix(self, bucket: str, prefix: str) -> int:
        if not prefix.endswith("/"):
            raise ValueError(f"refusing to delete below {prefix!r}: a prefix must end with /")
        deleted = 0
        for blob in self._client.list_blobs(bucket, prefix=prefix):
            try:
                blob.delete()
            except gexc.NotFound:
                continue
            deleted += 1
        return deleted
