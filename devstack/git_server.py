"""A real git server on loopback for the local stack: git's own `git http-backend`, behind a small CGI bridge.

    python -m devstack.git_server --port P --root DIR

serves every bare repository below DIR read-only at http://127.0.0.1:P/<name>.git (smart HTTP, protocol v2). The
stack publishes the example designs there as `examples.git` (branch `main`, tag `v1`; `publish_examples`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

HTTP_BACKEND = Path("/usr/lib/git-core/git-http-backend")
GIT = "/usr/bin/git"
EXAMPLES_REPOSITORY = "examples.git"
_MAX_BODY = 64 << 20
_FIXED_DATE = "2024-01-01T00:00:00Z"  # the same examples give the same commit SHA on every machine


def _git_env(home: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "LC_ALL": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_TERMINAL_PROMPT": "0",
    }


class _Bridge(BaseHTTPRequestHandler):
    """Runs git-http-backend once per request (CGI) and relays its status, headers and body."""

    server_version = "olc-git"
    root: Path = Path()

    def do_GET(self) -> None:
        self._cgi(b"")

    def do_POST(self) -> None:
        self._cgi(self._body())

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > _MAX_BODY:
                    raise ValueError("request body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            raise ValueError("request body too large")
        return self.rfile.read(length)

    def _cgi(self, body: bytes) -> None:
        path, _, query = self.path.partition("?")
        env = {
            **_git_env(self.root),
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": self.request_version,
            "REQUEST_METHOD": self.command,
            "PATH_INFO": unquote(path),
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
        }
        for header in ("Git-Protocol", "Content-Encoding", "Accept"):
            value = self.headers.get(header)
            if value is not None:
                env["HTTP_" + header.upper().replace("-", "_")] = value
        done = subprocess.run([str(HTTP_BACKEND)], input=body, capture_output=True, env=env, check=False)
        head, sep, payload = done.stdout.partition(b"\r\n\r\n")
        if not sep:
            head, sep, payload = done.stdout.partition(b"\n\n")
        if not sep:
            self.send_error(502, "git http-backend gave no answer")
            return
        status = 200
        headers: list[tuple[str, str]] = []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name.strip(), value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


def make_server(port: int, root: Path) -> ThreadingHTTPServer:
    if not HTTP_BACKEND.exists():
        raise SystemExit(f"{HTTP_BACKEND} is missing: install Debian's git package")
    handler = type("Bridge", (_Bridge,), {"root": root.resolve()})
    return ThreadingHTTPServer(("127.0.0.1", port), handler)


def publish_examples(root: Path, examples: Path) -> Path:
    """(Re)create ROOT/examples.git: one commit of `examples` on branch `main`, tagged `v1`."""
    root.mkdir(parents=True, exist_ok=True)
    target = root / EXAMPLES_REPOSITORY
    with tempfile.TemporaryDirectory(prefix="olc-examples-") as tmp:
        work = Path(tmp) / "work"
        shutil.copytree(examples, work, ignore=shutil.ignore_patterns("__pycache__", "runs", ".*"))
        env = {
            **_git_env(Path(tmp)),
            "GIT_AUTHOR_DATE": _FIXED_DATE,
            "GIT_COMMITTER_DATE": _FIXED_DATE,
        }
        identity = ["-c", "user.name=OpenLane Cloud examples", "-c", "user.email=examples@olc.invalid"]

        def git(*args: str, cwd: Path = work) -> None:
            subprocess.run([GIT, *identity, *args], cwd=cwd, env=env, check=True, capture_output=True)

        git("init", "-q", "-b", "main")
        git("add", "-A")
        git("commit", "-q", "--no-gpg-sign", "-m", "OpenLane Cloud example designs")
        git("tag", "v1")
        bare = Path(tmp) / EXAMPLES_REPOSITORY
        git("clone", "-q", "--bare", str(work), str(bare), cwd=Path(tmp))
        shutil.rmtree(target, ignore_errors=True)
        shutil.move(str(bare), str(target))
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--root", type=Path, required=True, help="folder holding the bare repositories")
    args = parser.parse_args(argv)
    args.root.mkdir(parents=True, exist_ok=True)
    server = make_server(args.port, args.root)
    print(f"git server on http://127.0.0.1:{args.port}/ serving {args.root.resolve()}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    os.umask(0o022)
    main()
