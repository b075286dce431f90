"""Secrets: Google Secret Manager in production, a directory of files in the local stack.

Both return a secret's value exactly as stored (UTF-8 text, no trimming): an SSH private key needs its final
newline, so a caller that wants a bare token strips it itself. Values are never logged, only names.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import google_crc32c
from google.api_core import exceptions as gexc
from google.cloud import secretmanager

from shared.ports import SecretNotFound

log = logging.getLogger(__name__)

# Secret Manager's rule for secret ids; also keeps DirectorySecrets inside its directory (no "/" or "..").
SECRET_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


def _check_name(name: str) -> str:
    if not SECRET_NAME.match(name):
        raise ValueError(f"{name!r} is not a valid secret name (letters, digits, '_' and '-', at most 255)")
    return name


def _decode(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # `from None`: the codec's own message quotes the offending byte, and that byte is part of the secret.
        raise ValueError(f"secret {name!r} is not UTF-8 text") from None


def _verify_checksum(name: str, payload: secretmanager.SecretPayload) -> None:
    """Secret Manager sends a CRC32C of the payload; a mismatch means the bytes were damaged in transit."""
    if "data_crc32c" in payload and google_crc32c.value(payload.data) != payload.data_crc32c:
        raise RuntimeError(f"secret {name!r} arrived corrupted (CRC32C mismatch); retry")


class SecretManagerSecrets:
    """SecretSource over Secret Manager: version `latest` of `projects/P/secrets/NAME`, cached per process.

    The cache is what makes this cheap enough to call per request: a function instance pays one API call per
    secret, and a rotated secret is picked up when instances are recycled. Missing secrets are not cached, so
    one created after a failed lookup is found on the next call.
    """

    def __init__(self, project_id: str, client: Any = None) -> None:
        if not project_id:
            raise ValueError("a Google Cloud project id is required")
        self.project_id = project_id
        self._client = client
        self._cache: dict[str, str] = {}

    def version_name(self, name: str) -> str:
        return f"projects/{self.project_id}/secrets/{_check_name(name)}/versions/latest"

    def get(self, name: str) -> str:
        if name in self._cache:
            return self._cache[name]
        value = self._fetch(name)
        self._cache[name] = value
        return value

    def _fetch(self, name: str) -> str:
        request = secretmanager.AccessSecretVersionRequest(name=self.version_name(name))
        try:
            response = self._secret_client().access_secret_version(request=request)
        except gexc.NotFound:
            raise SecretNotFound(
                f"secret {name!r} (or an enabled version of it) does not exist in project {self.project_id!r}"
            ) from None
        _verify_checksum(name, response.payload)
        log.info("read secret %s from Secret Manager", name)
        return _decode(name, response.payload.data)

    def _secret_client(self) -> Any:
        if self._client is None:  # created on first use: constructing one needs credentials
            self._client = secretmanager.SecretManagerServiceClient()
        return self._client


class DirectorySecrets:
    """SecretSource over files: secret NAME is the file `path/NAME` (the local stack writes these)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def get(self, name: str) -> str:
        file = self.path / _check_name(name)
        try:
            data = file.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise SecretNotFound(f"secret {name!r} not found: no file {file}") from None
        return _decode(name, data)
