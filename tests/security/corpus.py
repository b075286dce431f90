"""A corpus of malicious or malformed uploads, built in memory (no binary files in the repository).

Each case is an upload that ingest must reject: `object_name` is the bucket path below the owner's folder (callers
prefix `<owner>/`), `expected_reason` a distinctive lower-case part of the rejection. The expected reasons hold for
the default limits of shared/config.py (5000 entries, 1 GiB unpacked, 256 MiB per file, ratio 200, 8 CPUs...).
Hostile strings that a shell or Tcl would run try to create a file named CANARY_NAME, so an end-to-end test can
check that none of them ever ran.

Used by tests/unit/test_hostile_uploads.py (through the ingest use case) and tests/e2e/test_hostile_uploads.py
(through the real stack).
"""

from __future__ import annotations

import bz2
import functools
import gzip
import io
import json
import random
import stat
import struct
import tarfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CANARY_NAME = "OLC_CANARY_PWNED"
SHELL_CANARY = f"$(touch /tmp/{CANARY_NAME})"
BACKTICK_CANARY = f"`touch {CANARY_NAME}`"
TCL_CANARY = f"[exec touch /tmp/{CANARY_NAME}]"

VERILOG = b"module spm(input clk, input a, output reg y);\n  always @(posedge clk) y <= a;\nendmodule\n"
CONFIG: dict[str, Any] = {
    "DESIGN_NAME": "spm",
    "VERILOG_FILES": "dir::src/*.v",
    "CLOCK_PORT": "clk",
    "CLOCK_PERIOD": 10,
}
# A source larger than the few bytes ingest looks at for an archive's magic: damage near its end shows only in the CRC.
BIG_VERILOG = b"// filler\n" * 4000 + b"module big(input a, output y);\n  assign y = a;\nendmodule // last\n"
MiB = 1 << 20
_DATE = (2024, 1, 1, 0, 0, 0)

Files = Sequence[tuple[str, bytes]]


@dataclass(frozen=True)
class Case:
    name: str
    object_name: str
    data: bytes
    expected_reason: str


# ------------------------------------------------------------------------------------------------ builders
def config(**changes: Any) -> bytes:
    """The valid base config.json with keys changed or added."""
    return json.dumps({**CONFIG, **changes}, indent=2).encode()


def design(config_bytes: bytes | None = None, *extra: tuple[str, bytes], root: str = "spm/") -> list[tuple[str, bytes]]:
    """A valid design's files (in a top folder), with config.json replaced and files added."""
    return [(f"{root}config.json", config_bytes or config()), (f"{root}src/spm.v", VERILOG), *extra]


