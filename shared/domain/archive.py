"""Read a design archive (tar, tar.gz, zip) safely, in one streaming pass with bounded memory.

The archive is never extracted here: ingest only needs the member list and config.json. Extraction happens on the
compute node (infra/slurm/olc_job.py), which applies the same path rules again.

What is refused, each with a message naming the entry and what to do: paths that are absolute, climb out with `..`,
hold control or invisible characters, are not UTF-8 or are too long; links, devices, FIFOs and sparse files; the
same path twice (also after normalisation, or differing only in letter case, which case-insensitive disks merge);
a path that is both a file and a folder; archives inside the archive; more entries, more unpacked bytes, a larger
file or a higher compression ratio than `ArchiveLimits` allows; encrypted or unreadably compressed zip entries;
damaged or cut-short archives (every byte is read, so gzip's and each zip member's CRC are checked); and content
that does not match the upload's name (a gzip'd tar named .zip).

Zip names: zipfile decodes names without the UTF-8 flag as cp437, so a non-ASCII name there would come out differently
here, on the compute node and on the designer's machine. Such names are refused; ASCII names are the same either way.

Memory: tar (and gzip) are read as a stream, holding one 10 KiB block and a little of the current member; a zip's
central directory is read whole by zipfile, so its size is checked against the entry limit first. Only config.json
is read into memory, at most `max_config_bytes` + 1 bytes of it.
"""

from __future__ import annotations

import gzip
import hashlib
import lzma
import os
import posixpath
import stat
import struct
import tarfile
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import IO, Protocol

CONFIG_NAMES = ("config.json",)
TCL_CONFIG = "config.tcl"
ACCEPTED = ".tar.gz, .tgz, .tar or .zip"

