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
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import flask
import pytest

from shared.config import Settings
from shared.domain.job import GitOrigin, Job, JobState, SourceObject, StateChange
from shared.domain.metrics import KEY_METRICS, Metrics
from shared.web import pages
from shared.web.routing import PARAMETER_PATTERNS, ApiError, Call
from shared.web.views import job_view

BASE_ENV = {
    "GOOGLE_CLOUD_PROJECT": "olc-test",
    "DESIGNS_BUCKET": "olc-designs",
    "RESULTS_BUCKET": "olc-results",
    "COMPLETION_URL": "https://completion.example/",
    "SLURM_LOGIN_HOST": "10.0.0.5",
}
HANDLERS = {
    "jobs": pages.my_jobs_page,
    "job": pages.job_page,
    "design": pages.design_page,
    "queue": pages.queue_page,
    "compare": pages.compare_page,
}
# Elements each page's script needs (a sample): the page content really is inside the layout.
PAGE_IDS = {
    "jobs": ("signin", "content", "upload-form", "state-filter", "jobs-table", "jobs-body", "load-more"),
    "job": ("signin", "not-found", "job", "job-state", "metrics-body", "timeline", "log", "download-all", "rerun-form"),
    "design": ("signin", "not-found", "content", "design-name", "runs-head", "runs-body", "runs-empty", "load-more"),
    "queue": ("queue-at", "count-queued", "count-submitted", "count-running", "wait-median", "sample-size"),
    "compare": ("signin", "not-found", "not-found-text", "content", "compare-head", "compare-body", "export-csv"),
}
TITLES = {"jobs": "My jobs", "job": "Job", "design": "Design", "queue": "Queue", "compare": "Compare runs"}


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


def shell(name: str, headers: dict[str, str] | None = None) -> flask.Response:
    with flask.Flask(__name__).test_request_context("/", headers=headers or {}):
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
    # early.js (tiny, no imports, first in the head) starts the page's first API call while the module loads.
    assert scripts == [
        f'<script src="/assets/early.js" data-page="{name}">',
        f'<script type="module" src="/assets/{name}-page.js">',
    ]
    preloaded = re.findall(r'<link rel="modulepreload" href="/assets/([^"]+)">', html)
    assert preloaded, "the shared modules load alongside the page's own"
    assert set(preloaded) <= pages.ASSET_NAMES
    assert f"{name}-page.js" in pages.ASSET_NAMES


def test_the_early_call_is_exactly_the_first_call_of_its_page() -> None:
    """early.js asks in advance what jobs-page.js and job-page.js ask first (api.js takes an early answer up only
    for exactly the same path, so a drift would silently cost the page its head start)."""
    early = (pages.ASSETS / "early.js").read_text()
    jobs_page = (pages.ASSETS / "jobs-page.js").read_text()
    job_page = (pages.ASSETS / "job-page.js").read_text()
    size = re.search(r"PAGE_SIZE: (\d+),", jobs_page)
    assert size and 'jobs: () => "/v1/jobs?limit=' + size.group(1) + '"' in early
    assert "new URLSearchParams({ limit: String(this.PAGE_SIZE) })" in jobs_page
    job_path = re.search(r"path\(\) \{\s*return `(/v1/jobs/\$\{this\.id\}[^`]*)`;", job_page)
    assert job_path, "job-page.js asks for its job through path()"
    assert "`" + job_path.group(1).replace("this.id", "id") + "`" in early
    assert "api(this.path())" in job_page
    assert (
        'sessionStorage.getItem("olc.idToken")' in early
        and 'TOKEN_KEY = "olc.idToken"' in (pages.ASSETS / "api.js").read_text()
    )


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


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_a_shell_not_changed_since_the_last_visit_answers_304(name: str) -> None:
    first = shell(name)
    etag = first.headers["ETag"]
    again = shell(name, {"If-None-Match": etag})
    assert again.status_code == 304  # werkzeug sends no body with a 304
    assert again.headers["Cache-Control"] == "no-cache", "still checked on every visit"
    other = {n: shell(n).headers["ETag"] for n in HANDLERS}
    assert len(set(other.values())) == len(HANDLERS), "each page its own tag"
    assert shell(name, {"If-None-Match": '"stale"'}).status_code == 200


