"""`yosys` for LibreLane, backed by the pyosys wheel (libyosys as a Python module).

LibreLane's synthesis steps call `yosys -y SCRIPT.py [-Q] [-q|-qq] -- ARGS` (run a Python script that drives
Yosys through `pyosys`) and its lint pre-processing calls `yosys -p COMMANDS`. No Debian Yosys has `-y` and the
yowasp build has no Python: the pyosys wheel is the one registry package with a Yosys new enough (>= 0.59.1) for
LibreLane. This front end accepts exactly those forms and refuses everything else with a clear message, so a
LibreLane release that starts calling Yosys differently fails loudly instead of silently doing less.

Installed by the local stack next to LibreLane (devstack/librelane.py) with that environment's Python as
its interpreter.
"""

from __future__ import annotations

import os
import runpy
import sys

USAGE = "usage: yosys -y SCRIPT.py [-Q] [-q|-qq] [-- ARGS...] | yosys [-Q] [-q] -p COMMANDS"


def parse(argv: list[str]) -> tuple[str | None, str | None, list[str], int]:
    """(script, commands, script_args, quiet) from yosys' command line, for the forms LibreLane uses."""
    script = commands = None
    quiet = 0
    rest = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            rest = argv[index + 1 :]
            break
        if arg in ("-y", "-p"):
            if index + 1 >= len(argv):
                raise SystemExit(f"yosys: {arg} needs a value\n{USAGE}")
            if arg == "-y":
                script = argv[index + 1]
            else:
                commands = argv[index + 1] if commands is None else commands + "; " + argv[index + 1]
            index += 2
            continue
        if arg == "-Q":
            pass  # no banner is printed anyway
        elif arg == "-q":
            quiet = max(quiet, 1)
        elif arg == "-qq":
            quiet = 2
        else:
            raise SystemExit(f"yosys (pyosys front end): unsupported argument {arg!r}\n{USAGE}")
        index += 1
    if (script is None) == (commands is None):
        raise SystemExit("yosys (pyosys front end): give exactly one of -y or -p\n" + USAGE)
    return script, commands, rest, quiet


def main(argv: list[str]) -> int:
    script, commands, rest, _quiet = parse(argv)
    if script is not None:
        # As yosys -y does: the script sees itself as argv[0] and what follows `--` as its arguments, and
        # imports modules from its own folder (LibreLane's ys_common.py).
        sys.argv = [script, *rest]
        sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
        runpy.run_path(script, run_name="__main__")
        return 0
    from pyosys import libyosys as ys

    design = ys.Design()
    ys.run_pass(commands, design)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
