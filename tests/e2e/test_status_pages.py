"""The status pages in a real headless Chromium against the real stack: sign-in from the URL fragment, my jobs,
one job (layout, metrics, log, live updates without a reload), someone else's job, the public queue page.

Screenshots land in test-artifacts/screenshots/: jobs.png, job.png, job-mobile.png (a phone), job-failed.png,
job-queued.png, queue.png and, when the browser upload can run, jobs-after-upload.png.
Chromium and its driver come from Debian (chromium, chromium-driver), installed by the stack; the tests fail when they
are missing.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from devstack.load import design_archive
from devstack.stack import LOCAL_ADMIN, REPO_ROOT
from olc_cli import client

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

    from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.stack

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
USER = "page.tester@example.com"
ALICE = "alice.pages@example.com"
BOB = "bob.pages@example.com"
SECRET_NAME = "alice-private-tapeout"
ACTIVE = {"QUEUED", "SUBMITTED", "RUNNING"}


# ------------------------------------------------------------------------------------------------ browser
@pytest.fixture
def browser() -> Iterator[WebDriver]:
    """A fresh headless Chromium per test: its own session storage, so sign-ins never leak between tests."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        # The stack installs them (devstack/stack.py BROWSER_PACKAGES): missing means setup is broken.
        pytest.fail("chromium and chromium-driver (Debian packages) are not installed: run `make system-deps`")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    options.add_argument("--lang=en-GB")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def open_page(driver: WebDriver, stack: RunningStack, path: str, user: str | None) -> None:
    """Open a page as `user` (a token in the fragment, as `olc` links carry it) or signed out; wait for its data."""
    url = stack.layout.url("api") + path
    if driver.current_url.split("#", 1)[0] == url:
        # Only the fragment would differ: the browser would stay on the same document instead of loading it anew.
        driver.get("about:blank")
    if user is not None:
        url += "#token=" + stack.layout.id_token(user)
    driver.get(url)
    wait_for(driver, lambda: driver.execute_script("return document.body.dataset.rendered") == "1", 30)


def wait_for(driver: WebDriver, check: Callable[[], object], timeout_s: float, what: str = "the page") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    screenshot(driver, "timeout.png")
    raise AssertionError(f"{what} did not get there within {timeout_s} s; see test-artifacts/screenshots/timeout.png")


def text_of(driver: WebDriver, element_id: str) -> str:
    return driver.execute_script("return document.getElementById(arguments[0]).textContent", element_id).strip()


def visible(driver: WebDriver, element_id: str) -> bool:
    return driver.find_element("id", element_id).is_displayed()


def screenshot(driver: WebDriver, name: str) -> Path:
    """The whole page, not only the window (Chromium's DevTools protocol can capture beyond the viewport)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    path = SHOTS / name
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def console_errors(driver: WebDriver) -> list[str]:
    """Script errors and Content-Security-Policy violations; expected API answers (401, 404) are not errors."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE"
        and not (entry["source"] == "network" and (" 401 " in entry["message"] or " 404 " in entry["message"]))
    ]


def images_loaded(driver: WebDriver) -> bool:
    return driver.execute_script("return [...document.images].every(i => !i.src || (i.complete && i.naturalWidth > 0))")


# ------------------------------------------------------------------------------------------------ jobs
def upload_design(stack: RunningStack, user: str, design: str) -> str:
    config = stack.client(user)
    source = client.upload(config, f"{design}.tar.gz", design_archive(REPO_ROOT / "examples" / design), reuse=False)
    return client.expected_job_id(source)


def wait_until_recorded(stack: RunningStack, user: str, job_id: str) -> dict[str, Any]:
    """Ingest has created the job (the page shows "not found" before that)."""
    config = stack.client(user)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = client.api_get(config, f"/v1/jobs/{job_id}")
        if job is not None:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} was never recorded")


def finished(stack: RunningStack, user: str, job_id: str) -> dict[str, Any]:
    return client.wait_for_job(stack.client(user), job_id, 300, lambda _: None)


@pytest.fixture(scope="module")
def succeeded_job(stack: RunningStack) -> dict[str, Any]:
    job = finished(stack, USER, upload_design(stack, USER, "spm"))
    assert job["state"] == "SUCCEEDED", job
    return job


