"""Read a design archive (tar, tar.gz, zip) safely, in one streaming pass with bounded memory.

The archive is never extracted here: ingest only needs the member list and config.json. Extraction happens on the
compute node (infra/slurm/olc_job.py), which applies the same path rules again.
"""

from __future__ import annotations

import posixpath
import tarfile
import zipfile
from dataclasses import dataclass
from typing import IO

CONFIG_NAMES = ("config.json",)
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"


@dataclass(frozen=True)
class ArchiveLimits:
    max_entries: int = 5000
    max_total_bytes: int = 1 << 30
    max_config_bytes: int = 256 << 10


@dataclass(frozen=True)
class DesignArchive:
    """The regular files of an archive (normalised relative paths) and the design folder inside it."""

    files: tuple[str, ...]
    design_root: str  # "" or "name/" — the folder holding config.json
    config_text: str
    total_bytes: int

    def design_files(self) -> tuple[str, ...]:
        """Files below the design root, relative to it."""
        n = len(self.design_root)
        return tuple(f[n:] for f in self.files if f.startswith(self.design_root))


class ArchiveError(ValueError):
    """The upload cannot be used; the message is shown to the user as the rejection reason."""


def read_design_archive(stream: IO[bytes], limits: ArchiveLimits = ArchiveLimits()) -> DesignArchive:
    head = stream.read(4)
    stream.seek(0)
    if head.startswith((_ZIP_MAGIC, _EMPTY_ZIP_MAGIC)):
        files, configs, total = _scan_zip(stream, limits)
    else:
        files, configs, total = _scan_tar(stream, limits, gzipped=head.startswith(_GZIP_MAGIC))
    if not files:
        raise ArchiveError("the archive contains no files")
    root = _design_root(configs)
    return DesignArchive(files=tuple(sorted(files)), design_root=root, config_text=configs[root], total_bytes=total)


def safe_member_path(raw: str) -> str:
    """A member name as a safe relative path, or ArchiveError naming it (absolute, `..`, empty, odd characters)."""
    name = raw.replace("\\", "/") if "\\" in raw and "/" not in raw else raw
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError(f"archive entry {raw!r} has an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts:
        raise ArchiveError(f"archive entry {raw!r} has an empty path")
    if ".." in parts:
        raise ArchiveError(f"archive entry {raw!r} points outside the archive ('..')")
    if any(ord(c) < 32 or c == "\x7f" for c in name):
        raise ArchiveError(f"archive entry {raw!r} has control characters in its name")
    return posixpath.join(*parts)


def _scan_tar(stream: IO[bytes], limits: ArchiveLimits, *, gzipped: bool) -> tuple[set[str], dict[str, str], int]:
    files: set[str] = set()
    configs: dict[str, str] = {}
    total = 0
    try:
        with tarfile.open(fileobj=stream, mode="r|gz" if gzipped else "r|") as tar:
            for count, member in enumerate(tar, start=1):
                if count > limits.max_entries:
                    raise ArchiveError(f"the archive has more than {limits.max_entries} entries")
                path = safe_member_path(member.name)
                if member.isdir():
                    continue
                if member.issym() or member.islnk():
                    raise ArchiveError(f"archive entry {path!r} is a link; only regular files are accepted")
                if not member.isfile():
                    raise ArchiveError(f"archive entry {path!r} is not a regular file")
                total += member.size
                _check_new_file(path, files, total, limits)
                if posixpath.basename(path) in CONFIG_NAMES:
                    extracted = tar.extractfile(member)
                    assert extracted is not None
                    configs[_root_of(path)] = _read_config(path, extracted, member.size, limits)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"not a readable .tar/.tar.gz/.zip archive ({exc})") from exc
    return files, configs, total


def _scan_zip(stream: IO[bytes], limits: ArchiveLimits) -> tuple[set[str], dict[str, str], int]:
    files: set[str] = set()
    configs: dict[str, str] = {}
    total = 0
    try:
        with zipfile.ZipFile(stream) as archive:
            infos = archive.infolist()
            if len(infos) > limits.max_entries:
                raise ArchiveError(f"the archive has more than {limits.max_entries} entries")
            for info in infos:
                path = safe_member_path(info.filename)
                if info.is_dir():
                    continue
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise ArchiveError(f"archive entry {path!r} is a link; only regular files are accepted")
                total += info.file_size
                _check_new_file(path, files, total, limits)
                if posixpath.basename(path) in CONFIG_NAMES:
                    with archive.open(info) as member:
                        configs[_root_of(path)] = _read_config(path, member, info.file_size, limits)
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError) as exc:
        raise ArchiveError(f"not a readable .tar/.tar.gz/.zip archive ({exc})") from exc
    return files, configs, total


def _check_new_file(path: str, files: set[str], total: int, limits: ArchiveLimits) -> None:
    if path in files:
        raise ArchiveError(f"archive entry {path!r} appears twice")
    if total > limits.max_total_bytes:
        raise ArchiveError(f"the archive unpacks to more than {limits.max_total_bytes} bytes")
    files.add(path)


def _read_config(path: str, member: IO[bytes], size: int, limits: ArchiveLimits) -> str:
    if size > limits.max_config_bytes:
        raise ArchiveError(f"{path} is larger than {limits.max_config_bytes} bytes")
    data = member.read(limits.max_config_bytes + 1)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArchiveError(f"{path} is not UTF-8 text") from exc


def _root_of(path: str) -> str:
    folder = posixpath.dirname(path)
    return f"{folder}/" if folder else ""


def _design_root(configs: dict[str, str]) -> str:
    if not configs:
        raise ArchiveError("no config.json found: put config.json at the top of the archive or in a single top folder")
    shallowest = min(configs, key=lambda root: (root.count("/"), root))
    depth = shallowest.count("/")
    if depth > 1:
        raise ArchiveError(f"config.json is nested too deep ({shallowest}config.json); keep it at most one folder down")
    rivals = [root for root in configs if root.count("/") == depth and root != shallowest]
    if rivals:
        found = ", ".join(f"{r}config.json" for r in sorted([shallowest, *rivals]))
        raise ArchiveError(f"more than one design in the archive ({found}); upload one design per archive")
    return shallowest
