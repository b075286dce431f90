"""The `olc` command line as a user runs it, against the real stack."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from devstack.load import design_archive
from devstack.stack import REPO_ROOT
from olc_cli import client

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack

OLC = str(REPO_ROOT / ".venv" / "bin" / "olc")
USER = f"cli-{uuid.uuid4().hex[:6]}@example.com"


def olc(stack: RunningStack, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **stack.layout.client_env(), "OLC_USER": USER}
    return subprocess.run([OLC, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def submitted(stack: RunningStack) -> dict[str, Any]:
    good = olc(stack, "submit", str(REPO_ROOT / "examples" / "spm"), "--watch", "--json")
    bad = olc(stack, "submit", str(REPO_ROOT / "examples" / "broken-synth"), "--watch")
    return {"good": good, "bad": bad, "good_job": json.loads(good.stdout) if good.returncode == 0 else None}


def test_submit_watch_exits_0_on_success_and_1_on_failure(submitted: dict[str, Any]) -> None:
    good, bad = submitted["good"], submitted["bad"]
    assert good.returncode == 0, good.stderr
    assert submitted["good_job"]["state"] == "SUCCEEDED"
    assert "[" in good.stderr and "/" in good.stderr  # the progress bar went to stderr, JSON alone to stdout
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "FAILED" in bad.stdout and "syntax error" in bad.stdout and "page" in bad.stdout


def test_list_status_logs_and_metrics(stack: RunningStack, submitted: dict[str, Any]) -> None:
    job_id = submitted["good_job"]["id"]
    listing = olc(stack, "list", "--json")
    assert listing.returncode == 0 and job_id in {j["id"] for j in json.loads(listing.stdout)}
    failed = olc(stack, "list", "--state", "FAILED")
    assert failed.returncode == 0 and "FAILED" in failed.stdout and job_id not in failed.stdout
    status = olc(stack, "status", job_id)
    assert status.returncode == 0 and "SUCCEEDED" in status.stdout and "stage routing" in status.stdout
    logs = olc(stack, "logs", job_id, "-n", "3")
    assert logs.returncode == 0 and 0 < len(logs.stdout.splitlines()) <= 3
    metrics = olc(stack, "metrics", job_id, "--json")
    assert json.loads(metrics.stdout)["metrics"]["lvs_match"] is True


def test_download_the_whole_run_or_selected_files(
    stack: RunningStack, submitted: dict[str, Any], tmp_path: Path
) -> None:
    job_id = submitted["good_job"]["id"]
    whole = olc(stack, "download", job_id, "-o", str(tmp_path))
    assert whole.returncode == 0, whole.stderr
    assert "manifest.json" in zipfile.ZipFile(tmp_path / f"{job_id}.zip").namelist()
    picked = olc(stack, "download", job_id, "--artifact", "*.png", "-o", str(tmp_path / "png"), "--json")
    assert picked.returncode == 0, picked.stderr
    files = [Path(item["path"]) for item in json.loads(picked.stdout)]
    assert files and all(f.read_bytes()[:4] == b"\x89PNG" for f in files)
    nothing = olc(stack, "download", job_id, "--artifact", "*.nope", "-o", str(tmp_path))
    assert nothing.returncode == 2 and "no file matches" in nothing.stderr


def test_watch_follows_a_job_uploaded_straight_to_the_bucket(stack: RunningStack) -> None:
    """As with gsutil cp: the upload never went through olc, yet olc finds and follows the job."""
    source = client.upload(
        stack.client(USER), "counter.tar.gz", design_archive(REPO_ROOT / "examples" / "counter"), reuse=False
    )
    job_id = client.expected_job_id(source)
    watched = olc(stack, "watch", job_id)
    assert watched.returncode == 0, watched.stdout + watched.stderr
    assert "SUCCEEDED" in watched.stdout


def test_cancel_and_delete(stack: RunningStack, submitted: dict[str, Any]) -> None:
    bad_id = json.loads(olc(stack, "list", "--state", "FAILED", "--json").stdout)[0]["id"]
    cancelled = olc(stack, "cancel", bad_id)
    assert cancelled.returncode == 0 and "already ended" in cancelled.stdout
    refused = olc(stack, "delete", bad_id)  # no terminal to ask: refuses without --yes
    assert refused.returncode == 2 and "--yes" in refused.stderr
    deleted = olc(stack, "delete", bad_id, "--yes")
    assert deleted.returncode == 0 and "deleted" in deleted.stdout
    gone = olc(stack, "status", bad_id)
    assert gone.returncode == 2 and "no job" in gone.stderr


@pytest.mark.parametrize(
    "command", ["submit", "watch", "status", "list", "cancel", "delete", "download", "logs", "metrics"]
)
def test_every_command_explains_itself(stack: RunningStack, command: str) -> None:
    helped = olc(stack, command, "--help")
    assert helped.returncode == 0 and "--json" in helped.stdout and "usage: olc" in helped.stdout
