"""The config.json settings OpenLane Cloud accepts: one table of key -> type, bounds and allowed values.

Why a table rather than passing config.json through: the OpenLane runners give the uploaded config.json to OpenLane,
which turns values into Tcl (OpenLane 1 `set ::env(KEY) value`, where `[...]` runs commands and `$...` reads
variables) and evaluates `expr::` and `ref::` values; a value nobody checked is code on the cluster. So only the
keys below are accepted, each value must have its type, and text may only use a safe set of characters. The
checks here are per value; design_config.py reports unknown keys, the pdk::/scl:: sections and the OLC_* requests.

Paths (VERILOG_FILES, SDC files, EXTRA_*) are relative to the design folder, optionally written with OpenLane's
`dir::` / `$DESIGN_DIR/` prefix, and must name files of the upload; PDK files cannot be referred to.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["number", "int", "bool", "text", "identifier", "net", "choice", "numbers", "defines", "path", "paths"]

PDKS = ("sky130A", "sky130B", "gf180mcuC", "gf180mcuD")
STD_CELL_LIBRARIES = (
    "sky130_fd_sc_hd",
    "sky130_fd_sc_hs",
    "sky130_fd_sc_ms",
    "sky130_fd_sc_ls",
    "sky130_fd_sc_hdll",
    "gf180mcu_fd_sc_mcu7t5v0",
    "gf180mcu_fd_sc_mcu9t5v0",
)
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
DIR_PREFIXES = ("dir::", "$DESIGN_DIR/", "${DESIGN_DIR}/")
# Letters, digits, space and _ . , : / * ? + = - : nothing Tcl or a shell gives a meaning ($ [ ] { } ; ` " \ ...).
SAFE_CHARS = "_.,:/*?+= -"
EVALUATED_PREFIXES = ("expr::", "ref::", "refg::")
MAX_TEXT_CHARS = 256
MAX_PATTERNS = 100  # each is matched against every file of the upload
_GLOB_CHARS = "*?"
_NUMBER_TEXT = re.compile(r"^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$")
_NET = re.compile(r"^[A-Za-z_][A-Za-z0-9_./]{0,127}$")
_DEFINE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}(?:=[A-Za-z0-9_.]{0,64})?$")


@dataclass(frozen=True)
class Setting:
    kind: Kind
    doc: str
    low: float | None = None
    high: float | None = None
    unit: str = ""
    choices: tuple[str, ...] = ()
    count: int = 0  # "numbers": how many


def _num(low: float, high: float, unit: str, doc: str) -> Setting:
    return Setting("number", doc, low, high, unit)


def _int(low: int, high: int, doc: str) -> Setting:
    return Setting("int", doc, low, high)


def _flag(doc: str) -> Setting:
    return Setting("bool", doc)


_UM = "µm"
_SYNTH_STRATEGIES = tuple(f"AREA {n}" for n in range(4)) + tuple(f"DELAY {n}" for n in range(5))

# Keys handled by design_config.py itself (their bounds come from the deployment) are listed for the "did you mean"
# suggestions and as documentation; their rows' bounds are not used.
SCHEMA: dict[str, Setting] = {
    # --- what ingest itself reads
    "DESIGN_NAME": Setting("identifier", "top-level module name"),
    "VERILOG_FILES": Setting("paths", "Verilog sources, e.g. dir::src/*.v"),
    "CLOCK_PORT": Setting("identifier", "clock input port"),
    "CLOCK_PERIOD": _num(0.01, 1_000_000, "ns", "clock period"),
    "PDK": Setting("choice", "process design kit", choices=PDKS),
    "STD_CELL_LIBRARY": Setting("choice", "standard cell library", choices=STD_CELL_LIBRARIES),
    "OLC_FLOW": Setting("choice", "flow to run, one of the deployment's offered flows"),
    "OLC_TIME_LIMIT_MINUTES": Setting("int", "run time limit, up to MAX_TIME_LIMIT_MINUTES"),
    "OLC_CPUS": Setting("int", "CPUs for the run, up to MAX_CPUS_PER_JOB"),
    "OLC_MEMORY_MB": Setting("int", "memory for the run in MB, 256 up to MAX_MEMORY_MB_PER_JOB"),
    "OLC_CACHE": _flag("reuse the results of an earlier run with the same inputs (default true); false forces a run"),
    # --- clocks and constraints
    "CLOCK_NET": Setting("net", "net driving the clock tree (default: CLOCK_PORT)"),
    "BASE_SDC_FILE": Setting("path", "SDC constraints for synthesis and implementation"),
    "PNR_SDC_FILE": Setting("path", "SDC constraints for place and route"),
    "SIGNOFF_SDC_FILE": Setting("path", "SDC constraints for sign-off timing"),
    "MAX_FANOUT_CONSTRAINT": _int(1, 1000, "maximum fanout"),
    "MAX_TRANSITION_CONSTRAINT": _num(0, 100, "ns", "maximum transition time"),
    "OUTPUT_CAP_LOAD": _num(0, 100_000, "fF", "load on output ports"),
    "IO_DELAY_CONSTRAINT": _num(0, 100, "%", "I/O delay as a share of the clock period (OpenLane 2)"),
    "IO_PCT": _num(0, 1, "", "I/O delay as a fraction of the clock period (OpenLane 1)"),
    # --- sources and macros
    "VERILOG_FILES_BLACKBOX": Setting("paths", "Verilog of black-boxed macros"),
    "EXTRA_LEFS": Setting("paths", "LEF views of macros"),
    "EXTRA_GDS_FILES": Setting("paths", "GDS views of macros"),
    "EXTRA_LIBS": Setting("paths", "Liberty timing of macros"),
    "EXTRA_VERILOG_MODELS": Setting("paths", "Verilog models of macros (OpenLane 2)"),
    "MACRO_PLACEMENT_CFG": Setting("path", "macro placement file"),
    # --- synthesis
    "SYNTH_STRATEGY": Setting("choice", "ABC synthesis strategy", choices=_SYNTH_STRATEGIES),
    "SYNTH_MAX_FANOUT": _int(1, 1000, "fanout limit during synthesis"),
    "SYNTH_BUFFERING": _flag("insert buffers during synthesis"),
    "SYNTH_SIZING": _flag("size cells during synthesis"),
    "SYNTH_ABC_BUFFERING": _flag("buffer high-fanout nets in ABC (LibreLane)"),
    "SYNTH_ABC_AREA_USE_NF": _flag("map for area with ABC's &nf instead of amap (LibreLane)"),
    "SYNTH_ABC_DFF": _flag("pass flip-flops through ABC (LibreLane)"),
    "SYNTH_ABC_LEGACY_REFACTOR": _flag("ABC `refactor` instead of `drf -l` (LibreLane)"),
    "SYNTH_ABC_LEGACY_REWRITE": _flag("ABC `rewrite` instead of `drw -l` (LibreLane)"),
    "SYNTH_SHARE_RESOURCES": _flag("merge shareable resources (LibreLane)"),
    "SYNTH_ADDER_TYPE": Setting("choice", "how adders are mapped (LibreLane)", choices=("YOSYS", "FA", "RCA", "CSA")),
    "SYNTH_AUTONAME": _flag("name internal nets after their drivers (LibreLane)"),
    "SYNTH_DEFINES": Setting("defines", 'Verilog defines, e.g. ["USE_FAST_ADDER", "WIDTH=8"]'),
    "RUN_LINTER": _flag("run the Verilator linter"),
    # --- floorplan
    "FP_SIZING": Setting("choice", "relative (FP_CORE_UTIL) or absolute (DIE_AREA)", choices=("relative", "absolute")),
    "DIE_AREA": Setting("numbers", "die area x0 y0 x1 y1", 0, 100_000, _UM, count=4),
    "CORE_AREA": Setting("numbers", "core area x0 y0 x1 y1", 0, 100_000, _UM, count=4),
    "FP_CORE_UTIL": _num(1, 99, "%", "core utilisation"),
    "FP_ASPECT_RATIO": _num(0.1, 10, "", "core height / width"),
    "FP_IO_MODE": _int(0, 1, "pin placement: 1 random equidistant, 0 matching"),
    "FP_PIN_ORDER_CFG": Setting("path", "pin order file"),
    "DESIGN_IS_CORE": _flag("the design is a core (top-level power rings)"),
    "FP_PDN_VPITCH": _num(0, 10_000, _UM, "vertical power strap pitch"),
    "FP_PDN_HPITCH": _num(0, 10_000, _UM, "horizontal power strap pitch"),
    "FP_PDN_VOFFSET": _num(0, 10_000, _UM, "vertical power strap offset"),
    "FP_PDN_HOFFSET": _num(0, 10_000, _UM, "horizontal power strap offset"),
    "FP_PDN_VWIDTH": _num(0, 1_000, _UM, "vertical power strap width"),
    "FP_PDN_HWIDTH": _num(0, 1_000, _UM, "horizontal power strap width"),
    "FP_PDN_VSPACING": _num(0, 1_000, _UM, "vertical power strap spacing"),
    "FP_PDN_HSPACING": _num(0, 1_000, _UM, "horizontal power strap spacing"),
    "FP_PDN_SKIPTRIM": _flag("skip trimming of power straps"),
    "FP_PDN_CORE_RING": _flag("put a power ring around the core"),
    "FP_PDN_MULTILAYER": _flag("use several layers for the power grid"),
    # --- placement, clock tree, routing
    "PL_TARGET_DENSITY": _num(0.01, 1, "", "placement density (OpenLane 1)"),
    "PL_TARGET_DENSITY_PCT": _num(1, 100, "%", "placement density (OpenLane 2)"),
    "PL_BASIC_PLACEMENT": _flag("basic placement for very small designs"),
    "PL_ROUTABILITY_DRIVEN": _flag("routability-driven placement"),
    "PL_TIME_DRIVEN": _flag("timing-driven placement"),
    "RUN_CTS": _flag("build a clock tree"),
    "CTS_TARGET_SKEW": _num(0, 10_000, "ps", "clock skew target"),
    "GRT_ADJUSTMENT": _num(0, 1, "", "global routing capacity reduction"),
    "GRT_ALLOW_CONGESTION": _flag("let global routing finish despite congestion"),
    "GRT_REPAIR_ANTENNAS": _flag("repair antenna violations"),
    "DIODE_INSERTION_STRATEGY": _int(0, 6, "antenna diode strategy (OpenLane 1)"),
    "RT_MIN_LAYER": Setting("identifier", "lowest routing layer, e.g. met1"),
    "RT_MAX_LAYER": Setting("identifier", "highest routing layer, e.g. met4"),
    "ROUTING_CORES": _int(1, 64, "threads for detailed routing"),
    # --- checks
    "RUN_KLAYOUT_XOR": _flag("compare the Magic and KLayout GDS"),
    "RUN_MAGIC_DRC": _flag("run Magic DRC"),
    "QUIT_ON_TIMING_VIOLATIONS": _flag("fail the run on timing violations"),
    "QUIT_ON_MAGIC_DRC": _flag("fail the run on DRC errors"),
    "QUIT_ON_LVS_ERROR": _flag("fail the run on LVS errors"),
    "QUIT_ON_SETUP_VIOLATIONS": _flag("fail the run on setup violations"),
    "QUIT_ON_HOLD_VIOLATIONS": _flag("fail the run on hold violations"),
}


# ------------------------------------------------------------------------------------------------ checks
def shown(value: Any) -> str:
    """A value for a message: repr, cut short (values can be long and are sent by e-mail)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_value(key: str, value: Any, setting: Setting, files: Sequence[str]) -> list[str]:  # noqa: PLR0911 - one answer per kind of setting, in the table's order
    """The problems of one value (empty when it is fine); `files` are the upload's files below the design root."""
    kind = setting.kind
    if kind in ("number", "int"):
        return _check_number(key, value, setting)
    if kind == "bool":
        ok = isinstance(value, bool) or (type(value) is int and value in (0, 1))
        return [] if ok else [f"{key} {shown(value)} must be true or false"]
    if kind == "choice":
        if value in setting.choices:
            return []
        return [f"{key} {shown(value)} is not accepted; choose one of: {', '.join(setting.choices)}"]
    if kind == "identifier":
        if isinstance(value, str) and IDENTIFIER.match(value):
            return []
        return [f"{key} {shown(value)} is not a plain name (letters, digits and _, starting with a letter or _)"]
    if kind == "net":
        if isinstance(value, str) and _NET.match(value):
            return []
        return [f"{key} {shown(value)} is not a net name (letters, digits, _ . and /, starting with a letter or _)"]
    if kind == "numbers":
        return _check_numbers(key, value, setting)
    if kind == "defines":
        items = value if isinstance(value, list) else [value]
        if items and all(isinstance(d, str) and _DEFINE.match(d) for d in items):
            return []
        return [f"{key} {shown(value)} must be a list of NAME or NAME=value (letters, digits, _ and .)"]
    if kind in ("path", "paths"):
        problems: list[str] = []
        match_paths(key, value, files, problems, single=kind == "path")
        return problems
    problem = text_problem(key, value)
    return [problem] if problem else []