@pytest.fixture(scope="module")
def failed_job(stack: RunningStack) -> dict[str, Any]:
    job = finished(stack, USER, upload_design(stack, USER, "broken-synth"))
    assert job["state"] == "FAILED", job
    return job


# ------------------------------------------------------------------------------------------------ tests
def test_my_jobs_lists_my_upload(stack: RunningStack, browser: WebDriver, succeeded_job: dict[str, Any]) -> None:
    open_page(browser, stack, "/", USER)
    assert "token=" not in browser.current_url, "the token must leave the address bar"
    row = browser.find_element("css selector", f'tr[data-job-id="{succeeded_job["id"]}"]')
    assert row.get_attribute("data-state") == "SUCCEEDED"
    assert "spm" in row.text and "Succeeded" in row.text
    assert row.find_element("css selector", "a").get_attribute("href").endswith(f"/jobs/{succeeded_job['id']}")
    assert "ago" in row.text or "just now" in row.text
    assert text_of(browser, "account").startswith(USER)
    screenshot(browser, "jobs.png")
    assert console_errors(browser) == []


def test_job_page_shows_layout_metrics_timeline_and_log(
    stack: RunningStack, browser: WebDriver, succeeded_job: dict[str, Any]
) -> None:
    open_page(browser, stack, f"/jobs/{succeeded_job['id']}", USER)
    assert browser.find_element("id", "job-state").get_attribute("data-state") == "SUCCEEDED"
    assert text_of(browser, "job-title") == "spm"
    metrics = {
        row.get_attribute("data-metric"): row.text for row in browser.find_elements("css selector", "#metrics-body tr")
    }
    assert set(succeeded_job["metrics"]) <= set(metrics), metrics
    assert f"{succeeded_job['metrics']['cell_count']}" in metrics["cell_count"]
    timeline = [e.get_attribute("data-kind") for e in browser.find_elements("css selector", "#timeline li")]
    assert timeline.count("state") >= 4 and "stage" in timeline
    assert visible(browser, "log-section") and text_of(browser, "log")
    assert browser.find_elements("css selector", "#artifacts a"), "the run's files are listed"
    assert not visible(browser, "cancel-button") and visible(browser, "delete-button")
    # The layout render came with the flow's render stage; a job without one has no links.layout and no picture.
    if "layout" in succeeded_job["links"]:
        assert visible(browser, "layout-section")
        wait_for(browser, lambda: images_loaded(browser), 15, "the layout image")
        width = browser.execute_script("return document.getElementById('layout-image').naturalWidth")
        assert width >= 300, "the layout picture is drawn"
    else:
        assert not visible(browser, "layout-section")
    screenshot(browser, "job.png")
    # The same page on a phone: the layout must not overflow the screen.
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
    )
    wait_for(browser, lambda: images_loaded(browser), 15, "the layout image at phone size")
    overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow} px wider than a phone"
    screenshot(browser, "job-mobile.png")
    assert console_errors(browser) == []


def test_a_failed_job_says_why(stack: RunningStack, browser: WebDriver, failed_job: dict[str, Any]) -> None:
    open_page(browser, stack, f"/jobs/{failed_job['id']}", USER)
    assert browser.find_element("id", "job-state").get_attribute("data-state") == "FAILED"
    assert visible(browser, "job-alert")
    assert "failed" in text_of(browser, "job-alert-title").lower()
    if failed_job.get("error_excerpt"):
        assert visible(browser, "job-alert-excerpt")
        assert failed_job["error_excerpt"].strip().splitlines()[-1].strip() in text_of(browser, "job-alert-excerpt")
    screenshot(browser, "job-failed.png")
    assert console_errors(browser) == []


