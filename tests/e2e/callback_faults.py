"""A fault at the completion hook's door: end reports that never arrive (the sender is told 410 and gives up)."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _DroppingProxy(BaseHTTPRequestHandler):
    """Forwards callbacks to the completion hook but answers every `drop_every`-th end report with 410 (dropped)."""

    target = ""
    drop_every = 2
    counter = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        ended = b'"kind":"ended"' in body
        with self.lock:
            type(self).counter += ended
            drop = ended and self.counter % self.drop_every == 0
        if drop:
            self.send_response(410)
            self.end_headers()
            return
        request = urllib.request.Request(self.target, data=body, headers=dict(self.headers), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                status, data = reply.status, reply.read()
        except urllib.error.HTTPError as exc:
            status, data = exc.code, exc.read()
        self.send_response(status)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def end_reports_dropped(stack: Any, every: int) -> Iterator[type[_DroppingProxy]]:
    """While inside, the epilog's sender reaches the hook through a proxy that drops every `every`-th end report.
    Yields the proxy class, whose `counter` says how many end reports passed through it."""
    env_file = stack.layout.state / "epilog" / "olc-epilog.env"
    original = env_file.read_text()
    hook = f"OLC_HOOK_URL={stack.layout.url('completion')}/"
    assert hook in original, "the epilog no longer reads the hook URL from its env file"
    proxy = type("Proxy", (_DroppingProxy,), {"target": stack.layout.url("completion") + "/", "drop_every": every})
    server = ThreadingHTTPServer(("127.0.0.1", 0), proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env_file.write_text(original.replace(hook, f"OLC_HOOK_URL=http://127.0.0.1:{server.server_port}/"))
    try:
        yield proxy
    finally:
        env_file.write_text(original)
        server.shutdown()