# ------------------------------------------------------------------------------------------------ assets
def test_the_asset_names_are_the_shipped_files_and_the_route_reaches_every_one() -> None:
    shipped = {path.name for path in pages.ASSETS.iterdir() if path.suffix in (".js", ".css")}
    assert shipped == pages.ASSET_NAMES
    assert {"style.css", "app.js", "api.js", "dom.js", "format.js"} <= pages.ASSET_NAMES
    assert {"jobs-page.js", "job-page.js", "design-page.js", "queue-page.js"} <= pages.ASSET_NAMES
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


# ------------------------------------------------------------------------------- git, reuse, reruns (format.js)
HELPER_CHECKS = """
import * as f from "./format.mjs";
const COMMIT = "1a2b3c4d5e6f" + "7".repeat(28);
const git = { url: "https://git.example.org/examples.git", ref: "main", path: "spm", commit: COMMIT };
const fields = (clock, strategy = "", util = "", density = "") => [
  ["CLOCK_PERIOD", "number", clock], ["SYNTH_STRATEGY", "text", strategy],
  ["FP_CORE_UTIL", "number", util], ["PL_TARGET_DENSITY", "number", density],
];
const out = {
  active: [...f.ACTIVE],
  fetching: f.STATE_LABELS.FETCHING,
  short: [f.shortCommit(COMMIT), f.shortCommit(null)],
  gitText: [f.gitText(git), f.gitText({ ...git, commit: null, path: "" }), f.gitText(null)],
  source: [
    f.sourceText({ git }), f.sourceText({ git: { ...git, commit: null } }),
    f.sourceText({ upload: { name: "ada@example.com/spm.tar.gz" } }), f.sourceText({}),
  ],
  lineage: f.lineage({ reused_from: "j1", parent_job: "j2" }),
  noLineage: f.lineage({ reused_from: null, parent_job: null }),
  rerun: ["SUCCEEDED", "FAILED", "CANCELLED", "TIMEOUT", "REJECTED", "FETCHING", "QUEUED", "RUNNING"].map(
    (state) => f.canRerun({ state })),
  paths: [f.designPath("spm_top"), f.designPath("1x"), f.designPath("a/b"), f.designPath(null),
          f.jobPath("j0123456789abcdef012"), f.jobPath("../x")],
  typed: f.parseOverrides(fields("12", " AREA 1 ", "45.5", ".6"), ""),
  lines: f.parseOverrides(fields(""), [
    "GRT_ADJUSTMENT = 0.2", "# a comment", "", "RUN_CTS=false", 'VERILOG_DEFINES=["A", "B"]',
    'NAME="42"', "QUOTED=text with = sign",
  ].join("\\n")),
  unchanged: f.parseOverrides(fields("10", "AREA 0"), "", { CLOCK_PERIOD: 10, SYNTH_STRATEGY: "AREA 0" }),
  changedOne: f.parseOverrides(fields("12", "AREA 0"), "", { CLOCK_PERIOD: 10, SYNTH_STRATEGY: "AREA 0" }),
  bad: f.parseOverrides(fields("ten", "", "1e2"), "no equals\\n=1\\nCLOCK_PERIOD=3\\nEMPTY=\\nBROKEN=[1,"),
  problems: [
    f.problemList({ problems: ["CLOCK_PERIOD must be positive", { key: "X", message: "unknown" }] }),
    f.problemList({ details: { problems: [{ field: "Y", problem: "bad" }] } }),
    f.problemList({ details: ["one"] }),
    f.problemList({}),
    f.problemList(undefined),
  ],
};
console.log(JSON.stringify(out));
"""


