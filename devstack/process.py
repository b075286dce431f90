"""Start, track and stop the local stack's daemons by PID file and process group (never by name)."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path


class StackError(RuntimeError):
    """A local-stack part could not be started; the message says which and where its log is."""


def pid_file(state_dir: Path, name: str) -> Path:
    return state_dir / "pids" / f"{name}.pid"


def log_file(state_dir: Path, name: str) -> Path:
    return state_dir / "logs" / f"{name}.log"


def read_pid(state_dir: Path, name: str) -> int | None:
    try:
        return int(pid_file(state_dir, name).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def is_alive(pid: int | None) -> bool:
    # kill(0, ...) and kill(-1, ...) address process groups or every process: never a tracked daemon.
    if pid is None or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive: it answers kill(0) but serves nothing.
    with contextlib.suppress(FileNotFoundError):
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            return False
    return True


def running(state_dir: Path, name: str) -> bool:
    return is_alive(read_pid(state_dir, name))


def start_daemon(
    state_dir: Path,
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start `argv` in its own session (so its children can be stopped with it), logging to logs/NAME.log.

    Idempotent: returns the existing PID if NAME is already running.
    """
    existing = read_pid(state_dir, name)
    if is_alive(existing):
        assert existing is not None
        return existing
    pid_file(state_dir, name).parent.mkdir(parents=True, exist_ok=True)
    log_path = log_file(state_dir, name)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    pid_file(state_dir, name).write_text(f"{proc.pid}\n")
    return proc.pid


def stop_daemon(state_dir: Path, name: str, *, grace_s: float = 5.0) -> bool:
    """Stop NAME's whole process group (TERM, then KILL after `grace_s`). True if something was stopped."""
    pid = read_pid(state_dir, name)
    pid_file(state_dir, name).unlink(missing_ok=True)
    if not is_alive(pid):
        return False
    assert pid is not None
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return False
    # Only signal the group when the daemon leads it; otherwise we would hit our own group.
    target_group = pgid == pid
    _signal(pid, signal.SIGTERM, target_group)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not is_alive(pid):
            break
        _reap(pid)
        time.sleep(0.05)
    else:
        _signal(pid, signal.SIGKILL, target_group)
    if target_group:
        # Children (e.g. java under the emulator launchers) may outlive the leader.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    _reap(pid)
    return True


def _signal(pid: int, sig: int, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def http_answers(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server at `port` answers an HTTP request at all (any status). A Functions Framework port opens in
    gunicorn's master before its worker has forked and built the function's clients (functions/warm_up.py): only
    the worker answers, so this is when requests stop waiting in the listen queue."""
    connection = http.client.HTTPConnection(host, port, timeout=1)
    try:
        connection.request("GET", "/")
        connection.getresponse().read()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def wait_until(
    check: Callable[[], bool],
    *,
    timeout_s: float,
    what: str,
    log: Path | None = None,
    interval_s: float = 0.1,
) -> float:
    """Poll `check` until it holds; return the seconds waited, or raise StackError naming `what` and the log."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if check():
            return time.monotonic() - start
        time.sleep(interval_s)
    hint = f"; see {log}" if log else ""
    tail = ""
    if log and log.exists():
        tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
    raise StackError(f"{what} not ready after {timeout_s:.0f} s{hint}{tail}")
