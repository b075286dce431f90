"""Comparing runs on the real stack (issue 15, part 4): two spm jobs on the fast flow that differ only in
CLOCK_PERIOD, compared through the API (JSON and CSV) and with `olc compare`; another user's comparison of them is
answered exactly like one of jobs that do not exist.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from devstack.load import design_archive
from devstack.stack import REPO_ROOT
from tests.e2e.test_api import Api, upload_through_api, wait_end

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack

USER = f"compare-{uuid.uuid4().hex[:6]}@example.com"
OTHER = f"compare-other-{uuid.uuid4().hex[:6]}@example.com"
OLC = str(REPO_ROOT / ".venv" / "bin" / "olc")
FLOW = "yosys-osu035"  # synthesis and timing only: under a second a run
MISSING = "j" + "0" * 19


def upload(api: Api, data: bytes, name: str) -> str:
    """Asking for a run (no reuse of an earlier identical one)."""
    return upload_through_api(api, name, data, reuse=False)


@pytest.fixture(scope="module")
def api(stack: RunningStack) -> Api:
    return Api(stack, USER)


@pytest.fixture(scope="module")
def two_jobs(api: Api) -> tuple[dict[str, Any], dict[str, Any]]:
    """spm at 10 ns (meets timing) and at 1 ns (violates it): the same netlist, different slack."""
    ids = [
        upload(
            api, design_archive(REPO_ROOT / "examples" / "spm", OLC_FLOW=FLOW, CLOCK_PERIOD=period), f"spm{period}.tgz"
        )
        for period in (10, 1)
    ]
    relaxed, tight = (wait_end(api, job_id, timeout_s=240) for job_id in ids)
    assert relaxed["state"] == tight["state"] == "SUCCEEDED", (relaxed["reason"], tight["reason"])
    return relaxed, tight


def rows_of(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["metric"]: row for row in data["rows"]}


def test_two_jobs_compare_through_the_api(api: Api, two_jobs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    relaxed, tight = two_jobs
    status, data = api.json("GET", f"/v1/compare?jobs={relaxed['id']},{tight['id']}")
    assert status == 200, data
    assert data["reference"] == relaxed["id"]
    assert [(e["ref"], e["state"], e["design_name"], e["flow"]) for e in data["entries"]] == [
        (relaxed["id"], "SUCCEEDED", "spm", FLOW),
        (tight["id"], "SUCCEEDED", "spm", FLOW),
    ]
    assert data["entries"][1]["page"].endswith(f"/jobs/{tight['id']}")
    assert {"name": "CLOCK_PERIOD", "values": [10, 1]} in data["settings"]
    rows = rows_of(data)
    # The same netlist: the same area and cells, said to be the same.
    assert rows["area_um2"]["better"] == "lower"
    assert rows["area_um2"]["cells"][0] == {
        "value": relaxed["metrics"]["area_um2"],
        "verdict": "reference",
        "difference": None,
        "percent": None,
    }
    assert rows["area_um2"]["cells"][1]["verdict"] == "equal" and rows["area_um2"]["cells"][1]["difference"] == 0
    # At 1 ns the slack is negative: worse, by exactly the difference of the two jobs' figures.
    wns = rows["wns_ns"]["cells"][1]
    assert rows["wns_ns"]["better"] == "higher"
    assert wns["verdict"] == "worse" and wns["value"] == tight["metrics"]["wns_ns"] < 0
    assert wns["difference"] == pytest.approx(tight["metrics"]["wns_ns"] - relaxed["metrics"]["wns_ns"])
    period = rows["clock_period_ns"]["cells"][1]
    assert (period["verdict"], period["difference"], period["percent"]) == ("different", -9.0, -90.0)
    # A synthesis-only flow checks no DRC or LVS: not measured, never 0 or "match".
    for unmeasured in ("drc_errors", "lvs_match"):
        assert [c["verdict"] for c in rows[unmeasured]["cells"]] == ["not_measured", "not_measured"]
        assert [c["value"] for c in rows[unmeasured]["cells"]] == [None, None]


def test_the_comparison_exports_as_csv(api: Api, two_jobs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    relaxed, tight = two_jobs
    status, headers, body = api.call("GET", f"/v1/compare?jobs={relaxed['id']},{tight['id']}&format=csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert f'filename="compare-{relaxed["id"]}-2.csv"' in headers["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(body.decode())))
    assert lines[0][:5] == ["kind", "name", "better", relaxed["id"], tight["id"]]
    by_name = {line[1]: line for line in lines[1:]}
    assert by_name["CLOCK_PERIOD"][3:5] == ["10", "1"]
    assert by_name["wns_ns"][2] == "higher" and by_name["wns_ns"][-1] == "worse"
    assert by_name["lvs_match"][3:5] == ["not measured", "not measured"]
    status, headers, body = api.call("GET", f"/v1/compare?jobs={relaxed['id']},{tight['id']}&format=json")
    assert status == 200 and "attachment" in headers["Content-Disposition"]
    assert json.loads(body)["reference"] == relaxed["id"]


def test_what_cannot_be_compared_is_explained(api: Api, two_jobs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    relaxed, tight = two_jobs
    for path, status, code in [
        (f"/v1/compare?jobs={relaxed['id']}", 400, "invalid_jobs"),
        (f"/v1/compare?jobs={relaxed['id']},{relaxed['id']}", 400, "invalid_jobs"),
        (f"/v1/compare?jobs={relaxed['id']},{tight['id']}:2", 404, "no_run"),
        (f"/v1/compare?jobs={relaxed['id']},{MISSING}", 404, "not_found"),
        (f"/v1/compare?jobs={relaxed['id']},{tight['id']}&format=pdf", 400, "invalid_parameter"),
    ]:
        got, body = api.json("GET", path)
        assert (got, body["error"]["code"]) == (status, code), (path, body)
        assert body["error"]["message"]


def test_another_user_gets_exactly_the_answer_for_missing_jobs(
    stack: RunningStack, two_jobs: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    relaxed, tight = two_jobs
    other = Api(stack, OTHER)
    status, _headers, theirs = other.call("GET", f"/v1/compare?jobs={relaxed['id']},{tight['id']}")
    missing_status, _headers, missing = other.call("GET", f"/v1/compare?jobs={MISSING},{tight['id']}")
    assert status == missing_status == 404
    assert json.loads(theirs)["error"]["code"] == "not_found"
    assert theirs.decode().replace(relaxed["id"], MISSING) == missing.decode()
    assert USER not in theirs.decode() and "spm" not in theirs.decode()
    # Even a run of it, which only its owner may learn exists or not.
    status, body = other.json("GET", f"/v1/compare?jobs={tight['id']}:0,{relaxed['id']}")
    assert (status, body["error"]["code"]) == (404, "not_found")


# ------------------------------------------------------------------------------------------------ olc compare
def olc(stack: RunningStack, *args: str, user: str = USER) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **stack.layout.client_env(), "OLC_USER": user}
    return subprocess.run([OLC, *args], capture_output=True, text=True, env=env, timeout=120, check=False)


def test_olc_compare_prints_the_table_json_and_csv(
    stack: RunningStack, api: Api, two_jobs: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    relaxed, tight = two_jobs
    text = olc(stack, "compare", relaxed["id"], tight["id"])
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith(f"2 runs side by side; the reference is {relaxed['id']}")
    by_name = {line.split()[0]: line for line in lines[2:]}
    assert by_name["CLOCK_PERIOD"].split() == ["CLOCK_PERIOD", "setting", "10", "1"]
    assert by_name["wns_ns"].rstrip().endswith("worse")
    assert by_name["area_um2"].rstrip().endswith("same")
    assert "not measured" in by_name["lvs_match"]
    as_json = olc(stack, "compare", relaxed["id"], tight["id"], "--json")
    assert as_json.returncode == 0, as_json.stderr
    _status, served = api.json("GET", f"/v1/compare?jobs={relaxed['id']},{tight['id']}")
    assert json.loads(as_json.stdout) == served
    as_csv = olc(stack, "compare", relaxed["id"], tight["id"], "--csv")
    assert as_csv.returncode == 0, as_csv.stderr
    _status, _headers, served_csv = api.call("GET", f"/v1/compare?jobs={relaxed['id']},{tight['id']}&format=csv")
    assert as_csv.stdout == served_csv.decode()


def test_olc_compare_says_what_is_wrong(stack: RunningStack, two_jobs: tuple[dict[str, Any], dict[str, Any]]) -> None:
    relaxed, tight = two_jobs
    alone = olc(stack, "compare", relaxed["id"])
    assert alone.returncode == 2 and "compare 2 to 10 jobs or runs, not 1" in alone.stderr
    someone_else = olc(stack, "compare", relaxed["id"], tight["id"], user=OTHER)
    assert someone_else.returncode == 2 and f"you have no job {relaxed['id']}" in someone_else.stderr
    no_run = olc(stack, "compare", relaxed["id"], f"{tight['id']}:3")
    assert no_run.returncode == 2 and "is not a sweep" in no_run.stderr
