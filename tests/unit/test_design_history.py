"""A design's history: the job list filtered by design (the repository port as the fake implements it, the use case's
paging, the API's parameter check) and `olc history`, which prints it."""

from __future__ import annotations

import argparse
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import flask
import pytest
from fakes import FakeJobs

from olc_cli import client, history
from olc_cli.client import ClientError
from shared import bootstrap
from shared.domain.job import Job, JobState, SourceObject
from shared.domain.metrics import KEY_METRICS, Metrics
from shared.services.queries import list_jobs
from shared.web import jobs_api
from shared.web.routing import ApiError, Call

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ADA = "ada@example.com"
BOB = "bob@example.com"
COMMIT = "1a2b3c4d5e6f" + "0" * 28


def job(index: int, design: str | None, owner: str = ADA, state: JobState = JobState.SUCCEEDED, **more: Any) -> Job:
    return Job(
        id=f"j{index:019x}",
        owner=owner,
        source=SourceObject("designs", f"{owner}/{design}-{index}.tar.gz", index),
        state=state,
        created_at=T0 + timedelta(minutes=index),
        design_name=design,
        **more,
    )


@pytest.fixture
def repository() -> FakeJobs:
    return FakeJobs(
        job(1, "spm"),
        job(2, "counter"),
        job(3, "spm", state=JobState.FAILED),
        job(4, "spm", owner=BOB),  # someone else's spm
        job(5, None, state=JobState.REJECTED),  # rejected before its design was known
        job(6, "spm", state=JobState.RUNNING),
        job(7, "spm_top"),  # a longer name is another design, not a prefix match
    )


# ------------------------------------------------------------------------------------------- the fake's filter
def test_the_list_filtered_by_design_holds_only_the_owners_runs_of_that_design(repository: FakeJobs) -> None:
    found = repository.list_for_owner(ADA, design="spm")
    assert [j.id for j in found] == [job(6, "spm").id, job(3, "spm").id, job(1, "spm").id]  # newest first
    assert [j.id for j in repository.list_for_owner(BOB, design="spm")] == [job(4, "spm").id]
    assert repository.list_for_owner(ADA, design="nothing") == []
    assert len(repository.list_for_owner(ADA)) == 6, "no design: every job of the owner, as before"


def test_design_and_states_filter_together(repository: FakeJobs) -> None:
    found = repository.list_for_owner(ADA, states=(JobState.SUCCEEDED, JobState.FAILED), design="spm")
    assert [j.id for j in found] == [job(3, "spm").id, job(1, "spm").id]


def test_a_designs_history_pages_with_the_cursor(repository: FakeJobs) -> None:
    first = list_jobs(repository, ADA, limit=2, design="spm")
    assert [j.id for j in first.jobs] == [job(6, "spm").id, job(3, "spm").id]
    assert first.next_cursor is not None
    second = list_jobs(repository, ADA, limit=2, cursor=first.next_cursor, design="spm")
    assert [j.id for j in second.jobs] == [job(1, "spm").id]
    assert second.next_cursor is None


# ------------------------------------------------------------------------------------------------- the API
def api_list(monkeypatch: pytest.MonkeyPatch, repository: FakeJobs, args: dict[str, str]) -> list[str]:
    monkeypatch.setattr(bootstrap, "jobs", lambda: repository)
    monkeypatch.setattr(bootstrap, "runners", dict)  # no flow plans: the jobs here name no flow
    call = Call(ADA, {}, args, None, T0, "https://olc.example.org")
    with flask.Flask(__name__).app_context():
        reply = jobs_api.list_my_jobs(call)
    return [j["id"] for j in reply.get_json()["jobs"]]


def test_the_api_lists_a_designs_runs(monkeypatch: pytest.MonkeyPatch, repository: FakeJobs) -> None:
    assert api_list(monkeypatch, repository, {"design": "spm"}) == [job(i, "spm").id for i in (6, 3, 1)]
    assert api_list(monkeypatch, repository, {"design": "spm", "state": "RUNNING"}) == [job(6, "spm").id]
    assert len(api_list(monkeypatch, repository, {})) == 6


