"""Designs submitted as git repositories, on the real stack: the API records a FETCHING job at once, the git fetcher
fetches from the stack's real git server (git http-backend on loopback), and ingest takes the packed design from
there like any upload. Hostile repositories and URLs are refused with a reason.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from devstack.stack import GIT_MAX_BYTES, REPO_ROOT
from tests.e2e.test_api import Api, wait_end
from tests.git_repositories import commit_sha, local_repository, publish_repository

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack

USER = f"git-{uuid.uuid4().hex[:6]}@example.com"
SPM = REPO_ROOT / "examples" / "spm"


class Repositories:
    """Repositories published into the folder the stack's git server serves."""

    def __init__(self, stack: RunningStack, scratch: Path) -> None:
        self.root = stack.layout.state / "git"
        self.url = stack.layout.git_url
        self.scratch = scratch

    def publish(self, name: str, files: dict[str, bytes | str], **kwargs: Any) -> str:
        shutil.rmtree(self.root / f"{name}.git", ignore_errors=True)
        return publish_repository(self.root, self.scratch, name, files, **kwargs)

    def sha(self, name: str, ref: str) -> str:
        return commit_sha(self.root, name, ref)


def spm_files(prefix: str) -> dict[str, bytes | str]:
    return {f"{prefix}/{p.relative_to(SPM).as_posix()}": p.read_bytes() for p in SPM.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def api(stack: RunningStack) -> Api:
    return Api(stack, USER)


@pytest.fixture(scope="module")
def repos(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Repositories:
    return Repositories(stack, tmp_path_factory.mktemp("repos"))


def submit(api: Api, url: str, ref: str = "main", path: str = "", *, reuse: bool = True) -> dict[str, Any]:
    status, reply = api.json(
        "POST", "/v1/jobs", {"git": {"url": url, "ref": ref, "path": path}, "notify": False, "reuse": reuse}
    )
    assert status == 202, reply
    assert reply["state"] == "FETCHING"
    return reply


def refused(api: Api, url: str, ref: str = "main", path: str = "") -> str:
    status, reply = api.json("POST", "/v1/jobs", {"git": {"url": url, "ref": ref, "path": path}})
    assert status == 400, reply
    assert reply["error"]["code"] == "invalid_git_source"
    return reply["error"]["message"]


def rejected(api: Api, url: str, ref: str = "main", path: str = "") -> str:
    job = wait_end(api, submit(api, url, ref, path)["job_id"], timeout_s=60)
    assert job["state"] == "REJECTED", job
    return job["reason"]


# ------------------------------------------------------------------------------------------------ submitting
def test_branch_tag_commit_and_subfolder_each_end_succeeded_with_the_commit(api: Api, repos: Repositories) -> None:
    examples = f"{repos.url}/examples.git"
    main = repos.sha("examples", "main")
    nested_sha = repos.publish("nested", spm_files("chips/arith/spm"))
    asked = [
        (examples, "main", "spm", main, False),  # a real run; the others may reuse it or each other
        (examples, "v1", "spm", main, True),
        (examples, main, "spm", main, True),
        (f"{repos.url}/nested.git", "main", "chips/arith/spm", nested_sha, True),
    ]
    started = [(submit(api, url, ref, path, reuse=reuse), ref, path, sha) for url, ref, path, sha, reuse in asked]
    for reply, ref, path, sha in started:
        job = wait_end(api, reply["job_id"])
        assert job["state"] == "SUCCEEDED", job
        assert job["git"] == {"url": reply["git"]["url"], "ref": ref, "path": path, "commit": sha}
        assert job["design_name"] == "spm"
        assert [e["name"] for e in job["timeline"] if e["kind"] == "state"][:2] == ["FETCHING", "QUEUED"]
    first = wait_end(api, started[0][0]["job_id"])
    assert first["reused_from"] is None and first["slurm_job_id"]


def test_the_call_returns_before_the_fetch(api: Api, repos: Repositories) -> None:
    reply = submit(api, f"{repos.url}/examples.git", "main", "spm")
    status, job = api.json("GET", f"/v1/jobs/{reply['job_id']}")
    assert status == 200
    assert job["state"] in ("FETCHING", "QUEUED", "SUCCEEDED")  # fetching is quick here, but never awaited
    assert wait_end(api, reply["job_id"])["state"] == "SUCCEEDED"


# ---------------------------------------------------------------------------------------- errors on the job
def test_a_missing_repository_ref_or_folder_is_rejected_saying_which(api: Api, repos: Repositories) -> None:
    examples = f"{repos.url}/examples.git"
    assert "no public repository" in rejected(api, f"{repos.url}/no-such-repo.git", "main", "spm")
    assert "has no branch or tag 'no-such-branch'" in rejected(api, examples, "no-such-branch", "spm")
    assert "is not in the repository" in rejected(api, examples, "0" * 40, "spm")
    assert "folder 'no/such/folder' does not exist" in rejected(api, examples, "main", "no/such/folder")


def test_a_repository_over_the_size_cap_is_rejected(api: Api, repos: Repositories) -> None:
    repos.publish("oversized", {**spm_files("spm"), "spm/noise.bin": os.urandom(GIT_MAX_BYTES + (2 << 20))})
    assert f"larger than {GIT_MAX_BYTES} bytes" in rejected(api, f"{repos.url}/oversized.git", "main", "spm")


def test_a_symlink_out_of_the_tree_is_refused_by_the_archive_rules(api: Api, repos: Repositories) -> None:
    repos.publish("linked", {**spm_files("spm"), "spm/src/passwd.v": "../../../../../etc/passwd"})
    reason = rejected(api, f"{repos.url}/linked.git", "main", "spm")
    assert "'spm/src/passwd.v' is a link" in reason


def test_a_submodule_pointing_at_a_local_path_is_not_fetched(api: Api, repos: Repositories, tmp_path: Path) -> None:
    inner = local_repository(tmp_path / "inner", {"secret.v": b"module secret; endmodule\n"})
    files = spm_files("spm")
    files["spm/config.json"] = b'{"DESIGN_NAME": "spm", "VERILOG_FILES": ["dir::src/*.v", "dir::vendor/*.v"]}'
    repos.publish("withsub", files, submodule=("spm/vendor", inner))
    reason = rejected(api, f"{repos.url}/withsub.git", "main", "spm")
    assert "vendor/*.v" in reason and "matches no file" in reason


# ------------------------------------------------------------------------------------ errors from the call
@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("file:///etc/passwd", "must start with https://"),
        ("ssh://git@github.com/owner/repo.git", "must start with https://"),
        ("ext::sh -c touch% /tmp/olc-pwned", "transport helper"),
        ("git@github.com:owner/repo.git", "https://"),
        ("https://user:secret@github.com/owner/repo.git", "must not hold credentials"),
        ("https://169.254.169.254/computeMetadata/v1.git", "private network"),
        ("https://metadata.google.internal/repo.git", "metadata server"),
        ("http://github.com/owner/repo.git", "must start with https://"),
    ],
)
def test_hostile_urls_are_refused_by_the_call(api: Api, url: str, says: str) -> None:
    assert says in refused(api, url)
    assert not Path("/tmp/olc-pwned").exists()


def test_a_name_resolving_to_loopback_outside_the_allow_list_is_rejected_before_fetching(
    api: Api, stack: RunningStack
) -> None:
    # The stack allows 127.0.0.1 by address only: "localhost" is checked like any name, resolved, and refused.
    reason = rejected(api, f"https://localhost:{stack.layout.git_port}/examples.git", "main", "spm")
    assert "localhost resolves to" in reason and "private network" in reason


def test_every_problem_of_a_submission_is_reported_at_once(api: Api) -> None:
    message = refused(api, "file:///x", "-bad..ref", "../up")
    assert "git.url" in message and "git.ref" in message and "git.path" in message
