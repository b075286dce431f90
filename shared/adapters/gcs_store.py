"""Cloud Storage reads (the local emulator when STORAGE_EMULATOR_HOST is set)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from typing import IO

from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from shared.ports import ObjectExists, ObjectGone

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
        except gexc.RequestRangeNotSatisfiable:
            # Cloud Storage answers a ranged read of an empty object with 416: a run stopped while writing a report
            # leaves one, and reading it must not fail the end of the run (or every later tick's repair of it).
            return ""
        return data.decode("utf-8", errors="replace")

    def write_bytes(
        self,
        bucket: str,
        name: str,
        data: bytes,
        content_type: str,
        metadata: Mapping[str, str] | None = None,
        *,
        create_only: bool = False,
    ) -> int:
        blob = self._client.bucket(bucket).blob(name)
        if metadata:
            blob.metadata = dict(metadata)
        try:
            # Generation 0 as the precondition: only if no live object has the name.
            blob.upload_from_string(data, content_type=content_type, if_generation_match=0 if create_only else None)
        except gexc.PreconditionFailed as exc:
            raise ObjectExists(f"gs://{bucket}/{name} exists already") from exc
        return int(blob.generation or 0)

    def metadata(self, bucket: str, name: str, generation: int | None = None) -> dict[str, str]:
        blob = self._client.bucket(bucket).get_blob(name, generation=generation)
        if blob is None:
            raise ObjectGone(f"gs://{bucket}/{name}#{generation} no longer exists")
        return dict(blob.metadata or {})

    def copy(
        self, bucket: str, name: str, new_name: str, metadata: Mapping[str, str], generation: int | None = None
    ) -> int:
        source = self._client.bucket(bucket)
        try:
            # A rewrite, not copy_blob: only a rewrite may replace the metadata in the same request.
            target = source.blob(new_name)
            target.metadata = dict(metadata)
            token, _, _ = target.rewrite(source.blob(name, generation=generation))
            while token is not None:
                token, _, _ = target.rewrite(source.blob(name, generation=generation), token=token)
        except gexc.NotFound as exc:
            raise ObjectGone(f"gs://{bucket}/{name} no longer exists") from exc
        return int(target.generation or 0)

    def read_bytes(self, bucket: str, name: str, max_bytes: int) -> bytes | None:
        blob = self._client.bucket(bucket).blob(name)
        try:
            # One byte more than allowed tells a too-big object from one of exactly max_bytes, in one request.
            data = blob.download_as_bytes(start=0, end=max_bytes)
        except gexc.NotFound:
            return None
        return data if len(data) <= max_bytes else None
