"""Every API route on the real stack, with its error cases, and a property-based run against the served document.

Jobs are created the way a browser would: POST /v1/uploads for a signed URL, then PUT the archive there.
"""

from __future__ import annotations

import io
import json
import subprocess
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from devstack.load import design_archive
from devstack.stack import DESIGNS_BUCKET, REPO_ROOT, RESULTS_BUCKET
from shared.domain.job import SourceObject, new_job
from shared.domain.job_codec import job_to_dict
from shared.domain.upload import job_id_for

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack

USER = f"api-{uuid.uuid4().hex[:6]}@example.com"


class Api:
    def __init__(self, stack: RunningStack, user: str) -> None:
        self.user = user
        self.base = stack.layout.url("api")
        self.token = stack.layout.id_token(user)

    def call(
        self, method: str, path: str, body: Any = None, raw: bytes | None = None, follow: bool = True
    ) -> tuple[int, dict[str, str], bytes]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        request = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        opener = urllib.request.build_opener() if follow else urllib.request.build_opener(_KeepRedirects)
        try:
            with opener.open(request, timeout=60) as reply:
                return reply.status, dict(reply.headers), reply.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def json(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        status, _headers, data = self.call(method, path, body)
        return status, json.loads(data)


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


def upload_through_api(api: Api, name: str, data: bytes, *, reuse: bool = True) -> str:
    """Through a signed URL, as a browser does (`reuse`: False asks for a run even if an identical one succeeded);
    returns the job id."""
    status, ticket = api.json("POST", "/v1/uploads", {"file_name": name, "notify": False, "reuse": reuse})
    assert status == 201, ticket
    assert ticket["object_name"].startswith(f"{api.user}/")
    assert ticket["headers"]["x-goog-meta-cache"] == ("true" if reuse else "false")
    put = urllib.request.Request(ticket["upload_url"], data=data, headers=ticket["headers"], method="PUT")
    with urllib.request.urlopen(put, timeout=60) as reply:
        generation = reply.headers.get("x-goog-generation") or json.loads(reply.read())["generation"]
    return job_id_for(SourceObject(DESIGNS_BUCKET, ticket["object_name"], int(generation), len(data)))


def wait_end(api: Api, job_id: str, timeout_s: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status, job = api.json("GET", f"/v1/jobs/{job_id}")
        if status == 200 and job["state"] in ("SUCCEEDED", "FAILED", "REJECTED", "CANCELLED", "TIMEOUT"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not end")


@pytest.fixture(scope="module")
def api(stack: RunningStack) -> Api:
    return Api(stack, USER)


@pytest.fixture(scope="module")
def finished(api: Api) -> dict[str, Any]:
    """One design that succeeds and one that fails, both uploaded through signed URLs."""
    good = upload_through_api(api, "spm.tar.gz", design_archive(REPO_ROOT / "examples" / "spm"))
    bad = upload_through_api(api, "broken.tar.gz", design_archive(REPO_ROOT / "examples" / "broken-synth"))
    return {"good": wait_end(api, good), "bad": wait_end(api, bad)}


def test_a_signed_upload_becomes_a_job_that_runs(finished: dict[str, Any]) -> None:
    good, bad = finished["good"], finished["bad"]
    assert good["state"] == "SUCCEEDED", good
    assert bad["state"] == "FAILED" and bad["error_excerpt"], bad
    assert good["notifications_enabled"] is False  # the signed metadata reached ingest


def test_a_job_shows_its_timeline_progress_and_links(finished: dict[str, Any]) -> None:
    job = finished["good"]
    kinds = [(e["kind"], e["name"]) for e in job["timeline"]]
    assert kinds[0] == ("state", "QUEUED") and kinds[-1] == ("state", "SUCCEEDED")
    stages = [name for kind, name in kinds if kind == "stage"]
    assert {"synthesis", "placement", "routing"} <= set(stages)
    assert job["progress"]["stages_done"] == job["progress"]["stages_total"] > 5
    assert {"self", "page", "artifacts", "download", "logs", "metrics", "layout", "thumbnail"} <= set(job["links"])


def test_listing_filters_by_state_and_pages_with_a_cursor(api: Api, finished: dict[str, Any]) -> None:
    ids = {finished["good"]["id"], finished["bad"]["id"]}
    status, first = api.json("GET", "/v1/jobs?limit=1")
    assert status == 200 and len(first["jobs"]) == 1 and first["next_cursor"]
    status, second = api.json("GET", f"/v1/jobs?limit=1&cursor={first['next_cursor']}")
    assert status == 200 and len(second["jobs"]) == 1
    assert {first["jobs"][0]["id"], second["jobs"][0]["id"]} == ids  # newest first, no overlap
    status, failed = api.json("GET", "/v1/jobs?state=FAILED")
    assert [j["id"] for j in failed["jobs"]] == [finished["bad"]["id"]] and failed["next_cursor"] is None
    status, both = api.json("GET", "/v1/jobs?state=failed,succeeded&limit=10")
    assert {j["id"] for j in both["jobs"]} == ids


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/v1/jobs?state=DONE", "invalid_parameter"),
        ("/v1/jobs?limit=0", "invalid_parameter"),
        ("/v1/jobs?limit=abc", "invalid_parameter"),
        ("/v1/jobs?cursor=not-a-cursor", "invalid_cursor"),
    ],
)
def test_bad_list_parameters_are_explained(api: Api, path: str, code: str) -> None:
    status, body = api.json("GET", path)
    assert (status, body["error"]["code"]) == (400, code) and body["error"]["message"]


def test_artifacts_have_working_signed_links(api: Api, finished: dict[str, Any]) -> None:
    job_id = finished["good"]["id"]
    status, listing = api.json("GET", f"/v1/jobs/{job_id}/artifacts")
    assert status == 200
    paths = {a["path"] for a in listing["artifacts"]}
    assert "manifest.json" in paths and any(p.endswith(".gds") for p in paths)
    gds = next(a for a in listing["artifacts"] if a["path"].endswith(".gds"))
    with urllib.request.urlopen(gds["url"], timeout=30) as reply:  # no Authorization: the link is the permission
        assert len(reply.read()) == gds["size"] > 10_000


def test_the_whole_run_downloads_as_one_zip(api: Api, finished: dict[str, Any]) -> None:
    job_id = finished["good"]["id"]
    status, headers, data = api.call("GET", f"/v1/jobs/{job_id}/download")
    assert status == 200 and headers["Content-Type"] == "application/zip"
    assert f"spm-{job_id}.zip" in headers["Content-Disposition"]
    names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    _status, listing = api.json("GET", f"/v1/jobs/{job_id}/artifacts")
    assert names == {a["path"] for a in listing["artifacts"]}
    status, headers, _ = api.call("GET", f"/v1/jobs/{job_id}/download?path=manifest.json", follow=False)
    assert status == 302 and "manifest.json" in headers["Location"]
    status, _h, body = api.call("GET", f"/v1/jobs/{job_id}/download?path=../../other/x")
    assert status == 404 and json.loads(body)["error"]["code"] == "no_results"


def test_logs_metrics_and_layout(api: Api, finished: dict[str, Any]) -> None:
    job_id = finished["good"]["id"]
    status, logs = api.json("GET", f"/v1/jobs/{job_id}/logs?lines=5")
    assert status == 200 and 0 < len(logs["lines"]) <= 5 and logs["source"].startswith("files/logs/")
    status, metrics = api.json("GET", f"/v1/jobs/{job_id}/metrics")
    assert status == 200 and metrics["metrics"] == finished["good"]["metrics"] and metrics["metrics"]["cell_count"]
    status, headers, csv_text = api.call("GET", f"/v1/jobs/{job_id}/metrics?format=csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert csv_text.decode().splitlines()[0] == "metric,value"
    for size in ("", "?size=thumb"):
        status, headers, _ = api.call("GET", f"/v1/jobs/{job_id}/layout.png{size}", follow=False)
        assert status == 302
        with urllib.request.urlopen(headers["Location"], timeout=30) as reply:
            assert reply.read(8) == b"\x89PNG\r\n\x1a\n"
    status, body = api.json("GET", f"/v1/jobs/{finished['bad']['id']}/layout.png")
    assert (status, body["error"]["code"]) == (404, "no_layout")


def test_cancel_of_a_finished_job_says_so(api: Api, finished: dict[str, Any]) -> None:
    status, reply = api.json("POST", f"/v1/jobs/{finished['bad']['id']}/cancel")
    assert status == 200 and reply["state"] == "FAILED" and "already ended" in reply["message"]


def test_delete_needs_confirmation_refuses_active_jobs_and_keeps_the_upload(
    stack: RunningStack, api: Api, finished: dict[str, Any]
) -> None:
    bad = finished["bad"]
    status, body = api.json("DELETE", f"/v1/jobs/{bad['id']}")
    assert (status, body["error"]["code"]) == (400, "confirmation_required")
    active = new_job(
        job_id="j" + uuid.uuid4().hex[:19],
        owner=USER,
        source=SourceObject(DESIGNS_BUCKET, f"{USER}/held.tar.gz", 1),
        at=datetime.now(UTC),
    )
    stack.firestore().collection("jobs").document(active.id).set(job_to_dict(active))  # a QUEUED job
    status, body = api.json("DELETE", f"/v1/jobs/{active.id}?confirm={active.id}")
    assert (status, body["error"]["code"]) == (409, "job_active")
    stack.firestore().collection("jobs").document(active.id).delete()

    status, body = api.json("DELETE", f"/v1/jobs/{bad['id']}?confirm={bad['id']}")
    assert status == 200 and body["deleted"] and body["objects_removed"] > 0
    assert api.json("GET", f"/v1/jobs/{bad['id']}")[0] == 404
    assert not list(stack.storage().list_blobs(RESULTS_BUCKET, prefix=f"{USER}/{bad['id']}/"))
    assert [b.name for b in stack.storage().list_blobs(DESIGNS_BUCKET, prefix=f"{USER}/broken")]  # upload kept


@pytest.mark.parametrize(
    ("method", "path", "raw", "status", "code"),
    [
        ("GET", "/v1/nothing", None, 404, "no_route"),
        ("GET", "/v1/jobs/not-a-job-id", None, 404, "no_route"),
        ("PATCH", "/v1/jobs", None, 405, "method_not_allowed"),
        ("POST", "/v1/uploads", b"{not json", 400, "invalid_json"),
        ("POST", "/v1/uploads", b'{"file_name": "design.exe"}', 400, "invalid_file_name"),
        ("POST", "/v1/uploads", b'{"file_name": "x.zip", "notify": "yes"}', 400, "invalid_body"),
        ("POST", "/v1/uploads", b'{"file_name": "' + b"a" * 70_000 + b'.zip"}', 413, "body_too_large"),
        ("PUT", f"/v1/quotas/{USER}", b'{"concurrency": 5}', 403, "forbidden"),
        ("GET", "/v1/quotas/someone.else@example.com", None, 403, "forbidden"),
    ],
)
def test_errors_share_one_format(api: Api, method: str, path: str, raw: bytes | None, status: int, code: str) -> None:
    got, headers, body = api.call(method, path, raw=raw)
    error = json.loads(body)["error"]
    assert (got, error["code"]) == (status, code), error
    assert error["message"] and headers["Content-Type"] == "application/json"


def test_the_served_openapi_document_is_the_one_in_the_repository(api: Api) -> None:
    status, served = api.json("GET", "/v1/openapi.json")
    assert status == 200
    assert served == json.loads((REPO_ROOT / "docs" / "openapi.json").read_text())


def test_the_queue_overview_is_public_and_anonymous(stack: RunningStack, finished: dict[str, Any]) -> None:
    with urllib.request.urlopen(stack.layout.url("api") + "/v1/queue", timeout=30) as reply:
        overview = json.loads(reply.read())
    assert set(overview["jobs"]) == {"queued", "submitted", "running"}
    assert overview["sample_size"] >= 1 and overview["wait_seconds"]["median"] is not None
    assert "@" not in json.dumps(overview)


def test_schemathesis_finds_no_server_error(stack: RunningStack, tmp_path: Path) -> None:
    """Property-based requests generated from the served document (valid and invalid), as a signed-in user."""
    token = stack.layout.id_token(f"fuzz-{uuid.uuid4().hex[:6]}@example.com")
    done = subprocess.run(
        [
            str(REPO_ROOT / ".venv" / "bin" / "st"),
            "run",
            stack.layout.url("api") + "/v1/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples",
            "15",
            "--max-time",
            "60",
            "--seed",
            "20261125",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
