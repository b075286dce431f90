"""Validate an uploaded config.json (OpenLane style) against the design's files, reporting every problem at once.

Which keys are accepted and what their values may be is the table in config_schema.py; this module adds what the
table cannot say: unknown keys (with a "did you mean"), OpenLane's `pdk::<glob>` / `scl::<glob>` sections and `meta`,
keys allowed only at the top, the deployment's bounds on OLC_* requests, and that no Tcl configuration rides along.

Resource requests: OLC_CPUS (1 to MAX_CPUS_PER_JOB) and OLC_MEMORY_MB (megabytes, like DEFAULT_MEMORY_MB; 256 to
MAX_MEMORY_MB_PER_JOB), next to OLC_TIME_LIMIT_MINUTES; each replaces the deployment's default for the run.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Sequence
from typing import Any

from shared.domain.config_schema import (
    IDENTIFIER,
    PDKS,
    SCHEMA,
    STD_CELL_LIBRARIES,
    check_value,
    match_paths,
    shown,
)
from shared.domain.design import DesignSpec
from shared.domain.sweeps.errors import SWEEP_KEY, SweepError
from shared.domain.sweeps.objective import default_objective
from shared.domain.sweeps.spec import SweepSpec, parse_sweep, schema_check, sweepable_parameters

HDL_SUFFIXES = (".v", ".sv", ".vh", ".svh")
FLOW_KEY = "OLC_FLOW"
TIME_LIMIT_KEY = "OLC_TIME_LIMIT_MINUTES"
CPUS_KEY = "OLC_CPUS"
MEMORY_KEY = "OLC_MEMORY_MB"
CACHE_KEY = "OLC_CACHE"
MIN_MEMORY_MB = 256
TCL_CONFIG = "config.tcl"
MAX_PROBLEMS = 20  # the reason goes into an e-mail; past this many, the rest are counted
# Read by ingest itself, so never inside a pdk::/scl:: section (which OpenLane would apply but ingest would not see).
_TOP_ONLY = frozenset(
    {
        "DESIGN_NAME",
        "VERILOG_FILES",
        "PDK",
        "STD_CELL_LIBRARY",
        FLOW_KEY,
        TIME_LIMIT_KEY,
        CPUS_KEY,
        MEMORY_KEY,
        CACHE_KEY,
        SWEEP_KEY,
        "meta",
    }
)
_READ_HERE = _TOP_ONLY | {"CLOCK_PORT", "CLOCK_PERIOD"}
_SECTION = re.compile(r"^(pdk|scl)::[A-Za-z0-9_*?]{1,64}$")
_MAX_SECTION_DEPTH = 2  # pdk::X holding scl::Y, as OpenLane 2 documents
_META_VERSIONS = (1, 2)
_META_FLOWS = ("Classic",)


class DesignConfigError(ValueError):
    """Every problem found in config.json, in words a designer understands."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("config.json: " + "; ".join(self.problems))


def parse_design_config(  # noqa: PLR0913 - the deployment's bounds, keyword-only, each a setting of shared/config.py
    config_text: str,
    design_files: Sequence[str],
    *,
    flow: str,
    offered_flows: Sequence[str] = (),
    max_time_limit_minutes: int = 240,
    max_cpus: int = 8,
    max_memory_mb: int = 32768,
    max_sweep_runs: int = 0,
    seed: str = "",
) -> DesignSpec:
    """`flow` is the deployment's default; config.json may pick another of `offered_flows` with OLC_FLOW."""
    problems = _tcl_configs(design_files)
    config = _load(config_text, problems)
    if config is None:
        raise DesignConfigError(problems)
    _check_section(config, design_files, "", problems)
    name = _design_name(config, problems)
    verilog = _verilog_files(config.get("VERILOG_FILES"), design_files, problems)
    clock_port = _clock_port(config.get("CLOCK_PORT"), problems)
    period = _clock_period(config.get("CLOCK_PERIOD", 10.0), problems)
    pdk = _choice(config, "PDK", PDKS, problems)
    _choice(config, "STD_CELL_LIBRARY", STD_CELL_LIBRARIES, problems)
    chosen_flow = _choice(config, FLOW_KEY, tuple(offered_flows) or (flow,), problems) or flow
    time_limit = _request(config, TIME_LIMIT_KEY, 1, max_time_limit_minutes, "minutes", problems)
    cpus = _request(config, CPUS_KEY, 1, max_cpus, "CPUs", problems)
    memory = _request(config, MEMORY_KEY, MIN_MEMORY_MB, max_memory_mb, "MB", problems)
    sweep = _sweep(config.get(SWEEP_KEY), chosen_flow, max_sweep_runs, seed, problems)
    if problems:
        extra = len(problems) - MAX_PROBLEMS
        raise DesignConfigError([*problems[:MAX_PROBLEMS], f"and {extra} more problems"] if extra > 0 else problems)
    return DesignSpec(
        design_name=name,
        top_module=name,
        verilog_files=verilog,
        clock_port=clock_port,
        clock_period_ns=period,
        flow=chosen_flow,
        pdk=pdk or "",
        time_limit_minutes=time_limit,
        cpus=cpus,
        memory_mb=memory,
        flow_variables={k: v for k, v in config.items() if k != SWEEP_KEY},
        sweep=sweep,
    )