def entry(
    name: str, kind: bytes = tarfile.REGTYPE, *, data: bytes = b"", link: str = "", pax: dict[str, str] | None = None
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(data)
    info.pax_headers = pax or {}
    return info


def tar(
    files: Files, *, gz: bool = True, extra: Sequence[tarfile.TarInfo] = (), fmt: int = tarfile.PAX_FORMAT
) -> bytes:
    """A tar (gzip-compressed unless gz=False) of `files`, then `extra` members without data (links, devices)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt, encoding="utf-8", errors="surrogateescape") as archive:
        for name, data in files:
            archive.addfile(entry(name, data=data), io.BytesIO(data))
        for info in extra:
            archive.addfile(info)
    return gzip.compress(buffer.getvalue(), compresslevel=6, mtime=0) if gz else buffer.getvalue()


def zip_(
    files: Files,
    *,
    modes: Mapping[str, int] | None = None,
    method: int = zipfile.ZIP_DEFLATED,
    patch: Mapping[str, Mapping[str, int | bytes]] | None = None,
) -> bytes:
    """A zip of `files`; `modes`: Unix mode per name (links, devices); `patch`: header fields to overwrite per name
    afterwards (flags, method, size, name), for what zipfile will not write."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in files:
            info = zipfile.ZipInfo(name, _DATE)
            info.compress_type = method
            info.external_attr = ((modes or {}).get(name, stat.S_IFREG | 0o644)) << 16
            archive.writestr(info, data)
    return _patch_zip(buffer.getvalue(), patch or {})


# Offsets of a field in the central directory entry and in the local header, and its struct format.
_ZIP_FIELDS = {"flags": (8, 6, "<H"), "method": (10, 8, "<H"), "size": (24, 22, "<L")}


def _patch_zip(data: bytes, patch: Mapping[str, Mapping[str, int | bytes]]) -> bytes:
    out = bytearray(data)
    end = data.rfind(b"PK\x05\x06")
    count, _size, position = struct.unpack_from("<HLL", data, end + 10)
    for _ in range(count):
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, position + 28)
        (local,) = struct.unpack_from("<L", data, position + 42)
        name = data[position + 46 : position + 46 + name_len].decode()
        for field, value in patch.get(name, {}).items():
            if field == "name":
                assert isinstance(value, bytes) and len(value) == name_len
                out[position + 46 : position + 46 + name_len] = value
                out[local + 30 : local + 30 + name_len] = value
                continue
            central_at, local_at, fmt = _ZIP_FIELDS[field]
            struct.pack_into(fmt, out, position + central_at, value)
            struct.pack_into(fmt, out, local + local_at, value)
        position += 46 + name_len + extra_len + comment_len
    return bytes(out)


