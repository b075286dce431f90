"""Validate an uploaded config.json (OpenLane style) against the design's files, reporting every problem at once."""

from __future__ import annotations

import fnmatch
import json
import math
import re
from collections.abc import Sequence
from typing import Any

from shared.domain.design import DesignSpec

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
HDL_SUFFIXES = (".v", ".sv", ".vh", ".svh")
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
FLOW_KEY = "OLC_FLOW"
TIME_LIMIT_KEY = "OLC_TIME_LIMIT_MINUTES"
_DIR_PREFIXES = ("dir::", "$DESIGN_DIR/", "${DESIGN_DIR}/")


class DesignConfigError(ValueError):
    """Every problem found in config.json, in words a designer understands."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("config.json: " + "; ".join(self.problems))


def parse_design_config(
    config_text: str,
    design_files: Sequence[str],
    *,
    flow: str,
    offered_flows: Sequence[str] = (),
    max_time_limit_minutes: int = 240,
) -> DesignSpec:
    """`flow` is the deployment's default; config.json may pick another of `offered_flows` with OLC_FLOW."""
    try:
        config = json.loads(config_text)
    except json.JSONDecodeError as exc:
        raise DesignConfigError([f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"]) from exc
    if not isinstance(config, dict):
        raise DesignConfigError(["must be a JSON object of settings"])
    problems: list[str] = []
    name = _design_name(config, problems)
    verilog = _verilog_files(config.get("VERILOG_FILES"), design_files, problems)
    clock_port = _clock_port(config.get("CLOCK_PORT"), problems)
    period = _clock_period(config.get("CLOCK_PERIOD", 10.0), problems)
    pdk = _choice(config, "PDK", PDKS, problems)
    _choice(config, "STD_CELL_LIBRARY", STD_CELL_LIBRARIES, problems)
    chosen_flow = _choice(config, FLOW_KEY, tuple(offered_flows) or (flow,), problems) or flow
    time_limit = _time_limit(config.get(TIME_LIMIT_KEY), max_time_limit_minutes, problems)
    if problems:
        raise DesignConfigError(problems)
    return DesignSpec(
        design_name=name,
        top_module=name,
        verilog_files=verilog,
        clock_port=clock_port,
        clock_period_ns=period,
        flow=chosen_flow,
        pdk=pdk or "",
        time_limit_minutes=time_limit,
        flow_variables=config,
    )


def _design_name(config: dict[str, Any], problems: list[str]) -> str:
    name = config.get("DESIGN_NAME")
    if not isinstance(name, str) or not name:
        problems.append("DESIGN_NAME is missing: set it to the name of your top-level module")
        return ""
    if not IDENTIFIER.match(name):
        problems.append(
            f"DESIGN_NAME {name!r} is not a plain module name (letters, digits and _, starting with a letter or _)"
        )
    return name


def _verilog_files(value: Any, design_files: Sequence[str], problems: list[str]) -> tuple[str, ...]:
    if value is None:
        problems.append('VERILOG_FILES is missing: e.g. "dir::src/*.v"')
        return ()
    patterns = [value] if isinstance(value, str) else value
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns) or not patterns:
        problems.append("VERILOG_FILES must be a path pattern or a list of them")
        return ()
    matched: list[str] = []
    for raw in patterns:
        for pattern in raw.split():
            hits = _glob(_strip_dir_prefix(pattern), design_files)
            if not hits:
                problems.append(f"VERILOG_FILES pattern {pattern!r} matches no file in the upload")
            matched.extend(h for h in hits if h not in matched)
    non_hdl = [m for m in matched if not m.endswith(HDL_SUFFIXES)]
    if non_hdl:
        problems.append(f"VERILOG_FILES names files that are not Verilog: {', '.join(non_hdl[:5])}")
    return tuple(matched)


def _strip_dir_prefix(pattern: str) -> str:
    for prefix in _DIR_PREFIXES:
        if pattern.startswith(prefix):
            return pattern[len(prefix) :]
    return pattern


def _glob(pattern: str, files: Sequence[str]) -> list[str]:
    """Shell-style glob where `*` stays within one folder, as OpenLane's does."""
    wanted = pattern.strip("/").split("/")
    return sorted(
        f
        for f in files
        if len(parts := f.split("/")) == len(wanted)
        and all(fnmatch.fnmatchcase(p, w) for p, w in zip(parts, wanted, strict=True))
    )


def _clock_port(value: Any, problems: list[str]) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        problems.append(f"CLOCK_PORT {value!r} is not a plain port name")
        return None
    return value


def _clock_period(value: Any, problems: list[str]) -> float:
    try:
        period = float(value)
    except (TypeError, ValueError):
        problems.append(f"CLOCK_PERIOD {value!r} is not a number of nanoseconds")
        return 10.0
    if not math.isfinite(period) or not 0.01 <= period <= 1_000_000:
        problems.append(f"CLOCK_PERIOD {value!r} is outside 0.01 to 1000000 ns")
    return period


def _time_limit(value: Any, most: int, problems: list[str]) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        problems.append(f"{TIME_LIMIT_KEY} {value!r} must be a whole number of minutes from 1 to {most}")
        return None
    return value


def _choice(config: dict[str, Any], key: str, allowed: Sequence[str], problems: list[str]) -> str | None:
    value = config.get(key)
    if value is None:
        return None
    if value not in allowed:
        problems.append(f"{key} {value!r} is not offered; choose one of: {', '.join(allowed)}")
        return None
    return str(value)
