"""What the `olc` CLI needs from the service: upload a design, read jobs through the API."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.domain.job import TERMINAL_STATES, SourceObject
from shared.domain.upload import job_id_for

_SKIPPED_DIRS = {"runs", ".git", "__pycache__"}


class ClientError(RuntimeError):
    pass


@dataclass(frozen=True)
class ClientConfig:
    api_url: str
    designs_bucket: str
    project_id: str
    user: str

    def bearer_token(self) -> str:
        return id_token_for(self.user)

    @classmethod
    def from_env(cls, user: str | None) -> ClientConfig:
        missing = [v for v in ("OLC_API_URL", "DESIGNS_BUCKET") if not os.environ.get(v)]
        if missing:
            raise ClientError(f'{", ".join(missing)} not set: run `eval "$(olc stack env)"` for the local stack')
        who = user or os.environ.get("OLC_USER")
        if not who:
            raise ClientError("who are you? pass --user EMAIL or set OLC_USER")
        return cls(
            api_url=os.environ["OLC_API_URL"].rstrip("/"),
            designs_bucket=os.environ["DESIGNS_BUCKET"],
            project_id=os.environ.get("GOOGLE_CLOUD_PROJECT", "olc-local"),
            user=who.lower(),
        )


def id_token_for(user: str) -> str:
    """The ID token olc signs in with: OLC_ID_TOKEN if given; on the local stack one minted by its development
    issuer (OLC_DEV_ISSUER_KEY, set by `olc stack env`); otherwise gcloud's token for the signed-in account."""
    if token := os.environ.get("OLC_ID_TOKEN", "").strip():
        return token
    if key := os.environ.get("OLC_DEV_ISSUER_KEY"):
        from devstack.dev_issuer import DEV_AUDIENCE, mint_id_token

        issuer = os.environ.get("OLC_DEV_ISSUER", "")
        return mint_id_token(Path(key), user, issuer=issuer, audience=os.environ.get("OLC_DEV_AUDIENCE", DEV_AUDIENCE))
    try:
        done = subprocess.run(
            ["gcloud", "auth", "print-identity-token"], capture_output=True, text=True, timeout=60, check=True
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ClientError("cannot get an ID token: run `gcloud auth login`, or set OLC_ID_TOKEN") from exc
    return done.stdout.strip()


def pack_design(path: Path) -> tuple[str, bytes]:
    """(archive file name, bytes): an archive is uploaded as it is; a folder is packed as .tar.gz."""
    if path.is_file():
        return path.name, path.read_bytes()
    if not (path / "config.json").exists():
        raise ClientError(f"{path} has no config.json: point olc submit at the design folder")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for file in sorted(path.rglob("*")):
            relative = file.relative_to(path)
            if any(part in _SKIPPED_DIRS or part.startswith(".") for part in relative.parts):
                continue
            if file.is_file() and not file.is_symlink():
                tar.add(file, arcname=f"{path.resolve().name}/{relative.as_posix()}")
    return f"{path.resolve().name}.tar.gz", buffer.getvalue()


def upload(config: ClientConfig, file_name: str, data: bytes, notify: bool = True, reuse: bool = True) -> SourceObject:
    from shared.adapters.gcs_store import storage_client

    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    base, _, ext = file_name.partition(".")
    object_name = f"{config.user}/{base}-{stamp}.{ext}" if ext else f"{config.user}/{file_name}-{stamp}"
    blob = storage_client(config.project_id).bucket(config.designs_bucket).blob(object_name)
    blob.metadata = {"notify": "true" if notify else "false", "cache": "true" if reuse else "false"}
    blob.upload_from_string(data, content_type="application/gzip" if ext.endswith("gz") else None)
    return SourceObject(config.designs_bucket, object_name, int(blob.generation), len(data))


def expected_job_id(source: SourceObject) -> str:
    return job_id_for(source)


def api_get(config: ClientConfig, path: str) -> dict[str, Any] | None:
    """GET from the API; None on 404."""
    return api_call(config, "GET", path)


def api_call(config: ClientConfig, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Call the API; None on 404, ClientError with the API's message otherwise."""
    if not config.api_url.startswith(("http://", "https://")):
        raise ClientError(f"OLC_API_URL must be an http(s) URL, not {config.api_url!r}")
    headers = {"Authorization": f"Bearer {config.bearer_token()}", "Content-Type": "application/json"}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(config.api_url + path, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310 - http(s) checked above
            return json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        code, message = _api_error(exc)
        if code == "not_found":
            return None
        raise ClientError(f"{message} (HTTP {exc.code} {code})") from exc
    except urllib.error.URLError as exc:
        raise ClientError(f"cannot reach the API at {config.api_url}: {exc.reason}") from exc


def job_call(
    config: ClientConfig, job_id: str, method: str = "GET", suffix: str = "", body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Call one job's endpoint (`/v1/jobs/<id><suffix>`); a missing job, or another user's, is a ClientError."""
    sent = body if body is not None else ({} if method == "POST" else None)
    reply = api_call(config, method, f"/v1/jobs/{job_id}{suffix}", sent)
    if reply is None:
        raise ClientError(f"no job {job_id} of yours: is the id right? `olc list` shows your jobs")
    return reply


def _api_error(exc: urllib.error.HTTPError) -> tuple[str, str]:
    """(code, message) of the API's error format, or the raw answer when it is not in that format."""
    detail = exc.read().decode(errors="replace")
    try:
        error = json.loads(detail)["error"]
        return str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return "http_error", detail[:300]


def upload_via_api(
    config: ClientConfig, file_name: str, data: bytes, notify: bool = True, reuse: bool = True
) -> SourceObject:
    """Upload through a signed URL from the API: needs only the sign-in, no bucket credentials."""
    ticket = api_call(config, "POST", "/v1/uploads", {"file_name": file_name, "notify": notify, "reuse": reuse})
    if ticket is None:
        raise ClientError("the API offers no uploads here")
    url = _http_url(ticket["upload_url"])
    request = urllib.request.Request(url, data=data, headers=ticket["headers"], method="PUT")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=600) as reply:  # noqa: S310 - http(s) checked
            generation = reply.headers.get("x-goog-generation") or _generation_in(reply.read())
    except urllib.error.URLError as exc:
        raise ClientError(f"the upload was refused: {exc}") from exc
    if not generation:
        raise ClientError("the storage service did not say which generation it stored")
    return SourceObject(config.designs_bucket, ticket["object_name"], int(generation), len(data))


def _http_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ClientError(f"refusing to fetch {url[:60]!r}: not an http(s) URL")
    return url


def _generation_in(body: bytes) -> str | None:
    # Cloud Storage's XML API answers with the x-goog-generation header; emulators may answer with the JSON object.
    try:
        return str(json.loads(body)["generation"])
    except (ValueError, KeyError, TypeError):
        return None


def download(config: ClientConfig, path: str, target: Path, authorised: bool = True) -> int:
    """Stream an API path (or, with authorised=False, a signed URL) into `target`; returns the bytes written."""
    url = _http_url(config.api_url + path if authorised else path)
    headers = {"Authorization": f"Bearer {config.bearer_token()}"} if authorised else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - http(s) checked
    written = 0
    partial = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(request, timeout=60) as reply, partial.open("wb") as out:  # noqa: S310
            while chunk := reply.read(1 << 20):
                out.write(chunk)
                written += len(chunk)
    except urllib.error.HTTPError as exc:
        partial.unlink(missing_ok=True)
        code, message = _api_error(exc)
        raise ClientError(f"{message} (HTTP {exc.code} {code})") from exc
    except urllib.error.URLError as exc:
        partial.unlink(missing_ok=True)
        raise ClientError(f"download failed: {exc.reason}") from exc
    partial.replace(target)
    return written


def wait_for_job(
    config: ClientConfig, job_id: str, timeout_s: float, on_change: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    seen: tuple[str, str | None] | None = None
    terminal = {s.value for s in TERMINAL_STATES}
    while time.monotonic() < deadline:
        job = api_get(config, f"/v1/jobs/{job_id}")
        if job is not None:
            now = (job["state"], job.get("stage"))
            if now != seen:
                seen = now
                on_change(job)
            if job["state"] in terminal:
                return job
        time.sleep(0.25)
    raise ClientError(f"job {job_id} did not finish within {timeout_s:.0f} s; `olc status {job_id}` shows it later")
