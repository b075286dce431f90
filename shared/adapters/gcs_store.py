"""Cloud Storage reads (the local emulator when STORAGE_EMULATOR_HOST is set)."""

from __future__ import annotations

import os
import tempfile
from typing import IO

from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from shared.ports import ObjectGone

# Uploads above this spill from memory to a temporary file while being validated.
_SPOOL_BYTES = 8 << 20


def storage_client(project_id: str) -> storage.Client:
    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    if emulator:
        return storage.Client(
            project=project_id, credentials=AnonymousCredentials(), client_options={"api_endpoint": emulator}
        )
    return storage.Client(project=project_id)


class GcsObjectStore:
    def __init__(self, client: storage.Client) -> None:
        self._client = client

    def open_read(self, bucket: str, name: str, generation: int | None = None) -> IO[bytes]:
        """The object's bytes in a seekable temporary file (memory-bounded), positioned at the start."""
        blob = self._client.bucket(bucket).blob(name, generation=generation)
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 - returned to the caller
        try:
            blob.download_to_file(spool)
        except gexc.NotFound as exc:
            spool.close()
            raise ObjectGone(f"gs://{bucket}/{name}#{generation} no longer exists") from exc
        spool.seek(0)
        return spool

    def read_text(self, bucket: str, name: str, max_bytes: int = 1 << 20) -> str | None:
        blob = self._client.bucket(bucket).blob(name)
        try:
            data = blob.download_as_bytes(start=0, end=max_bytes - 1)
        except gexc.NotFound:
            return None
        return data.decode("utf-8", errors="replace")

    def write_bytes(self, bucket: str, name: str, data: bytes, content_type: str) -> None:
        self._client.bucket(bucket).blob(name).upload_from_string(data, content_type=content_type)

    def read_bytes(self, bucket: str, name: str, max_bytes: int) -> bytes | None:
        blob = self._client.bucket(bucket).blob(name)
        try:
            # One byte more than allowed tells a too-big object from one of exactly max_bytes, in one request.
            data = blob.download_as_bytes(start=0, end=max_bytes)
        except gexc.NotFound:
            return None
        return data if len(data) <= max_bytes else None