def text_problem(key: str, value: Any, *, written: str | None = None) -> str | None:
    """Why a text value cannot be handed to OpenLane, or None. `written`: the value as the designer wrote it, when
    `value` is a part of it (a path without its dir:: prefix)."""
    if not isinstance(value, str):
        return f"{key} {shown(value)} must be text"
    as_written = shown(value if written is None else written)
    for prefix in EVALUATED_PREFIXES:
        if prefix in value:
            return f"{key} {as_written} uses {prefix}, which OpenLane evaluates; write the plain value instead"
    bad = next((c for c in value if not (c.isascii() and (c.isalnum() or c in SAFE_CHARS))), None)
    if bad is not None:
        return (
            f"{key} {as_written} contains {_describe(bad)}: OpenLane reads settings as Tcl, so values may only use "
            f"letters, digits, spaces and {' '.join(SAFE_CHARS.replace(' ', ''))}"
        )
    if value.lstrip().startswith("-"):
        return f"{key} {as_written} starts with '-', which a tool would read as an option"
    if len(value) > MAX_TEXT_CHARS:
        return f"{key} is longer than {MAX_TEXT_CHARS} characters"
    return None


def match_paths(key: str, value: Any, files: Sequence[str], problems: list[str], *, single: bool = False) -> list[str]:
    """The upload's files that a path value (a pattern, several separated by spaces, or a list) names, in order.

    A pattern that is unsafe, leaves the design folder or matches nothing is a problem; `*` stays within a folder.
    """
    patterns = [value] if isinstance(value, str) else value
    if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) for p in patterns):
        what = "a path" if single else "a path pattern or a list of them"
        problems.append(f"{key} must be {what}")
        return []
    for raw in patterns:
        odd_space = next((c for c in raw if c.isspace() and c != " "), None)
        if odd_space is not None:
            problems.append(f"{key} {shown(raw)} contains {_describe(odd_space)}; separate paths with spaces")
            return []
    tokens = [(raw, token) for raw in patterns for token in raw.split(" ") if token]
    for raw, token in tokens:
        problem = _path_problem(key, raw, token, strip_dir_prefix(token))
        if problem:  # one is enough: the rest of such a value is rarely meant as paths
            problems.append(problem)
            return []
    if single and len(tokens) != 1:
        problems.append(f"{key} {shown(value)} must be one path")
        return []
    if sum(any(c in token for c in _GLOB_CHARS) for _, token in tokens) > MAX_PATTERNS:
        problems.append(f"{key} has more than {MAX_PATTERNS} patterns with * or ?; name the files or folders instead")
        return []
    available = frozenset(files)
    matched: list[str] = []
    seen: set[str] = set()
    for _raw, token in tokens:
        path = strip_dir_prefix(token).strip("/")
        # A plain path is looked up; only patterns are matched against every file.
        hits = glob(path, files) if any(c in path for c in _GLOB_CHARS) else [path] if path in available else []
        if not hits:
            problems.append(f"{key} pattern {shown(token)} matches no file in the upload")
        matched.extend(h for h in hits if h not in seen)
        seen.update(hits)
    return matched


