"""The status page shells and their assets (shared/web/pages.py): one layout around each page's content, the page's
script module, a strict Content-Security-Policy, and /assets/ serving only the files shipped in assets/.

The browser behaviour itself is tested in tests/e2e/test_status_pages.py; format.js, which needs no DOM, is also run
here under Node when Node is installed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import flask
import pytest

from shared.config import Settings
from shared.domain.metrics import KEY_METRICS
from shared.web import pages
from shared.web.routing import PARAMETER_PATTERNS, ApiError, Call

BASE_ENV = {
    "GOOGLE_CLOUD_PROJECT": "olc-test",
    "DESIGNS_BUCKET": "olc-designs",
    "RESULTS_BUCKET": "olc-results",
    "COMPLETION_URL": "https://completion.example/",
    "SLURM_LOGIN_HOST": "10.0.0.5",
}
HANDLERS = {"jobs": pages.my_jobs_page, "job": pages.job_page, "queue": pages.queue_page}
# Elements each page's script needs (a sample): the page content really is inside the layout.
PAGE_IDS = {
    "jobs": ("signin", "content", "upload-form", "state-filter", "jobs-table", "jobs-body", "load-more"),
    "job": ("signin", "not-found", "job", "job-state", "metrics-body", "timeline", "log", "download-all"),
    "queue": ("queue-at", "count-queued", "count-submitted", "count-running", "wait-median", "sample-size"),
}
TITLES = {"jobs": "My jobs", "job": "Job", "queue": "Queue"}


@pytest.fixture(autouse=True)
def configured(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings with a client id that needs escaping; the shells are cached per settings, so start afresh."""
    env = {**BASE_ENV, "ID_TOKEN_AUDIENCES": 'client<"&>.apps', "OLC_ENV": "local"}
    monkeypatch.setattr(pages, "settings", lambda: Settings.from_env(env))
    pages._page.cache_clear()
    pages._content_security_policy.cache_clear()
    yield
    pages._page.cache_clear()
    pages._content_security_policy.cache_clear()


def shell(name: str) -> flask.Response:
    return HANDLERS[name](None)  # the page handlers do not look at the call


def page_html(name: str) -> str:
    return shell(name).get_data(as_text=True)


def get_asset(name: str, headers: dict[str, str] | None = None) -> flask.Response:
    call = Call(None, {"asset": name}, {}, None, datetime.now(UTC), "http://localhost")
    with flask.Flask(__name__).test_request_context(f"/assets/{name}", headers=headers or {}):
        return pages.asset(call)


def local_imports(source: str) -> list[str]:
    return re.findall(r'^(?:import|export)\s[^;]*?\sfrom\s+"\./([^"]+)";', source, re.MULTILINE)


# ------------------------------------------------------------------------------------------------ the shells
@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_each_page_is_the_one_layout_around_its_own_content(name: str) -> None:
    html = page_html(name)
    assert html.startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    for tag in ("<head>", "</head>", '<header class="topbar">', '<main id="main" class="page">', "</main>"):
        assert html.count(tag) == 1, tag
    assert f"<title>{TITLES[name]} · OpenLane Cloud</title>" in html
    assert f'data-page="{name}"' in html
    assert "{{" not in html and "}}" not in html, "every placeholder is filled"
    for element_id in (*PAGE_IDS[name], "account", "notice", "live-status"):
        assert html.count(f'id="{element_id}"') == 1, element_id
    # The page's content sits inside <main>, the footer after it.
    main = html[html.index('<main id="main" class="page">') : html.index("</main>")]
    assert all(f'id="{element_id}"' in main for element_id in PAGE_IDS[name])
    assert html.index("</main>") < html.index('<footer class="footer">')


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_each_page_loads_only_its_own_module(name: str) -> None:
    html = page_html(name)
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts == [f'<script type="module" src="/assets/{name}-page.js">']
    preloaded = re.findall(r'<link rel="modulepreload" href="/assets/([^"]+)">', html)
    assert preloaded, "the shared modules load alongside the page's own"
    assert set(preloaded) <= pages.ASSET_NAMES
    assert f"{name}-page.js" in pages.ASSET_NAMES


def test_the_current_page_is_marked_in_the_top_bar() -> None:
    current = ' aria-current="page"'
    assert f'<a href="/"{current}>My jobs</a>' in page_html("jobs")
    assert f'<a href="/queue"{current}>Queue</a>' in page_html("queue")
    assert current not in page_html("job")
    assert page_html("jobs").count(current) == page_html("queue").count(current) == 1


