"""infra/slurm/epilog.sh as Slurm runs it: as root, with no PATH, after every job; it spools one record and hands it
to the sender (olc_notify.py), which it starts with `-S` (no site-packages: the sender is standard library only)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SLURM_DIR = Path(__file__).resolve().parents[2] / "infra" / "slurm"
JOB_ID = "j0123456789abcdef012"


def install(tmp_path: Path, spool_exists: bool) -> tuple[Path, Path, Path]:
    """epilog.sh next to its olc-epilog.env, with a stand-in python that records how it was started."""
    folder, spool, out = tmp_path / "epilog", tmp_path / "spool", tmp_path / "sender-args"
    folder.mkdir()
    if spool_exists:
        spool.mkdir()
    shutil.copy(SLURM_DIR / "epilog.sh", folder / "epilog.sh")
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\necho "$@" > {out}\n')
    python.chmod(0o755)
    (folder / "olc-epilog.env").write_text(
        f"OLC_PYTHON={python}\nOLC_NOTIFY=/opt/olc/olc_notify.py\nOLC_SPOOL_DIR={spool}\n"
    )
    return folder, spool, out


def run_epilog(folder: Path, script: str, **env: str) -> subprocess.CompletedProcess[str]:
    # Slurm's environment: no PATH at all.
    return subprocess.run(["/bin/sh", script], cwd=folder, env=env, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("spool_exists", [True, False])
@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_the_epilog_spools_the_record_and_starts_the_sender(tmp_path: Path, spool_exists: bool, how: str) -> None:
    folder, spool, out = install(tmp_path, spool_exists)
    script = str(folder / "epilog.sh") if how == "absolute" else "epilog.sh"
    done = run_epilog(
        folder, script, SLURM_JOB_COMMENT=f"olc:{JOB_ID}", SLURM_JOB_ID="4242", SLURM_JOB_EXIT_CODE2="3:0"
    )
    assert done.returncode == 0, done.stderr
    record = spool / f"{JOB_ID}-4242.json"
    fields = json.loads(record.read_text())
    assert {k: fields[k] for k in ("kind", "job_id", "slurm_job_id", "exit_code2")} == {
        "kind": "ended",
        "job_id": JOB_ID,
        "slurm_job_id": "4242",
        "exit_code2": "3:0",
    }
    assert isinstance(fields["epilog_at"], float)
    assert not list(spool.glob("*.tmp"))  # written aside, then renamed into the spool
    conf = str(folder / "olc-epilog.env") if how == "absolute" else "./olc-epilog.env"
    assert out.read_text().split() == ["-S", "/opt/olc/olc_notify.py", "--detach", conf, f"{spool}/{record.name}"]


@pytest.mark.parametrize(
    "comment", ["", "olc:", "olc:j", "olc:J0123456789ABCDEF012", "olc:j0123456789abcdef01;x", "other:job"]
)
def test_a_job_that_is_not_ours_leaves_nothing(tmp_path: Path, comment: str) -> None:
    folder, spool, out = install(tmp_path, spool_exists=True)
    done = run_epilog(folder, str(folder / "epilog.sh"), SLURM_JOB_COMMENT=comment, SLURM_JOB_ID="7")
    assert done.returncode == 0
    assert not list(spool.iterdir()) and not out.exists()


def test_the_sender_runs_without_site_packages(tmp_path: Path) -> None:
    """What the epilog starts: `python -S olc_notify.py CONF` (here with an empty spool: nothing to send)."""
    (tmp_path / "olc-epilog.env").write_text(f"OLC_SPOOL_DIR={tmp_path}\n")
    done = subprocess.run(
        [sys.executable, "-S", str(SLURM_DIR / "olc_notify.py"), str(tmp_path / "olc-epilog.env")],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