def strip_dir_prefix(pattern: str) -> str:
    for prefix in DIR_PREFIXES:
        if pattern.startswith(prefix):
            return pattern[len(prefix) :]
    return pattern


def glob(pattern: str, files: Sequence[str]) -> list[str]:
    """Shell-style glob where `*` stays within one folder, as OpenLane's does."""
    wanted = pattern.strip("/").split("/")
    return sorted(
        f
        for f in files
        if len(parts := f.split("/")) == len(wanted)
        and all(fnmatch.fnmatchcase(p, w) for p, w in zip(parts, wanted, strict=True))
    )


def _path_problem(key: str, raw: str, token: str, path: str) -> str | None:
    problem = text_problem(key, path, written=raw)
    if problem:
        return problem
    if path.startswith("/"):
        return (
            f"{key} {shown(token)} is an absolute path: paths must be inside the design folder, "
            'written relative to it (e.g. "dir::src/top.v")'
        )
    if ".." in path.split("/"):
        return f"{key} {shown(token)} points outside the design folder ('..'); only files of the upload can be used"
    return None


def _check_number(key: str, value: Any, setting: Setting) -> list[str]:
    number = as_number(value)
    whole = setting.kind == "int"
    low = -math.inf if setting.low is None else setting.low
    high = math.inf if setting.high is None else setting.high
    fits = number is not None and low <= number <= high
    if whole:
        fits = fits and not isinstance(value, float) and float(number or 0).is_integer()
    if fits:
        return []
    return [f"{key} {shown(value)} must be {'a whole number' if whole else 'a number'}{_range(setting)}"]