def _sweep(value: Any, flow: str, max_runs: int, seed: str, problems: list[str]) -> SweepSpec | None:
    if value is None:
        return None
    if max_runs <= 0:
        problems.append(f"{SWEEP_KEY}: this deployment does not run sweeps")
        return None
    try:
        return parse_sweep(
            value,
            sweepable=sweepable_parameters(flow),
            max_runs_allowed=max_runs,
            seed=seed,
            check_value=schema_check,
            default=default_objective(flow),
        )
    except SweepError as exc:
        problems.extend(p.removeprefix("config.json: ") for p in exc.problems)
        return None


def _tcl_configs(design_files: Sequence[str]) -> list[str]:
    # OpenLane 1 sources config.tcl and <PDK>_<SCL>_config.tcl from the design folder.
    return [
        f"{f} is Tcl code the flow would execute; it is not accepted — move the settings to config.json"
        for f in design_files
        if "/" not in f and (f == TCL_CONFIG or f.endswith(f"_{TCL_CONFIG}"))
    ]


def _load(config_text: str, problems: list[str]) -> dict[str, Any] | None:
    duplicates: list[str] = []

    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        # Python keeps the last of two equal keys, other readers may keep the first: refuse rather than guess.
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result and key not in duplicates:
                duplicates.append(key)
            result[key] = value
        return result

    try:
        config = json.loads(config_text, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as exc:
        problems.append(f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})")
        return None
    except RecursionError:
        problems.append("its values are nested too deeply to be read")
        return None
    except ValueError as exc:  # e.g. a number with thousands of digits
        problems.append(f"not valid JSON ({exc})")
        return None
    if not isinstance(config, dict):
        problems.append("must be a JSON object of settings")
        return None
    problems.extend(f"{shown(key)} is set twice; keep one" for key in duplicates)
    return config


def _check_section(
    section: dict[str, Any], files: Sequence[str], where: str, problems: list[str], depth: int = 0
) -> None:
    """Every key of the top level (`where` "", depth 0) or of a pdk::/scl:: section, except those read below."""
    for key, value in section.items():
        if not where and key == "meta":
            problems.extend(_meta(value))
        elif not where and key in _READ_HERE:
            continue
        elif key in _TOP_ONLY:
            problems.append(f"{key} can only be set at the top level of config.json, not inside {where!r}")
        elif _SECTION.match(key):
            if depth + 1 > _MAX_SECTION_DEPTH:
                problems.append(f"section {key!r} inside {where!r} is nested too deeply")
            elif not isinstance(value, dict):
                problems.append(f"section {key!r} must be an object of settings")
            else:
                _check_section(value, files, key, problems, depth + 1)
        elif key in SCHEMA:
            problems.extend(check_value(key, value, SCHEMA[key], files))
        else:
            problems.append(_unknown(key, where, suggest=len(problems) < MAX_PROBLEMS))


def _unknown(key: str, where: str, *, suggest: bool) -> str:
    place = f" in {where!r}" if where else ""
    close = difflib.get_close_matches(key.upper(), SCHEMA, n=1, cutoff=0.75) if suggest and len(key) <= 64 else []
    if close:
        return f"unknown setting {shown(key)}{place}: did you mean {close[0]}?"
    return f"unknown setting {shown(key)}{place}: it is not among the settings OpenLane Cloud accepts; remove it"