def test_the_job_page_follows_a_run_live_without_reloading(stack: RunningStack, browser: WebDriver) -> None:
    job_id = upload_design(stack, USER, "spm")
    wait_until_recorded(stack, USER, job_id)
    open_page(browser, stack, f"/jobs/{job_id}", USER)
    first = browser.find_element("id", "job-state").get_attribute("data-state")
    assert first in ACTIVE, f"the job had ended ({first}) before the page opened: nothing live to see"
    browser.execute_script("window.__notReloaded = 'still here'")
    seen = {first}

    def ended() -> bool:
        state = browser.find_element("id", "job-state").get_attribute("data-state")
        seen.add(state)
        return state == "SUCCEEDED"

    wait_for(browser, ended, 180, "the state on the page")
    # Same document all along: the marker survived and there was exactly one navigation.
    assert browser.execute_script("return window.__notReloaded") == "still here"
    assert browser.execute_script("return performance.getEntriesByType('navigation').length") == 1
    assert browser.current_url.endswith(f"/jobs/{job_id}")
    assert len(seen) >= 2, seen
    assert text_of(browser, "job-state") == "Succeeded"
    # What only a finished job has arrives without a reload too.
    wait_for(browser, lambda: visible(browser, "metrics-section") and visible(browser, "downloads-section"), 20)
    assert not visible(browser, "cancel-button")


def test_my_jobs_updates_rows_in_place(stack: RunningStack, browser: WebDriver) -> None:
    open_page(browser, stack, "/", USER)
    browser.execute_script("window.__notReloaded = 'still here'")
    job_id = upload_design(stack, USER, "spm")
    # The page finds new jobs by itself (the active-jobs poll) and follows them to the end.
    row = f'tr[data-job-id="{job_id}"]'
    wait_for(browser, lambda: browser.find_elements("css selector", row), 60, "the new job's row")
    wait_for(
        browser,
        lambda: browser.find_element("css selector", row).get_attribute("data-state") == "SUCCEEDED",
        180,
        "the new job's row state",
    )
    assert browser.execute_script("return window.__notReloaded") == "still here"


def test_download_everything_as_one_zip(
    stack: RunningStack, browser: WebDriver, succeeded_job: dict[str, Any], tmp_path: Path
) -> None:
    """The ZIP route needs the Authorization header: the page fetches it and hands the browser a file."""
    open_page(browser, stack, f"/jobs/{succeeded_job['id']}", USER)
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    browser.find_element("id", "download-all").click()
    wait_for(browser, lambda: list(tmp_path.glob("*.zip")), 60, "the ZIP download")
    archive = next(tmp_path.glob("*.zip"))
    wait_for(browser, lambda: "Downloaded" in text_of(browser, "download-status"), 10, "the download status")
    with zipfile.ZipFile(archive) as zipped:
        assert "manifest.json" in zipped.namelist()
    assert succeeded_job["id"] in archive.name


def test_cancel_then_delete_from_the_job_page(stack: RunningStack, browser: WebDriver) -> None:
    """A user over their monthly budget waits QUEUED (budget_action "wait"): cancel from the page, then delete."""
    user = "canceller@example.com"
    quota = urllib.request.Request(
        f"{stack.layout.url('api')}/v1/quotas/{user}",
        data=json.dumps({"monthly_core_hours": 0.01}).encode(),  # below one run's CPUs x time limit
        headers={"Authorization": f"Bearer {stack.layout.id_token(LOCAL_ADMIN)}", "Content-Type": "application/json"},
        method="PUT",
    )
    urllib.request.urlopen(quota, timeout=30).close()
    held = upload_design(stack, user, "spm")
    wait_until_recorded(stack, user, held)
    open_page(browser, stack, f"/jobs/{held}", user)
    assert browser.find_element("id", "job-state").get_attribute("data-state") == "QUEUED"
    assert visible(browser, "cancel-button") and not visible(browser, "delete-button")
    screenshot(browser, "job-queued.png")
    browser.find_element("id", "cancel-button").click()
    browser.switch_to.alert.accept()
    state = browser.find_element("id", "job-state")
    wait_for(browser, lambda: state.get_attribute("data-state") == "CANCELLED", 30, "the cancelled state")
    wait_for(browser, lambda: visible(browser, "delete-button"), 10, "the delete button")
    browser.find_element("id", "delete-button").click()
    browser.switch_to.alert.accept()
    wait_for(browser, lambda: "deleted" in text_of(browser, "notice"), 30, "the deletion notice")
    assert not visible(browser, "job")
    assert client.api_get(stack.client(user), f"/v1/jobs/{held}") is None


