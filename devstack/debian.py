"""Install the Debian packages a local-stack part needs, so a fresh machine can run the stack."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Sequence

from devstack.process import StackError

# apt-get can legitimately take minutes on a slow mirror; beyond this something is stuck.
_APT_TIMEOUT_S = 900
# Two stacks (demo and tests) may install at the same time on a fresh machine: wait for the
# dpkg lock instead of failing at once with "Could not get lock".
_LOCK_WAIT_S = 300
_TAIL_LINES = 25

_update_lock = threading.Lock()
_state = {"updated": False}


def missing_packages(packages: Sequence[str]) -> list[str]:
    """The subset of `packages` that dpkg does not report as fully installed, in the given order."""
    if not packages:
        return []
    # dpkg-query exits 1 when a name is unknown to it and lists only the known ones, so read
    # stdout regardless of the exit code. "ii" = desired install, currently installed; "rc"
    # (removed, config left) and half-configured states count as missing.
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package}\t${db:Status-Abbrev}\n", *packages],
        capture_output=True,
        text=True,
        check=False,
    )
    installed = set()
    for line in proc.stdout.splitlines():
        name, _, status = line.partition("\t")
        if status.startswith("ii"):
            installed.add(name.split(":", 1)[0])  # drop a multi-arch ":amd64" suffix
    return [p for p in packages if p.split(":", 1)[0] not in installed]


def ensure_packages(packages: Sequence[str]) -> None:
    """Install whatever of `packages` is missing; a fast no-op (one dpkg-query) when all are present."""
    missing = missing_packages(packages)
    if not missing:
        return
    if os.geteuid() != 0:
        raise StackError(f"packages {' '.join(missing)} are missing and installing them needs root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock_opt = f"-oDPkg::Lock::Timeout={_LOCK_WAIT_S}"
    with _update_lock:
        # Package lists are refreshed once per process: a fresh machine has none, and a second
        # update minutes later buys nothing but time.
        if not _state["updated"]:
            _apt(["apt-get", lock_opt, "update"], env, "apt-get update")
            _state["updated"] = True
        _apt(
            ["apt-get", lock_opt, "install", "-y", "--no-install-recommends", *missing],
            env,
            f"installing {' '.join(missing)}",
        )
    still = missing_packages(missing)
    if still:
        raise StackError(f"apt-get reported success but {' '.join(still)} are still not installed")


def _apt(argv: list[str], env: dict[str, str], what: str) -> None:
    try:
        proc = subprocess.run(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=_APT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"{what}: apt-get did not finish within {_APT_TIMEOUT_S} s") from exc
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-_TAIL_LINES:])
        raise StackError(f"{what} failed (exit {proc.returncode}):\n{tail}")