def _meta(value: Any) -> list[str]:
    if not isinstance(value, dict):
        return ['meta must be an object, e.g. {"version": 2}']
    problems = []
    for key, item in value.items():
        if key == "version":
            if isinstance(item, bool) or item not in _META_VERSIONS:
                problems.append(f"meta.version {shown(item)} must be 1 or 2")
        elif key == "flow":
            if item not in _META_FLOWS:
                problems.append(f"meta.flow {shown(item)} is not accepted; only {', '.join(_META_FLOWS)} runs here")
        else:
            problems.append(f"meta.{shown(key)[1:-1]} is not accepted; only meta.version and meta.flow may be set")
    return problems


def _design_name(config: dict[str, Any], problems: list[str]) -> str:
    name = config.get("DESIGN_NAME")
    if not isinstance(name, str) or not name:
        problems.append("DESIGN_NAME is missing: set it to the name of your top-level module")
        return ""
    if not IDENTIFIER.match(name):
        problems.append(
            f"DESIGN_NAME {shown(name)} is not a plain module name (letters, digits and _, starting with a letter or _)"
        )
    return name


def _verilog_files(value: Any, design_files: Sequence[str], problems: list[str]) -> tuple[str, ...]:
    if value is None:
        problems.append('VERILOG_FILES is missing: e.g. "dir::src/*.v"')
        return ()
    matched = match_paths("VERILOG_FILES", value, design_files, problems)
    non_hdl = [m for m in matched if not m.endswith(HDL_SUFFIXES)]
    if non_hdl:
        problems.append(f"VERILOG_FILES names files that are not Verilog: {', '.join(non_hdl[:5])}")
    return tuple(matched)


def _clock_port(value: Any, problems: list[str]) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        problems.append(f"CLOCK_PORT {shown(value)} is not a plain port name (letters, digits and _)")
        return None
    return value


def _clock_period(value: Any, problems: list[str]) -> float:
    try:
        period = float(value)
    except (TypeError, ValueError, OverflowError):
        problems.append(f"CLOCK_PERIOD {shown(value)} is not a number of nanoseconds")
        return 10.0
    if isinstance(value, bool) or not math.isfinite(period) or not 0.01 <= period <= 1_000_000:
        problems.append(f"CLOCK_PERIOD {shown(value)} is outside 0.01 to 1000000 ns")
    return period


def _request(config: dict[str, Any], key: str, least: int, most: int, unit: str, problems: list[str]) -> int | None:
    value = config.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
        problems.append(f"{key} {shown(value)} must be a whole number of {unit} from {least} to {most}")
        return None
    return value


def _choice(config: dict[str, Any], key: str, allowed: Sequence[str], problems: list[str]) -> str | None:
    value = config.get(key)
    if value is None:
        return None
    if value not in allowed:
        problems.append(f"{key} {shown(value)} is not offered; choose one of: {', '.join(allowed)}")
        return None
    return str(value)


# ------------------------------------------------------------------------------------------------ overrides
MAX_OVERRIDES = 50
# The design's identity and the sweep are what a rerun keeps; a change there is a new design, uploaded as one.
_NOT_OVERRIDABLE = frozenset({"DESIGN_NAME", "VERILOG_FILES", SWEEP_KEY, "meta"})


def override_problems(overrides: object) -> list[str]:
    """Why these rerun overrides cannot be applied (empty when they can), checked like config.json values. Paths are
    checked against the design's files when the rerun is ingested, with the whole config."""
    if not isinstance(overrides, dict):
        return ['overrides must be a JSON object of settings, e.g. {"CLOCK_PERIOD": 12}']
    if len(overrides) > MAX_OVERRIDES:
        return [f"at most {MAX_OVERRIDES} settings can be changed in one rerun, not {len(overrides)}"]
    problems: list[str] = []
    for key, value in overrides.items():
        if key in _NOT_OVERRIDABLE:
            problems.append(f"{key} cannot be changed in a rerun; upload the changed design instead")
        elif key not in SCHEMA:
            problems.append(_unknown(key, "", suggest=True))
        elif SCHEMA[key].kind not in ("path", "paths"):
            problems.extend(check_value(key, value, SCHEMA[key], ()))
    return problems


def apply_overrides(config_text: str, overrides: dict[str, Any]) -> str:
    """config.json with `overrides` set at its top level; unreadable JSON is returned as it was, for
    parse_design_config to report (as is a config.json with a key set twice: it is read as written)."""
    if not overrides:
        return config_text
    problems: list[str] = []
    config = _load(config_text, problems)
    if config is None or problems:
        return config_text
    return json.dumps({**config, **overrides}, indent=2)
