"""Reading an uploaded design archive safely, validating its config.json, and the upload naming rules."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import re
import stat
import struct
import tarfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from shared.domain.archive import ArchiveError, ArchiveLimits, DesignArchive, read_design_archive
from shared.domain.config_schema import SCHEMA
from shared.domain.design_config import DesignConfigError, parse_design_config
from shared.domain.job import SourceObject
from shared.domain.upload import JOB_ID_PATTERN, UploadNameError, job_id_for, owner_of

ROOT = Path(__file__).resolve().parents[2]
CONFIG = json.dumps({"DESIGN_NAME": "spm", "VERILOG_FILES": "dir::src/*.v", "CLOCK_PORT": "clk"}).encode()
VERILOG = b"module spm(input clk); endmodule\n"
Members = Sequence[tuple[str, bytes]]
DEFAULT_LIMITS = ArchiveLimits()


# ------------------------------------------------------------------------------------- archive builders
def _tar_info(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.linkname = link
    return info


def tar_bytes(members: Members, *, gz: bool = False, extra: Sequence[tarfile.TarInfo] = ()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            tar.addfile(_tar_info(name, data), io.BytesIO(data))
        for info in extra:
            tar.addfile(info)
    return buf.getvalue()


def zip_bytes(members: Members, *, symlinks: Sequence[tuple[str, str]] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
        for name, target in symlinks:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return buf.getvalue()


BUILDERS: dict[str, Callable[[Members], bytes]] = {
    "tar": tar_bytes,
    "tar.gz": lambda members: tar_bytes(members, gz=True),
    "zip": zip_bytes,
}


def read(data: bytes, limits: ArchiveLimits = DEFAULT_LIMITS) -> DesignArchive:
    return read_design_archive(io.BytesIO(data), limits)


def rejected(data: bytes, limits: ArchiveLimits = DEFAULT_LIMITS) -> str:
    with pytest.raises(ArchiveError) as caught:
        read(data, limits)
    return str(caught.value)


# ------------------------------------------------------------------------------------------ good archives
@pytest.mark.parametrize("kind", BUILDERS)
def test_design_at_the_top(kind: str) -> None:
    archive = read(BUILDERS[kind]([("config.json", CONFIG), ("src/spm.v", VERILOG), ("README", b"hi")]))
    assert archive.design_root == ""
    assert archive.files == ("README", "config.json", "src/spm.v")
    assert archive.config_text == CONFIG.decode()
    assert archive.total_bytes == len(CONFIG) + len(VERILOG) + 2
    assert archive.design_files() == archive.files


@pytest.mark.parametrize("kind", BUILDERS)
def test_design_in_one_top_folder(kind: str) -> None:
    archive = read(BUILDERS[kind]([("spm/config.json", CONFIG), ("spm/src/spm.v", VERILOG), ("notes.txt", b"x")]))
    assert archive.design_root == "spm/"
    assert archive.design_files() == ("config.json", "src/spm.v")


@pytest.mark.parametrize("kind", BUILDERS)
def test_paths_are_normalised(kind: str) -> None:
    archive = read(BUILDERS[kind]([("./spm//config.json", CONFIG), ("./spm/./src/spm.v", VERILOG)]))
    assert archive.files == ("spm/config.json", "spm/src/spm.v")
    assert archive.design_root == "spm/"


def test_directory_entries_are_skipped() -> None:
    data = tar_bytes([("config.json", CONFIG)], extra=[_tar_info("src", kind=tarfile.DIRTYPE)])
    assert read(data).files == ("config.json",)


def test_the_shallowest_config_is_the_design() -> None:
    archive = read(tar_bytes([("config.json", CONFIG), ("examples/config.json", b"{}"), ("src/spm.v", VERILOG)]))
    assert archive.design_root == ""
    assert archive.config_text == CONFIG.decode()


# ------------------------------------------------------------------------------------------- bad archives
@pytest.mark.parametrize("kind", BUILDERS)
@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("/etc/passwd", "absolute path"),
        ("../outside.v", "outside the archive"),
        ("spm/../../outside.v", "outside the archive"),
        ("spm/src\nspm.v", "control characters"),
    ],
)
def test_escaping_or_odd_paths_are_refused(kind: str, name: str, words: str) -> None:
    assert words in rejected(BUILDERS[kind]([("config.json", CONFIG), (name, VERILOG)]))


def test_backslash_paths_from_windows_zips_are_checked_too() -> None:
    assert "outside the archive" in rejected(zip_bytes([("config.json", CONFIG), ("src\\..\\..\\x.v", VERILOG)]))
    assert "absolute path" in rejected(zip_bytes([("config.json", CONFIG), ("C:\\x.v", VERILOG)]))


@pytest.mark.parametrize(
    ("info", "words"),
    [
        (_tar_info("src/link.v", kind=tarfile.SYMTYPE, link="/etc/passwd"), "is a link"),
        (_tar_info("src/hard.v", kind=tarfile.LNKTYPE, link="config.json"), "is a link"),
        (_tar_info("dev/null", kind=tarfile.CHRTYPE), "is a device file"),
        (_tar_info("dev/sda", kind=tarfile.BLKTYPE), "is a device file"),
        (_tar_info("pipe", kind=tarfile.FIFOTYPE), "is a FIFO"),
        (_tar_info("odd", kind=b"V"), "not a regular file"),
    ],
)
def test_tar_links_and_devices_are_refused(info: tarfile.TarInfo, words: str) -> None:
    message = rejected(tar_bytes([("config.json", CONFIG)], extra=[info]))
    assert words in message and info.name in message


def test_zip_symlinks_are_refused() -> None:
    assert "is a link" in rejected(zip_bytes([("config.json", CONFIG)], symlinks=[("src/spm.v", "/etc/passwd")]))


@pytest.mark.parametrize("kind", ["tar", "tar.gz"])
def test_duplicate_entries_are_refused(kind: str) -> None:
    data = BUILDERS[kind]([("config.json", CONFIG), ("src/spm.v", VERILOG), ("./src/spm.v", b"other")])
    assert "appears twice" in rejected(data)


def test_duplicate_zip_entries_are_refused() -> None:
    with pytest.warns(UserWarning, match="Duplicate name"):
        data = zip_bytes([("config.json", CONFIG), ("src/spm.v", VERILOG), ("src/spm.v", b"other")])
    assert "appears twice" in rejected(data)


@pytest.mark.parametrize("kind", BUILDERS)
def test_too_many_entries(kind: str) -> None:
    members = [("config.json", CONFIG)] + [(f"src/f{i}.v", VERILOG) for i in range(5)]
    assert "more than 5 entries" in rejected(BUILDERS[kind](members), ArchiveLimits(max_entries=5))
    assert len(read(BUILDERS[kind](members), ArchiveLimits(max_entries=6)).files) == 6


@pytest.mark.parametrize("kind", BUILDERS)
def test_too_many_bytes(kind: str) -> None:
    members = [("config.json", CONFIG), ("src/big.v", b"x" * 1000)]
    limit = len(CONFIG) + 999
    assert f"more than {limit} bytes" in rejected(BUILDERS[kind](members), ArchiveLimits(max_total_bytes=limit))
    assert read(BUILDERS[kind](members), ArchiveLimits(max_total_bytes=limit + 1)).total_bytes == limit + 1


@pytest.mark.parametrize("kind", BUILDERS)
def test_oversized_or_binary_config(kind: str) -> None:
    big = rejected(BUILDERS[kind]([("config.json", CONFIG)]), ArchiveLimits(max_config_bytes=10))
    assert "config.json is larger than 10 bytes" in big
    assert "not UTF-8" in rejected(BUILDERS[kind]([("config.json", b"\xff\xfe{}")]))


@pytest.mark.parametrize(
    "data",
    [
        b"module spm(input clk); endmodule\n" * 40,  # a text file renamed .tar.gz
        b"",
        b"PK\x03\x04 not really a zip",
        b"\x1f\x8b\x08 not really gzip",
    ],
)
def test_not_an_archive(data: bytes) -> None:
    assert "not a readable .tar/.tar.gz/.zip archive" in rejected(data)


def test_truncated_gzip() -> None:
    data = tar_bytes([("config.json", CONFIG), ("src/big.v", bytes(range(256)) * 400)], gz=True)
    for cut in (20, len(data) // 2):
        assert "not a readable" in rejected(data[:cut])


def test_truncated_zip() -> None:
    data = zip_bytes([("config.json", CONFIG), ("src/spm.v", VERILOG)])
    assert "not a readable" in rejected(data[: len(data) - 30])


@pytest.mark.parametrize("kind", BUILDERS)
def test_no_config(kind: str) -> None:
    assert "no config.json found" in rejected(BUILDERS[kind]([("src/spm.v", VERILOG)]))


def test_empty_archive() -> None:
    assert "contains no files" in rejected(tar_bytes([]))


@pytest.mark.parametrize("kind", BUILDERS)
def test_two_designs_side_by_side(kind: str) -> None:
    message = rejected(BUILDERS[kind]([("a/config.json", CONFIG), ("b/config.json", CONFIG)]))
    assert "more than one design" in message
    assert "a/config.json" in message and "b/config.json" in message


def test_config_nested_too_deep() -> None:
    assert "nested too deep" in rejected(tar_bytes([("a/b/config.json", CONFIG), ("a/b/spm.v", VERILOG)]))


# ------------------------------------------------------------------------------- issue 5: archive safety
GOOD = [("config.json", CONFIG), ("src/spm.v", VERILOG)]


@pytest.mark.parametrize(
    ("kind", "name", "words"),
    [
        ("tar.gz", "spm.tar.gz", None),
        ("tar.gz", "spm.TGZ", None),
        ("tar", "spm.tar", None),
        ("zip", "spm.Zip", None),
        ("tar.gz", "spm.zip", "named 'spm.zip' but it is a gzip-compressed tar archive; rename it to .tar.gz"),
        ("tar.gz", "spm.tar", "rename it to .tar.gz"),
        ("tar", "spm.tar.gz", "named 'spm.tar.gz' but it is an uncompressed tar archive; rename it to .tar"),
        ("tar", "spm.zip", "rename it to .tar"),
        ("zip", "ada@example.com/designs/spm.tgz", "named 'spm.tgz' but it is a zip archive; rename it to .zip"),
    ],
)
def test_the_name_must_match_the_content(kind: str, name: str, words: str | None) -> None:
    data = BUILDERS[kind](GOOD)
    if words is None:
        assert read_design_archive(io.BytesIO(data), declared_name=name).files == ("config.json", "src/spm.v")
    else:
        with pytest.raises(ArchiveError, match=re.escape(words)):
            read_design_archive(io.BytesIO(data), declared_name=name)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (bz2.compress(tar_bytes(GOOD)), "is a bzip2-compressed file"),
        (lzma.compress(tar_bytes(GOOD)), "is an xz-compressed file"),
        (b"7z\xbc\xaf\x27\x1c" + bytes(100), "is a 7-Zip archive"),
        (b"Rar!\x1a\x07\x01\x00" + bytes(100), "is a RAR archive"),
        (gzip.compress(VERILOG * 40), "gzip-compressed file that is not a tar archive"),
    ],
)
def test_other_formats_are_named(data: bytes, words: str) -> None:
    message = rejected(data)
    assert words in message and ".tar.gz, .tgz, .tar or .zip" in message


@pytest.mark.parametrize("kind", BUILDERS)
def test_names_that_collide(kind: str) -> None:
    assert "differ only in upper/lower case" in rejected(BUILDERS[kind]([*GOOD, ("SRC/spm.v", VERILOG)]))
    assert "appears twice" in rejected(BUILDERS[kind]([*GOOD, ("./src/spm.v", VERILOG)]))
    assert "'src' is both a file and a folder" in rejected(BUILDERS[kind]([("src", VERILOG), *GOOD]))
    assert "'src/spm.v' is both a file and a folder" in rejected(BUILDERS[kind]([*GOOD, ("src/spm.v/x.v", b"")]))


def test_an_archive_of_a_folders_content_may_list_the_folder_itself() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:  # like `tar czf spm.tar.gz -C spm .`
        tar.addfile(_tar_info("./", kind=tarfile.DIRTYPE))
        for name, data in GOOD:
            tar.addfile(_tar_info(f"./{name}", data), io.BytesIO(data))
    archive = read(buffer.getvalue())
    assert (archive.files, archive.design_root) == (("config.json", "src/spm.v"), "")


def test_a_folder_entry_may_repeat_a_files_folder_but_not_a_file() -> None:
    folders = [_tar_info("src", kind=tarfile.DIRTYPE), _tar_info("src/", kind=tarfile.DIRTYPE)]
    assert read(tar_bytes(GOOD, extra=folders)).files == ("config.json", "src/spm.v")
    message = rejected(tar_bytes(GOOD, extra=[_tar_info("src/spm.v", kind=tarfile.DIRTYPE)]))
    assert "is both a file and a folder" in message


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("spm/src/\u202ev.exe", "invisible or unassigned characters"),
        ("spm/src/\u200bspm.v", "invisible or unassigned characters"),
        ("spm/" + "a" * 256 + ".v", "longer than 255 bytes"),
        ("/".join(["d" * 100] * 11) + "/x.v", "1024 characters in all"),
        ("spm/src/\udcff.v", "not UTF-8 text"),
    ],
)
def test_odd_names_are_refused(name: str, words: str) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT, errors="surrogateescape") as tar:
        for member, data in [*GOOD, (name, VERILOG)]:
            tar.addfile(_tar_info(member, data), io.BytesIO(data))
    assert words in rejected(buffer.getvalue())


def test_non_ascii_zip_names_need_the_utf8_flag() -> None:
    accepted = read(zip_bytes([*GOOD, ("src/café.v", VERILOG)]))  # zipfile sets the flag for such names
    assert "src/café.v" in accepted.files
    data = zip_bytes([*GOOD, ("src/cafX.v", VERILOG)]).replace(b"src/cafX.v", b"src/caf\x82.v")
    assert "does not mark as UTF-8" in rejected(data)


@pytest.mark.parametrize("kind", BUILDERS)
def test_archives_inside_are_refused_by_name_or_content(kind: str) -> None:
    for name in ("ip.zip", "ip.tar", "ip.TGZ", "ip.tar.gz", "ip.v.gz", "x.bz2", "x.xz", "x.7z", "x.rar", "x.zst"):
        assert "is itself an archive" in rejected(BUILDERS[kind]([*GOOD, (f"vendor/{name}", b"x")])), name
    for content in (gzip.compress(b"x"), bz2.compress(b"x" * 100), lzma.compress(b"x"), tar_bytes(GOOD)):
        assert "is itself an archive" in rejected(BUILDERS[kind]([*GOOD, ("src/ip.v", content)]))
    # Office documents are zips; a design's docs may hold them, and "BZh" alone may start a text file.
    readme = read(BUILDERS[kind]([*GOOD, ("docs/spec.docx", zip_bytes(GOOD)), ("docs/bzh.txt", b"BZh... notes")]))
    assert "docs/spec.docx" in readme.files


@pytest.mark.parametrize("kind", BUILDERS)
def test_a_single_file_has_a_size_limit(kind: str) -> None:
    data = BUILDERS[kind]([*GOOD, ("src/big.v", b"x" * 1000)])
    assert "'src/big.v' is 1000 bytes; a single file may be at most 999 bytes" in rejected(
        data, ArchiveLimits(max_file_bytes=999)
    )
    assert read(data, ArchiveLimits(max_file_bytes=1000)).total_bytes == len(CONFIG) + len(VERILOG) + 1000


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_compression_bombs_are_refused_above_the_floor(kind: str) -> None:
    small = BUILDERS[kind]([*GOOD, ("src/zeros.v", bytes(900 << 10))])  # extreme ratio, but under 1 MiB
    assert read(small).total_bytes > 900 << 10
    big = BUILDERS[kind]([*GOOD, ("src/zeros.v", bytes(2 << 20))])
    assert "compression bomb" in rejected(big)
    assert "compression bomb" in rejected(big, ArchiveLimits(max_ratio=200, ratio_floor_bytes=1 << 20))
    assert read(big, ArchiveLimits(max_ratio=1e6)).design_root == ""
    assert read(tar_bytes([*GOOD, ("src/zeros.v", bytes(2 << 20))])).design_root == ""  # an uncompressed tar


def test_tar_headers_tarfile_would_hold_in_memory_are_bounded() -> None:
    long_name = "src/" + "n" * 2000 + ".v"  # a real pax path header: fine, though the name is then too long
    assert "longer than 255 bytes" in rejected(tar_bytes([*GOOD, (long_name, VERILOG)]))
    huge = _tar_info("x")
    huge.pax_headers = {"comment": "x" * (1 << 20)}
    assert "extended header" in rejected(tar_bytes(GOOD, gz=True, extra=[huge]))
    sparse = _tar_info("src/holes.v", kind=tarfile.GNUTYPE_SPARSE)
    assert "'src/holes.v' is a sparse file" in rejected(tar_bytes(GOOD, extra=[sparse]))


def test_a_tar_cut_at_a_member_boundary_is_noticed() -> None:
    data = tar_bytes(GOOD)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        last = tar.getmembers()[-1]
    assert "ends early" in rejected(data[: last.offset_data + 512])
    assert read(data[: last.offset_data + 1024]).files == ("config.json", "src/spm.v")  # one end block suffices


def test_gzip_damage_and_trailing_data() -> None:
    data = bytearray(tar_bytes(GOOD, gz=True))
    data[-6] ^= 0xFF  # the CRC in the gzip trailer
    assert "it is damaged" in rejected(bytes(data))
    padded = gzip.compress(tar_bytes(GOOD) + bytes(64 << 10))
    assert read(padded).files == ("config.json", "src/spm.v")
    trailing = gzip.compress(tar_bytes(GOOD) + b"x" * (2 << 20))
    assert "after the end of the tar archive" in rejected(trailing, ArchiveLimits(max_ratio=1e6))


def test_zip_entries_that_cannot_be_unpacked() -> None:
    data = bytearray(zip_bytes(GOOD))
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.rfind(signature)  # the last entry: src/spm.v
        data[at + flags_at] |= 0x1
    assert "'src/spm.v' is encrypted" in rejected(bytes(data))
    data = bytearray(zip_bytes(GOOD))
    for signature, method_at in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        at = data.rfind(signature)
        data[at + method_at] = 9  # deflate64
    assert "uses zip compression method 9" in rejected(bytes(data))


def test_zip_config_read_stops_at_the_limit_and_checks_the_crc() -> None:
    stored = io.BytesIO()
    with zipfile.ZipFile(stored, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("config.json", CONFIG)
        archive.writestr("src/spm.v", VERILOG)
    data = stored.getvalue().replace(b'"spm"', b'"spn"', 1)
    assert "it is damaged (Bad CRC-32 for file 'config.json')" in rejected(data)


def test_the_zip_directory_is_checked_before_it_is_read() -> None:
    data = bytearray(zip_bytes(GOOD))
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, 60000, 60000)  # entries on this disk, in all
    assert "more than 5000 entries (60000)" in rejected(bytes(data))
    data = bytearray(zip_bytes(GOOD))
    struct.pack_into("<L", data, end + 12, 50 << 20)  # directory size
    assert "table of contents is 52428800 bytes" in rejected(bytes(data))
    assert "ends early" in rejected(zip_bytes(GOOD)[:-22])


# ------------------------------------------------------------------------------------------ config.json
DROP = object()  # leave the key out
FILES = ("config.json", "src/spm.v", "src/util.v", "src/defs.vh", "src/sub/deep.v", "docs/readme.md")


def parse(config: dict[str, object] | str, files: Sequence[str] = FILES):
    text = config if isinstance(config, str) else json.dumps(config)
    return parse_design_config(text, files, flow="openlane2")


def problems(config: dict[str, object] | str, files: Sequence[str] = FILES) -> tuple[str, ...]:
    with pytest.raises(DesignConfigError) as caught:
        parse(config, files)
    assert str(caught.value) == "config.json: " + "; ".join(caught.value.problems)
    return caught.value.problems


def test_a_good_config() -> None:
    config = {
        "DESIGN_NAME": "spm",
        "VERILOG_FILES": "dir::src/*.v",
        "CLOCK_PORT": "clk",
        "CLOCK_PERIOD": 12.5,
        "PDK": "sky130A",
        "STD_CELL_LIBRARY": "sky130_fd_sc_hd",
        "FP_CORE_UTIL": 40,
    }
    design = parse(config)
    assert (design.design_name, design.top_module) == ("spm", "spm")
    assert design.verilog_files == ("src/spm.v", "src/util.v")  # `*` stays within src/
    assert (design.clock_port, design.clock_period_ns, design.pdk) == ("clk", 12.5, "sky130A")
    assert design.flow == "openlane2"
    assert design.flow_variables == config


def test_defaults() -> None:
    design = parse({"DESIGN_NAME": "spm", "VERILOG_FILES": "src/spm.v"})
    assert (design.clock_port, design.clock_period_ns, design.pdk) == (None, 10.0, "")


@pytest.mark.parametrize(
    ("patterns", "expected"),
    [
        (["dir::src/spm.v", "$DESIGN_DIR/src/util.v"], ("src/spm.v", "src/util.v")),
        ("dir::src/spm.v ${DESIGN_DIR}/src/util.v", ("src/spm.v", "src/util.v")),
        (["dir::src/*.v", "dir::src/spm.v", "dir::src/sub/*.v"], ("src/spm.v", "src/util.v", "src/sub/deep.v")),
        ("dir::src/*/*.v", ("src/sub/deep.v",)),
        ("dir::src/*.v*", ("src/defs.vh", "src/spm.v", "src/util.v")),  # sorted within a pattern
    ],
)
def test_verilog_patterns(patterns: object, expected: tuple[str, ...]) -> None:
    assert parse({"DESIGN_NAME": "spm", "VERILOG_FILES": patterns}).verilog_files == expected


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"DESIGN_NAME": DROP}, "DESIGN_NAME is missing"),
        ({"DESIGN_NAME": ""}, "DESIGN_NAME is missing"),
        ({"DESIGN_NAME": 7}, "DESIGN_NAME is missing"),
        ({"DESIGN_NAME": "my-design"}, "not a plain module name"),
        ({"DESIGN_NAME": "spm; rm -rf ~"}, "not a plain module name"),
        ({"DESIGN_NAME": "1spm"}, "not a plain module name"),
        ({"DESIGN_NAME": "s" * 65}, "not a plain module name"),
        ({"VERILOG_FILES": DROP}, "VERILOG_FILES is missing"),
        ({"VERILOG_FILES": []}, "must be a path pattern or a list"),
        ({"VERILOG_FILES": 5}, "must be a path pattern or a list"),
        ({"VERILOG_FILES": ["src/spm.v", 5]}, "must be a path pattern or a list"),
        ({"VERILOG_FILES": "dir::rtl/*.v"}, "'dir::rtl/*.v' matches no file"),
        ({"VERILOG_FILES": "dir::../src/spm.v"}, "points outside the design folder"),
        ({"VERILOG_FILES": "dir::docs/*"}, "not Verilog: docs/readme.md"),
        ({"CLOCK_PORT": "clk[0]"}, "CLOCK_PORT 'clk[0]' is not a plain port name"),
        ({"CLOCK_PORT": 3}, "CLOCK_PORT 3 is not a plain port name"),
        ({"CLOCK_PERIOD": "fast"}, "CLOCK_PERIOD 'fast' is not a number"),
        ({"CLOCK_PERIOD": None}, "CLOCK_PERIOD None is not a number"),
        ({"CLOCK_PERIOD": 0}, "outside 0.01 to 1000000 ns"),
        ({"CLOCK_PERIOD": -5}, "outside 0.01 to 1000000 ns"),
        ({"CLOCK_PERIOD": "nan"}, "outside 0.01 to 1000000 ns"),
        ({"CLOCK_PERIOD": 1e300}, "outside 0.01 to 1000000 ns"),
        ({"PDK": "sky999"}, "PDK 'sky999' is not offered; choose one of: sky130A"),
        ({"STD_CELL_LIBRARY": "my_cells"}, "STD_CELL_LIBRARY 'my_cells' is not offered"),
    ],
)
def test_one_problem(change: dict[str, object], words: str) -> None:
    config = {"DESIGN_NAME": "spm", "VERILOG_FILES": "dir::src/*.v", **change}
    found = problems({k: v for k, v in config.items() if v is not DROP})
    assert len(found) == 1, found
    assert words in found[0]


def test_clock_period_as_text_is_accepted() -> None:
    assert parse({"DESIGN_NAME": "spm", "VERILOG_FILES": "src/spm.v", "CLOCK_PERIOD": "25"}).clock_period_ns == 25.0


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        {
            "VERILOG_FILES": ["dir::src/spm.v", "dir::rtl/*.v"],
            "CLOCK_PORT": "clk; reboot",
            "CLOCK_PERIOD": "soon",
            "PDK": "tsmc7",
            "STD_CELL_LIBRARY": "secret",
        }
    )
    assert len(found) == 6, found
    for words in (
        "DESIGN_NAME is missing",
        "'dir::rtl/*.v' matches no file",
        "CLOCK_PORT",
        "CLOCK_PERIOD",
        "PDK 'tsmc7'",
        "STD_CELL_LIBRARY",
    ):
        assert any(words in p for p in found), words


@pytest.mark.parametrize(
    ("text", "words"), [("{not json", "not valid JSON (line 1"), ("[1, 2]", "must be a JSON object")]
)
def test_not_a_json_object(text: str, words: str) -> None:
    (problem,) = problems(text)
    assert words in problem


def test_archive_and_config_together() -> None:
    archive = read(zip_bytes([("spm/config.json", CONFIG), ("spm/src/spm.v", VERILOG), ("spm/src/tb/tb.v", b"")]))
    design = parse_design_config(archive.config_text, archive.design_files(), flow="qflow-osu035")
    assert design.verilog_files == ("src/spm.v",)
    assert design.clock_port == "clk"


# ------------------------------------------------------------------------------ issue 5: config.json schema
BASE = {"DESIGN_NAME": "spm", "VERILOG_FILES": "dir::src/*.v"}
FILES_WITH_VIEWS = (*FILES, "src/spm.sdc", "macros/ram.lef", "macros/ram.gds", "pins.cfg")


def test_every_schema_row_is_complete() -> None:
    for key, setting in SCHEMA.items():
        assert key == key.upper() and setting.doc, key
        if setting.kind in ("number", "numbers") or (setting.kind == "int" and not key.startswith("OLC_")):
            assert setting.low is not None and setting.high is not None and setting.low <= setting.high, key
        if setting.kind == "choice" and key != "OLC_FLOW":
            assert setting.choices, key
    assert len(SCHEMA) >= 30


@pytest.mark.parametrize(
    ("key", "good", "bad", "words"),
    [
        ("FP_CORE_UTIL", [1, 45, 99, "50", 12.5], [0, 100, "high", True, None, "nan", "1e400"], "from 1 to 99 %"),
        ("PL_TARGET_DENSITY", [0.5, "0.65"], [1.5, -0.1], "from 0.01 to 1"),
        ("SYNTH_MAX_FANOUT", [1, 10, "12"], [0, 2.5, "2.5", 5000, False], "must be a whole number from 1 to 1000"),
        ("RUN_CTS", [True, False, 0, 1], ["true", 2, "1", None], "must be true or false"),
        ("SYNTH_STRATEGY", ["AREA 0", "DELAY 4"], ["AREA 9", "area 0", 3], "choose one of: AREA 0"),
        ("FP_SIZING", ["absolute", "relative"], ["both"], "choose one of: relative, absolute"),
        ("DIE_AREA", ["0 0 200 200", [0, 0, 100.5, 50]], ["0 0 200", "0 0 a b", [0, 0, 1, 2, 3], 5], "4 numbers"),
        ("CLOCK_NET", ["clk", "core.clk_buf/X"], ["clk net", "$clk", "-clk"], "is not a net name"),
        ("RT_MAX_LAYER", ["met4", "Metal5"], ["met4 met5", "[met4]"], "is not a plain name"),
        ("SYNTH_DEFINES", [["FAST"], ["WIDTH=8", "X"], "FAST"], [["A B"], ["X=$Y"], [], ["=1"]], "NAME=value"),
        ("BASE_SDC_FILE", ["dir::src/spm.sdc", "$DESIGN_DIR/src/spm.sdc"], ["dir::src/none.sdc"], "matches no file"),
        ("BASE_SDC_FILE", ["src/spm.sdc"], ["dir::src/spm.sdc dir::src/spm.v", ["a", "b"]], "must be one path"),
        ("EXTRA_LEFS", ["dir::macros/*.lef", ["macros/ram.lef"]], ["dir::macros/*.mag"], "matches no file"),
        ("FP_PIN_ORDER_CFG", ["dir::pins.cfg"], [5, {"a": 1}, []], "must be a path"),
    ],
)
def test_values_are_checked_by_their_kind(key: str, good: list[object], bad: list[object], words: str) -> None:
    for value in good:
        assert parse({**BASE, key: value}, FILES_WITH_VIEWS).flow_variables[key] == value
    for value in bad:
        found = problems({**BASE, key: value}, FILES_WITH_VIEWS)
        assert len(found) == 1 and words in found[0] and found[0].startswith(key), (value, found)


@pytest.mark.parametrize("char", ["[", "]", "$", "`", ";", "|", "&", "{", "}", '"', "\\", "(", "<", ">", "'", "~"])
def test_tcl_and_shell_characters_in_path_values(char: str) -> None:
    (problem,) = problems({**BASE, "EXTRA_LEFS": f"dir::macros/ram{char}x.lef"}, FILES_WITH_VIEWS)
    assert f"contains {char!r}: OpenLane reads settings as Tcl" in problem


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("dir::src/spm.v\tdir::src/util.v", "contains a tab"),
        ("dir::src/spm.v\rx", "contains a line break"),
        ("dir::src/\x00.v", "control character U+0000"),
        ("dir::src/spé.v", "non-ASCII character 'é'"),
        ("ref::$VERILOG_FILES", "uses ref::"),
        ("refg::$PDK_ROOT/x.v", "uses refg::"),
        ("expr::1+1", "uses expr::"),
        ("$PDK_ROOT/sky130A/libs.ref/x.v", "contains '$'"),
        ("${DESIGN_DIR}/../x.v", "points outside the design folder"),
        ("$DESIGN_DIR//etc/passwd", "is an absolute path"),
        ("--help.v", "starts with '-'"),
    ],
)
def test_unsafe_path_values(value: str, words: str) -> None:
    (problem,) = problems({**BASE, "VERILOG_FILES": value})
    assert problem.startswith("VERILOG_FILES") and words in problem


def test_path_patterns_are_bounded_but_plain_paths_are_not() -> None:
    many = [f"dir::src/f{i}.v" for i in range(3000)]
    design = parse({**BASE, "VERILOG_FILES": many}, tuple(f"src/f{i}.v" for i in range(3000)))
    assert len(design.verilog_files) == 3000
    (problem,) = problems({**BASE, "VERILOG_FILES": ["dir::src/*.v"] * 101})
    assert "more than 100 patterns" in problem
    assert parse({**BASE, "VERILOG_FILES": ["dir::src/*.v"] * 100}).verilog_files == ("src/spm.v", "src/util.v")


def test_dir_prefixes_are_the_only_dollar_allowed() -> None:
    design = parse({**BASE, "VERILOG_FILES": ["$DESIGN_DIR/src/spm.v", "${DESIGN_DIR}/src/util.v"]})
    assert design.verilog_files == ("src/spm.v", "src/util.v")


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("FP_CORE_UTILL", "unknown setting 'FP_CORE_UTILL': did you mean FP_CORE_UTIL?"),
        ("clock_period", "did you mean CLOCK_PERIOD?"),
        ("PL_TARGET_DENSITY_PC", "did you mean PL_TARGET_DENSITY_PCT?"),
        ("PDN_CFG", "unknown setting 'PDN_CFG': it is not among the settings OpenLane Cloud accepts"),
        ("$(reboot)", "unknown setting '$(reboot)'"),
    ],
)
def test_unknown_keys_are_refused_with_a_suggestion(key: str, words: str) -> None:
    (problem,) = problems({**BASE, key: 1})
    assert words in problem


def test_pdk_and_library_sections_are_checked_like_the_top() -> None:
    spm = json.loads((ROOT / "examples" / "spm" / "config.json").read_text())
    files = ("src/spm.v", "src/impl.sdc", "src/signoff.sdc", "pin_order.cfg", "verify/spm_tb.v")
    assert parse(spm, files).flow_variables == spm
    found = problems(
        {
            **BASE,
            "pdk::sky130*": {"FP_CORE_UTIL": 300, "scl::*_hd": {"CLOCK_PERIOD": "x", "scl::deeper": {}}},
            "pdk::gf180*": {"PDK": "sky130A", "FP_CORE_UTILL": 5, "CLOCK_PORT": "clk!"},
            "scl::x": 5,
            "pdk::[abc]": {},
        }
    )
    assert len(found) == 8, found
    for words in (
        "FP_CORE_UTIL 300 must be a number from 1 to 99",
        "CLOCK_PERIOD 'x' must be a number",
        "section 'scl::deeper' inside 'scl::*_hd' is nested too deeply",
        "PDK can only be set at the top level of config.json, not inside 'pdk::gf180*'",
        "unknown setting 'FP_CORE_UTILL' in 'pdk::gf180*': did you mean FP_CORE_UTIL?",
        "CLOCK_PORT 'clk!' is not a plain name",
        "section 'scl::x' must be an object of settings",
        "unknown setting 'pdk::[abc]'",
    ):
        assert any(words in p for p in found), words


@pytest.mark.parametrize(
    ("meta", "words"),
    [
        ({"version": 2, "flow": "Classic"}, None),
        ({"version": 1}, None),
        ({"version": 3}, "meta.version 3 must be 1 or 2"),
        ({"flow": "SynthesisExploration"}, "meta.flow 'SynthesisExploration' is not accepted"),
        ({"version": 2, "substituting_steps": {"A": "B"}}, "meta.substituting_steps is not accepted"),
        ("v2", "meta must be an object"),
    ],
)
def test_meta(meta: object, words: str | None) -> None:
    if words is None:
        assert parse({**BASE, "meta": meta}).flow_variables["meta"] == meta
    else:
        (problem,) = problems({**BASE, "meta": meta})
        assert words in problem


@pytest.mark.parametrize("name", ["config.tcl", "sky130A_sky130_fd_sc_hd_config.tcl"])
def test_tcl_configuration_beside_config_json_is_refused(name: str) -> None:
    (problem,) = problems(BASE, (*FILES, name))
    assert (
        problem == f"{name} is Tcl code the flow would execute; it is not accepted — move the settings to config.json"
    )
    assert parse(BASE, (*FILES, f"scripts/{name}", "src/pdn.tcl")).design_name == "spm"  # not read by the flow


def test_tcl_configuration_instead_of_config_json_is_named() -> None:
    message = rejected(tar_bytes([("spm/config.tcl", b"set ::env(DESIGN_NAME) spm\n"), ("spm/src/spm.v", VERILOG)]))
    assert "no config.json found" in message and "config.tcl is Tcl code the flow would execute" in message


def test_json_that_parsers_could_read_differently() -> None:
    (problem,) = problems('{"DESIGN_NAME": "spm", "VERILOG_FILES": "src/spm.v", "DESIGN_NAME": "evil"}')
    assert problem == "'DESIGN_NAME' is set twice; keep one"
    (problem,) = problems("[" * 50_000 + "]" * 50_000)
    assert "nested too deeply" in problem
    (problem,) = problems('{"DESIGN_NAME": "spm", "VERILOG_FILES": "src/spm.v", "FP_CORE_UTIL": ' + "9" * 5000 + "}")
    assert "not valid JSON" in problem


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, (None, None, None)),
        ({"OLC_CPUS": 8, "OLC_MEMORY_MB": 32768, "OLC_TIME_LIMIT_MINUTES": 240}, (8, 32768, 240)),
        ({"OLC_CPUS": 1, "OLC_MEMORY_MB": 256}, (1, 256, None)),
    ],
)
def test_resource_requests(change: dict[str, object], expected: tuple[object, ...]) -> None:
    design = parse({**BASE, **change})
    assert (design.cpus, design.memory_mb, design.time_limit_minutes) == expected


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"OLC_CPUS": 9}, "OLC_CPUS 9 must be a whole number of CPUs from 1 to 8"),
        ({"OLC_CPUS": 0}, "from 1 to 8"),
        ({"OLC_CPUS": "4"}, "OLC_CPUS '4' must be"),
        ({"OLC_CPUS": True}, "OLC_CPUS True must be"),
        ({"OLC_MEMORY_MB": 255}, "OLC_MEMORY_MB 255 must be a whole number of MB from 256 to 32768"),
        ({"OLC_MEMORY_MB": 32769}, "from 256 to 32768"),
        ({"OLC_MEMORY_MB": 1024.5}, "OLC_MEMORY_MB 1024.5 must be"),
        ({"OLC_TIME_LIMIT_MINUTES": 241}, "from 1 to 240"),
    ],
)
def test_resource_requests_are_bounded(change: dict[str, object], words: str) -> None:
    (problem,) = problems({**BASE, **change})
    assert words in problem


def test_requests_are_bounded_by_the_deployment() -> None:
    config = json.dumps({**BASE, "OLC_CPUS": 16, "OLC_MEMORY_MB": 65536})
    design = parse_design_config(config, FILES, flow="openlane2", max_cpus=16, max_memory_mb=65536)
    assert (design.cpus, design.memory_mb) == (16, 65536)


def test_many_problems_are_counted_past_twenty() -> None:
    found = problems({**BASE, **{f"UNKNOWN_{i}": i for i in range(30)}})
    assert len(found) == 21 and found[-1] == "and 10 more problems"


def test_long_values_are_cut_short_in_messages() -> None:
    (problem,) = problems({**BASE, "DESIGN_NAME": "x" * 10_000})
    assert len(problem) < 200 and "..." in problem


# ------------------------------------------------------------------------------------------ upload names
def test_owner_is_the_first_folder() -> None:
    assert owner_of("ada@example.com/spm.tar.gz") == "ada@example.com"
    assert owner_of("ada.l+chips@mail.example.org/designs/spm.zip") == "ada.l+chips@mail.example.org"


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("spm.tar.gz", "not inside an owner folder"),
        ("ada@example.com/", "not inside an owner folder"),
        ("Ada@Example.com/spm.tar.gz", "not a lower-case e-mail address"),
        ("ada/spm.tar.gz", "not a lower-case e-mail address"),
        ("ada@localhost/spm.tar.gz", "not a lower-case e-mail address"),
        ("../ada@example.com/spm.tar.gz", "not a lower-case e-mail address"),
        ("ada@example.com;rm -rf/spm.tar.gz", "not a lower-case e-mail address"),
    ],
)
def test_bad_owner_folders(name: str, words: str) -> None:
    with pytest.raises(UploadNameError, match=words):
        owner_of(name)


def test_job_id_is_deterministic_and_well_formed() -> None:
    source = SourceObject("designs", "ada@example.com/spm.tar.gz", 1741064767890123)
    job_id = job_id_for(source)
    assert JOB_ID_PATTERN.match(job_id)
    assert job_id_for(SourceObject("designs", "ada@example.com/spm.tar.gz", 1741064767890123, size=99)) == job_id
    others = {
        job_id_for(SourceObject("designs", "ada@example.com/spm.tar.gz", 1741064767890124)),
        job_id_for(SourceObject("designs2", "ada@example.com/spm.tar.gz", 1741064767890123)),
        job_id_for(SourceObject("designs", "ada@example.com/spm2.tar.gz", 1741064767890123)),
        job_id_for(SourceObject("designs", "a", 1)),
        job_id_for(SourceObject("designsa", "", 1)),  # field boundaries matter
    }
    assert job_id not in others and len(others) == 5