def test_someone_elses_job_is_not_found(stack: RunningStack, browser: WebDriver) -> None:
    config = stack.client(ALICE)
    source = client.upload(config, f"{SECRET_NAME}.exe", b"MZ not a design")
    alices = client.wait_for_job(config, client.expected_job_id(source), 60, lambda _: None)
    open_page(browser, stack, f"/jobs/{alices['id']}", BOB)
    assert browser.execute_script("return document.body.dataset.view") == "not-found"
    assert visible(browser, "not-found") and not visible(browser, "job")
    page = browser.page_source
    assert SECRET_NAME not in page and ALICE not in page
    # Bob's own list does not show it either.
    open_page(browser, stack, "/", BOB)
    assert not browser.find_elements("css selector", f'tr[data-job-id="{alices["id"]}"]')
    assert SECRET_NAME not in browser.page_source


def test_api_text_is_shown_as_text_never_as_html(stack: RunningStack, browser: WebDriver) -> None:
    """A hostile object name reaches the page as the job's name: it must appear literally and run nothing."""
    hostile = "<img src=x onerror=__pwned=1>"  # no dot: client.upload splits the extension at the first
    config = stack.client(USER)
    source = client.upload(config, f"{hostile}.exe", b"MZ not a design")
    job = client.wait_for_job(config, client.expected_job_id(source), 60, lambda _: None)
    open_page(browser, stack, f"/jobs/{job['id']}", USER)
    assert job["state"] == "REJECTED"
    assert hostile in text_of(browser, "job-title")
    assert visible(browser, "job-alert") and text_of(browser, "job-alert-text")
    open_page(browser, stack, "/", USER)
    assert not browser.find_elements("css selector", "#jobs-body img")
    assert browser.execute_script("return window.__pwned") is None


def test_signed_out_and_expired_sign_ins_are_asked_to_sign_in(stack: RunningStack, browser: WebDriver) -> None:
    open_page(browser, stack, "/", None)
    assert visible(browser, "signin") and not visible(browser, "content")
    assert "sign in" in text_of(browser, "signin-message").lower()
    # A token link opened in the same tab changes only the fragment: the page signs in without a new load.
    browser.execute_script("window.__notReloaded = 'still here'")
    browser.get(stack.layout.url("api") + "/#token=" + stack.layout.id_token(USER))
    wait_for(browser, lambda: visible(browser, "content") and not visible(browser, "signin"), 30, "the sign-in")
    assert browser.execute_script("return window.__notReloaded") == "still here"
    # An expired token is refused by the API: the page says so and forgets it.
    browser.get("about:blank")
    browser.get(stack.layout.url("api") + "/#token=" + stack.layout.id_token(USER, lifetime_s=-600))
    wait_for(browser, lambda: "expired" in text_of(browser, "signin-message") and visible(browser, "signin"), 30)
    assert browser.execute_script("return sessionStorage.getItem('olc.idToken')") is None


def test_queue_page_needs_no_sign_in(stack: RunningStack, browser: WebDriver) -> None:
    open_page(browser, stack, "/queue", None)
    for element_id in ("count-queued", "count-submitted", "count-running"):
        assert text_of(browser, element_id).isdigit(), element_id
    assert text_of(browser, "queue-at")
    assert not browser.find_elements("css selector", "#signin")
    screenshot(browser, "queue.png")
    assert console_errors(browser) == []


