"""devstack.process.http_answers: the local stack calls a function up only once its worker answers HTTP, not when a
port merely accepts connections (gunicorn's master listens before its worker has built the function's clients)."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from devstack import process


@pytest.fixture
def listening_socket() -> Iterator[int]:
    """A port that accepts TCP connections into its backlog but never answers, like a master whose worker is busy."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


@pytest.fixture
def http_server() -> Iterator[int]:
    class Refusing(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_error(405)  # what a CloudEvent function's worker answers to GET /

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_an_open_port_that_does_not_answer_is_not_ready(listening_socket: int) -> None:
    assert process.port_open(listening_socket)
    assert not process.http_answers(listening_socket)


def test_any_http_answer_means_the_worker_serves(http_server: int) -> None:
    assert process.http_answers(http_server)


def test_a_closed_port_is_not_ready() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert not process.http_answers(port)