def test_configuration_reaches_the_shell_escaped() -> None:
    html = page_html("job")
    assert 'data-client-id="client&lt;&quot;&amp;&gt;.apps"' in html
    assert 'data-environment="local"' in html
    assert f'data-key-metrics="{",".join(KEY_METRICS)}"' in html  # the domain's list, not a copy in format.js
    assert 'client<"' not in html


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_shells_stay_under_a_strict_content_security_policy(name: str) -> None:
    response = shell(name)
    html = response.get_data(as_text=True)
    policy = response.headers["Content-Security-Policy"]
    script_src = re.search(r"script-src ([^;]*)", policy)
    assert script_src and script_src.group(1).split() == ["'self'", "https://accounts.google.com"]
    assert "unsafe-eval" not in policy and "default-src 'self'" in policy
    assert not re.search(r"<script\b(?![^>]*\bsrc=)", html), "no inline script"
    assert not re.search(r"\son[a-z]+\s*=", html), "no inline event handlers"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.mimetype == "text/html"


# ------------------------------------------------------------------------------------------------ assets
def test_the_asset_names_are_the_shipped_files_and_the_route_reaches_every_one() -> None:
    shipped = {path.name for path in pages.ASSETS.iterdir() if path.suffix in (".js", ".css")}
    assert shipped == pages.ASSET_NAMES
    assert {"style.css", "app.js", "api.js", "dom.js", "format.js"} <= pages.ASSET_NAMES
    assert {"jobs-page.js", "job-page.js", "queue-page.js"} <= pages.ASSET_NAMES
    pattern = re.compile(PARAMETER_PATTERNS["asset"])
    assert all(pattern.fullmatch(name) for name in pages.ASSET_NAMES), "a module in a subfolder would be unreachable"


