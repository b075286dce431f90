"""Fetch a design from a git repository with Debian's `git` CLI and pack it as a .tar.gz design archive.

The source was checked as hostile input already (`shared/domain/git_source.parse_git_source`); this adapter adds what
needs the network and the disk:

- DNS pinning: a host that is not on the allow-list is resolved here, refused (`address_problem`) when ANY of its
  addresses is not public, and git is told to connect to the address that was checked (`http.curloptResolve`), so a
  second, different DNS answer (rebinding) is never used.
- git runs from argv lists (no shell) in a clean environment: no system or global config, no prompts, no askpass,
  no LFS smudging, no hooks, no credential helper, no redirects, https only (http only to allow-listed hosts), and no
  submodules.
- Nothing is checked out: the ref is resolved with `git ls-remote` (or taken as given when it is a full SHA), one
  commit is fetched (`--depth 1`) into a bare repository, and `git archive` packs the design folder's tree with the
  folder as the archive's top folder. Symlinks stay symlink entries (the archive rules refuse them) and submodules
  (gitlinks) carry no content.
- Caps: the work folder's size is polled while git runs and checked after every step; past `max_bytes`, or past
  `timeout_s` for the whole fetch, git's process group is killed and the fetch fails.

Errors are one exception type, `GitFetchError(code, message)`; messages never hold the work folder or git's output.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from shared.domain.git_source import (
    FETCH_FAILED,
    FULL_SHA,
    HOST_REFUSED,
    PATH_NOT_FOUND,
    REF_NOT_FOUND,
    REPOSITORY_NOT_FOUND,
    TIMED_OUT,
    TOO_LARGE,
    FetchedDesign,
    GitFetchError,
    GitSource,
    address_problem,
)

GIT = "/usr/bin/git"
POLL_S = 0.05
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,99}$")


@dataclass(frozen=True)
class GitCliFetcher:
    """The DesignFetcher port (shared/ports.py) over `fetch_design`, with the deployment's caps."""

    work_dir: Path
    max_bytes: int
    timeout_s: float
    allowed_hosts: tuple[str, ...] = ()

    def fetch(self, source: GitSource) -> FetchedDesign:
        return fetch_design(
            source,
            workdir=self.work_dir,
            max_bytes=self.max_bytes,
            timeout_s=self.timeout_s,
            allowed_hosts=self.allowed_hosts,
        )


