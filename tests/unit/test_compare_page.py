"""The compare page's script (assets/compare-page.js) and the sweep runs' "compare selected runs" on the job page,
run under Node on their shells with the small DOM stand-in of tests/unit/test_web_pages.py. The browser itself is in
tests/e2e/test_status_pages.py."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

from shared.domain.compare import compare, entry_for
from shared.domain.metrics import Metrics
from shared.web.views import job_view
from tests.unit.test_compare import FAST, J1, J2, SLOW, SWEEP, job, sweep_job
from tests.unit.test_web_pages import BASE_URL, configured, job_get, run_page

__all__ = ["configured"]  # the shells' settings (an autouse fixture of test_web_pages), here too


def comparison(*, corners: bool = False) -> dict:
    """GET /v1/compare as the API answers it (shared/web/compare_api.py)."""
    slow = Metrics(**{**SLOW.to_dict(), "corners": {"nom_tt": {"setup_ws_ns": 1.25}}}) if corners else SLOW
    entries = [entry_for(job(J1, FAST, CLOCK_PERIOD=10), None), entry_for(job(J2, slow, CLOCK_PERIOD=20), None)]
    entries.append(entry_for(sweep_job(), 1))
    data = compare(entries).to_dict()
    for entry in data["entries"]:
        entry["page"] = f"{BASE_URL}/jobs/{entry['job_id']}"
    return data


def compare_url(jobs: str, fmt: str | None = None) -> str:
    query = {"jobs": jobs} | ({"format": fmt} if fmt else {})
    return "/v1/compare?" + urllib.parse.urlencode(query)


JOBS = f"{J1},{J2},{SWEEP}:1"
TABLE = """
  out.head = $("compare-head").children[0].children.map((th) => th.html());
  out.settings = $("compare-settings").children.map((tr) => tr.children.map((cell) => cell.textContent));
  out.rows = Object.fromEntries($("compare-body").children.map((tr) => [
    tr.dataset.metric,
    tr.children.map((cell) => ({ text: cell.textContent, cls: cell.className, verdict: cell.dataset.verdict })),
  ]));
  out.heading = $("compare-title").textContent;
