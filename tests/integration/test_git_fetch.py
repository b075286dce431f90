"""Fetching a design from git, for real: Debian's git against devstack/git_server.py (git http-backend) on loopback."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.git_server import publish_examples
from shared.adapters.git_fetch import PINNING_GIT, FetchedDesign, GitFetchError, fetch_design, git_version
from shared.domain.archive import ArchiveError, read_design_archive
from shared.domain.git_source import GitSource, parse_git_source
from tests.git_repositories import commit_sha, git, local_repository, publish_repository

REPO_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = ("127.0.0.1",)
CONFIG = b'{"DESIGN_NAME": "spm", "VERILOG_FILES": "dir::src/*.v"}\n'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    root: Path
    url: str
    tmp: Path

    def publish(self, name: str, files: dict[str, bytes | str], *, submodule: tuple[str, Path] | None = None) -> str:
        """A bare repository NAME.git with one commit of `files` (str values are symlink targets); its commit SHA."""
        return publish_repository(self.root, self.tmp, name, files, submodule=submodule)

    def sha(self, name: str, ref: str) -> str:
        return commit_sha(self.root, name, ref)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("git-server")
    root = tmp / "root"
    publish_examples(root, REPO_ROOT / "examples")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "devstack.git_server", "--port", str(port), "--root", str(root)],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not _port_open(port):
            assert proc.poll() is None, "the git server exited"
            assert time.monotonic() < deadline, "the git server did not start"
            time.sleep(0.05)
        yield Server(root, f"http://127.0.0.1:{port}", tmp)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    assert not _port_open(port)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def processes_with_home(home: Path) -> list[int]:
    """Processes whose HOME is `home`: every git the fetch starts has it, so none may outlive the fetch."""
    found = []
    marker = b"HOME=" + str(home).encode() + b"\0"
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if marker in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
    return found


def fetch(server: Server, tmp_path: Path, repo: str, ref: str = "main", path: str = "", **caps: float) -> FetchedDesign:
    source = parse_git_source(f"{server.url}/{repo}", ref, path, LOOPBACK)
    workdir = tmp_path / "work"
    try:
        return fetch_design(
            source,
            workdir=workdir,
            max_bytes=int(caps.get("max_bytes", 50 << 20)),
            timeout_s=caps.get("timeout_s", 30),
            allowed_hosts=LOOPBACK,
        )
    finally:
        assert processes_with_home(workdir) == []


def fetch_error(*args: object, **kwargs: object) -> GitFetchError:
    with pytest.raises(GitFetchError) as caught:
        fetch(*args, **kwargs)  # type: ignore[arg-type]
    return caught.value


def members(archive: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return {m.name.rstrip("/"): m for m in tar.getmembers()}


# ------------------------------------------------------------------------------------------------- fetching
@pytest.mark.parametrize("ref", ["main", "v1", "refs/tags/v1"])
def test_the_spm_example_by_branch_or_tag(server: Server, tmp_path: Path, ref: str) -> None:
    fetched = fetch(server, tmp_path, "examples.git", ref, "spm")
    design = read_design_archive(io.BytesIO(fetched.archive), declared_name="spm.tar.gz")
    assert design.design_root == "spm/"
    assert {"config.json", "src/spm.v", "verify/spm_tb.v"} <= set(design.design_files())
    assert fetched.commit_sha == server.sha("examples", ref)
    assert members(fetched.archive)["spm/src/spm.v"].size == (REPO_ROOT / "examples/spm/src/spm.v").stat().st_size


def test_a_full_commit_sha_and_a_subfolder(server: Server, tmp_path: Path) -> None:
    sha = server.publish("nested", {"chips/a/b/config.json": CONFIG, "chips/a/b/src/top.v": b"module top; endmodule\n"})
    work = server.tmp / "work-nested"  # a newer commit on main: the one asked for is no longer a branch tip
    (work / "chips/a/b/src/later.v").write_bytes(b"module later; endmodule\n")
    git("add", "-A", cwd=work)
    git("commit", "-q", "--no-gpg-sign", "-m", "later", cwd=work)
    git("push", "-q", str(server.root / "nested.git"), "main", cwd=work)
    assert server.sha("nested", "main") != sha
    fetched = fetch(server, tmp_path, "nested.git", sha, "chips/a/b")
    design = read_design_archive(io.BytesIO(fetched.archive), declared_name="b.tar.gz")
    assert fetched.commit_sha == sha
    assert design.files == ("b/config.json", "b/src/top.v")


def test_the_repository_root_is_packed_under_the_repository_name(server: Server, tmp_path: Path) -> None:
    server.publish("rooted", {"config.json": CONFIG, "src/top.v": b"module top; endmodule\n"})
    design = read_design_archive(io.BytesIO(fetch(server, tmp_path, "rooted.git").archive), declared_name="r.tar.gz")
    assert design.files == ("rooted/config.json", "rooted/src/top.v")


def test_a_submodule_is_not_fetched(server: Server, tmp_path: Path) -> None:
    inner = local_repository(tmp_path / "inner", {"secret.v": b"module secret; endmodule\n"})
    server.publish("withsub", {"design/config.json": CONFIG}, submodule=("design/vendor", inner))
    fetched = fetch(server, tmp_path, "withsub.git", "main", "design")
    names = members(fetched.archive)
    assert not [n for n in names if n.startswith("design/vendor/")]
    assert "design/vendor" not in names or names["design/vendor"].isdir()
    assert read_design_archive(io.BytesIO(fetched.archive), declared_name="d.tar.gz").files == ("design/config.json",)


def test_a_symlink_out_of_the_tree_stays_a_link_and_is_refused(server: Server, tmp_path: Path) -> None:
    server.publish("linked", {"design/config.json": CONFIG, "design/passwd": "../../../../etc/passwd"})
    fetched = fetch(server, tmp_path, "linked.git", "main", "design")
    link = members(fetched.archive)["design/passwd"]
    assert link.issym() and link.linkname == "../../../../etc/passwd"
    with pytest.raises(ArchiveError, match="is a link"):
        read_design_archive(io.BytesIO(fetched.archive), declared_name="d.tar.gz")


# --------------------------------------------------------------------------------------------------- errors
def test_an_unknown_repository(server: Server, tmp_path: Path) -> None:
    error = fetch_error(server, tmp_path, "nope.git")
    assert error.code == "repository_not_found"
    assert str(tmp_path) not in error.message


def test_an_unknown_ref(server: Server, tmp_path: Path) -> None:
    assert fetch_error(server, tmp_path, "examples.git", "no-such-branch", "spm").code == "ref_not_found"
    assert fetch_error(server, tmp_path, "examples.git", "0" * 40, "spm").code == "ref_not_found"


def test_an_unknown_path(server: Server, tmp_path: Path) -> None:
    error = fetch_error(server, tmp_path, "examples.git", "main", "no/such/folder")
    assert error.code == "path_not_found"
    assert fetch_error(server, tmp_path, "examples.git", "main", "README.md").code == "path_not_found"


def test_a_repository_larger_than_the_cap(server: Server, tmp_path: Path) -> None:
    server.publish("big", {"design/config.json": CONFIG, "design/noise.bin": os.urandom(3 << 20)})
    error = fetch_error(server, tmp_path, "big.git", "main", "design", max_bytes=1 << 20)
    assert error.code == "too_large"
    assert str(tmp_path) not in error.message


def test_a_server_that_stalls_times_out(tmp_path: Path) -> None:
    with socket.socket() as stalling:  # accepts connections (the kernel's backlog) and never answers
        stalling.bind(("127.0.0.1", 0))
        stalling.listen(8)
        port = stalling.getsockname()[1]
        stalled = Server(tmp_path, f"http://127.0.0.1:{port}", tmp_path)
        began = time.monotonic()
        error = fetch_error(stalled, tmp_path, "slow.git", timeout_s=1.0)
    assert error.code == "timed_out"
    assert time.monotonic() - began < 10


@pytest.mark.parametrize(
    ("url", "resolved"),
    [
        ("https://evil.example/owner/repo.git", "169.254.169.254"),
        ("https://localhost/owner/repo.git", None),
        ("https://metadata.google.internal/repo.git", None),
    ],
)
def test_a_host_with_a_private_address_is_refused_before_git_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, resolved: str | None
) -> None:
    real = socket.getaddrinfo

    def resolve(host: str, *args: object, **kwargs: object) -> list:
        if resolved is not None and host == "evil.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (resolved, 443))]
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    def no_process(*args: object, **kwargs: object) -> None:
        raise AssertionError("git must not run for a refused host")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(subprocess, "Popen", no_process)
    workdir = tmp_path / "work"
    with pytest.raises(GitFetchError) as caught:
        # Built directly: the URL check refuses the metadata server's name already, the adapter must refuse it too.
        host = url.split("/")[2]
        fetch_design(GitSource(url, host, 443, "main", ""), workdir=workdir, max_bytes=1 << 20, timeout_s=5)
    assert caught.value.code == "host_refused"
    assert not workdir.exists() or not any(workdir.iterdir())


def test_a_public_host_is_pinned_to_the_address_that_was_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git is told to connect to the address that was checked (no second DNS answer); git itself is not run here."""
    assert git_version() >= PINNING_GIT  # asked (and remembered) before Popen is replaced below
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", 443))]
    )
    seen: list[list[str]] = []
    real_popen = subprocess.Popen

    def recording(argv: list[str], **kwargs: object) -> subprocess.Popen:
        seen.append(list(argv))
        return real_popen(["/bin/false"], **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(subprocess, "Popen", recording)
    with pytest.raises(GitFetchError):
        fetch_design(
            parse_git_source("https://git.example.org/owner/repo.git"),
            workdir=tmp_path / "work",
            max_bytes=1 << 20,
            timeout_s=5,
        )
    assert "http.curloptResolve=git.example.org:443:8.8.8.8" in seen[0]
    assert "protocol.allow=never" in seen[0] and "protocol.http.allow=always" not in seen[0]