def run_node(tmp_path: Path, script: str) -> dict:
    assert NODE is not None, "node (Debian package nodejs) is not installed: run `make system-deps`"
    # .mjs copies: Node reads a plain .js file as CommonJS.
    for asset in pages.ASSETS.glob("*.js"):
        (tmp_path / f"{asset.stem}.mjs").write_text(re.sub(r'"\./([a-z0-9-]+)\.js"', r'"./\1.mjs"', asset.read_text()))
    (tmp_path / "checks.mjs").write_text(script)
    run = subprocess.run([NODE, "checks.mjs"], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_git_reuse_and_rerun_helpers_under_node(tmp_path: Path) -> None:
    out = run_node(tmp_path, HELPER_CHECKS)
    assert out["active"] == ["FETCHING", "QUEUED", "SUBMITTED", "RUNNING"]
    assert out["fetching"] == "Fetching"
    assert out["short"] == ["1a2b3c4d5e6f", ""]
    assert out["gitText"] == [
        "https://git.example.org/examples.git main @ 1a2b3c4d5e6f (folder spm)",
        "https://git.example.org/examples.git main",
        "",
    ]
    assert out["source"] == ["main @ 1a2b3c4d5e6f", "main", "spm.tar.gz", "—"]
    assert out["lineage"] == [
        {"lead": "same inputs as job ", "id": "j1", "tail": ": results reused"},
        {"lead": "rerun of job ", "id": "j2", "tail": ""},
    ]
    assert out["noLineage"] == []
    assert out["rerun"] == [True, True, True, True, False, False, False, False]
    assert out["paths"] == ["/designs/spm_top", None, None, None, "/jobs/j0123456789abcdef012", None]
    # Number fields become JSON numbers, text stays text (trimmed).
    assert out["typed"] == {
        "overrides": {"CLOCK_PERIOD": 12, "SYNTH_STRATEGY": "AREA 1", "FP_CORE_UTIL": 45.5, "PL_TARGET_DENSITY": 0.6},
        "problems": [],
    }
    assert out["lines"] == {
        "overrides": {
            "GRT_ADJUSTMENT": 0.2,
            "RUN_CTS": False,
            "VERILOG_DEFINES": ["A", "B"],
            "NAME": "42",
            "QUOTED": "text with = sign",
        },
        "problems": [],
    }
    # Prefilled values are sent only when changed.
    assert out["unchanged"]["overrides"] == {} and out["unchanged"]["problems"] == [
        "Nothing to change: give at least one new value."
    ]
    assert out["changedOne"] == {"overrides": {"CLOCK_PERIOD": 12}, "problems": []}
    assert out["bad"]["problems"] == [
        "CLOCK_PERIOD must be a number",
        "line 1: write KEY=VALUE, with a variable name such as GRT_ADJUSTMENT as the key",
        "line 2: write KEY=VALUE, with a variable name such as GRT_ADJUSTMENT as the key",
        "line 4: EMPTY has no value",
        "line 5: the value of BROKEN is not valid JSON",
    ]
    assert out["bad"]["overrides"] == {"FP_CORE_UTIL": 100, "CLOCK_PERIOD": 3}
    assert out["problems"] == [
        ["CLOCK_PERIOD must be positive", "X: unknown"],
        ["Y: bad"],
        ["one"],
        [],
        [],
    ]


def test_the_active_filter_and_the_live_poll_include_fetching() -> None:
    html = page_html("jobs")
    active = re.search(r'<option value="([A-Z,]+)">Active</option>', html)
    assert active and active.group(1).split(",") == ["FETCHING", "QUEUED", "SUBMITTED", "RUNNING"]
    assert '<option value="FETCHING">Fetching</option>' in html
    script = (pages.ASSETS / "jobs-page.js").read_text()
    assert '/v1/jobs?state=${[...ACTIVE].join(",")}&limit=100' in script, "the poll asks for every active state"


def test_the_design_page_route_takes_design_names_only() -> None:
    from shared.web.app import ROUTES

    route = next(r for r in ROUTES if r.path == "/designs/{design_name}")
    assert route.handler is pages.design_page and route.access == "public" and not route.in_api_document
    assert route.pattern.match("/designs/spm_top") and route.pattern.match("/designs/_x9/")
    for path in ("/designs/1spm", "/designs/spm top", "/designs/a/b", "/designs/", "/designs/spm\n"):
        assert not route.pattern.match(path), path
    listing = next(r for r in ROUTES if r.path == "/v1/jobs" and r.method == "GET")
    assert "design" in {q.name for q in listing.query}


# ------------------------------------------------------------------------------------ page scripts under Node
# A small stand-in for the browser: the elements of the page's shell by id, elements built by dom.js h(), fetch
# answering from a table, and location.assign recorded. Just what the page scripts use, so their own logic runs.
DOM_SHIM = """
export class El {
  constructor(tag, id = null) {
    Object.assign(this, { tagName: tag.toUpperCase(), id, children: [], attributes: {}, dataset: {}, style: {},
      hidden: false, disabled: false, className: "", value: "", listeners: {}, parent: null });
  }
  get textContent() { return this.children.map((c) => (typeof c === "string" ? c : c.textContent)).join(""); }
  set textContent(value) { this.replaceChildren(String(value)); }
  append(...nodes) {
    for (const node of nodes) {
      if (node instanceof El) { node.remove(); node.parent = this; }
      this.children.push(node);
    }
  }
  replaceChildren(...nodes) { this.children = []; this.append(...nodes); }
  insertBefore(node, before) {
    node.remove();
    node.parent = this;
    const at = before ? this.children.indexOf(before) : -1;
    if (at < 0) this.children.push(node); else this.children.splice(at, 0, node);
  }
  remove() {
    if (this.parent) this.parent.children = this.parent.children.filter((c) => c !== this);
    this.parent = null;
  }
  setAttribute(name, value) { this.attributes[name] = String(value); }
  getAttribute(name) { return name in this.attributes ? this.attributes[name] : null; }
  addEventListener(type, listener) { (this.listeners[type] ??= []).push(listener); }
  get classList() { return { add: (name) => { this.className = `${this.className} ${name}`.trim(); } }; }
  querySelector() { return null; }
  focus() {}
  click() {}
  html() {
    const tag = this.tagName.toLowerCase();
    const cls = this.className ? ` class="${this.className}"` : "";
    const data = Object.entries(this.dataset).map(([k, v]) => [`data-${k.replace(/[A-Z]/g, "-$&").toLowerCase()}`, v]);
    const attrs = [...Object.entries(this.attributes), ...data].map(([k, v]) => ` ${k}="${v}"`).join("");
    const inner = this.children.map((c) => (typeof c === "string" ? c : c.html())).join("");
    return `<${tag}${cls}${attrs}>${inner}</${tag}>`;
  }
}

export const world = { fetches: [], assigned: [] };
export const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

export function install({ path, elements, keyMetrics, replies, early = null }) {
  const byId = {};
  for (const { id, tag, hidden } of elements) {
    byId[id] = new El(tag, id);
    byId[id].hidden = hidden;
  }
  const body = new El("body");
  body.dataset = { clientId: "", environment: "local", keyMetrics };
  globalThis.document = {
    body, head: new El("head"), title: "", visibilityState: "visible",
    getElementById: (id) => byId[id] || null,
    createElement: (tag) => new El(tag),
    addEventListener() {},
    querySelectorAll: () => [],
  };
  globalThis.window = globalThis;
  globalThis.addEventListener = () => {};
  globalThis.confirm = () => true;
  globalThis.location = {
    pathname: path, hash: "", search: "", href: `https://olc.example.org${path}`,
    assign: (url) => world.assigned.push(url),
  };
  globalThis.history = { state: null, replaceState() {} };
  const stored = new Map([["olc.idToken", "header.e30.signature"]]);
  globalThis.sessionStorage = {
    getItem: (key) => stored.get(key) ?? null, setItem: (k, v) => stored.set(k, v), removeItem: (k) => stored.delete(k),
  };
  globalThis.setInterval = () => 0;
  const answer = ([status, data]) => ({
    ok: status >= 200 && status < 300,
    status,
    headers: { get: (name) => (name === "Content-Type" ? "application/json" : null) },
    json: async () => data,
  });
  globalThis.fetch = async (url, init = {}) => {
    const method = init.method || "GET";
    world.fetches.push({ url, method, body: init.body ? JSON.parse(init.body) : null, headers: init.headers || {} });
    const queue = replies[`${method} ${url}`] || [[404, { error: { code: "not_found", message: "nothing" } }]];
    return answer(queue.length > 1 ? queue.shift() : queue[0]);
  };
  // What early.js leaves when it asked in advance (the page's first call, already answered).
  if (early) window.olcEarly = { path: early.path, token: early.token, reply: Promise.resolve(answer(early.reply)) };
  return byId;
}

export async function submit(form) {
  await Promise.all((form.listeners.submit || []).map((listener) => listener({ preventDefault() {} })));
  for (let i = 0; i < 5; i += 1) await settle();
}
"""
PAGE_RUN = """
import { install, settle, submit, world } from "./shim.mjs";
const byId = install(%CONFIG%);
const $ = (id) => byId[id];
await import("./%PAGE%-page.mjs");
for (let i = 0; i < 200 && !document.body.dataset.rendered; i += 1) await settle();
const out = { view: document.body.dataset.view, title: document.title };
%ACTIONS%
console.log(JSON.stringify({ ...out, fetches: world.fetches, assigned: world.assigned }));
process.exit(0);
"""
BASE_URL = "https://olc.example.org"
COMMIT = "1a2b3c4d5e6f" + "7" * 28
OTHER_JOB = "j" + "0" * 19
PARENT_JOB = "j" + "1" * 19
NEW_JOB = "j" + "2" * 19


def run_page(tmp_path: Path, page: str, path: str, replies: dict, actions: str = "", early: dict | None = None) -> dict:
    """Runs assets/<page>-page.js on its shell under Node and returns what `actions` put in `out`; `early`: what
    early.js left (its path, the token it used and the answer)."""
    elements = [
        {"id": match.group(2), "tag": match.group(1), "hidden": bool(re.search(r"\shidden(?=[\s>])", match.group(0)))}
        for match in re.finditer(r'<(\w+)\b[^>]*\bid="([^"]+)"[^>]*>', page_html(page))
    ]
    config = {"path": path, "elements": elements, "keyMetrics": ",".join(KEY_METRICS), "replies": replies}
    if early is not None:
        config["early"] = early
    (tmp_path / "shim.mjs").write_text(DOM_SHIM)
    script = PAGE_RUN.replace("%CONFIG%", json.dumps(config)).replace("%PAGE%", page)
    return run_node(tmp_path, script.replace("%ACTIONS%", actions))


def job_get(job_id: str) -> str:
    """The job page's one call for its job, with its log and files (job-page.js path(), early.js)."""
    return f"GET /v1/jobs/{job_id}?include=log,artifacts&lines=200"


def api_job(state: JobState = JobState.SUCCEEDED, **changes: object) -> dict:
    """A job as GET /v1/jobs/{id} answers it (shared/web/views.py)."""
    created = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    job = Job(
        id="j" + "a" * 19,
        owner="ada@example.com",
        source=SourceObject("designs", "ada@example.com/git-spm.tar.gz", 7, 2048),
        state=state,
        created_at=created,
        history=(StateChange(state, created),),
        design_name="spm",
        flow="qflow-osu035",
        git=GitOrigin("https://git.example.org/ada/examples.git", "main", "spm", COMMIT),
        metrics=Metrics(cell_count=377, area_um2=77920.0) if state is JobState.SUCCEEDED else None,
    )
    return job_view(replace(job, **changes), BASE_URL)  # type: ignore[arg-type]


FACTS = "out.facts = $('job-facts').children.map((fact) => fact.html());"


def test_the_job_page_shows_the_git_origin_the_reuse_and_the_rerun(tmp_path: Path) -> None:
    job = api_job(reused_from=OTHER_JOB, parent_job=PARENT_JOB, core_hours=0.0)
    actions = f"""
      {FACTS}
      out.lineage = $("job-lineage").html();
      out.lineageHidden = $("job-lineage").hidden;
      out.rerunHidden = $("rerun-section").hidden;
      out.prefilled = ["CLOCK_PERIOD", "SYNTH_STRATEGY"].map((name) => $(`rerun-${{name}}`).value);
    """
    out = run_page(tmp_path, "job", f"/jobs/{job['id']}", {job_get(job["id"]): [[200, job]]}, actions)
    assert out["view"] == "job"
    facts = "".join(out["facts"])
    assert '<dt>Design</dt><dd><a href="/designs/spm" title="Every run of spm">spm</a></dd>' in facts
    repository = "https://git.example.org/ada/examples.git"
    assert f'<a href="{repository}" rel="noopener" target="_blank">{repository}</a>' in facts
    assert '<dt>Ref</dt><dd><span class="mono">main</span></dd>' in facts
    assert f'<dt>Commit</dt><dd><span class="mono" title="{COMMIT}">1a2b3c4d5e6f</span></dd>' in facts
    assert '<dt>Design folder</dt><dd><span class="mono">spm</span></dd>' in facts
    assert "<dt>Upload</dt>" not in facts, "a design from git shows where it came from, not the packed archive"
    assert not out["lineageHidden"]
    assert (
        f'same inputs as job <a class="mono" href="/jobs/{OTHER_JOB}">{OTHER_JOB}</a>: results reused'
        in (out["lineage"])
    )
    assert f'rerun of job <a class="mono" href="/jobs/{PARENT_JOB}">{PARENT_JOB}</a>' in out["lineage"]
    assert out["rerunHidden"] is False
    # job_view does not expose the design's variables: the fields start empty (empty keeps the design's value).
    assert out["prefilled"] == ["", ""]


def test_running_again_with_changes_sends_typed_overrides_and_shows_what_was_refused(tmp_path: Path) -> None:
    job = api_job()
    refused = {
        "error": {
            "code": "invalid_overrides",
            "message": "2 problems with the overrides",
            "problems": ["CLOCK_PERIOD must be at least 1", {"key": "FP_PDN_MULTILAYER", "message": "not accepted"}],
        }
    }
    created = {"job_id": NEW_JOB, "parent_job": job["id"], "page": f"https://elsewhere.example/jobs/{NEW_JOB}"}
    replies = {
        job_get(job["id"]): [[200, job]],
        f"POST /v1/jobs/{job['id']}/rerun": [[400, refused], [201, created]],
    }
    actions = """
      const problems = () => $("rerun-problems").hidden ? [] : $("rerun-problems").children.map((li) => li.textContent);
      await submit($("rerun-form"));
      out.empty = { problems: problems(), posted: world.fetches.filter((f) => f.method === "POST").length };
      $("rerun-CLOCK_PERIOD").value = "ten";
      await submit($("rerun-form"));
      out.notNumber = problems();
      $("rerun-CLOCK_PERIOD").value = "0.5";
      $("rerun-SYNTH_STRATEGY").value = "AREA 1";
      $("rerun-extra").value = "GRT_ADJUSTMENT=0.2\\n# tried before\\nFP_PDN_MULTILAYER=false";
      await submit($("rerun-form"));
      out.refused = { problems: problems(), status: $("rerun-status").textContent, assigned: [...world.assigned] };
      await submit($("rerun-form"));
      out.accepted = { problems: problems(), status: $("rerun-status").textContent };
    """
    out = run_page(tmp_path, "job", f"/jobs/{job['id']}", replies, actions)
    assert out["empty"] == {"problems": ["Nothing to change: give at least one new value."], "posted": 0}
    assert out["notNumber"] == ["CLOCK_PERIOD must be a number"]
    posts = [f for f in out["fetches"] if f["method"] == "POST"]
    assert [p["url"] for p in posts] == [f"/v1/jobs/{job['id']}/rerun"] * 2
    assert posts[0]["body"] == {
        "overrides": {
            "CLOCK_PERIOD": 0.5,
            "SYNTH_STRATEGY": "AREA 1",
            "GRT_ADJUSTMENT": 0.2,
            "FP_PDN_MULTILAYER": False,
        }
    }
    assert out["refused"] == {
        "problems": ["CLOCK_PERIOD must be at least 1", "FP_PDN_MULTILAYER: not accepted"],
        "status": "Nothing was started:",
        "assigned": [],
    }
    # Accepted: on to the new job's page on this site (not the link's host).
    assert out["accepted"]["problems"] == []
    assert out["accepted"]["status"] == f"Started job {NEW_JOB}."
    assert out["assigned"] == [f"/jobs/{NEW_JOB}"]


def test_a_job_being_fetched_says_so_and_cannot_be_rerun(tmp_path: Path) -> None:
    job = api_job(JobState.FETCHING)
    job["git"]["commit"] = None
    actions = f"""
      {FACTS}
      out.badge = $("job-state").textContent;
      out.progress = $("job-progress").hidden ? null : $("job-progress-text").textContent;
      out.rerunHidden = $("rerun-section").hidden;
      out.cancelHidden = $("cancel-button").hidden;
    """
    out = run_page(tmp_path, "job", f"/jobs/{job['id']}", {job_get(job["id"]): [[200, job]]}, actions)
    assert out["badge"] == "Fetching"
    assert out["progress"] == "Fetching the design from https://git.example.org/ada/examples.git (main)…"
    facts = "".join(out["facts"])
    assert "<dt>Stage</dt><dd>fetching the design</dd>" in facts
    assert '<dt>Commit</dt><dd><span class="muted">not resolved yet</span></dd>' in facts
    assert out["rerunHidden"] is True and out["cancelHidden"] is False


def test_a_rejected_submission_offers_no_rerun(tmp_path: Path) -> None:
    job = api_job(JobState.REJECTED, reason="the ref 'mian' does not exist")
    actions = """
      out.alert = $("job-alert-title").textContent;
      out.rerunHidden = $("rerun-section").hidden;
    """
    out = run_page(tmp_path, "job", f"/jobs/{job['id']}", {job_get(job["id"]): [[200, job]]}, actions)
    assert out["alert"] == "This submission was rejected"
    assert out["rerunHidden"] is True


RESULTS = "ada@example.com/j" + "a" * 19 + "/"
LAYOUT_URL = "https://storage.example.org/olc-results/render/layout.png?X-Goog-Signature=abc"


def finished_job_with_parts() -> dict:
    """A finished run as GET /v1/jobs/{id}?include=log,artifacts answers it."""
    job = api_job(results_prefix=RESULTS, artifacts={"layout_png": f"gs://olc-results/{RESULTS}render/layout.png"})
    expires = "2026-11-02T09:15:00Z"
    job["log"] = {"job_id": job["id"], "state": "SUCCEEDED", "source": "files/logs/flow.log", "lines": ["one", "two"]}
    job["artifacts"] = [
        {"path": "files/render/layout.png", "size": 2048, "url": LAYOUT_URL, "expires_at": expires},
        {
            "path": "files/logs/flow.log",
            "size": 10,
            "url": "https://storage.example.org/log?sig",
            "expires_at": expires,
        },
        {"path": "files/evil.txt", "size": 1, "url": "javascript:alert(1)", "expires_at": expires},
    ]
    return job


JOB_PARTS = """
  out.log = $("log-section").hidden ? null : $("log").textContent;
  out.logSource = $("log-source").textContent;
  out.files = $("artifacts").children.map((li) => li.children[0].html());
  out.summary = $("artifacts-summary").textContent;
  out.downloadsHidden = $("downloads-section").hidden;
  out.layout = $("layout-section").hidden ? null : $("layout-image").src;
  out.timings = Object.keys(window.olcTimings);
"""


def test_the_job_page_draws_the_job_its_log_and_its_files_from_one_call(tmp_path: Path) -> None:
    job = finished_job_with_parts()
    out = run_page(tmp_path, "job", f"/jobs/{job['id']}", {job_get(job["id"]): [[200, job]]}, JOB_PARTS)
    assert out["view"] == "job"
    assert [f["url"] for f in out["fetches"]] == [job_get(job["id"]).removeprefix("GET ")], "one request"
    assert out["fetches"][0]["headers"]["Authorization"] == "Bearer header.e30.signature"
    assert out["log"] == "one\ntwo" and out["logSource"] == "files/logs/flow.log"
    assert out["files"] == [
        f'<a href="{LAYOUT_URL}" rel="noopener" target="_blank">files/render/layout.png</a>',
        '<a href="https://storage.example.org/log?sig" rel="noopener" target="_blank">files/logs/flow.log</a>',
    ], "every file with its link; a link that is not http(s) is never made clickable"
    assert out["summary"] == "All files (2)" and out["downloadsHidden"] is False
    assert out["layout"] == LAYOUT_URL
    assert out["timings"] == ["job", "log", "files", "rendered"]


def test_a_job_without_results_shows_no_log_and_no_files(tmp_path: Path) -> None:
    job = api_job(JobState.QUEUED)  # no results yet: the API answers null for both
    job["log"] = job["artifacts"] = None
    out = run_page(tmp_path, "job", f"/jobs/{job['id']}", {job_get(job["id"]): [[200, job]]}, JOB_PARTS)
    assert out["view"] == "job" and out["log"] is None and out["files"] == [] and out["layout"] is None
    assert out["downloadsHidden"] is True


def test_the_page_takes_up_the_early_answer_once_and_only_for_its_own_sign_in(tmp_path: Path) -> None:
    job = finished_job_with_parts()
    early = {"path": job_get(job["id"]).removeprefix("GET "), "token": "header.e30.signature", "reply": [200, job]}
    out = run_page(tmp_path, "job", f"/jobs/{job['id']}", {}, JOB_PARTS + "out.left = window.olcEarly;", early=early)
    assert out["view"] == "job" and out["fetches"] == [] and out["log"] == "one\ntwo"
    assert out["left"] is None, "taken up once"
    # Asked with another sign-in (the tab signed in anew since): not used, the page asks itself.
    other = {**early, "token": "someone.else.entirely"}
    replies = {job_get(job["id"]): [[200, job]]}
    out = run_page(tmp_path, "job", f"/jobs/{job['id']}", replies, JOB_PARTS, early=other)
    assert [f["url"] for f in out["fetches"]] == [early["path"]] and out["log"] == "one\ntwo"
    # An early 404 is the page's 404, exactly as if the page had asked.
    missing = {**early, "reply": [404, {"error": {"code": "not_found", "message": "you have no job"}}]}
    out = run_page(tmp_path, "job", f"/jobs/{job['id']}", {}, "", early=missing)
    assert out["view"] == "not-found" and out["fetches"] == []


EARLY_RUN = """
import { install, settle, world } from "./shim.mjs";
install(%CONFIG%);
document.currentScript = { dataset: { page: %PAGE% } };
location.hash = %HASH%;
%SIGNED_OUT%
await import("./early.mjs");
await settle();
console.log(JSON.stringify({ early: window.olcEarly ? window.olcEarly.path : null, fetches: world.fetches }));
process.exit(0);
"""


def run_early(tmp_path: Path, page: str, path: str, hash_: str = "", signed_in: bool = True) -> dict:
    config = {"path": path, "elements": [], "keyMetrics": "", "replies": {}}
    (tmp_path / "shim.mjs").write_text(DOM_SHIM)
    script = EARLY_RUN.replace("%CONFIG%", json.dumps(config)).replace("%PAGE%", json.dumps(page))
    script = script.replace("%HASH%", json.dumps(hash_))
    script = script.replace("%SIGNED_OUT%", "" if signed_in else 'sessionStorage.removeItem("olc.idToken");')
    return run_node(tmp_path, script)


def test_early_js_asks_each_page_s_first_call_with_the_sign_in(tmp_path: Path) -> None:
    job_id = "j" + "a" * 19
    out = run_early(tmp_path, "job", f"/jobs/{job_id}")
    assert out["early"] == job_get(job_id).removeprefix("GET ")
    assert [(f["url"], f["headers"]["Authorization"]) for f in out["fetches"]] == [
        (out["early"], "Bearer header.e30.signature")
    ]
    assert run_early(tmp_path, "jobs", "/")["early"] == "/v1/jobs?limit=25"
    # Nothing to ask: another page, a path that is no job, nobody signed in, or a token link (signs in anew).
    for page, path, hash_, signed_in in (
        ("queue", "/queue", "", True),
        ("job", "/jobs/../v1/quotas", "", True),
        ("jobs", "/", "", False),
        ("jobs", "/", "#token=abc", True),
    ):
        out = run_early(tmp_path, page, path, hash_, signed_in)
        assert out == {"early": None, "fetches": []}, (page, path, hash_, signed_in)


def test_the_design_page_lists_runs_by_commit_with_key_figures(tmp_path: Path) -> None:
    newest = api_job(JobState.RUNNING)
    reused = api_job(reused_from=OTHER_JOB)
    reused["id"] = "j" + "b" * 19
    uploaded = api_job(JobState.FAILED, git=None)
    uploaded["id"] = "j" + "c" * 19
    listing = {"jobs": [newest, reused, uploaded], "next_cursor": "more"}
    actions = """
      out.name = $("design-name").textContent;
      out.head = $("runs-head").children[0].children.map((th) => th.textContent);
      out.rows = $("runs-body").children.map((tr) => tr.children.map((td) => td.html()));
      out.more = !$("load-more").hidden;
    """
    replies = {"GET /v1/jobs?design=spm&limit=50": [[200, listing]]}
    out = run_page(tmp_path, "design", "/designs/spm", replies, actions)
    assert out["view"] == "design" and out["title"] == "Runs of spm · OpenLane Cloud"
    assert out["fetches"][0]["url"] == "/v1/jobs?design=spm&limit=50"
    assert out["name"] == "spm"
    assert out["head"][:4] == ["Job", "Created", "State", "Source"]
    assert out["head"][4:6] == ["Cells", "Cell area"] and len(out["head"]) == 4 + len(KEY_METRICS)
    first, second, third = out["rows"]
    assert f'<a class="job-link mono" href="/jobs/{newest["id"]}">{newest["id"]}</a>' in first[0]
    assert 'data-state="RUNNING"' in first[2]
    assert f'title="https://git.example.org/ada/examples.git {COMMIT} spm">main @ 1a2b3c4d5e6f</span>' in first[3]
    assert first[4] == '<td class="num muted">\u2013</td>', "no figures yet (an en dash)"
    assert f"results of {OTHER_JOB}" in second[0]
    assert second[4] == '<td class="num">377</td>' and second[5] == '<td class="num">77,920 µm²</td>'
    assert second[6] == '<td class="num muted">not measured</td>', "a key figure not measured says so, never 0"
    assert ">git-spm.tar.gz</span>" in third[3], "an upload shows its file's name"
    assert out["more"] is True


def test_the_design_page_refuses_what_cannot_be_a_design_name(tmp_path: Path) -> None:
    out = run_page(tmp_path, "design", "/designs/1nope", {})
    assert out["view"] == "not-found" and out["fetches"] == []
