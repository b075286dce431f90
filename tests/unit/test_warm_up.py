"""An instance's warm-up: its function's clients and connections made before its first request."""

from __future__ import annotations

import pytest

from functions import warm_up


def test_each_function_warms_up_what_its_first_request_needs_and_a_failure_is_left_to_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    done: list[str] = []

    def failing() -> None:
        done.append("firestore")
        raise RuntimeError("the emulator is not up yet")

    monkeypatch.setitem(warm_up.BUILD, "dispatcher", lambda: done.append("deps"))
    monkeypatch.setitem(warm_up.OPEN, "dispatcher", (failing, lambda: done.append("ssh")))
    thread = warm_up.warm("dispatcher")
    assert done[0] == "deps"  # built before the worker serves
    thread.join(5)
    assert done == ["deps", "firestore", "ssh"]  # one failing step does not stop the others
    assert not warm_up.start("api") and not warm_up.start(None)


def test_the_warm_up_happens_in_the_forked_worker_not_in_the_importing_master(monkeypatch: pytest.MonkeyPatch) -> None:
    """gRPC channels and SSH connections made before gunicorn forks its worker would be unusable in it."""
    hooks: list[object] = []
    monkeypatch.setattr(warm_up.os, "register_at_fork", lambda after_in_child: hooks.append(after_in_child))  # noqa: PLW0108 - called with a keyword
    monkeypatch.setitem(warm_up.BUILD, "ingest", lambda: pytest.fail("built in the master"))
    assert warm_up.start("ingest") and len(hooks) == 1


def test_the_dispatcher_opens_its_ssh_connection_to_the_login_node() -> None:
    assert warm_up._open_login_node in warm_up.OPEN["dispatcher"]
    assert set(warm_up.BUILD) == set(warm_up.OPEN)
    assert all(warm_up._open_firestore in steps for steps in warm_up.OPEN.values())