def test_upload_from_the_page(stack: RunningStack, browser: WebDriver, tmp_path: Path) -> None:
    """The form asks the API for a signed URL and PUTs the file straight to the bucket, then shows the job."""
    storage = stack.layout.client_env()["STORAGE_EMULATOR_HOST"]
    preflight = urllib.request.Request(
        f"{storage}/upload-preflight",
        method="OPTIONS",
        headers={
            "Origin": stack.layout.url("api"),
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type,x-goog-meta-notify",
        },
    )
    try:
        urllib.request.urlopen(preflight, timeout=10).close()
    except urllib.error.HTTPError as exc:
        pytest.fail(
            f"the storage emulator refuses the browser's CORS preflight ({exc.code}): it needs "
            "`-cors-headers x-goog-meta-notify` (devstack/stack.py), as the production bucket needs a "
            "CORS rule"
        )
    archive = tmp_path / "spm.tar.gz"
    archive.write_bytes(design_archive(REPO_ROOT / "examples" / "spm"))
    open_page(browser, stack, "/", USER)
    browser.find_element("id", "upload-file").send_keys(str(archive))
    browser.find_element("id", "upload-button").click()
    wait_for(browser, lambda: "Your job spm" in text_of(browser, "upload-status"), 60, "the upload status")
    fresh = browser.find_element("css selector", "#jobs-body tr.fresh")
    assert "spm" in fresh.text
    assert console_errors(browser) == []
    screenshot(browser, "jobs-after-upload.png")


def test_a_sweep_job_page_shows_every_run_the_best_and_the_plot(stack: RunningStack, browser: WebDriver) -> None:
    config = stack.client(USER)
    archive = design_archive(REPO_ROOT / "examples" / "spm", OLC_SWEEP={"parameters": {"CLOCK_PERIOD": [5, 10]}})
    job_id = client.expected_job_id(client.upload(config, "spm-sweep.tar.gz", archive, reuse=False))
    job = finished(stack, USER, job_id)
    assert job["state"] == "SUCCEEDED", job["reason"]
    open_page(browser, stack, f"/jobs/{job_id}", USER)
    wait_for(browser, lambda: visible(browser, "sweep-section"), 15, "the sweep's runs")
    rows = browser.find_elements("css selector", "#sweep-body tr")
    assert [r.get_attribute("data-state") for r in rows] == ["SUCCEEDED", "SUCCEEDED"]
    assert "(best)" in rows[job["sweep"]["best_run"]].text
    wait_for(browser, lambda: visible(browser, "pareto-image") and images_loaded(browser), 15, "the Pareto plot")
    screenshot(browser, "job-sweep.png")
    assert console_errors(browser) == []


def test_a_search_job_page_shows_its_progress_front_and_best_run(stack: RunningStack, browser: WebDriver) -> None:
    config = stack.client(USER)
    search = {
        "strategy": "tpe",
        "budget": 4,
        "throttle": 2,
        "seed": 2,
        "objectives": [{"minimize": "area_um2"}, {"maximize": "wns_ns"}],
        "parameters": {"CLOCK_PERIOD": [0.5, 0.8, 1.1], "SYNTH_STRATEGY": ["AREA 0", "DELAY 2"]},
    }
    archive = design_archive(REPO_ROOT / "examples" / "spm", OLC_FLOW="librelane-osu035", OLC_SWEEP=search)
    job_id = client.expected_job_id(client.upload(config, "spm-search.tar.gz", archive, reuse=False))
    job = finished(stack, USER, job_id)
    assert job["state"] == "SUCCEEDED", job["reason"]
    open_page(browser, stack, f"/jobs/{job_id}", USER)
    wait_for(browser, lambda: visible(browser, "sweep-section"), 15, "the search's runs")
    objective = browser.find_element("id", "sweep-objective").text
    assert "TPE search of minimize area_um2, maximize wns_ns (seed 2): 4 of 4 runs, in batches of 2" in objective
    assert len(browser.find_elements("css selector", "#sweep-body tr")) == 4
    wait_for(browser, lambda: visible(browser, "pareto-image"), 15, "the Pareto plot")
    links = browser.find_elements("css selector", "#pareto-image a")
    assert links, "the plot's points link to their runs"
    screenshot(browser, "job-search.png")
    assert console_errors(browser) == []


