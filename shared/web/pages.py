"""The status pages: small HTML shells that fetch their data from the API in the browser.

Each page is assembled from our own templates in shared/web/pages/ by plain string substitution: `_layout.html` (the
head, the top bar and the footer, the same on every page) around the page's own content (`jobs.html`, `job.html`,
`design.html`, `queue.html`, ...: what goes inside <main>), with the page's script module from shared/web/assets/
(`jobs-page.js`, ..., which import the shared modules `app.js`, `api.js`, `dom.js` and `format.js`). No user data goes
into a template.

The shells hold no personal data, so they are public and cacheable; what a page shows comes from the signed-in
user's API calls. Assets are read once per instance and served with a content hash in their ETag.
"""

from __future__ import annotations

import functools
import hashlib
import html
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import flask

from shared.config import settings
from shared.domain.metrics import KEY_METRICS
from shared.web.routing import ApiError, Call

PAGES = Path(__file__).parent / "pages"
ASSETS = Path(__file__).parent / "assets"
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
# The only names /assets/ serves: the files shipped in assets/, nothing built from the request.
ASSET_NAMES = frozenset(path.name for path in ASSETS.iterdir() if path.is_file() and path.suffix in _TYPES)
_PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")


@dataclass(frozen=True)
class _Page:
    title: str  # before " · OpenLane Cloud"; the job page's script replaces it with the job's name
    live: str  # the footer's live line until the script says more


# name -> the page: its content is pages/<name>.html, its script assets/<name>-page.js.
_PAGES = {
    "jobs": _Page("My jobs", "Updates live while jobs are active."),
    "job": _Page("Job", ""),
    "design": _Page("Design", ""),  # one design's runs; the script puts the design's name in the title
    "queue": _Page("Queue", "Updates every few seconds."),
    "compare": _Page("Compare runs", ""),  # jobs and sweep runs side by side (?jobs=J1,J2:3)
}


@functools.cache
def _page(name: str) -> str:
    page = _PAGES[name]
    config = settings()
    client_id = config.id_token_audiences[0] if config.id_token_audiences else ""
    current = ' aria-current="page"'
    values = {
        "TITLE": html.escape(page.title),
        "PAGE": name,
        "SCRIPT": f"{name}-page.js",
        "NAV_JOBS": current if name == "jobs" else "",  # the top bar's link to the page it is on
        "NAV_QUEUE": current if name == "queue" else "",
        "LIVE_STATUS": html.escape(page.live),
        "SIGN_IN_CLIENT_ID": html.escape(client_id),
        "ENVIRONMENT": html.escape(config.environment),
        # The figures a job page lists even when not measured: the domain's list, so the page never keeps a copy.
        "KEY_METRICS": ",".join(KEY_METRICS),
        "BODY": (PAGES / f"{name}.html").read_text(),
    }
    # One pass: the page's content is inserted as it is, never searched for placeholders itself.
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], (PAGES / "_layout.html").read_text())


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
    html_text = _page(name)
    response = flask.Response(html_text, mimetype="text/html")
    # Checked on every visit (a deploy changes the shell), answered 304 while it has not changed.
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Content-Security-Policy"] = _content_security_policy()
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.set_etag(_digest(html_text))
    return response.make_conditional(flask.request)


@functools.cache
def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def my_jobs_page(_call: Call) -> flask.Response:
    return _html("jobs")


def job_page(_call: Call) -> flask.Response:
    return _html("job")


def design_page(_call: Call) -> flask.Response:
    return _html("design")


def queue_page(_call: Call) -> flask.Response:
    return _html("queue")


def compare_page(_call: Call) -> flask.Response:
    return _html("compare")


@functools.cache
def _asset(name: str) -> tuple[bytes, str]:
    data = (ASSETS / name).read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:16]


def asset(call: Call) -> flask.Response:
    name = call.params["asset"]
    if name not in ASSET_NAMES:
        raise ApiError(404, "no_asset", f"no asset {name}")
    data, digest = _asset(name)
    response = flask.Response(data, content_type=_TYPES[Path(name).suffix])
    response.set_etag(digest)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response.make_conditional(flask.request)