def _cut_at_member_boundary(data: bytes) -> bytes:
    """A plain tar without its end-of-archive blocks: everything up to the last member's data (padded)."""
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        last = archive.getmembers()[-1]
    return data[: last.offset_data + -(-last.size // 512) * 512]


# --------------------------------------------------------------------------------------------------- cases
def _archive_cases() -> list[Case]:
    good_tar = tar(design(), gz=False)
    good_tgz = tar(design())
    good_zip = zip_(design())
    noise = random.Random(7).randbytes(7 * MiB)  # incompressible: keeps the ratio below 200 for the size cases
    many = [(f"spm/src/f{i:04}.v", b"") for i in range(5000)]
    return [
        # --- paths
        Case(
            "tar-absolute-path",
            "abs.tar.gz",
            tar([*design(), ("/etc/cron.d/x", b"* * * * * root id\n")]),
            "absolute path",
        ),
        Case("zip-absolute-path", "abs.zip", zip_([*design(), ("/tmp/x.v", VERILOG)]), "absolute path"),
        Case(
            "tar-dotdot",
            "up.tar.gz",
            tar([*design(), ("../../home/olc/.ssh/authorized_keys", b"ssh-ed25519 AAAA x\n")]),
            "outside the archive",
        ),
        Case("zip-dotdot", "up.zip", zip_([*design(), ("spm/../../evil.v", VERILOG)]), "outside the archive"),
        Case("zip-backslash-dotdot", "win.zip", zip_([*design(), ("..\\..\\evil.v", VERILOG)]), "outside the archive"),
        Case(
            "control-characters-in-name",
            "ctl.tar.gz",
            tar([*design(), ("spm/src/a\x1b[31m.v", VERILOG)]),
            "control characters",
        ),
        Case("bidi-override-in-name", "bidi.tar.gz", tar([*design(), ("spm/src/\u202ev.exe", VERILOG)]), "invisible"),
        Case(
            "name-too-long",
            "long.tar.gz",
            tar([*design(), ("spm/src/" + "a" * 300 + ".v", VERILOG)]),
            "longer than 255",
        ),
        Case(
            "tar-non-utf8-name",
            "bytes.tar.gz",
            tar([*design(), ("spm/src/\udcff\udcfe.v", VERILOG)], fmt=tarfile.GNU_FORMAT),
            "not utf-8",
        ),
        Case(
            "zip-cp437-name",
            "cp437.zip",
            zip_([*design(), ("spm/src/cafX.v", VERILOG)], patch={"spm/src/cafX.v": {"name": b"spm/src/caf\x82.v"}}),
            "does not mark as utf-8",
        ),
        Case(
            "zip-utf8-flag-non-utf8-name",
            "bytes.zip",
            zip_(
                [*design(), ("spm/src/cafX.v", VERILOG)],
                patch={"spm/src/cafX.v": {"name": b"spm/src/caf\xff.v", "flags": 0x800}},
            ),
            "not utf-8 text although the archive says it is",
        ),
        # --- entry types
        Case(
            "tar-symlink",
            "sym.tar.gz",
            tar(design(), extra=[entry("spm/src/top.v", tarfile.SYMTYPE, link="/etc/passwd")]),
            "is a link",
        ),
        Case(
            "tar-hardlink",
            "hard.tar.gz",
            tar(design(), extra=[entry("spm/src/top.v", tarfile.LNKTYPE, link="/etc/shadow")]),
            "is a link",
        ),
        Case(
            "zip-symlink",
            "sym.zip",
            zip_([*design(), ("spm/src/top.v", b"/etc/passwd")], modes={"spm/src/top.v": stat.S_IFLNK | 0o777}),
            "is a link",
        ),
        Case(
            "tar-device", "dev.tar.gz", tar(design(), extra=[entry("spm/dev/sda", tarfile.BLKTYPE)]), "is a device file"
        ),
        Case(
            "zip-device",
            "dev.zip",
            zip_([*design(), ("spm/dev/null", b"")], modes={"spm/dev/null": stat.S_IFCHR | 0o666}),
            "is a device file",
        ),
        Case("tar-fifo", "fifo.tar.gz", tar(design(), extra=[entry("spm/pipe", tarfile.FIFOTYPE)]), "is a fifo"),
        Case(
            "tar-sparse",
            "sparse.tar.gz",
            tar(design(), extra=[entry("spm/src/holes.v", tarfile.GNUTYPE_SPARSE)], fmt=tarfile.GNU_FORMAT),
            "sparse file",
        ),
        # --- names that collide
        Case(
            "tar-duplicate",
            "dup.tar.gz",
            tar([*design(), ("spm/src/spm.v", b"module evil; endmodule\n")]),
            "appears twice",
        ),
        Case(
            "tar-duplicate-after-normalising",
            "dup2.tar.gz",
            tar([*design(), ("spm/./src//spm.v", b"module evil; endmodule\n")]),
            "appears twice",
        ),
        Case(
            "zip-case-duplicate",
            "case.zip",
            zip_([*design(), ("spm/src/SPM.v", VERILOG)]),
            "differ only in upper/lower case",
        ),
        Case(
            "file-and-folder",
            "clash.tar.gz",
            tar([*design(), ("spm/src/spm.v/x.v", VERILOG)]),
            "both a file and a folder",
        ),
        # --- sizes and bombs
        Case("too-many-entries", "many.tar.gz", tar([*design(), *many]), "more than 5000 entries"),
        Case(
            "zip-too-large-in-total",
            "huge.zip",
            zip_(
                [*design(), ("spm/noise.bin", noise), *((f"spm/big{i}.v", VERILOG) for i in range(5))],
                method=zipfile.ZIP_STORED,
                patch={f"spm/big{i}.v": {"size": 220 * MiB} for i in range(5)},
            ),
            "unpacks to more than 1073741824 bytes",
        ),
        Case(
            "zip-file-too-large",
            "bigfile.zip",
            zip_(design(), patch={"spm/src/spm.v": {"size": 300 * MiB}}),
            "a single file may be at most",
        ),
        Case("gzip-bomb", "bomb.tar.gz", tar([*design(), ("spm/src/zeros.v", bytes(8 * MiB))]), "compression bomb"),
        Case("zip-bomb", "bomb.zip", zip_([*design(), ("spm/src/zeros.v", bytes(8 * MiB))]), "compression bomb"),
        Case(
            "pax-header-bomb",
            "pax.tar.gz",
            tar(design(), extra=[entry("spm/x", pax={"comment": "x" * (2 * MiB)})]),
            "extended header",
        ),
        # --- archives inside
        Case(
            "nested-archive-by-name",
            "nest.tar.gz",
            tar([*design(), ("spm/vendor/ip.zip", good_zip)]),
            "is itself an archive",
        ),
        Case(
            "nested-archive-by-content",
            "nest2.tar.gz",
            tar([*design(), ("spm/src/ip.v", good_tgz)]),
            "is itself an archive",
        ),
        # --- damaged, empty or other formats
        Case("truncated-gzip", "cut.tar.gz", good_tgz[: len(good_tgz) // 2], "ends early"),
        Case("truncated-tar-at-member-boundary", "cut.tar", _cut_at_member_boundary(good_tar), "ends early"),
        Case(
            "zip-bad-crc",
            "crc.zip",
            zip_(design(), method=zipfile.ZIP_STORED).replace(b'"DESIGN_NAME": "spm"', b'"DESIGN_NAME": "spn"', 1),
            "is damaged",
        ),
        Case(
            "zip-bad-crc-past-the-first-bytes",
            "crc2.zip",
            zip_(design(None, ("spm/src/big.v", BIG_VERILOG)), method=zipfile.ZIP_STORED).replace(
                b"endmodule // last", b"endmodulX // last", 1
            ),
            "is damaged (bad crc-32 for file 'spm/src/big.v')",
        ),
        Case("garbage", "junk.tar.gz", random.Random(1).randbytes(4096), "not a readable"),
        Case("empty-archive", "empty.tar.gz", tar([]), "contains no files"),
        Case("zip-encrypted", "locked.zip", zip_(design(), patch={"spm/src/spm.v": {"flags": 0x1}}), "is encrypted"),
        Case(
            "zip-unsupported-method",
            "deflate64.zip",
            zip_(design(), patch={"spm/src/spm.v": {"method": 9}}),
            "compression method 9",
        ),
        Case("targz-named-zip", "design.zip", good_tgz, "rename it to .tar.gz"),
        Case("tar-named-targz", "design.tar.gz", good_tar, "rename it to .tar"),
        Case("zip-named-tar", "design.tar", good_zip, "rename it to .zip"),
        Case("bzip2-named-targz", "design.tar.gz", bz2.compress(good_tar), "bzip2-compressed"),
        Case("gzip-without-tar", "design.tgz", gzip.compress(VERILOG * 50, mtime=0), "not a tar archive"),
    ]


def _config_cases() -> list[Case]:
    def upload(name: str, files: Files, reason: str) -> Case:
        return Case(name, f"{name}.tar.gz", tar(files), reason)

    def configured(name: str, reason: str, **changes: Any) -> Case:
        return upload(name, design(config(**changes)), reason)

    return [
        upload("no-config", [("spm/src/spm.v", VERILOG)], "no config.json found"),
        upload(
            "config-tcl-only",
            [("spm/config.tcl", f"set ::env(DESIGN_NAME) {TCL_CANARY}\n".encode()), ("spm/src/spm.v", VERILOG)],
            "config.tcl is tcl code",
        ),
        upload(
            "config-tcl-beside-json",
            design(None, ("spm/config.tcl", f"exec touch /tmp/{CANARY_NAME}\n".encode())),
            "config.tcl is tcl code",
        ),
        upload(
            "pdk-config-tcl",
            design(None, ("spm/sky130A_sky130_fd_sc_hd_config.tcl", b"exec id\n")),
            "is tcl code the flow would execute",
        ),
        upload("two-designs", [*design(), *design(root="other/")], "more than one design"),
        upload("config-not-json", design(b'{"DESIGN_NAME": "spm",'), "not valid json"),
        upload("config-not-an-object", design(b'["DESIGN_NAME", "spm"]'), "must be a json object"),
        upload("config-not-utf8", design(b'{"DESIGN_NAME": "\xff\xfe"}'), "config.json is not utf-8"),
        upload("config-too-large", design(config(FP_CORE_UTIL=40) + b" " * (300 << 10)), "config.json is larger than"),
        upload("config-nested-too-deeply", design(b"[" * 100_000 + b"]" * 100_000), "nested too deeply"),
        upload(
            "config-duplicate-key",
            design(b'{"DESIGN_NAME": "spm", "VERILOG_FILES": "dir::src/*.v", "DESIGN_NAME": "x"}'),
            "is set twice",
        ),
        configured("unknown-key", "did you mean fp_core_util?", FP_CORE_UTILL=40),
        configured("unknown-key-tcl", "unknown setting", PDN_CFG=f"dir::{TCL_CANARY}.tcl"),
        configured("tcl-command-in-path", "contains '['", BASE_SDC_FILE=f"dir::src/{TCL_CANARY}.sdc"),
        configured("tcl-expr-value", "uses expr::", EXTRA_LEFS=f"expr::{TCL_CANARY}"),
        configured("tcl-env-variable", "contains '$'", VERILOG_FILES="$::env(HOME)/.ssh/id_rsa"),
        configured("shell-in-design-name", "not a plain module name", DESIGN_NAME=SHELL_CANARY),
        configured("backticks-in-path", "contains '`'", VERILOG_FILES=f"dir::src/{BACKTICK_CANARY}.v"),
        configured("semicolon-in-clock-port", "not a plain port name", CLOCK_PORT=f"clk; touch /tmp/{CANARY_NAME}"),
        configured("newline-in-value", "contains a line break", VERILOG_FILES=f"dir::src/spm.v\n{TCL_CANARY}"),
        configured("leading-dash-design-name", "not a plain module name", DESIGN_NAME="-spm"),
        configured("leading-dash-path", "starts with '-'", EXTRA_LEFS="-oProxyCommand=sh.lef"),
        configured(
            "dotdot-in-verilog-files", "points outside the design folder", VERILOG_FILES="dir::../../etc/passwd"
        ),
        configured("absolute-verilog-files", "is an absolute path", VERILOG_FILES="/etc/passwd"),
        configured("bad-pdk", "pdk 'tsmc7' is not offered", PDK="tsmc7"),
        configured("too-many-cpus", "whole number of cpus from 1 to", OLC_CPUS=512),
        configured("too-much-memory", "whole number of mb from 256 to", OLC_MEMORY_MB=10_000_000),
        configured("too-long-time-limit", "whole number of minutes from 1 to", OLC_TIME_LIMIT_MINUTES=100_000),
        configured("number-as-tcl", "must be a number from 1 to 99", FP_CORE_UTIL=f"{TCL_CANARY}"),
        configured(
            "meta-substituting-steps",
            "meta.substituting_steps is not accepted",
            meta={"version": 2, "substituting_steps": {"+Odb.SetPowerConnections": "Misc.Exec"}},
        ),
        configured(
            "top-level-key-in-section", "can only be set at the top level", **{"pdk::sky130*": {"DESIGN_NAME": "other"}}
        ),
    ]


def _name_cases() -> list[Case]:
    valid = tar(design())
    return [
        Case("hostile-name-exe", f"{SHELL_CANARY}.exe", valid, "is not a design archive"),
        Case("hostile-name-no-suffix", BACKTICK_CANARY, valid, "is not a design archive"),
        Case("hostile-name-double-suffix", f"design.tar.gz; touch {CANARY_NAME}.sh", valid, "is not a design archive"),
    ]


@functools.cache
def _all() -> tuple[Case, ...]:
    return (*_archive_cases(), *_config_cases(), *_name_cases())


def cases() -> list[Case]:
    """Every case, built once per process."""
    return list(_all())