@pytest.mark.parametrize("name", ["", "spm top", "1spm", "spm/../x", "a" * 65, "spm;drop", "sp\u00e9m", "spm\n"])
def test_the_api_refuses_what_cannot_be_a_design_name(
    monkeypatch: pytest.MonkeyPatch, repository: FakeJobs, name: str
) -> None:
    with pytest.raises(ApiError) as refused:
        api_list(monkeypatch, repository, {"design": name})
    assert (refused.value.status, refused.value.code) == (400, "invalid_parameter")
    assert "design" in refused.value.message


# --------------------------------------------------------------------------------------------- olc history
def view(index: int, state: str = "SUCCEEDED", **more: Any) -> dict[str, Any]:
    return {
        "id": f"j{index:019x}",
        "state": state,
        "design_name": "spm",
        "created_at": (T0 + timedelta(minutes=index)).isoformat().replace("+00:00", "Z"),
        "upload": {"name": f"{ADA}/spm-{index}.tar.gz", "size": 1000},
        "git": None,
        "metrics": None,
        **more,
    }


def test_the_history_table_shows_source_and_key_figures() -> None:
    git = {"url": "https://git.example.org/examples.git", "ref": "main", "path": "spm", "commit": COMMIT}
    measured = Metrics(cell_count=377, area_um2=77920.0, wns_ns=-0.125, drc_errors=0, lvs_match=True).to_dict()
    jobs = [
        view(3, git=git, metrics=measured),
        view(2, "FETCHING", git={**git, "ref": "v1.2", "commit": None}),
        view(1, reused_from="j" + "9" * 19, metrics=measured),
    ]
    out = io.StringIO()
    history.history_table("spm", jobs, out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "runs of spm by commit, newest first"
    heading = lines[1].split()
    assert heading[:4] == ["JOB", "CREATED", "STATE", "SOURCE"] and len(heading) == 4 + len(KEY_METRICS)
    first = lines[2]
    assert first.startswith(jobs[0]["id"]) and "SUCCEEDED" in first and "main @ 1a2b3c4d5e6f" in first
    assert COMMIT not in first, "the short commit (12 hex digits) only"
    assert " 377 " in first and " 77920 " in first and " -0.125 " in first and " match" in first
    assert "not measured" in first, "a key figure the run did not measure says so, never 0"
    assert "v1.2" in lines[3] and "FETCHING" in lines[3] and lines[3].rstrip().endswith("-")  # no figures yet
    assert "spm-1.tar.gz" in lines[4], "an upload shows its file's name"
    assert lines[5] == f"{jobs[2]['id']}: same inputs as job {'j' + '9' * 19}: results reused"
    # The columns line up: every figure starts where its heading does.
    start = lines[1].index("CELLS")
    assert lines[2][start:].startswith("377")


def test_no_runs_says_so() -> None:
    out = io.StringIO()
    history.history_table("spm", [], out)
    assert out.getvalue() == "no runs of spm yet\n"


def test_olc_history_pages_through_the_api(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("OLC_API_URL", "https://olc.example.org")
    monkeypatch.setenv("DESIGNS_BUCKET", "designs")
    asked: list[str] = []

    def api_get(_config: object, path: str) -> dict[str, Any]:
        asked.append(path)
        if "cursor=" not in path:
            return {"jobs": [view(5), view(4)], "next_cursor": "next"}
        return {"jobs": [view(3)], "next_cursor": "later"}

    monkeypatch.setattr(client, "api_get", api_get)
    args = argparse.Namespace(user=ADA, design="spm", limit=3, json=False)
    assert history.history(args) == 0
    assert asked == ["/v1/jobs?design=spm&limit=3", "/v1/jobs?design=spm&limit=1&cursor=next"]
    printed = capsys.readouterr().out
    assert printed.startswith("runs of spm by commit") and printed.count("SUCCEEDED") == 3
    with pytest.raises(ClientError, match="not a design name"):
        history.history(argparse.Namespace(user=ADA, design="spm top", limit=3, json=False))