"""


def test_the_compare_page_shows_every_metric_against_the_reference(tmp_path: Path) -> None:
    replies = {f"GET {compare_url(JOBS)}": [[200, comparison(corners=True)]]}
    out = run_page(tmp_path, "compare", f"/compare?jobs={JOBS}", replies, TABLE)
    assert out["view"] == "compare"
    assert out["title"] == "Compare spm: 3 runs · OpenLane Cloud" and out["heading"] == "spm: 3 runs side by side"
    assert [f["url"] for f in out["fetches"]] == [compare_url(JOBS)]
    head = out["head"]
    assert head[0] == '<th scope="col">Metric</th>'
    assert f'<a class="mono" href="/jobs/{J1}">{J1}</a>' in head[1] and "reference</span>" in head[1]
    assert 'class="reference"' in head[1] and "reference</span>" not in head[2]
    assert f'<a class="mono" href="/jobs/{SWEEP}">{SWEEP}:1</a>' in head[3] and 'data-state="FAILED"' in head[3]
    assert out["settings"] == [["CLOCK_PERIODsetting", "10", "20", "10"]]
    rows = out["rows"]
    area = rows["area_um2"]
    assert area[0]["text"] == "Cell arealower is better"
    assert area[1] == {"text": "77,920 µm²", "cls": "", "verdict": "reference"}
    assert area[2] == {"text": "80,100.5 µm²+2,180.5 µm² (+2.8%) · worse", "cls": "verdict-worse", "verdict": "worse"}
    assert area[3] == {"text": "not measured", "cls": "muted", "verdict": "not_measured"}, "never 0"
    assert rows["cell_count"][2]["text"] == "350-27 (-7.16%) · better"
    assert rows["cell_count"][2]["cls"] == "verdict-better"
    assert rows["wns_ns"][2]["text"] == "-0.5 ns-0.5 ns · worse", "no percent of a zero reference"
    assert rows["drc_errors"][2]["text"] == "0±0 · same"
    assert rows["lvs_match"][0]["text"] == "LVSsame or different"
    assert rows["lvs_match"][2] == {"text": "mismatchdifferent", "cls": "verdict-different", "verdict": "different"}
    corner = rows["corners.nom_tt.setup_ws_ns"]
    assert corner[0]["text"] == "nom_tt setup_ws_nshigher is better"
    assert corner[1]["verdict"] == "not_measured" and corner[2]["text"] == "1.25 nsreference not measured"


def test_the_compare_page_downloads_csv_and_json(tmp_path: Path) -> None:
    replies = {
        f"GET {compare_url(JOBS)}": [[200, comparison()]],
        f"GET {compare_url(JOBS, 'csv')}": [[200, {}]],
        f"GET {compare_url(JOBS, 'json')}": [[200, {}]],
    }
    actions = """
      const answer = globalThis.fetch;
      globalThis.fetch = async (url, init) => {
        const reply = await answer(url, init);
        const kind = new URL(url, "https://olc.example.org").searchParams.get("format") || "json";
        const disposition = `attachment; filename="compare-x.${kind}"`;
        return { ...reply, blob: async () => new Blob(["a,b"]), headers: { get: (name) => (
          name === "Content-Disposition" ? disposition : "application/json") } };
      };
      for (const format of ["csv", "json"]) {
        $(`export-${format}`).listeners.click[0]();
        for (let i = 0; i < 5; i += 1) await settle();
        out[format] = $("export-status").textContent;
      }
    """
    out = run_page(tmp_path, "compare", f"/compare?jobs={JOBS}", replies, actions)
    assert [f["url"] for f in out["fetches"]] == [
        compare_url(JOBS),
        compare_url(JOBS, "csv"),
        compare_url(JOBS, "json"),
    ]
    assert out["csv"] == "Downloaded compare-x.csv." and out["json"] == "Downloaded compare-x.json."


def test_someone_elses_job_or_a_bad_list_says_there_is_nothing_to_compare(tmp_path: Path) -> None:
    refused = {"error": {"code": "not_found", "message": f"you have no job {J2}"}}
    actions = 'out.text = $("not-found-text").textContent; out.content = $("content").hidden;'
    replies = {f"GET {compare_url(f'{J1},{J2}')}": [[404, refused]]}
    out = run_page(tmp_path, "compare", f"/compare?jobs={J1},{J2}", replies, actions)
    assert out["view"] == "not-found" and out["text"] == f"you have no job {J2}" and out["content"] is True
    assert out["title"] == "Nothing to compare · OpenLane Cloud"
    bad = {"error": {"code": "invalid_jobs", "message": "compare 2 to 10 jobs or runs, not 1"}}
    out = run_page(tmp_path, "compare", f"/compare?jobs={J1}", {f"GET {compare_url(J1)}": [[400, bad]]}, actions)
    assert out["view"] == "not-found" and out["text"] == "compare 2 to 10 jobs or runs, not 1"
    out = run_page(tmp_path, "compare", "/compare", {}, actions)
    assert out["view"] == "not-found" and out["fetches"] == [], "no list: nothing asked"


# ------------------------------------------------------------------------------------------------ the job page
PICK = """
  const boxes = $("sweep-body").children.map((tr) => tr.children[0].children[0].children[0]);
  const tick = (index, on) => { boxes[index].checked = on; boxes[index].listeners.change[0](); };
  const state = () => [$("compare-runs").disabled, $("compare-runs-hint").textContent];
  out.bar = $("compare-runs-bar").hidden;
  out.labels = boxes.map((box) => box.attributes["aria-label"]);
  out.steps = [state()];
  tick(2, true); out.steps.push(state());
  $("compare-runs").listeners.click[0]();
  out.early = [...world.assigned];
  tick(0, true); out.steps.push(state());
  tick(1, true); tick(1, false); out.steps.push(state());
  $("compare-runs").listeners.click[0]();
"""


def test_a_sweeps_page_compares_the_runs_ticked(tmp_path: Path) -> None:
    sweep = job_view(sweep_job(), BASE_URL)
    out = run_page(tmp_path, "job", f"/jobs/{SWEEP}", {job_get(SWEEP): [[200, sweep]]}, PICK)
    assert out["bar"] is False
    assert out["labels"] == ["Compare run 0", "Compare run 1", "Compare run 2"]
    assert out["steps"] == [
        [True, "Tick 2 to 10 runs to compare them."],
        [True, "1 run ticked: tick at least one more."],
        [False, "2 runs ticked; the first is the reference."],
        [False, "2 runs ticked; the first is the reference."],
    ]
    assert out["early"] == [], "one run is nothing to compare"
    assert out["assigned"] == [f"/compare?jobs={SWEEP}:0,{SWEEP}:2"], "in run order, the lowest as the reference"


def test_a_single_job_has_no_runs_to_tick(tmp_path: Path) -> None:
    single = job_view(job(J1, FAST), BASE_URL)
    actions = 'out.section = $("sweep-section").hidden; out.bar = $("compare-runs-bar").hidden;'
    out = run_page(tmp_path, "job", f"/jobs/{J1}", {job_get(J1): [[200, single]]}, actions)
    assert out["section"] is True and out["bar"] is True


def test_the_fixture_is_json() -> None:
    assert json.loads(json.dumps(comparison(corners=True), allow_nan=False))["reference"] == J1
