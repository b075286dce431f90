"""A newcomer can clone anywhere: `make demo` from a fresh clone inside a folder only root can traverse (as root's home
is on a fresh Debian), with its own venv, its own stack and cluster. Other users (Slurm's jobs, munged, the SSH login
user) must never need to read the clone."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

from devstack.stack import REPO_ROOT, cluster_root

STACK = "anywhere"


def test_make_demo_works_from_a_clone_in_a_folder_others_cannot_traverse() -> None:
    private = Path(tempfile.mkdtemp(prefix="olc-private-"))
    try:
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
        clone = private / "openlane-cloud"
        subprocess.run(["git", "clone", "--quiet", str(REPO_ROOT), str(clone)], check=True, timeout=120)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OLC_", "FIRESTORE_", "PUBSUB_", "STORAGE_"))}
        env.pop("PYTHONPATH", None)
        try:
            demo = subprocess.run(
                ["make", "demo", f"DEMO_STACK={STACK}"],
                cwd=clone,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
        finally:
            subprocess.run(["make", "stack-down", f"DEMO_STACK={STACK}"], cwd=clone, env=env, timeout=120, check=False)
            # The clone's cluster files (devstack.stack.cluster_root, keyed by the clone's path).
            clone_key = hashlib.sha256(str(clone.resolve()).encode()).hexdigest()[:8]
            shutil.rmtree(cluster_root(STACK).parent / f"{STACK}-{clone_key}", ignore_errors=True)
        output = demo.stdout + demo.stderr
        assert demo.returncode == 0, output[-6000:]
        # The layout run and the LibreLane run, then spm from the stack's git server, which reuses the layout run.
        assert output.count("state         SUCCEEDED") == 3, output[-6000:]
        assert "(same inputs as job" in output and "results reused" in output
        assert "step 6 of 10 Yosys.Synthesis" in output
        assert "demo finished in" in output
        assert stat.S_IMODE(private.stat().st_mode) == 0o700, "nothing may have opened the folder up"
    finally:
        shutil.rmtree(private, ignore_errors=True)