# Kinds of upload content, as sniffed from the first bytes, and how a message names them.
ZIP, TAR_GZ, TAR, GZIP_OTHER, UNKNOWN = "zip", "tar.gz", "tar", "gzip", "unknown"
_KIND_WORDS = {
    ZIP: "a zip archive",
    TAR_GZ: "a gzip-compressed tar archive",
    TAR: "an uncompressed tar archive",
    GZIP_OTHER: "a gzip-compressed file that is not a tar archive",
    "bzip2": "a bzip2-compressed file",
    "xz": "an xz-compressed file",
    "7z": "a 7-Zip archive",
    "rar": "a RAR archive",
    "zstd": "a zstd-compressed file",
}
_NESTED_WORDS = {
    "gzip": "gzip data",
    "bzip2": "bzip2 data",
    "xz": "xz data",
    "7z": "a 7-Zip archive",
    "rar": "a RAR archive",
    "zstd": "zstd data",
    "tar": "a tar archive",
}
_SUFFIX_KINDS = ((".tar.gz", TAR_GZ), (".tgz", TAR_GZ), (".tar", TAR), (".zip", ZIP))
_SUGGESTED_SUFFIX = {TAR_GZ: ".tar.gz", TAR: ".tar", ZIP: ".zip"}
# Compression and archive formats recognised by their first bytes. Zip is not among them for members: .docx, .xlsx
# and .jar files are zips too, and a design's documentation may hold them; zips inside are caught by name.
_MAGIC = (
    (b"\x1f\x8b\x08", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_USTAR_AT = 257
_HEAD_BYTES = 512  # enough for every magic above and a tar header's "ustar" at byte 257
_DRAIN_CHUNK = 1 << 16
_NESTED_SUFFIXES = (
    ".tar",
    ".tar.gz",
    ".tgz",
    ".zip",
    ".gz",
    ".bz2",
    ".tbz2",
    ".xz",
    ".txz",
    ".7z",
    ".rar",
    ".zst",
    ".lz",
    ".lzma",
)
# tarfile reads pax and GNU long-name headers into memory whole; real ones hold a path and a few attributes.
_MAX_HEADER_BYTES = 1 << 20
# ...and keeps what they hold on every member it lists, so their sum is bounded too.
_MAX_ALL_HEADER_BYTES = 8 << 20
_META_TYPES = (
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
)
# After a tar's end marker only the zero padding of its last record (10 KiB with the usual blocking factor) follows.
_MAX_TRAILING_BYTES = 1 << 20
_ZIP_DIRECTORY_BYTES_PER_ENTRY = 512  # a central directory entry: 46 bytes, the name and an extra field or two
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)
_ZIP_UTF8_FLAG = 0x800
_ZIP_ENCRYPTED_FLAG = 0x1
_MAX_NAME_BYTES = 255  # a file or folder name on the compute node's disk
_MAX_PATH_CHARS = 1024


@dataclass(frozen=True)
class ArchiveLimits:
    """What one upload may unpack to. Settings (shared/config.py) set max_entries, max_total_bytes, max_file_bytes
    and max_ratio: MAX_ARCHIVE_ENTRIES, MAX_UNPACKED_BYTES, MAX_FILE_BYTES and MAX_COMPRESSION_RATIO."""

    max_entries: int = 5000
    max_total_bytes: int = 1 << 30
    max_config_bytes: int = 256 << 10
    max_file_bytes: int = 256 << 20
    # Unpacked bytes per byte of the upload. Sources compress 4-10x; 200x is a bomb. Checked only once more than
    # `ratio_floor_bytes` are unpacked, so small archives of repetitive text are never refused for it.
    max_ratio: float = 200.0
    ratio_floor_bytes: int = 1 << 20


@dataclass(frozen=True)
class DesignArchive:
    """The regular files of an archive (normalised relative paths) and the design folder inside it."""

    files: tuple[str, ...]
    design_root: str  # "" or "name/" — the folder holding config.json
    config_text: str
    total_bytes: int
    digests: dict[str, str] = field(default_factory=dict)  # SHA-256 (hex) of each file's content, by path

    def design_files(self) -> tuple[str, ...]:
        """Files below the design root, relative to it."""
        n = len(self.design_root)
        return tuple(f[n:] for f in self.files if f.startswith(self.design_root))

    def design_file_digests(self) -> dict[str, str]:
        """The content hash of every file below the design root, by its path relative to that root."""
        n = len(self.design_root)
        return {f[n:]: self.digests[f] for f in self.files if f.startswith(self.design_root) and f in self.digests}


class ArchiveError(ValueError):
    """The upload cannot be used; the message is shown to the user as the rejection reason."""


def read_design_archive(
    stream: IO[bytes], limits: ArchiveLimits = ArchiveLimits(), *, declared_name: str | None = None
) -> DesignArchive:
    """`stream` must be seekable (its size is the compressed size of the ratio check); `declared_name` is the
    upload's object name, whose suffix must match the content."""
    compressed_size = stream.seek(0, os.SEEK_END)
    stream.seek(0)
    head = stream.read(64 << 10)
    stream.seek(0)
    kind = _content_kind(head)
    _check_declared_kind(kind, declared_name)
    scan = _Scan(limits, compressed_size)
    if kind == ZIP:
        _scan_zip(stream, compressed_size, scan)
    else:
        _scan_tar(stream, scan, gzipped=kind == TAR_GZ)
    if not scan.files:
        raise ArchiveError("the archive contains no files: pack the design folder (config.json and the sources)")
    root = _design_root(scan.configs, scan.tcl_configs)
    return DesignArchive(
        files=tuple(sorted(scan.files)),
        design_root=root,
        config_text=scan.configs[root],
        total_bytes=scan.total,
        digests=scan.digests,
    )


def safe_member_path(raw: str) -> str:
    """A member name as a safe relative path, or ArchiveError naming it (absolute, `..`, empty, odd characters)."""
    if any("\udc80" <= c <= "\udcff" for c in raw):
        # tarfile decodes names with surrogateescape: these stand for bytes that are not UTF-8.
        raise ArchiveError(f"archive entry {raw!r} has a name that is not UTF-8 text; rename it (ASCII is safest)")
    name = raw.replace("\\", "/") if "\\" in raw and "/" not in raw else raw
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError(f"archive entry {raw!r} has an absolute path; pack the design folder with relative paths")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts:
        raise ArchiveError(f"archive entry {raw!r} has an empty path")
    if ".." in parts:
        raise ArchiveError(f"archive entry {raw!r} points outside the archive ('..'); pack the files it names instead")
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise ArchiveError(f"archive entry {raw!r} has control characters in its name; rename it")
    if any(unicodedata.category(c) in ("Cf", "Co", "Cn") for c in name):
        raise ArchiveError(
            f"archive entry {raw!r} has invisible or unassigned characters (such as U+202E) in its name; rename it"
        )
    if len(name) > _MAX_PATH_CHARS or any(len(p.encode()) > _MAX_NAME_BYTES for p in parts):
        raise ArchiveError(
            f"archive entry {raw[:80]!r}... has a name longer than {_MAX_NAME_BYTES} bytes per folder or file "
            f"(or {_MAX_PATH_CHARS} characters in all); shorten it"
        )
    return posixpath.join(*parts)


# ------------------------------------------------------------------------------------------------ sniffing
def _content_kind(head: bytes) -> str:
    if head.startswith(_ZIP_MAGICS):
        return ZIP
    if head.startswith(b"\x1f\x8b"):
        try:
            inner = zlib.decompressobj(wbits=31).decompress(head, _HEAD_BYTES)
        except zlib.error:
            return TAR_GZ  # damaged: reading it says so
        # An empty tar is all zero blocks, without the "ustar" of a header.
        if len(inner) >= _HEAD_BYTES and not _is_tar_header(inner) and any(inner):
            return GZIP_OTHER
        return TAR_GZ
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return TAR if _is_tar_header(head) else UNKNOWN


def _is_tar_header(block: bytes) -> bool:
    return block[_USTAR_AT : _USTAR_AT + 5] == b"ustar"


def _kind_of_name(name: str | None) -> str | None:
    lowered = (name or "").lower()
    return next((kind for suffix, kind in _SUFFIX_KINDS if lowered.endswith(suffix)), None)


def _check_declared_kind(kind: str, declared_name: str | None) -> None:
    shown = posixpath.basename(declared_name or "")
    if kind not in (ZIP, TAR_GZ, TAR, UNKNOWN):
        raise ArchiveError(
            f"the upload {shown!r} is {_KIND_WORDS[kind]}; OpenLane Cloud reads only {ACCEPTED} archives: "
            "pack the design folder as one of those (e.g. tar czf design.tar.gz design/)"
        )
    expected = _kind_of_name(declared_name)
    if expected and kind in _SUGGESTED_SUFFIX and kind != expected:
        raise ArchiveError(
            f"the upload is named {shown!r} but it is {_KIND_WORDS[kind]}; rename it to {_SUGGESTED_SUFFIX[kind]}"
        )


def _nested_kind(head: bytes) -> str | None:
    kind = next((k for magic, k in _MAGIC if head.startswith(magic)), None)
    if kind == "bzip2" and not (len(head) >= 10 and head[3:4].isdigit() and head[4:10] == b"1AY&SY"):
        return None  # "BZh" alone could begin a text file; a bzip2 stream is "BZh<level>" and a block header
    if kind is None and len(head) >= _USTAR_AT + 5 and _is_tar_header(head):
        return "tar"
    return kind


# ------------------------------------------------------------------------------------------------ the scan
class _Scan:
    """What both readers record and check per entry: counts, sizes, the ratio, names and config.json."""

    def __init__(self, limits: ArchiveLimits, compressed_size: int) -> None:
        self.limits = limits
        self.compressed_size = max(compressed_size, 1)
        self.entries = 0
        self.total = 0
        self.files: set[str] = set()
        self.folders: set[str] = set()
        self.by_folded_case: dict[str, str] = {}
        self.configs: dict[str, str] = {}
        self.tcl_configs: list[str] = []
        self.digests: dict[str, str] = {}

    def entry(self) -> None:
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise ArchiveError(
                f"the archive has more than {self.limits.max_entries} entries; leave out generated files "
                "(runs/, simulation dumps) and upload the design sources only"
            )

    def folder(self, path: str) -> None:
        if path in self.files:
            raise ArchiveError(f"archive entry {path!r} is both a file and a folder; rename one of them")
        self._add_parents(f"{path}/x")

    def file(self, path: str, size: int, unpacked: int) -> None:
        """`unpacked`: the bytes the reader will have decompressed once past this file (headers included)."""
        limits = self.limits
        if path in self.files:
            raise ArchiveError(f"archive entry {path!r} appears twice; keep one copy")
        folded = path.casefold()
        if folded in self.by_folded_case:
            raise ArchiveError(
                f"archive entries {self.by_folded_case[folded]!r} and {path!r} differ only in upper/lower case, "
                "which disks that ignore case would merge; rename one of them"
            )
        if path in self.folders:
            raise ArchiveError(f"archive entry {path!r} is both a file and a folder; rename one of them")
        if path.lower().endswith(_NESTED_SUFFIXES):
            raise _nested(path, f"its name ends in {posixpath.splitext(path)[1]}")
        if size > limits.max_file_bytes:
            raise ArchiveError(
                f"archive entry {path!r} is {size} bytes; a single file may be at most {limits.max_file_bytes} bytes"
            )
        self.total += size
        if self.total > limits.max_total_bytes:
            raise ArchiveError(
                f"the archive unpacks to more than {limits.max_total_bytes} bytes (reached at {path!r}); "
                "leave out generated files and upload the design sources only"
            )
        unpacked = max(unpacked, self.total)
        if unpacked > limits.ratio_floor_bytes and unpacked > limits.max_ratio * self.compressed_size:
            raise ArchiveError(
                f"the archive unpacks to more than {limits.max_ratio:g} times its own size ({unpacked} bytes from "
                f"{self.compressed_size} by {path!r}): this looks like a compression bomb, and is not accepted"
            )
        self._add_parents(path)
        self.files.add(path)
        self.by_folded_case[folded] = path
        name = posixpath.basename(path)
        if name == TCL_CONFIG or name.endswith(f"_{TCL_CONFIG}"):
            self.tcl_configs.append(path)

    def inspect(self, path: str, member: IO[bytes], size: int) -> None:
        """Read config.json, or the first bytes of any other file to spot an archive inside under another name;
        then the rest, for the content hash that tells identical designs apart (shared/domain/content_key.py)."""
        hashing = _HashingReader(member)
        if posixpath.basename(path) in CONFIG_NAMES:
            self.configs[_root_of(path)] = _read_config(path, hashing, size, self.limits)
        elif size:
            kind = _nested_kind(hashing.read(_HEAD_BYTES))
            if kind:
                raise _nested(path, f"its content is {_NESTED_WORDS[kind]}")
        while hashing.read(_DRAIN_CHUNK):  # bounded: zipfile and tarfile stop at the member's declared size
            pass
        self.digests[path] = hashing.hexdigest()

    def _add_parents(self, path: str) -> None:
        parent = posixpath.dirname(path)
        while parent and parent not in self.folders:
            if parent in self.files:
                raise ArchiveError(f"archive entry {parent!r} is both a file and a folder; rename one of them")
            self.folders.add(parent)
            parent = posixpath.dirname(parent)


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _HashingReader:
    """A member's reader that hashes what passes through it."""

    def __init__(self, member: _Readable) -> None:
        self._member = member
        self._hash = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._member.read(size)
        self._hash.update(data)
        return data

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _nested(path: str, how: str) -> ArchiveError:
    return ArchiveError(
        f"archive entry {path!r} is itself an archive or compressed file ({how}); archives inside the upload are "
        "not unpacked: unpack it into the design folder, or leave it out"
    )


# ------------------------------------------------------------------------------------------------------ tar
class _CheckedTarInfo(tarfile.TarInfo):
    """Refuses, before tarfile reads them, the headers tarfile would hold in memory whole (pax and GNU long-name
    headers beyond _MAX_HEADER_BYTES, or beyond _MAX_ALL_HEADER_BYTES together) and sparse files, whose maps can
    grow without bound."""

    def _proc_member(self, archive: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _META_TYPES:
            # The running sum lives on the TarFile: one per scan, and tarfile gives each header only the TarFile.
            seen = getattr(archive, "olc_header_bytes", 0) + self.size
            archive.olc_header_bytes = seen  # type: ignore[attr-defined]
            if self.size > _MAX_HEADER_BYTES or seen > _MAX_ALL_HEADER_BYTES:
                raise ArchiveError(
                    f"the archive has extended headers (pax or long names) of {self.size} bytes, {seen} in all, "
                    f"where file names and attributes need at most {_MAX_HEADER_BYTES} ({_MAX_ALL_HEADER_BYTES} in "
                    "all); create the archive again with tar or zip"
                )
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise _sparse(self.name)
        return super()._proc_member(archive)

    # pax sparse files: called on the pax header with the member it describes.
    def _proc_gnusparse_00(self, member: tarfile.TarInfo, *_: object) -> None:
        raise _sparse(member.name)

    def _proc_gnusparse_01(self, member: tarfile.TarInfo, *_: object) -> None:
        raise _sparse(member.name)

    def _proc_gnusparse_10(self, member: tarfile.TarInfo, *_: object) -> None:
        raise _sparse(member.name)


def _sparse(name: str) -> ArchiveError:
    return ArchiveError(f"archive entry {name!r} is a sparse file; only regular files are accepted")


def _scan_tar(stream: IO[bytes], scan: _Scan, *, gzipped: bool) -> None:
    # gzip.GzipFile rather than tarfile's "r|gz": it checks the CRC and length at the end and notices a stream cut
    # short, which tarfile's own decompressor does not.
    source: IO[bytes] = gzip.GzipFile(fileobj=stream, mode="rb") if gzipped else stream
    try:
        with tarfile.open(
            fileobj=source, mode="r|", tarinfo=_CheckedTarInfo, encoding="utf-8", errors="surrogateescape"
        ) as tar:
            for member in tar:
                scan.entry()
                if member.isdir() and _is_top(member.name):
                    continue  # "./", as `tar -C design .` writes first
                path = safe_member_path(member.name)
                if member.isdir():
                    scan.folder(path)
                    continue
                _check_tar_type(path, member)
                scan.file(path, member.size, member.offset_data + member.size)
                extracted = tar.extractfile(member)
                if extracted is not None:
                    scan.inspect(path, extracted, member.size)
            # After the last member comes a zero block; a stream that ends without one was cut at a member boundary.
            fileobj = tar.fileobj
            if fileobj is not None and scan.entries and fileobj.tell() - tar.offset < tarfile.BLOCKSIZE:
                raise ArchiveError(_cut_short("the tar end-of-archive marker is missing"))
        if gzipped:
            _drain_gzip(source)
    except ArchiveError:
        raise
    except (tarfile.TarError, EOFError, OSError, zlib.error, ValueError) as exc:
        raise ArchiveError(_unreadable(exc)) from exc


def _check_tar_type(path: str, member: tarfile.TarInfo) -> None:
    if member.issym() or member.islnk():
        kind = "symbolic link" if member.issym() else "hard link"
        raise ArchiveError(
            f"archive entry {path!r} is a link ({kind} to {member.linkname!r}); only regular files are accepted: "
            "put a copy of the file there instead"
        )
    if member.ischr() or member.isblk():
        raise ArchiveError(f"archive entry {path!r} is a device file, not a regular file; leave it out")
    if member.isfifo():
        raise ArchiveError(f"archive entry {path!r} is a FIFO (named pipe), not a regular file; leave it out")
    if not member.isfile():
        raise ArchiveError(f"archive entry {path!r} is not a regular file (tar type {member.type!r}); leave it out")


def _drain_gzip(source: IO[bytes]) -> None:
    """Read to the end of the gzip stream so its CRC and length are checked; only padding may follow the tar."""
    left = _MAX_TRAILING_BYTES
    while chunk := source.read(64 << 10):
        left -= len(chunk)
        if left < 0:
            raise ArchiveError(
                "the archive holds more than 1 MiB of data after the end of the tar archive; create it again with tar"
            )


# ------------------------------------------------------------------------------------------------------ zip
def _scan_zip(stream: IO[bytes], size: int, scan: _Scan) -> None:
    _check_zip_directory(stream, size, scan.limits)
    try:
        with zipfile.ZipFile(stream) as archive:
            # The whole directory is at hand: check every entry's name, type and size before decompressing anything.
            files: list[tuple[str, zipfile.ZipInfo]] = []
            for info in archive.infolist():
                scan.entry()
                if info.is_dir() and _is_top(info.filename):
                    continue
                path = _zip_member_path(info)
                if info.is_dir():
                    scan.folder(path)
                    continue
                _check_zip_entry(path, info)
                scan.file(path, info.file_size, scan.total + info.file_size)
                files.append((path, info))
            for path, info in files:
                # Bounded reads: zipfile also stops at the declared size, whatever the data holds.
                with archive.open(info) as member:
                    scan.inspect(path, member, info.file_size)
                    _drain_zip_member(member)
    except ArchiveError:
        raise
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        EOFError,
        OSError,
        NotImplementedError,
        zlib.error,
        lzma.LZMAError,
        struct.error,
        ValueError,
    ) as exc:
        raise ArchiveError(_unreadable(exc)) from exc


def _drain_zip_member(member: IO[bytes]) -> None:
    """Read the rest of a member, a chunk at a time, so zipfile checks its CRC: a zip damaged past a file's first
    bytes is refused here, naming the file, rather than failing on the cluster while it is unpacked."""
    while member.read(_DRAIN_CHUNK):
        pass


def _check_zip_directory(stream: IO[bytes], size: int, limits: ArchiveLimits) -> None:
    """Check the entry count and central directory size before zipfile reads the whole directory into memory."""
    tail_size = min(size, 22 + 0xFFFF)
    stream.seek(size - tail_size)
    tail = stream.read(tail_size)
    stream.seek(0)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise ArchiveError(_cut_short("the zip's table of contents, at its end, is missing"))
    entries, directory_size = struct.unpack("<xxxxxxxxxxHLxxxxxx", tail[at : at + 22])
    if entries == 0xFFFF or directory_size == 0xFFFFFFFF:
        locator = tail[at - 20 : at] if at >= 20 else b""
        if locator[:4] == b"PK\x06\x07":
            (offset,) = struct.unpack("<Q", locator[8:16])
            stream.seek(offset)
            record = stream.read(56)
            stream.seek(0)
            if len(record) == 56 and record[:4] == b"PK\x06\x06":
                entries, directory_size = struct.unpack("<Q Q", record[32:48])
    if entries > limits.max_entries:
        raise ArchiveError(
            f"the archive has more than {limits.max_entries} entries ({entries}); leave out generated files "
            "(runs/, simulation dumps) and upload the design sources only"
        )
    most = (64 << 10) + limits.max_entries * _ZIP_DIRECTORY_BYTES_PER_ENTRY
    if directory_size > most:
        raise ArchiveError(
            f"the zip's table of contents is {directory_size} bytes, more than {limits.max_entries} entries can "
            "need; create the archive again"
        )


def _zip_member_path(info: zipfile.ZipInfo) -> str:
    if not info.flag_bits & _ZIP_UTF8_FLAG and not info.filename.isascii():
        raise ArchiveError(
            f"archive entry {info.filename!r} has a non-ASCII name that the zip does not mark as UTF-8, so it would "
            "be read differently on different machines; rename it with ASCII characters, or create the zip with a "
            "tool that stores UTF-8 names (7-Zip, Info-ZIP zip 3, macOS, Python)"
        )
    return safe_member_path(info.filename)


def _check_zip_entry(path: str, info: zipfile.ZipInfo) -> None:
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        raise ArchiveError(
            f"archive entry {path!r} is a link (symbolic link); only regular files are accepted: "
            "put a copy of the file there instead"
        )
    if kind in (stat.S_IFCHR, stat.S_IFBLK):
        raise ArchiveError(f"archive entry {path!r} is a device file, not a regular file; leave it out")
    if kind == stat.S_IFIFO:
        raise ArchiveError(f"archive entry {path!r} is a FIFO (named pipe), not a regular file; leave it out")
    if kind not in (0, stat.S_IFREG):
        raise ArchiveError(f"archive entry {path!r} is not a regular file (mode {oct(mode)}); leave it out")
    if info.flag_bits & _ZIP_ENCRYPTED_FLAG:
        raise ArchiveError(
            f"archive entry {path!r} is encrypted (password-protected); create the zip again without a password"
        )
    if info.compress_type not in _ZIP_METHODS:
        raise ArchiveError(
            f"archive entry {path!r} uses zip compression method {info.compress_type}, which cannot be unpacked "
            "here; create the zip again with the standard (deflate) compression"
        )


# ------------------------------------------------------------------------------------------------- helpers
def _unreadable(exc: BaseException) -> str:
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, UnicodeDecodeError):
        # zipfile decodes a name that its entry marks as UTF-8 strictly, and stops at the first that is not.
        return (
            "a file or folder name in the archive is not UTF-8 text although the archive says it is "
            f"({detail}); rename it with ASCII characters and pack the design again"
        )
    if isinstance(exc, EOFError) or "unexpected end of data" in detail or "truncated" in detail.lower():
        return _cut_short(detail)
    if "crc" in detail.lower():
        return f"not a readable .tar/.tar.gz/.zip archive: it is damaged ({detail}); create it again and re-upload it"
    return (
        f"not a readable .tar/.tar.gz/.zip archive ({detail}); upload a complete {ACCEPTED} archive of the "
        "design folder"
    )