def fetch_design(
    source: GitSource,
    *,
    workdir: Path,
    max_bytes: int,
    timeout_s: float,
    allowed_hosts: tuple[str, ...] = (),
) -> FetchedDesign:
    """Fetch `source.ref` of `source.url` and pack `source.path` (the repository root when "") as a .tar.gz."""
    allowed = source.host in allowed_hosts
    pinned = None if allowed else _checked_address(source)
    workdir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="git-", dir=workdir))
    try:
        git = _Git(source, workdir=workdir, scratch=scratch, max_bytes=max_bytes, timeout_s=timeout_s)
        git.network_config(allow_http=allowed, pinned=pinned)
        return git.fetch()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _checked_address(source: GitSource) -> str:
    """The one address git may connect to: every address the host resolves to must be public."""
    try:
        infos = socket.getaddrinfo(source.host, source.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise GitFetchError(HOST_REFUSED, f"the host {source.host} could not be resolved; check the URL") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise GitFetchError(HOST_REFUSED, f"the host {source.host} could not be resolved; check the URL")
    for address in addresses:
        problem = address_problem(source.host, address)
        if problem:
            raise GitFetchError(HOST_REFUSED, problem)
    return addresses[0]


PINNING_GIT = (2, 37)  # http.curloptResolve; older git ignores it silently, which would un-pin the address


class GitUnusable(RuntimeError):
    """This machine's git cannot fetch safely: a deployment fault, not the designer's (the message is retried and
    then dead-lettered, which rejects the job and alerts operators)."""


@functools.cache
def git_version() -> tuple[int, int]:
    try:
        out = subprocess.run([GIT, "--version"], capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise GitUnusable(f"{GIT} cannot be run here: {exc}") from exc
    found = re.search(r"(\d+)\.(\d+)", out)
    if not found:
        raise GitUnusable(f"{GIT} --version said {out.strip()!r}")
    return int(found.group(1)), int(found.group(2))


def _require_pinning_git() -> None:
    if git_version() < PINNING_GIT:
        wanted = ".".join(map(str, PINNING_GIT))
        raise GitUnusable(f"git {'.'.join(map(str, git_version()))} cannot pin addresses; git {wanted}+ is needed")


class _Git:
    def __init__(self, source: GitSource, *, workdir: Path, scratch: Path, max_bytes: int, timeout_s: float) -> None:
        self.source = source
        self.workdir = workdir
        self.scratch = scratch
        self.repo = scratch / "repo.git"
        self.max_bytes = max_bytes
        self.deadline = time.monotonic() + timeout_s
        self.env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(workdir),
            "LC_ALL": "C",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_LFS_SKIP_SMUDGE": "1",
            "GIT_ASKPASS": "/bin/false",
            "SSH_ASKPASS": "/bin/false",
        }
        self.config: list[str] = []

    def network_config(self, *, allow_http: bool, pinned: str | None) -> None:
        config = [
            "protocol.allow=never",
            "protocol.https.allow=always",
            "http.followRedirects=false",
            "core.hooksPath=/dev/null",
            "credential.helper=",
            "submodule.recurse=false",
            "fetch.recurseSubmodules=false",
            "core.askPass=/bin/false",
        ]
        if allow_http:
            config.append("protocol.http.allow=always")
        if pinned is not None:
            _require_pinning_git()
            address = f"[{pinned}]" if ":" in pinned else pinned
            config.append(f"http.curloptResolve={self.source.host}:{self.source.port}:{address}")
        self.config = [arg for item in config for arg in ("-c", item)]

    # ----------------------------------------------------------------------------------------------- steps
    def fetch(self) -> FetchedDesign:
        source = self.source
        wanted = self._resolve()
        self._run(["init", "-q", "--bare", str(self.repo)], what="prepare the fetch")
        self._run(["-C", str(self.repo), "remote", "add", "origin", source.url], what="prepare the fetch")
        fetched = self._run(
            [
                "-C",
                str(self.repo),
                "fetch",
                "-q",
                "--depth",
                "1",
                "--no-tags",
                "--no-write-fetch-head",
                "--recurse-submodules=no",
                "origin",
                f"{wanted}:refs/olc/design",
            ],
            what="fetch",
            check=False,
        )
        if fetched.returncode != 0:
            stderr = fetched.stderr
            if source.is_commit and re.search(r"not our ref|couldn't find remote ref|unadvertised object", stderr):
                raise GitFetchError(
                    REF_NOT_FOUND,
                    f"commit {source.ref} is not in the repository (or the server does not let it be fetched by "
                    "SHA); give a branch or a tag",
                )
            raise _network_error(source, stderr, "fetching the commit")
        commit = self._run(
            ["-C", str(self.repo), "rev-parse", "--verify", "-q", "refs/olc/design^{commit}"], what="read the commit"
        ).stdout.strip()
        if not FULL_SHA.match(commit):
            raise GitFetchError(FETCH_FAILED, f"{source.ref} does not name a commit")
        tree = f"{commit}:{source.path}" if source.path else f"{commit}^{{tree}}"
        kind = self._run(["-C", str(self.repo), "cat-file", "-t", tree], what="find the design", check=False)
        if kind.returncode != 0 or kind.stdout.strip() != "tree":
            where = f"folder {source.path!r}" if source.path else "repository root"
            not_folder = " is a file, not a folder" if kind.stdout.strip() == "blob" else " does not exist"
            raise GitFetchError(PATH_NOT_FOUND, f"the {where}{not_folder} at {source.ref} ({commit[:12]})")
        out = self.scratch / "design.tar.gz"
        self._run(
            [
                "-C",
                str(self.repo),
                "archive",
                "--format=tar.gz",
                f"--prefix={self._folder_name()}/",
                f"--output={out}",
                tree,
            ],
            what="pack the design",
        )
        return FetchedDesign(commit_sha=commit, archive=out.read_bytes())

    def _resolve(self) -> str:
        """The commit to fetch: a full SHA as given, else the branch's or tag's commit from `git ls-remote`."""
        source = self.source
        if source.is_commit:
            # Still ask the server, so a missing repository is told apart from a missing commit.
            self._ls_remote(["HEAD"])
            return source.ref
        ref = source.ref
        candidates = [ref] if ref.startswith("refs/") else [f"refs/tags/{ref}", f"refs/heads/{ref}"]
        advertised = self._ls_remote(candidates)
        for name in candidates:  # git's own order: a tag wins over a branch of the same name
            sha = advertised.get(f"{name}^{{}}") or advertised.get(name)
            if sha:
                return sha
        raise GitFetchError(
            REF_NOT_FOUND, f"the repository has no branch or tag {ref!r}; give a branch, a tag or a full commit SHA"
        )

    def _ls_remote(self, patterns: list[str]) -> dict[str, str]:
        listed = self._run(["ls-remote", "--", self.source.url, *patterns], what="list refs", check=False)
        if listed.returncode != 0:
            raise _network_error(self.source, listed.stderr, "listing the repository's branches and tags")
        refs: dict[str, str] = {}
        for line in listed.stdout.splitlines():
            sha, _, name = line.partition("\t")
            if FULL_SHA.match(sha) and name:
                refs[name] = sha
        return refs

    def _folder_name(self) -> str:
        if self.source.path:
            return self.source.path.rsplit("/", 1)[-1]
        name = self.source.url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
        return name if _SAFE_NAME.match(name) else "design"

    # ----------------------------------------------------------------------------------------------- running
    def _run(self, args: list[str], *, what: str, check: bool = True) -> _Result:
        """Run git with the caps: its process group is killed past the deadline or past `max_bytes` on disk."""
        out_path = self.scratch / "stdout"
        err_path = self.scratch / "stderr"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen(
                [GIT, *self.config, *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=self.env,
                cwd=self.scratch,
                start_new_session=True,
            )
            try:
                while proc.poll() is None:
                    self._check_caps()
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(timeout=POLL_S)
                self._check_caps()
            finally:
                if proc.poll() is None or _group_alive(proc.pid):
                    _kill_group(proc)
        result = _Result(
            proc.returncode,
            out_path.read_text(errors="replace"),
            err_path.read_text(errors="replace"),
        )
        if check and result.returncode != 0:
            raise GitFetchError(FETCH_FAILED, f"git could not {what} for {self.source.url}")
        return result

    def _check_caps(self) -> None:
        if time.monotonic() > self.deadline:
            raise GitFetchError(TIMED_OUT, f"fetching {self.source.url} took too long; try a smaller repository")
        if _size(self.workdir) > self.max_bytes:
            raise GitFetchError(
                TOO_LARGE,
                f"the repository's commit is larger than {self.max_bytes} bytes; put the design in a smaller "
                "repository or upload an archive",
            )


@dataclass(frozen=True)
class _Result:
    returncode: int
    stdout: str
    stderr: str


def _network_error(source: GitSource, stderr: str, doing: str) -> GitFetchError:
    text = stderr.lower()
    if "not found" in text or "could not read username" in text or "authentication failed" in text:
        return GitFetchError(
            REPOSITORY_NOT_FOUND,
            f"no public repository at {source.url}; check the URL (private repositories cannot be fetched)",
        )
    if re.search(r"returned error: 30\d", text):
        return GitFetchError(FETCH_FAILED, f"{source.url} redirects elsewhere; give the repository's final URL")
    if "could not resolve host" in text or "failed to connect" in text or "couldn't connect" in text:
        return GitFetchError(FETCH_FAILED, f"could not connect to {source.host} while {doing}; try again later")
    return GitFetchError(FETCH_FAILED, f"git failed while {doing} from {source.url}; check the URL and try again")


def _size(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    # SIGKILL is delivered asynchronously: git's own children (git-remote-http) may still be running for a moment
    # after git itself was reaped, and the fetch must not return while any of them can still write to the workdir.
    deadline = time.monotonic() + 5
    while _live_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)


def _live_members(pgid: int) -> list[int]:
    """Processes of the group that have not exited yet (zombies waiting for their reaper no longer run)."""
    live = []
    proc_root = Path("/proc")
    if not proc_root.is_dir():
        return live
    for entry in proc_root.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command name: state, ppid, pgrp, ...
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            live.append(int(entry.name))
    return live