@pytest.mark.parametrize("name", sorted(n for n in pages.ASSETS.iterdir() if n.suffix == ".js"), ids=lambda p: p.name)
def test_modules_import_only_served_modules_and_never_eval(name: Path) -> None:
    source = name.read_text()
    for imported in local_imports(source):
        assert imported in pages.ASSET_NAMES, f"{name.name} imports {imported}, which /assets/ does not serve"
    assert not re.search(r'\bimport\s[^;]*\sfrom\s+"(?!\./)', source), "imports are relative: same origin only"
    for unsafe in ("eval(", "new Function", "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
        assert unsafe not in source, f"{name.name} uses {unsafe}"


@pytest.mark.parametrize("name", ["app.js", "jobs-page.js", "format.js"])
def test_modules_are_served_as_javascript_with_an_etag(name: str) -> None:
    response = get_asset(name)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.get_data() == (pages.ASSETS / name).read_bytes()
    etag = response.headers["ETag"]
    again = get_asset(name, {"If-None-Match": etag})
    assert again.status_code == 304


def test_the_stylesheet_is_served_as_css() -> None:
    assert get_asset("style.css").headers["Content-Type"] == "text/css; charset=utf-8"


@pytest.mark.parametrize("name", ["nothing.js", "_layout.html", "../pages.py", "..%2Fpages.py", "jobs.html", ""])
def test_only_shipped_assets_are_served(name: str) -> None:
    with pytest.raises(ApiError) as caught:
        get_asset(name)
    assert caught.value.status == 404


# ------------------------------------------------------------------------------------------------ format.js
NODE = shutil.which("node")
FORMAT_CHECKS = """
import * as f from "./format.mjs";
const KEY_METRICS = %KEY_METRICS%;
const out = {
  stage: f.stageLabel({ name: "Yosys.Synthesis", step: 6, steps: 10 }),
  stagePlain: f.stageLabel({ name: "synthesis" }),
  stageNoTotal: f.stageLabel({ name: "OpenROAD.Floorplan", step: 3 }),
  plural: [f.plural(1, "run"), f.plural(2, "run"), f.plural(0, "CPU")],
  durations: [f.duration(0.2), f.duration(42), f.duration(125), f.duration(7260), f.duration(null)],
  coreHours: [f.coreHours(0), f.coreHours(0.00123), f.coreHours(2.5)],
  bytes: [f.bytes(512), f.bytes(2048), f.bytes(12345678), f.bytes(null)],
  relative: [
    f.relativeTime("2024-01-01T00:00:00Z", Date.parse("2024-01-01T00:00:10Z")),
    f.relativeTime("2024-01-01T00:00:00Z", Date.parse("2024-01-01T00:03:00Z")),
    f.relativeTime("2024-01-01T00:00:00Z", Date.parse("2024-01-02T00:00:00Z")),
  ],
  keys: f.metricKeys({ cell_count: 12, zeta: 1, alpha: 2, corners: {} }, KEY_METRICS),
  measured: f.describeMetric("cell_count", { cell_count: 1234.5 }),
  missing: f.describeMetric("lvs_match", {}),
  nulled: f.describeMetric("drc_errors", { drc_errors: null }),
  bad: f.describeMetric("wns_ns", { wns_ns: -0.25 }),
  lvs: f.describeMetric("lvs_match", { lvs_match: false }),
  power: f.describeMetric("power_total_w", { power_total_w: 0.0012 }),
  corner: f.cornerText({ setup_wns_ns: -0.21, setup_violations: 1, hold_wns_ns: 0 }),
  cornerEmpty: f.cornerText({}),
  cornerFails: [f.cornerFails({ hold_wns_ns: -1 }), f.cornerFails({ setup_wns_ns: 0.5 })],
  queue: [f.queueText({ state: "QUEUED", queue_position: 3 }), f.queueText({ state: "RUNNING" })],
  jobName: [f.jobName({ id: "j1", upload: { name: "u/alice/spm.tar.gz" } }), f.jobName({ id: "j2" })],
};
console.log(JSON.stringify(out));
"""


def test_format_js_under_node(tmp_path: Path) -> None:
    # The stack installs Node.js with the browser-test packages (devstack/stack.py): missing means setup is broken.
    assert NODE is not None, "node (Debian package nodejs) is not installed: run `make system-deps`"
    # A .mjs copy: Node reads a plain .js file as CommonJS.
    (tmp_path / "format.mjs").write_text((pages.ASSETS / "format.js").read_text())
    assert local_imports((pages.ASSETS / "format.js").read_text()) == [], "format.js stays free of the DOM"
    (tmp_path / "checks.mjs").write_text(FORMAT_CHECKS.replace("%KEY_METRICS%", json.dumps(list(KEY_METRICS))))
    run = subprocess.run([NODE, "checks.mjs"], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True)
    out = json.loads(run.stdout)
    assert out["stage"] == "step 6 of 10 · Yosys.Synthesis"
    assert out["stagePlain"] == "synthesis"
    assert out["stageNoTotal"] == "step 3 · OpenROAD.Floorplan"
    assert out["plural"] == ["1 run", "2 runs", "0 CPUs"]
    assert out["durations"] == ["< 1 s", "42 s", "2 min 5 s", "2 h 1 min", "—"]
    assert out["coreHours"] == ["0", "0.0012", "2.5"]
    assert out["bytes"] == ["512 B", "2.0 KB", "12 MB", ""]
    assert out["relative"] == ["just now", "3 min ago", "yesterday"]
    # Known metrics first (the key figures even when missing), then the others by name; corners have their own row.
    keys = out["keys"]
    assert keys[-2:] == ["alpha", "zeta"] and "corners" not in keys
    assert {"cell_count", "area_um2", "wns_ns", "drc_errors", "lvs_match", "power_total_w"} <= set(keys)
    assert "die_area_um2" not in keys, "a figure that is not a key figure is listed only when measured"
    assert out["measured"] == {"label": "Cells", "text": "1,234.5", "measured": True, "warn": False}
    # Not measured is said so: never 0, never "match".
    assert out["missing"] == {"label": "LVS", "text": "not measured", "measured": False, "warn": False}
    assert out["nulled"] == {"label": "DRC errors", "text": "not measured", "measured": False, "warn": False}
    assert out["bad"] == {"label": "Worst negative slack", "text": "-0.25 ns", "measured": True, "warn": True}
    assert out["lvs"] == {"label": "LVS", "text": "mismatch", "measured": True, "warn": True}
    assert out["power"]["text"] == "1.2 mW"
    assert out["corner"] == "setup WNS -0.21 ns, 1 violation · hold WNS 0 ns"
    assert out["cornerEmpty"] == "not measured"
    assert out["cornerFails"] == [True, False]
    assert out["queue"] == ["#3 in line", ""]
    assert out["jobName"] == ["spm.tar.gz", "j2"]