def _cut_short(detail: str) -> str:
    return (
        f"not a readable .tar/.tar.gz/.zip archive: it ends early ({detail}), so it was cut short while being "
        "written or copied; create it again and re-upload it"
    )


def _read_config(path: str, member: _Readable, size: int, limits: ArchiveLimits) -> str:
    if size > limits.max_config_bytes:
        raise ArchiveError(f"{path} is larger than {limits.max_config_bytes} bytes")
    # The declared size can lie (zip): read one byte more than allowed to tell.
    data = member.read(limits.max_config_bytes + 1)
    if len(data) > limits.max_config_bytes:
        raise ArchiveError(f"{path} is larger than {limits.max_config_bytes} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArchiveError(f"{path} is not UTF-8 text; save it as UTF-8") from exc


def _is_top(name: str) -> bool:
    return all(part in ("", ".") for part in name.split("/"))


def _root_of(path: str) -> str:
    folder = posixpath.dirname(path)
    return f"{folder}/" if folder else ""


def _design_root(configs: dict[str, str], tcl_configs: list[str]) -> str:
    if not configs:
        hint = ""
        if tcl_configs:
            hint = (
                f" ({tcl_configs[0]} was found, but config.tcl is Tcl code the flow would execute; it is not accepted "
                "— move the settings to config.json)"
            )
        raise ArchiveError(
            "no config.json found: put config.json at the top of the archive or in a single top folder" + hint
        )
    shallowest = min(configs, key=lambda root: (root.count("/"), root))
    depth = shallowest.count("/")
    if depth > 1:
        raise ArchiveError(f"config.json is nested too deep ({shallowest}config.json); keep it at most one folder down")
    rivals = [root for root in configs if root.count("/") == depth and root != shallowest]
    if rivals:
        found = ", ".join(f"{r}config.json" for r in sorted([shallowest, *rivals]))
        raise ArchiveError(f"more than one design in the archive ({found}); upload one design per archive")
    return shallowest
