"""The last stage of the layout flows: pictures of the finished layout, drawn by KLayout.

`render/layout.png` (1200 x 1200) and `render/layout-thumb.png` (320 x 320), relative to the work dir, drawn by
infra/slurm/render_layout.py (see its docstring for what it draws). The script travels inside the stage's argv,
like every other script of a plan, so compute nodes need nothing of ours installed; the stage writes it to
`render/render_layout.py` and runs `klayout -b -r` on it, directly (qflow) or inside the OpenLane image. Its text
comes from the runner, which gets it from shared/bootstrap.py (the domain reads no files), so a plan depends on
nothing but its inputs.

A picture is a nicety: the layout exists whether or not it can be drawn (no KLayout on the node, one older than
0.28, a layout too big for the time allowed). So the stage runs the command through a fixed wrapper that always
exits 0 and says in the stage's log why there is no picture. Design values never reach a shell: the wrapper gets the
script text and the command as positional arguments and runs them as "$@".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shared.domain.flows.base import FlowStage

STAGE_NAME = "render"
RENDER_DIR = "render"
SCRIPT_PATH = f"{RENDER_DIR}/render_layout.py"
LAYOUT_PNG = f"{RENDER_DIR}/layout.png"
LAYOUT_THUMB_PNG = f"{RENDER_DIR}/layout-thumb.png"
PNG_SIZE = 1200
THUMB_SIZE = 320
# Generous for the designs this service runs (spm: under 2 s); a huge layout gets no picture rather than
# holding its node.
TIMEOUT_S = 600
ARTIFACTS = (LAYOUT_PNG, LAYOUT_THUMB_PNG)
PRIMARY_OUTPUTS = {"layout_png": LAYOUT_PNG, "layout_thumb_png": LAYOUT_THUMB_PNG}
# KLayout is a Qt program; without a display Qt may look for one, and batch mode never needs it.
ENV = {"QT_QPA_PLATFORM": "offscreen"}

# Arguments: the render script's text, then the command that runs it. `timeout --foreground` stays in the stage's
# process group, so a cancel (the kit stops the group) still reaches KLayout.
_WRAPPER = rf"""script=$1
shift
if ! {{ mkdir -p {RENDER_DIR} && printf '%s' "$script" > {SCRIPT_PATH}; }}; then
  echo 'warning: no layout picture: cannot write {SCRIPT_PATH}' >&2
  exit 0
fi
timeout --foreground -k 10 {TIMEOUT_S} "$@"
rc=$?
if [ "$rc" -eq 124 ]; then
  echo 'warning: no layout picture: drawing it took longer than {TIMEOUT_S} s' >&2
elif [ "$rc" -ne 0 ]; then
  printf 'warning: no layout picture: the renderer exited with status %s (see above)\n' "$rc" >&2
fi
exit 0
"""
WRAPPER_NAME = "olc-render"  # $0 of the wrapper: the name shown in `ps` and in sh errors


def klayout_command(
    layout: str, *, lef_files: Sequence[str] = (), lef_layers: Mapping[str, str] | None = None
) -> tuple[str, ...]:
    """`klayout` drawing `layout` (a path or glob relative to the work dir) into the two pictures.

    `lef_files` fill the cells the layout only references; `lef_layers` maps each LEF layer name to the layout's
    layer ("metal1" -> "49/0"). Both come from the runner's configuration, never from a design.
    """
    variables = {
        "layout": layout,
        "png": LAYOUT_PNG,
        "thumb": LAYOUT_THUMB_PNG,
        "size": str(PNG_SIZE),
        "thumb_size": str(THUMB_SIZE),
    }
    if lef_files:
        variables["lef"] = ",".join(lef_files)
    if lef_layers:
        variables["lef_layers"] = ",".join(f"{name}={target}" for name, target in lef_layers.items())
    defines = [part for key, value in variables.items() for part in ("-rd", f"{key}={value}")]
    # -b: batch mode, which also ignores any user configuration and autorun macros on the node.
    return ("klayout", "-b", "-r", SCRIPT_PATH, *defines)


def render_stage(script: str, command: Sequence[str], env: Mapping[str, str] | None = None) -> FlowStage:
    """The stage writing `script` (the text of infra/slurm/render_layout.py) and running `command` (klayout_command(),
    possibly inside a container) so that it never fails."""
    argv = ("sh", "-c", _WRAPPER, WRAPPER_NAME, script, *command)
    return FlowStage(name=STAGE_NAME, argv=argv, env=dict(ENV if env is None else env))