def _check_numbers(key: str, value: Any, setting: Setting) -> list[str]:
    items = value.split() if isinstance(value, str) else value
    numbers = [as_number(v) for v in items] if isinstance(items, list) else []
    low = setting.low if setting.low is not None else -math.inf
    high = setting.high if setting.high is not None else math.inf
    if len(numbers) != setting.count or any(n is None or not low <= n <= high for n in numbers):
        example = " ".join(["0", "0", "200", "200"][: setting.count])
        return [f"{key} {shown(value)} must be {setting.count} numbers{_range(setting)} (e.g. {example!r})"]
    return []


def as_number(value: Any) -> float | None:
    """A finite JSON number, or text that is only a number; booleans are not numbers."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            number = float(value)
        elif isinstance(value, str) and _NUMBER_TEXT.match(value.strip()):
            number = float(value.strip())
        else:
            return None
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _range(setting: Setting) -> str:
    if setting.low is None or setting.high is None:
        return ""
    unit = f" {setting.unit}" if setting.unit else ""
    return f" from {_figure(setting.low)} to {_figure(setting.high)}{unit}"


def _figure(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


def _describe(char: str) -> str:
    if char in {"\n", "\r"}:
        return "a line break"
    if char == "\t":
        return "a tab"
    if ord(char) < 32 or ord(char) == 127:
        return f"the control character U+{ord(char):04X}"
    if not char.isascii():
        return f"the non-ASCII character {char!r}"
    return repr(char)
