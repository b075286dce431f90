"""The status pages: small HTML shells (shared/web/pages/) that fetch their data from the API in the browser.

The shells hold no personal data, so they are public and cacheable; what a page shows comes from the signed-in
user's API calls. Assets are read once per instance and served with a content hash in their ETag.
"""

from __future__ import annotations

import functools
import hashlib
import html
from pathlib import Path
from urllib.parse import urlsplit

import flask

from shared.config import settings
from shared.web.routing import ApiError, Call

PAGES = Path(__file__).parent / "pages"
ASSETS = Path(__file__).parent / "assets"
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


@functools.cache
def _page(name: str) -> str:
    config = settings()
    client_id = config.id_token_audiences[0] if config.id_token_audiences else ""
    return (
        (PAGES / name)
        .read_text()
        .replace("{{SIGN_IN_CLIENT_ID}}", html.escape(client_id))
        .replace("{{ENVIRONMENT}}", html.escape(config.environment))
    )


@functools.cache
def _content_security_policy() -> str:
    # The browser PUTs uploads straight to Cloud Storage (a signed URL), and Google's sign-in script talks to
    # accounts.google.com; nothing else leaves the page's own origin.
    storage = urlsplit(settings().storage_public_url)
    storage_origin = f"{storage.scheme}://{storage.netloc}" if storage.scheme and storage.netloc else ""
    gis = "https://accounts.google.com/gsi/"
    return (
        "default-src 'self'; img-src 'self' data: http: https:; script-src 'self' https://accounts.google.com; "
        f"style-src 'self' 'unsafe-inline' {gis}style; connect-src 'self' {storage_origin} {gis}; "
        "frame-src https://accounts.google.com"
    ).replace("  ", " ")


def _html(name: str) -> flask.Response:
    response = flask.Response(_page(name), mimetype="text/html")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Content-Security-Policy"] = _content_security_policy()
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def my_jobs_page(_call: Call) -> flask.Response:
    return _html("jobs.html")


def job_page(_call: Call) -> flask.Response:
    return _html("job.html")


def queue_page(_call: Call) -> flask.Response:
    return _html("queue.html")


@functools.cache
def _asset(name: str) -> tuple[bytes, str]:
    data = (ASSETS / name).read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:16]


def asset(call: Call) -> flask.Response:
    name = call.params["asset"]
    if not (ASSETS / name).is_file():
        raise ApiError(404, "no_asset", f"no asset {name}")
    data, digest = _asset(name)
    response = flask.Response(data, mimetype=_TYPES[Path(name).suffix])
    response.set_etag(digest)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response.make_conditional(flask.request)
