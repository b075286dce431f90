"""GET /v1/jobs/{id}?include=log,artifacts: the job page's one request. Each included part must be exactly what its
own route answers (/logs, /artifacts) for the same job, null where that route has nothing, and the job must be
checked first like on every job route: someone else's job answers like a missing one, whatever is asked to include.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import flask
import pytest
from fakes import FakeJobs

from shared import bootstrap
from shared.domain.job import Job, JobState, SourceObject, StateChange
from shared.ports import StoredObject
from shared.services.queries import NotFound
from shared.web import jobs_api
from shared.web.routing import ApiError, Call

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
ADA = "ada@example.com"
BOB = "bob@example.com"
BUCKET = "olc-results"


@dataclass
class FakeResults:
    """ResultsStore over a dict {name: bytes} in one bucket; signed links say what they sign."""

    objects: dict[str, bytes] = field(default_factory=dict)
    listings: int = 0

    def list_objects(self, bucket: str, prefix: str, limit: int = 10_000) -> list[StoredObject]:
        assert bucket == BUCKET
        self.listings += 1
        names = sorted(n for n in self.objects if n.startswith(prefix))[:limit]
        return [StoredObject(n, len(self.objects[n]), NOW) for n in names]

    def signed_url(self, bucket: str, name: str, *, method: str = "GET", expires_s: int = 900, **_: Any) -> str:
        return f"https://storage.example.org/{bucket}/{name}?signed={method}-{expires_s}"

    def iter_bytes(self, bucket: str, name: str, chunk_bytes: int = 1 << 20) -> Iterator[bytes]:
        data = self.objects[name]
        for start in range(0, len(data), 7):  # small chunks: lines cross chunk borders
            yield data[start : start + 7]


def a_job(index: int, state: JobState, owner: str = ADA, results: bool = True, **more: Any) -> Job:
    job_id = f"j{index:019x}"
    created = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    return Job(
        id=job_id,
        owner=owner,
        source=SourceObject("olc-designs", f"{owner}/spm-{index}.tar.gz", index, 2048),
        state=state,
        created_at=created,
        history=(StateChange(state, created),),
        design_name="spm",
        results_prefix=f"{owner}/{job_id}/" if results else None,
        **more,
    )


FINISHED = a_job(1, JobState.SUCCEEDED)
RUNNING = a_job(2, JobState.RUNNING, log_tail="step 1\nstep 2\nstep 3")
QUEUED = a_job(3, JobState.QUEUED, results=False)
NO_LOG = a_job(4, JobState.FAILED)  # ended with files, but none of them a log
BOBS = a_job(5, JobState.SUCCEEDED, owner=BOB)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> FakeResults:
    results = FakeResults()
    prefix = FINISHED.results_prefix
    results.objects |= {
        f"{prefix}files/logs/1-prepare.log": b"old log\n",
        f"{prefix}files/logs/2-synthesis.log": b"\n".join(f"line {i}".encode() for i in range(300)) + b"\n",
        f"{prefix}files/render/layout.png": b"\x89PNG" + b"0" * 100,
        f"{prefix}manifest.json": b"{}",
        f"{NO_LOG.results_prefix}files/synthesis/spm.v": b"module spm; endmodule\n",
        f"{BOBS.results_prefix}files/logs/1-prepare.log": b"bob's secret log\n",
    }
    jobs = FakeJobs(FINISHED, RUNNING, QUEUED, NO_LOG, BOBS)
    monkeypatch.setattr(bootstrap, "jobs", lambda: jobs)
    monkeypatch.setattr(bootstrap, "results_store", lambda: results)
    monkeypatch.setattr(bootstrap, "runners", dict)  # no flow plans needed here
    monkeypatch.setattr(bootstrap, "quotas", lambda: SimpleNamespace(is_admin=lambda user: user == "root@example.com"))
    monkeypatch.setattr(jobs_api, "settings", lambda: SimpleNamespace(results_bucket=BUCKET))
    return results


def answer(handler: Any, job: Job, args: dict[str, str] | None = None, user: str = ADA) -> dict[str, Any]:
    call = Call(user, {"job_id": job.id}, args or {}, None, NOW, "https://olc.example.org")
    with flask.Flask(__name__).app_context():
        reply = handler(call)
    assert reply.status_code == 200
    return reply.get_json()


def with_parts(job: Job, include: str = "log,artifacts", user: str = ADA, **args: str) -> dict[str, Any]:
    return answer(jobs_api.get_one_job, job, {"include": include, **args}, user)


def test_each_part_is_what_its_own_route_answers(store: FakeResults) -> None:
    got = with_parts(FINISHED, lines="200")
    plain = answer(jobs_api.get_one_job, FINISHED)
    assert {k: v for k, v in got.items() if k not in ("log", "artifacts")} == plain, "the job itself is unchanged"
    assert got["log"] == answer(jobs_api.job_log_tail, FINISHED, {"lines": "200"})
    assert got["log"]["lines"][0] == "line 100" and got["log"]["lines"][-1] == "line 299"
    assert got["artifacts"] == answer(jobs_api.list_job_artifacts, FINISHED)["artifacts"]
    assert [a["path"] for a in got["artifacts"]] == [
        "files/logs/1-prepare.log",
        "files/logs/2-synthesis.log",
        "files/render/layout.png",
        "manifest.json",
    ]
    assert all(
        a["url"].endswith("?signed=GET-900") and a["expires_at"] == "2026-11-02T09:45:00Z" for a in got["artifacts"]
    )


def test_lines_default_as_on_the_log_route(store: FakeResults) -> None:
    assert len(with_parts(FINISHED, "log")["log"]["lines"]) == 100
    assert "artifacts" not in with_parts(FINISHED, "log"), "only what was asked for"
    assert "log" not in with_parts(FINISHED, "artifacts")


def test_without_include_the_answer_is_the_job_alone_and_reads_no_results(store: FakeResults) -> None:
    got = answer(jobs_api.get_one_job, FINISHED, {"lines": "nonsense"})  # lines means nothing without include=log
    assert "log" not in got and "artifacts" not in got
    assert store.listings == 0


def test_a_running_job_has_its_live_log_and_no_files_yet(store: FakeResults) -> None:
    got = with_parts(RUNNING)
    assert got["log"] == {
        "job_id": RUNNING.id,
        "state": "RUNNING",
        "source": "live",
        "lines": ["step 1", "step 2", "step 3"],
    }
    assert got["artifacts"] is None, "files are listed once the job has ended (links.artifacts)"


def test_a_job_without_results_has_neither_and_costs_no_listing(store: FakeResults) -> None:
    got = with_parts(QUEUED)
    assert got["log"] is None and got["artifacts"] is None
    assert store.listings == 0


def test_a_run_that_left_no_log_has_a_null_log_where_its_route_answers_404(store: FakeResults) -> None:
    got = with_parts(NO_LOG)
    assert got["log"] is None
    assert [a["path"] for a in got["artifacts"]] == ["files/synthesis/spm.v"]
    with pytest.raises(jobs_api.results.NoResults):
        answer(jobs_api.job_log_tail, NO_LOG)


def test_someone_elses_job_answers_like_a_missing_one_whatever_is_included(store: FakeResults) -> None:
    for include in ("log,artifacts", "log", "artifacts"):
        with pytest.raises(NotFound):
            with_parts(BOBS, include)
    missing = a_job(99, JobState.SUCCEEDED)
    with pytest.raises(NotFound):
        with_parts(missing)
    assert store.listings == 0, "nothing of bob's results was even listed"
    # Admins see every job, as on the other job routes.
    assert with_parts(BOBS, user="root@example.com")["log"]["lines"] == ["bob's secret log"]


@pytest.mark.parametrize(
    "args",
    [
        {"include": "log,secrets"},
        {"include": "metrics"},
        {"include": "log", "lines": "0"},
        {"include": "log", "lines": "501"},
    ],
)
def test_what_the_route_does_not_take_is_refused(store: FakeResults, args: dict[str, str]) -> None:
    with pytest.raises(ApiError) as refused:
        answer(jobs_api.get_one_job, FINISHED, args)
    assert (refused.value.status, refused.value.code) == (400, "invalid_parameter")
    assert store.listings == 0