def test_a_librelane_job_page_shows_each_step_and_what_was_not_measured(
    stack: RunningStack, browser: WebDriver
) -> None:
    config = stack.client(USER)
    archive = design_archive(REPO_ROOT / "examples" / "spm", OLC_FLOW="librelane-osu035")
    job = finished(stack, USER, client.expected_job_id(client.upload(config, "spm-ll.tar.gz", archive, reuse=False)))
    assert job["state"] == "SUCCEEDED", job
    open_page(browser, stack, f"/jobs/{job['id']}", USER)
    stages = [e.text for e in browser.find_elements("css selector", "#timeline li.event-stage .stage-name")]
    assert "step 6 of 10 · Yosys.Synthesis" in stages, stages
    assert stages.index("step 1 of 10 · Verilator.Lint") < stages.index("step 10 of 10 · OpenROAD.CheckSDCFiles")
    metrics = {
        row.get_attribute("data-metric"): row.text for row in browser.find_elements("css selector", "#metrics-body tr")
    }
    assert str(job["metrics"]["cell_count"]) in metrics["cell_count"]
    for unmeasured in ("drc_errors", "lvs_match", "power_total_w"):
        assert "not measured" in metrics[unmeasured], (unmeasured, metrics[unmeasured])
    screenshot(browser, "job-librelane.png")
    assert console_errors(browser) == []


def test_compare_selected_runs_of_a_sweep(stack: RunningStack, browser: WebDriver, tmp_path: Path) -> None:
    """Tick two runs on a sweep's page, "Compare selected runs", and read them side by side (compare.png)."""
    config = stack.client(USER)
    archive = design_archive(
        REPO_ROOT / "examples" / "spm", OLC_FLOW="yosys-osu035", OLC_SWEEP={"parameters": {"CLOCK_PERIOD": [10, 1]}}
    )
    job_id = client.expected_job_id(client.upload(config, "spm-compare.tar.gz", archive, reuse=False))
    job = finished(stack, USER, job_id)
    assert job["state"] == "SUCCEEDED", job["reason"]
    open_page(browser, stack, f"/jobs/{job_id}", USER)
    wait_for(browser, lambda: visible(browser, "sweep-section"), 15, "the sweep's runs")
    button = browser.find_element("id", "compare-runs")
    assert visible(browser, "compare-runs-bar") and not button.is_enabled()
    for box in browser.find_elements("css selector", "#sweep-body input.run-pick"):
        box.click()
    wait_for(browser, button.is_enabled, 5, "the compare button")
    assert "2 runs ticked" in text_of(browser, "compare-runs-hint")
    button.click()
    wait_for(browser, lambda: "/compare?" in browser.current_url, 15, "the compare page")
    wait_for(browser, lambda: browser.execute_script("return document.body.dataset.view") == "compare", 30)
    assert browser.current_url.endswith(f"/compare?jobs={job_id}:0,{job_id}:1")
    heads = [th.get_attribute("data-ref") for th in browser.find_elements("css selector", "#compare-head th[data-ref]")]
    assert heads == [f"{job_id}:0", f"{job_id}:1"]
    assert text_of(browser, "compare-title") == "spm: 2 runs side by side"
    setting = browser.find_element("css selector", '#compare-settings tr[data-setting="CLOCK_PERIOD"]').text
    assert "10" in setting and "1" in setting
    wns = browser.find_elements("css selector", '#compare-body tr[data-metric="wns_ns"] td')
    assert [cell.get_attribute("data-verdict") for cell in wns] == ["reference", "worse"]
    assert "worse" in wns[1].text, "the verdict is said in words, not only by colour"
    lvs = browser.find_elements("css selector", '#compare-body tr[data-metric="lvs_match"] td')
    assert [cell.text for cell in lvs] == ["not measured", "not measured"]
    screenshot(browser, "compare.png")
    # The CSV export: the page fetches it with the sign-in and hands the browser a file.
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    browser.find_element("id", "export-csv").click()
    wait_for(browser, lambda: list(tmp_path.glob("*.csv")), 30, "the CSV download")
    exported = next(tmp_path.glob("*.csv")).read_text()
    assert exported.startswith(f"kind,name,better,{job_id}:0,{job_id}:1,")
    assert console_errors(browser) == []
    # Someone else opening the same link finds nothing to compare, and nothing of the runs.
    open_page(browser, stack, f"/compare?jobs={job_id}:0,{job_id}:1", BOB)
    assert browser.execute_script("return document.body.dataset.view") == "not-found"
    assert visible(browser, "not-found") and not visible(browser, "content")
    assert USER not in browser.page_source
