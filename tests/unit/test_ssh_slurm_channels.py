"""SshSlurmCluster shares one SSH connection between concurrent callers, each on its own channel: a status query or a
cancel does not queue behind a chunk of submissions, and a caller whose channel failed never closes a connection
another caller has opened since. (paramiko is replaced below the adapter's `_connected` and `_exec`.)"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.adapters import ssh_slurm
from shared.adapters.ssh_slurm import RemoteCommandFailed, SshSlurmCluster
from shared.ports import ClusterError


class Connection:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def get_transport(self) -> None:
        return None


def cluster(monkeypatch: pytest.MonkeyPatch, connections: list[Connection]) -> SshSlurmCluster:
    adapter = SshSlurmCluster(lambda: "login", 22, "olc", lambda: "", work_root="/jobs")

    def connected() -> Connection:
        if adapter._client is None or adapter._client.closed:
            adapter._client = Connection()
            connections.append(adapter._client)
        return adapter._client

    monkeypatch.setattr(adapter, "_connected", connected)
    monkeypatch.setattr(ssh_slurm, "_FIRST_RETRY_DELAY_S", 0.0)
    return adapter


def test_concurrent_commands_run_at_once_on_one_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    connections: list[Connection] = []
    adapter = cluster(monkeypatch, connections)
    both_running = threading.Barrier(2, timeout=5)  # broken (an error) if the second waited for the first

    def exec_(client: Connection, script: str) -> str:
        both_running.wait()
        return "" if script.startswith("scancel") else "JobId=7 JobState=PENDING\n"

    monkeypatch.setattr(adapter, "_exec", exec_)
    with ThreadPoolExecutor(2) as pool:
        status = pool.submit(adapter.status, ["7"])
        cancel = pool.submit(adapter.cancel, ["8"])
        assert status.result()["7"].state == "PENDING"
        cancel.result()
    assert len(connections) == 1 and not connections[0].closed


def test_a_failed_channel_closes_only_its_own_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    connections: list[Connection] = []
    adapter = cluster(monkeypatch, connections)
    calls: list[Connection] = []

    def exec_(client: Connection, script: str) -> str:
        calls.append(client)
        if len(calls) == 1:
            # Meanwhile another caller found this connection broken and opened a new one.
            fresh = Connection()
            connections.append(fresh)
            adapter._client = fresh
            raise EOFError()
        return "JobId=7 JobState=RUNNING\n"

    monkeypatch.setattr(adapter, "_exec", exec_)
    assert adapter.status(["7"])["7"].state == "RUNNING"
    first, fresh = connections
    assert calls == [first, fresh]  # retried on the connection that is there now
    assert not fresh.closed  # not closed by the caller whose channel failed on the old one


def test_a_refusal_from_slurm_keeps_the_connection_and_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    connections: list[Connection] = []
    adapter = cluster(monkeypatch, connections)
    calls: list[str] = []

    def exec_(client: Connection, script: str) -> str:
        calls.append(script)
        raise RemoteCommandFailed("remote Slurm command failed (exit 1): slurm_load_jobs error")

    monkeypatch.setattr(adapter, "_exec", exec_)
    with pytest.raises(ClusterError, match="slurm_load_jobs"):
        adapter.status(["7"])
    assert len(calls) == 1 and len(connections) == 1 and not connections[0].closed
