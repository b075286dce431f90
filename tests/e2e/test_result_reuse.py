"""Result reuse on the real stack: a design whose inputs (files, resolved configuration, flow and its version, PDK)
match a job of the same user that succeeded ends SUCCEEDED at once with a copy of its results, without a Slurm job;
any change to what determines the result, another user, or asking for a run, runs it.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import uuid
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from devstack.load import design_archive
from devstack.stack import REPO_ROOT
from shared.domain.job_script import slurm_job_name
from tests.e2e.test_api import Api, upload_through_api, wait_end

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack

USER = f"reuse-{uuid.uuid4().hex[:6]}@example.com"
OTHER = f"reuse-other-{uuid.uuid4().hex[:6]}@example.com"
SPM = REPO_ROOT / "examples" / "spm"
FLOW = "librelane-osu035"  # the flow users re-run most; a few seconds a run here


def archive(design: Path = SPM, **config: Any) -> bytes:
    return design_archive(design, **{"OLC_FLOW": FLOW, **config})


def run(api: Api, data: bytes, name: str = "spm.tar.gz", *, reuse: bool = True) -> dict[str, Any]:
    return wait_end(api, upload_through_api(api, name, data, reuse=reuse), timeout_s=240)


@pytest.fixture(scope="module")
def api(stack: RunningStack) -> Api:
    return Api(stack, USER)


@pytest.fixture(scope="module")
def original(api: Api) -> dict[str, Any]:
    job = run(api, archive())
    assert job["state"] == "SUCCEEDED", job
    assert job["reused_from"] is None
    return job


def ran(stack: RunningStack, job: dict[str, Any]) -> bool:
    return bool(job["slurm_job_id"]) and bool(stack.slurm_jobs_named(slurm_job_name(job["id"])))


def test_the_same_upload_again_reuses_the_results_without_slurm(
    stack: RunningStack, api: Api, original: dict[str, Any]
) -> None:
    again = run(api, archive())
    assert again["state"] == "SUCCEEDED"
    assert again["reused_from"] == original["id"]
    assert again["reason"] == f"same inputs as job {original['id']}: results reused"
    assert again["core_hours"] == 0
    assert not again["slurm_job_id"] and not stack.slurm_jobs_named(slurm_job_name(again["id"]))
    assert again["metrics"] == original["metrics"]
    assert again["links"]["artifacts"] != original["links"]["artifacts"]  # its own links


@pytest.mark.parametrize(
    "change",
    ["one byte of a source", "a config value", "the flow", "OLC_CACHE false"],
)
def test_a_change_that_matters_runs_again(
    stack: RunningStack, api: Api, original: dict[str, Any], tmp_path: Path, change: str
) -> None:
    if change == "one byte of a source":
        design = tmp_path / "spm"
        shutil.copytree(SPM, design)
        source = design / "src" / "spm.v"
        source.write_bytes(source.read_bytes() + b" ")
        data = archive(design)
    elif change == "a config value":
        data = archive(CLOCK_PERIOD=11)
    elif change == "the flow":
        data = archive(OLC_FLOW="yosys-osu035")
    else:
        data = archive(OLC_CACHE=False)
    job = run(api, data)
    assert job["state"] == "SUCCEEDED", job
    assert job["reused_from"] is None
    assert ran(stack, job)


def test_resources_asked_for_do_not_matter(api: Api, original: dict[str, Any]) -> None:
    job = run(api, archive(OLC_TIME_LIMIT_MINUTES=15, OLC_CPUS=1))
    # Any earlier success with these inputs will do (the forced runs above have them too).
    assert job["reused_from"] is not None and job["core_hours"] == 0


def test_asking_for_a_run_at_upload_runs_it(stack: RunningStack, api: Api, original: dict[str, Any]) -> None:
    """`olc submit --no-cache`: the upload's signed metadata says so."""
    job = run(api, archive(), reuse=False)
    assert job["state"] == "SUCCEEDED" and job["reused_from"] is None
    assert ran(stack, job)


def test_another_users_identical_design_runs(stack: RunningStack, original: dict[str, Any]) -> None:
    other = Api(stack, OTHER)
    job = run(other, archive())
    assert job["state"] == "SUCCEEDED"
    assert job["reused_from"] is None
    assert ran(stack, job)


def test_a_failed_run_is_never_reused(api: Api) -> None:
    broken = REPO_ROOT / "examples" / "broken-synth"
    first = run(api, archive(broken), "broken.tar.gz")
    assert first["state"] == "FAILED", first
    second = run(api, archive(broken), "broken.tar.gz")
    assert second["state"] == "FAILED" and second["reused_from"] is None


def test_deleting_the_original_keeps_the_reusing_jobs_downloads(stack: RunningStack) -> None:
    api = Api(stack, f"reuse-delete-{uuid.uuid4().hex[:6]}@example.com")
    first = run(api, archive())
    second = run(api, archive())
    assert second["reused_from"] == first["id"]
    status, reply = api.json("DELETE", f"/v1/jobs/{first['id']}?confirm={first['id']}")
    assert status == 200 and reply["objects_removed"] > 0
    status, listing = api.json("GET", f"/v1/jobs/{second['id']}/artifacts")
    assert status == 200 and listing["artifacts"]
    status, _headers, data = api.call("GET", f"/v1/jobs/{second['id']}/download")
    assert status == 200
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert any(n.endswith("manifest.json") for n in names)
    status, job = api.json("GET", f"/v1/jobs/{second['id']}")
    assert job["state"] == "SUCCEEDED" and job["metrics"] == first["metrics"]
    layout = job["links"].get("layout_png") or job["links"].get("layout")
    if layout:
        assert api.call("GET", layout.removeprefix(api.base))[0] == 200


def test_the_content_key_sees_every_file_of_the_design_folder(api: Api, original: dict[str, Any]) -> None:
    """A file no config names (a Verilog include, a note) still counts: the flow may read it."""
    buffer = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(archive()), mode="r:gz") as source,
        tarfile.open(fileobj=buffer, mode="w:gz") as target,
    ):
        for member in source.getmembers():
            target.addfile(member, source.extractfile(member))
        note = json.dumps({"note": "not named by config.json"}).encode()
        info = tarfile.TarInfo("spm/src/defines.vh")
        info.size = len(note)
        target.addfile(info, io.BytesIO(note))
    job = run(api, buffer.getvalue())
    assert job["reused_from"] is None
