"""A design submitted as a git repository: the URL, the ref and the design folder, checked as hostile input.

Only `https://` is accepted, or plain `http://` to hosts a deployment lists (the local stack's git server on loopback);
every other transport git knows (`file://`, `ssh://`, `git://`, `ext::`, scp-like `user@host:path`, a bare path) is
refused, as are credentials in the URL. What the host resolves to is checked by the fetching adapter
(`address_problem`), which then connects to the address it checked.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_CHARS = 500
MAX_REF_CHARS = 200
MAX_PATH_CHARS = 300
FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
# A branch or tag name as `git check-ref-format` allows it, narrowed: no "..", "@{", control characters, spaces,
# "~^:?*[\", no leading "-" (an option) or "/" and no trailing "/", ".lock" or ".".
_REF = re.compile(r"^(?!-)(?!/)(?!.*\.\.)(?!.*//)(?!.*@\{)[A-Za-z0-9._/+-]+(?<![/.])(?<!\.lock)$")
_PATH_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")
_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
# Names that resolve to the instance metadata server whatever DNS says.
_METADATA_HOSTS = frozenset({"metadata", "metadata.google.internal", "metadata.goog"})


class GitSourceError(ValueError):
    """Every problem with a git submission, in words the designer can act on."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(problems))


REPOSITORY_NOT_FOUND = "repository_not_found"
REF_NOT_FOUND = "ref_not_found"
PATH_NOT_FOUND = "path_not_found"
TOO_LARGE = "too_large"
TIMED_OUT = "timed_out"
HOST_REFUSED = "host_refused"
FETCH_FAILED = "fetch_failed"


class GitFetchError(RuntimeError):
    """Why a design could not be fetched: `code` for programs, `message` for the designer."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


@dataclass(frozen=True)
class FetchedDesign:
    commit_sha: str
    archive: bytes  # .tar.gz with the design folder as its top folder


@dataclass(frozen=True)
class GitSource:
    url: str  # normalised: scheme and host lower-case, no credentials, no query or fragment
    host: str
    port: int
    ref: str  # as asked for: a branch, a tag or a full commit SHA
    path: str  # the design folder inside the repository; "" for its root

    @property
    def is_commit(self) -> bool:
        return bool(FULL_SHA.match(self.ref))


def parse_git_source(
    url: object, ref: object = "main", path: object = "", allowed_http_hosts: tuple[str, ...] = ()
) -> GitSource:
    problems: list[str] = []
    parsed = _url(url, allowed_http_hosts, problems)
    checked_ref = _ref(ref, problems)
    checked_path = _path(path, problems)
    if problems or parsed is None:
        raise GitSourceError(problems)
    scheme, host, port, rest = parsed
    netloc = f"[{host}]" if ":" in host else host
    shown_port = "" if port == {"https": 443, "http": 80}[scheme] else f":{port}"
    return GitSource(f"{scheme}://{netloc}{shown_port}{rest}", host, port, checked_ref, checked_path)


def _url(  # noqa: PLR0911 - each refused form of URL stops the check with its own reason
    url: object, allowed_http_hosts: tuple[str, ...], problems: list[str]
) -> tuple[str, str, int, str] | None:
    if not isinstance(url, str) or not url.strip():
        problems.append("git.url must be the repository's https:// URL, e.g. https://github.com/owner/repo.git")
        return None
    if "::" in url.split("/", 1)[0]:
        problems.append("git.url uses a git transport helper ('ext::', 'fd::' ...); only https:// is accepted")
        return None
    if len(url) > MAX_URL_CHARS or any(ord(c) < 33 or ord(c) == 127 for c in url):
        problems.append(f"git.url must be at most {MAX_URL_CHARS} characters without spaces or control characters")
        return None
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        shown = f"{scheme}://" if scheme else "a path or user@host:path"
        problems.append(f"git.url must start with https:// (not {shown}): only https repositories can be fetched")
        return None
    if parts.username is not None or parts.password is not None:
        problems.append("git.url must not hold credentials (user:password@); only public repositories are fetched")
        return None
    if parts.query or parts.fragment:
        problems.append("git.url must not have a query (?...) or fragment (#...)")
        return None
    host = (parts.hostname or "").lower().rstrip(".")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        problems.append("git.url has a port that is not a number from 1 to 65535")
        return None
    if not host or not (_HOST.match(host) or _ip(host) is not None):
        problems.append(f"git.url's host {host!r} is not a host name")
        return None
    if scheme == "http" and host not in allowed_http_hosts:
        problems.append("git.url must start with https:// (plain http:// only to hosts this deployment allows)")
        return None
    # Refused here already when the URL itself says so; names are resolved and checked by the fetcher.
    named_problem = (host in _METADATA_HOSTS or _ip(host) is not None) and address_problem(host, host)
    if named_problem and host not in allowed_http_hosts:
        problems.append(f"git.url: {named_problem}")
        return None
    if not parts.path or parts.path == "/":
        problems.append("git.url names no repository (a path such as /owner/repo.git)")
        return None
    if ".." in parts.path.split("/"):
        problems.append("git.url's path must not contain '..'")
        return None
    return scheme, host, port, parts.path


def _ref(ref: object, problems: list[str]) -> str:
    if ref is None or ref == "":
        return "main"
    if not isinstance(ref, str) or len(ref) > MAX_REF_CHARS or not _REF.match(ref):
        problems.append(
            "git.ref must be a branch, a tag or a full 40-character commit SHA (letters, digits and . _ / + -, "
            "not starting with '-')"
        )
        return ""
    return ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else ref


def _path(path: object, problems: list[str]) -> str:
    if path is None or path in ("", ".", "/"):
        return ""
    if not isinstance(path, str) or len(path) > MAX_PATH_CHARS:
        problems.append(f"git.path must be a folder of the repository, at most {MAX_PATH_CHARS} characters")
        return ""
    parts = [p for p in path.strip("/").split("/") if p not in ("", ".")]
    if not parts or not all(_PATH_PART.match(p) for p in parts):
        problems.append(
            "git.path must be a folder inside the repository, e.g. designs/spm (letters, digits, _ . + -; no '..')"
        )
        return ""
    return "/".join(parts)


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def address_problem(host: str, address: str) -> str | None:
    """Why `host` (resolved to `address`) may not be fetched from in production, or None: private, loopback,
    link-local (the metadata server), multicast, reserved and unspecified addresses, and metadata host names."""
    if host.rstrip(".").lower() in _METADATA_HOSTS:
        return f"{host} is the cloud metadata server"
    ip = _ip(address)
    if ip is None:
        return f"{host} resolved to {address!r}, which is not an address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if not ip.is_global or ip.is_multicast:
        where = f"{host} is" if host == address else f"{host} resolves to {address},"
        return f"{where} an address inside a private network; only public hosts are fetched"
    return None
