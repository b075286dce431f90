"""Reading an uploaded design archive safely, validating its config.json, and the upload naming rules."""

from __future__ import annotations

import io
import json
import stat
import tarfile
import zipfile
from collections.abc import Callable, Sequence

import pytest

from shared.domain.archive import ArchiveError, ArchiveLimits, DesignArchive, read_design_archive
from shared.domain.design_config import DesignConfigError, parse_design_config
from shared.domain.job import SourceObject
from shared.domain.upload import JOB_ID_PATTERN, UploadNameError, job_id_for, owner_of

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
        (_tar_info("dev/null", kind=tarfile.CHRTYPE), "not a regular file"),
        (_tar_info("dev/sda", kind=tarfile.BLKTYPE), "not a regular file"),
        (_tar_info("pipe", kind=tarfile.FIFOTYPE), "not a regular file"),
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
        ({"VERILOG_FILES": "dir::../src/spm.v"}, "matches no file"),
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
