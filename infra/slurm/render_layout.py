"""Render a finished layout to PNG pictures with KLayout, headless: a large view and a small thumbnail.

    klayout -b -r render_layout.py -rd layout=LAYOUT -rd png=OUT.png -rd thumb=THUMB.png \
        [-rd size=1200] [-rd thumb_size=320] [-rd lef=CELLS.lef[,MORE.lef]] [-rd lef_layers=metal1=49/0,via1=50/0]

`layout` is a GDS, OASIS or DEF file, or a glob whose first match (in sorted order) is drawn: OpenLane names its
GDS after the design, which the plan does not know. `lef` names LEF files whose macros fill the cells the layout
only references (qflow's GDS: Debian ships the OSU cells without their GDS), and `lef_layers` puts each LEF layer on
the layout's own layer so that a cell's metal1 is drawn like the routing's. Every layer is shown with KLayout's
default colours, every hierarchy level, no grid and no texts (labels are unreadable at these sizes).

Exits non-zero with one line saying why when nothing could be drawn. The flow runs this as an optional last stage
(shared/domain/flows/render.py), so a failure costs the pictures, never the run.

Shipped to the compute node inside the run's plan (the stage's argv carries this text), run by KLayout's embedded
Python: KLayout 0.28 or later (the first with a standalone pya.LayoutView), Python 3.6-compatible, no other packages.
"""

import glob
import os
import sys
from typing import Any, List, Sequence, Tuple

import pya

OVERSAMPLING = 3  # anti-aliasing: thin wires stay visible in the thumbnail instead of flickering in and out


class RenderError(Exception):
    pass


def setting(name: str, default: str = "") -> str:
    # KLayout's -rd NAME=VALUE arrives as the module global NAME.
    value = globals().get(name)
    return default if value is None else str(value)


def find_layout(pattern: str) -> str:
    matches = sorted(path for path in glob.glob(pattern) if os.path.isfile(path))
    if not matches:
        raise RenderError("no layout file matches {!r}".format(pattern))
    return matches[0]


def lef_options(lef_files: List[str], lef_layers: List[str]) -> Any:
    options = pya.LoadLayoutOptions()
    config = options.lefdef_config
    config.lef_files = lef_files
    # Pin names and cell frames would cover the drawing; the layout's own labels are hidden anyway.
    config.produce_labels = False
    config.produce_cell_outlines = False
    if lef_layers:
        layer_map = pya.LayerMap()
        for index, entry in enumerate(lef_layers):
            name, _, target = entry.partition("=")
            # LEF shapes land on "<layer>.PIN" and "<layer>.OBS" as well as on "<layer>" itself.
            for suffix in ("", ".PIN", ".OBS"):
                layer_map.map("{}{} : {}".format(name, suffix, target), index)
        config.layer_map = layer_map
        config.create_other_layers = False
    options.lefdef_config = config
    return options


def read_layout(path: str, lef_files: List[str], lef_layers: List[str]) -> Tuple[Any, Any]:
    layout = pya.Layout()
    if path.lower().endswith(".def"):
        layout.read(path, lef_options(lef_files, lef_layers))
    else:
        layout.read(path)
    tops = [layout.cell(index) for index in layout.each_top_cell()]
    if not tops:
        raise RenderError("{} holds no cells".format(path))
    # The design is the biggest top cell (a GDS may also carry unused library cells as tops).
    top = max(tops, key=lambda cell: cell.bbox().area())
    if lef_files and not path.lower().endswith(".def"):
        # Reading LEF macros into the layout fills its ghost cells (referenced, never defined) by name.
        for lef in lef_files:
            layout.read(lef, lef_options([], lef_layers))
    if top.bbox().empty():
        raise RenderError("the layout's top cell {} is empty".format(top.name))
    return layout, top


def render(layout: Any, top: Any, outputs: Sequence[Tuple[str, int]]) -> None:
    view = pya.LayoutView()
    view.set_config("grid-visible", "false")
    view.set_config("text-visible", "false")
    view.set_config("background-color", "#000000")
    index = view.show_layout(layout, True)
    view.cellview(index).cell = top
    view.add_missing_layers()
    view.max_hier()
    view.zoom_fit()
    for path, size in outputs:
        if not path:
            continue
        folder = os.path.dirname(path)
        if folder and not os.path.isdir(folder):
            os.makedirs(folder)
        # Written aside and renamed, so an interrupted render never leaves a truncated picture to be uploaded (the
        # suffix stays .png for KLayout versions that choose the format by it).
        partial = path + ".partial.png"
        view.save_image_with_options(partial, size, size, 0, OVERSAMPLING, 0, pya.DBox(), False)
        os.replace(partial, path)
        print("render: wrote {} ({}x{})".format(path, size, size))


def main() -> None:
    pattern = setting("layout")
    if not pattern or not setting("png"):
        raise RenderError("usage: klayout -b -r render_layout.py -rd layout=FILE -rd png=OUT [-rd thumb=OUT]")
    lef_files = [p for p in setting("lef").split(",") if p]
    lef_layers = [p for p in setting("lef_layers").split(",") if "=" in p]
    path = find_layout(pattern)
    layout, top = read_layout(path, lef_files, lef_layers)
    box = top.dbbox()
    print("render: {} (top cell {}, {:.1f} x {:.1f} um)".format(path, top.name, box.width(), box.height()))
    outputs = [(setting("png"), int(setting("size", "1200"))), (setting("thumb"), int(setting("thumb_size", "320")))]
    render(layout, top, outputs)


failure = None
try:
    main()
except Exception as exc:  # any failure means "no picture", said in one line
    failure = "{}: {}".format(type(exc).__name__, exc)
# Outside the handler: KLayout 0.28 turns a sys.exit() raised while an exception is being handled into exit status 0.
if failure is not None:
    print("render failed: " + failure, file=sys.stderr)
    sys.exit(1)
