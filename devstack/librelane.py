"""Install the real LibreLane for the local flow `librelane-osu035`: LibreLane and pyosys from PyPI in an environment
of their own, a `yosys` executable backed by pyosys, and the project's LibreLane PDK configuration for Debian's OSU
0.35 um cells.

Everything goes under INSTALL_ROOT, outside the clone: the Slurm jobs run as the stack's login user, who may not be
able to read a clone in root's home (mode 700 on a fresh Debian). The environment is built with Debian's python3
for the same reason (a pyenv interpreter under /root would not be reachable either).

    INSTALL_ROOT/bin/python             the environment's interpreter: LIBRELANE_PYTHON of the local stack
    INSTALL_ROOT/bin/yosys              infra/librelane/yosys.py with that interpreter (LibreLane's `-y`/`-p` calls)
    INSTALL_ROOT/pdks/osu035/...        infra/librelane/pdk/osu035 plus the Liberty file laid out for LibreLane
    INSTALL_ROOT/.installed             what was installed (the pins): a second install is a no-op

The pins are LibreLane's own compatibility pair: LibreLane 3.0 needs Yosys >= 0.59.1 with Python scripting, which
the pyosys 0.70 wheel is (../shared notes: OpenLane 2.3.x does not work with it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from devstack.debian import ensure_packages
from devstack.process import StackError

REPO_ROOT = Path(__file__).resolve().parents[1]
INFRA = REPO_ROOT / "infra" / "librelane"
INSTALL_ROOT = Path(os.environ.get("OLC_LIBRELANE_HOME", "/opt/olc/librelane"))
PINS = ("librelane==3.0.17", "pyosys==0.70")
# Verilator for Verilator.Lint, OpenSTA for the timing stage; python3-venv for Debian's python3 -m venv.
PACKAGES = ("verilator", "opensta", "python3-venv", "qflow-tech-osu035")
SYSTEM_PYTHON = "/usr/bin/python3"
PDK = "osu035"
SCL = "osu035_stdcells"
DEBIAN_LIBERTY = Path("/usr/share/qflow/tech/osu035/osu035_stdcells.lib")
LIBERTY_NAME = "osu035_stdcells__tt_025C_3v30.lib"
_PIP_TIMEOUT_S = 900


def python() -> Path:
    return INSTALL_ROOT / "bin" / "python"


def pdk_root() -> Path:
    return INSTALL_ROOT / "pdks"


def ensure_librelane() -> Path:
    """Install what is missing; returns the environment's interpreter. Fast when installed (one file read)."""
    ensure_packages(PACKAGES)
    marker = INSTALL_ROOT / ".installed"
    wanted = json.dumps({"pins": PINS, "python": SYSTEM_PYTHON})
    if not (marker.exists() and marker.read_text() == wanted and python().exists()):
        _create_environment()
        marker.write_text(wanted)
    # Cheap, and keeps the installed copy in step with the repository's files after a pull.
    _install_yosys_front_end()
    _install_pdk()
    return python()


def _create_environment() -> None:
    if os.geteuid() != 0 and not os.access(INSTALL_ROOT.parent, os.W_OK):
        raise StackError(f"installing LibreLane into {INSTALL_ROOT} needs root (or set OLC_LIBRELANE_HOME)")
    shutil.rmtree(INSTALL_ROOT, ignore_errors=True)
    INSTALL_ROOT.parent.mkdir(parents=True, exist_ok=True)
    _run([SYSTEM_PYTHON, "-m", "venv", str(INSTALL_ROOT)], "creating LibreLane's environment")
    _run(
        [str(python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PINS],
        f"installing {' '.join(PINS)}",
    )


def _install_yosys_front_end() -> None:
    source = (INFRA / "yosys.py").read_text()
    target = INSTALL_ROOT / "bin" / "yosys"
    text = f"#!{python()}\n{source}"
    if not target.exists() or target.read_text() != text:
        target.write_text(text)
    target.chmod(0o755)


def _install_pdk() -> None:
    root = pdk_root() / PDK
    shutil.copytree(INFRA / "pdk" / PDK, root, dirs_exist_ok=True)
    liberty = root / "libs.ref" / SCL / "lib" / LIBERTY_NAME
    liberty.parent.mkdir(parents=True, exist_ok=True)
    text = liberty_for_librelane(DEBIAN_LIBERTY.read_text())
    if not liberty.exists() or liberty.read_text() != text:
        liberty.write_text(text)
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


_ONE_LINE_CELL = re.compile(r"^(\s*)cell \((\w+)\) \{ *(.*?) *\}\s*$", re.MULTILINE)


def liberty_for_librelane(text: str) -> str:
    """Debian's Liberty file with its one-line cell groups (`cell (PADFC) { area : 27000; dont_touch : true; }`)
    spread over several lines. LibreLane 3.0's Liberty filter, which removes excluded and dont_touch cells before
    synthesis, cuts such a group together with the library's closing brace when it is the last cell of the file,
    and Yosys then refuses the file ("Syntax error in liberty file"). The content is unchanged."""

    def spread(match: re.Match[str]) -> str:
        indent, name, body = match.groups()
        attributes = [a.strip() for a in body.split(";") if a.strip()]
        inner = "".join(f"{indent}  {a};\n" for a in attributes)
        return f"{indent}cell ({name}) {{\n{inner}{indent}}}"

    return _ONE_LINE_CELL.sub(spread, text)


def _run(argv: list[str], what: str) -> None:
    try:
        proc = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"{what}: did not finish within {_PIP_TIMEOUT_S} s") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-25:])
        raise StackError(f"{what} failed (exit {proc.returncode}):\n{tail}")
