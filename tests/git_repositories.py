"""Bare git repositories made for tests, published into a folder a git server (devstack/git_server.py) serves."""

from __future__ import annotations

import subprocess
from pathlib import Path

GIT_ENV = {
    "PATH": "/usr/bin:/bin",
    "LC_ALL": "C",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


def git(*args: str, cwd: Path) -> str:
    env = {**GIT_ENV, "HOME": str(cwd)}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def publish_repository(
    root: Path, scratch: Path, name: str, files: dict[str, bytes | str], *, submodule: tuple[str, Path] | None = None
) -> str:
    """ROOT/NAME.git with one commit of `files` on main (str values are symlink targets, `submodule` is (where,
    source repository)); returns the commit SHA. The work tree stays in SCRATCH/work-NAME for later commits."""
    work = scratch / f"work-{name}"
    work.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=work)
    for path, content in files.items():
        target = work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            target.symlink_to(content)
        else:
            target.write_bytes(content)
    if submodule is not None:
        where, source = submodule
        git("-c", "protocol.file.allow=always", "submodule", "add", "-q", str(source), where, cwd=work)
    git("add", "-A", cwd=work)
    git("commit", "-q", "--no-gpg-sign", "-m", "design", cwd=work)
    git("clone", "-q", "--bare", str(work), str(root / f"{name}.git"), cwd=scratch)
    return git("rev-parse", "HEAD", cwd=work)


def commit_sha(root: Path, name: str, ref: str) -> str:
    return git("rev-parse", f"{ref}^{{commit}}", cwd=root / f"{name}.git")


def local_repository(work: Path, files: dict[str, bytes]) -> Path:
    """A repository with one commit of `files` in the folder `work` (not served: a submodule's local source)."""
    work.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=work)
    for path, content in files.items():
        (work / path).write_bytes(content)
    git("add", "-A", cwd=work)
    git("commit", "-q", "--no-gpg-sign", "-m", "local", cwd=work)
    return work
