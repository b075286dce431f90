"""ParetoPlotter (shared/ports.py) with matplotlib: a sweep's Pareto chart (shared/domain/sweeps/judging.py,
ParetoChart) drawn as a PNG of WIDTH x HEIGHT pixels, or as an SVG in which every run's point links to that run.
The chart says what to show; this module only draws it.

matplotlib is used without pyplot: each drawing builds its own Figure and renders it with Agg (PNG) or the SVG
backend, so no global state is shared and concurrent requests in one process are safe. It is imported on the first
drawing, not when the functions start: only the end of a sweep draws.
"""

from __future__ import annotations

import io
import math
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shared.domain.sweeps.judging import ParetoChart, ParetoPoint

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

WIDTH, HEIGHT = 800, 560
_DPI = 100  # pixels per inch of the PNG; sizes below are in points (1/72 inch), as matplotlib takes them
_PX = 72 / _DPI  # one pixel of the PNG, in points
_TEXT = "#212529"
_MUTED = "#6c757d"
_AXIS = "#495057"
_GRID = "#e6e9ed"
_FEASIBLE = "#2563eb"
_INFEASIBLE = "#969ba0"
_FRONT = "#16a34a"
_BEST = "#ea580c"
_WHITE = "#ffffff"
# The plot area, in pixels from the picture's edges (room above for the title, below for the axis title and legend).
_LEFT, _RIGHT, _TOP, _BOTTOM = 92, 28, 92, 84
_LABEL_GAP = 4  # pixels at least between a label and another label or dot, so "3" and "5" never read as "35"
_NOTE_CHARS = 105  # a subtitle longer than this (about the plot's width) is shortened with "…"
_AXIS_TITLES = {
    "cell_count": "cells",
    "area_um2": "area (um^2)",
    "wns_ns": "worst negative slack (ns)",
    "tns_ns": "total negative slack (ns)",
    "clock_period_ns": "clock period (ns)",
    "max_frequency_mhz": "maximum frequency (MHz)",
    "drc_errors": "DRC errors",
    "routing_failures": "routing failures",
    "runtime_s": "run time (s)",
    "peak_memory_mb": "peak memory (MB)",
}
_SVG = "http://www.w3.org/2000/svg"
_XLINK = "http://www.w3.org/1999/xlink"
# Written back as matplotlib wrote them (<svg xmlns=...>, xlink:href); ElementTree's default_namespace= refuses the
# attributes without a namespace that every SVG has.
ET.register_namespace("", _SVG)
ET.register_namespace("xlink", _XLINK)


class MatplotlibParetoPlotter:
    """ParetoPlotter: draws with matplotlib, in process."""

    def draw_png(self, chart: ParetoChart) -> bytes:
        return pareto_png(chart)

    def draw_svg(self, chart: ParetoChart, run_link: Callable[[int], str]) -> bytes:
        return pareto_svg(chart, run_link)


def pareto_png(chart: ParetoChart) -> bytes:
    """A scatter plot (PNG, WIDTH x HEIGHT) of the chart's points: `x` to the right, `y` up, the front joined."""
    out = io.BytesIO()
    _figure(chart, None).savefig(out, format="png", dpi=_DPI, metadata={"Software": None})
    return out.getvalue()


def pareto_svg(chart: ParetoChart, run_link: Callable[[int], str]) -> bytes:
    """The same plot as an SVG, each run's point a link to `run_link(run index)` (with the run's figures as its
    title), opening in the whole window."""
    links = {point.index: run_link(point.index) for point in chart.points}
    out = io.BytesIO()
    _figure(chart, links).savefig(out, format="svg", metadata={"Date": None})
    return _finish_svg(out.getvalue(), chart, links)


def _figure(chart: ParetoChart, links: Mapping[int, str] | None) -> Figure:
    from matplotlib.figure import Figure  # here, not at the top: see the module's note

    figure = Figure(figsize=(WIDTH / _DPI, HEIGHT / _DPI), dpi=_DPI, facecolor=_WHITE)
    figure.subplots_adjust(left=_LEFT / WIDTH, right=1 - _RIGHT / WIDTH, top=1 - _TOP / HEIGHT, bottom=_BOTTOM / HEIGHT)
    ax = figure.add_subplot()
    x, y, objective = chart.x, chart.y, chart.objective
    left = _LEFT / WIDTH
    figure.text(left, 1 - 16 / HEIGHT, _title(chart), fontsize=14, color=_TEXT, va="top", parse_math=False)
    conditions = ", ".join(str(c) for c in objective.constraints) or "no conditions"
    for row, note in enumerate((f"subject to {conditions}", _plotted_note(chart))):
        short = textwrap.shorten(note, _NOTE_CHARS, placeholder=" …")
        figure.text(left, 1 - (44 + 20 * row) / HEIGHT, short, fontsize=9.5, color=_MUTED, va="top", parse_math=False)
    for side in ax.spines.values():
        side.set_color(_AXIS)
    ax.tick_params(colors=_AXIS, labelcolor=_TEXT, labelsize=9)
    x_label = f"{x}: {_AXIS_TITLES.get(x, x)}, {_better(chart.x_sense)} is better"
    ax.set_xlabel(x_label, fontsize=10, color=_TEXT, parse_math=False)
    y_label = f"{y}: {_AXIS_TITLES.get(y, y)}, {_better(chart.y_sense)} is better"
    ax.set_ylabel(y_label, fontsize=10, color=_AXIS, parse_math=False)
    if chart.points:
        _draw_points(ax, chart, links)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.text(
            0.5,
            0.5,
            f"No succeeded run has reported {x} and {y} yet",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=12,
            color=_MUTED,
            parse_math=False,
        )
    _draw_legend(figure, chart)
    return figure


def _title(chart: ParetoChart) -> str:
    if chart.searched:
        return f"Search of {chart.spec_runs} runs: {chart.x_sense} {chart.x}, {chart.y_sense} {chart.y}"
    return f"Sweep of {chart.spec_runs} runs: {chart.objective.sense} {chart.objective.metric}"


def _better(sense: str) -> str:
    return "lower" if sense == "minimize" else "higher"


def _plotted_note(chart: ParetoChart) -> str:
    parts = [f"{count} {state}" for state, count in chart.not_plotted]
    if chart.unmeasured:
        parts.append(f"{chart.unmeasured} succeeded without both metrics")
    plotted = f"{len(chart.points)} of {chart.listed_runs} runs plotted"
    return plotted + (f"; not plotted: {', '.join(parts)}" if parts else "")


def _draw_points(ax: Axes, chart: ParetoChart, links: Mapping[int, str] | None) -> None:
    from matplotlib.ticker import FuncFormatter

    dots, best = chart.points, chart.best
    ax.set_axisbelow(True)
    ax.grid(True, color=_GRID, linewidth=1)
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(FuncFormatter(_tick_label))
    ax.margins(0.08)
    at = {d.index: (d.x, d.y) for d in dots}
    line = [at[i] for i in chart.front if i in at]
    if len(line) > 1:
        ax.plot(
            *zip(*line, strict=True), color=_FRONT, linewidth=2.2, solid_joinstyle="round", zorder=2, gid="pareto-front"
        )
    for kind, zorder in (("infeasible", 3.0), ("feasible", 3.1), ("best", 4.0)):  # the best one on top
        group = [d for d in dots if _kind(d, best) == kind]
        if group:
            ax.scatter(
                [d.x for d in group],
                [d.y for d in group],
                zorder=zorder,
                gid=f"pareto-{kind}",
                urls=[links[d.index] for d in group] if links is not None else None,  # one link per point
                **_MARKERS[kind],
            )
    ax.autoscale_view()
    ax.set_xlim(ax.get_xlim())  # fixed from here: the labels are placed in pixels
    ax.set_ylim(ax.get_ylim())
    _label_points(ax, dots, best)
    notes = []
    if len(dots) == 1:
        notes.append("Only one run to show: nothing to compare it with yet")
    elif len({d.x for d in dots}) == 1:
        notes.append(f"Every run has the same {chart.x}")
    elif len({d.y for d in dots}) == 1:
        notes.append(f"Every run has the same {chart.y}")
    for number, note in enumerate(notes):
        ax.text(
            0.99,
            0.98 - 0.06 * number,
            note,
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=9.5,
            color=_MUTED,
            parse_math=False,
        )


# How a run's point looks: the best run large and orange, feasible ones blue, infeasible ones hollow grey.
_MARKERS: dict[str, dict[str, Any]] = {
    "best": {"s": (18 * _PX) ** 2, "color": _BEST, "edgecolors": _TEXT, "linewidths": 1.5},
    "feasible": {"s": (12 * _PX) ** 2, "color": _FEASIBLE, "edgecolors": _WHITE, "linewidths": 0.8},
    "infeasible": {"s": (12 * _PX) ** 2, "color": _WHITE, "edgecolors": _INFEASIBLE, "linewidths": 1.5},
}


def _kind(dot: ParetoPoint, best: int | None) -> str:
    return "best" if dot.index == best else "feasible" if dot.feasible else "infeasible"


def _tick_label(value: float, _position: object) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e7 or abs(value) < 1e-4:
        return f"{value:.3g}"
    return f"{value:,.10g}"


def _label_points(ax: Axes, dots: Sequence[ParetoPoint], best: int | None) -> None:
    """Run numbers next to their dots, moved around a dot until they cover no other label or dot.

    Placed in the display's pixels (y up), then drawn as offsets in points, which the PNG and the SVG both keep.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.font_manager import FontProperties

    renderer = FigureCanvasAgg(ax.get_figure(root=True)).get_renderer()
    to_pixels = ax.transData
    frame = ax.get_window_extent(renderer)
    groups: dict[tuple[int, int], list[int]] = {}
    where: dict[tuple[int, int], tuple[float, float, ParetoPoint]] = {}  # pixels, and the first dot there
    for dot in sorted(dots, key=lambda d: d.index):
        px, py = (float(v) for v in to_pixels.transform((dot.x, dot.y)))
        if not (math.isfinite(px) and math.isfinite(py)):
            continue
        key = (round(px), round(py))
        groups.setdefault(key, []).append(dot.index)
        where.setdefault(key, (px, py, dot))
    taken: list[tuple[float, ...]] = [(px - 7, py - 7, px + 7, py + 7) for px, py, _ in where.values()]
    for key, indices in groups.items():
        px, py, first = where[key]
        label = ",".join(str(i) for i in indices)
        is_best = best in indices
        size = 10 if is_best else 9
        font = FontProperties(size=size, weight="bold" if is_best else "normal")
        width, height, _descent = renderer.get_text_width_height_descent(label, font, ismath=False)
        gap = 11 if is_best else 8
        boxes = []  # (left, bottom, right, top, how far out): nearest first, then further out, for crowded spots
        for out in (0, 14, 28):
            near = gap + out
            for cx, cy in (
                (px + near, py + near),
                (px + near, py - near - height),
                (px - near - width, py + near),
                (px - near - width, py - near - height),
                (px - width / 2, py + near + 2),
                (px - width / 2, py - near - height - 2),
            ):
                boxes.append((cx, cy, cx + width, cy + height, out))
        inside = [
            b
            for b in boxes
            if b[0] >= frame.x0 + 2 and b[2] <= frame.x1 - 2 and b[1] >= frame.y0 + 2 and b[3] <= frame.y1 - 2
        ] or boxes
        own = (px - 7, py - 7, px + 7, py + 7)
        # The first place that covers nothing, else the first of the least crowded.
        box = min(inside, key=lambda b: sum(_overlap(b, t, _LABEL_GAP) for t in taken if t != own))
        taken.append(box[:4])
        ax.annotate(
            label,
            (first.x, first.y),
            xytext=((box[0] - px) * _PX, (box[1] - py) * _PX),
            textcoords="offset points",
            ha="left",
            va="bottom",
            fontproperties=font,
            color=_BEST if is_best else _TEXT,
            annotation_clip=False,
            parse_math=False,
            zorder=5,
            # A label moved away from a crowded spot keeps a thin line to its dot.
            arrowprops={"arrowstyle": "-", "color": _MUTED, "linewidth": 0.6, "shrinkA": 1, "shrinkB": 4}
            if box[4]
            else None,
        )


def _overlap(a: tuple[float, ...], b: tuple[float, ...], gap: float) -> bool:
    """Whether boxes `a` and `b` come closer than `gap`."""
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def _draw_legend(figure: Figure, chart: ParetoChart) -> None:
    """Below the plot, one row: what the markers and the line mean, and the best run (or that there is none)."""
    from matplotlib.lines import Line2D

    def dot(fill: str, edge: str, size: float, width: float) -> Line2D:
        return Line2D([], [], linestyle="none", marker="o", markersize=size, color=fill, markeredgecolor=edge,
                      markeredgewidth=width)  # fmt: skip

    handles = [
        dot(_FEASIBLE, _WHITE, 12 * _PX, 0.8),
        dot(_WHITE, _INFEASIBLE, 12 * _PX, 1.5),
        Line2D([], [], color=_FRONT, linewidth=2.2),
    ]
    labels = ["meets subject_to", "fails subject_to", "Pareto front"]
    if chart.best is not None:
        handles.append(dot(_BEST, _TEXT, 16 * _PX, 1.5))
        labels.append(f"best: run {chart.best}" + ("" if chart.best_plotted else " (not plotted)"))
    legend = figure.legend(
        handles,
        labels,
        loc="lower left",
        bbox_to_anchor=(_LEFT / WIDTH - 0.012, 0.0),
        ncols=len(labels),
        frameon=False,
        fontsize=9.5,
        handlelength=1.6,
        columnspacing=1.6,
    )
    texts = legend.get_texts()
    for text in texts:
        text.set_color(_TEXT)
        text.set_parse_math(False)
    if chart.best is not None:
        texts[-1].set_color(_BEST)
        return
    # No marker stands for "no best run": the words follow the legend on its row (placed once it is laid out).
    figure.draw_without_rendering()
    row = texts[-1].get_window_extent()
    figure.text(
        (row.x1 + 20) / WIDTH,
        (row.y0 + row.y1) / 2 / HEIGHT,
        "no best run: none meets subject_to",
        fontsize=9.5,
        color=_TEXT,
        va="center",
        parse_math=False,
    )


def _finish_svg(svg: bytes, chart: ParetoChart, links: Mapping[int, str]) -> bytes:
    """matplotlib's SVG with a title, each link named after its run and opening in the whole window (matplotlib
    opens them in a new one), and without the metadata block."""
    root = ET.fromstring(svg)  # noqa: S314 - matplotlib's own output, not input from outside
    for metadata in root.findall(f"{{{_SVG}}}metadata"):
        root.remove(metadata)
    title = ET.Element(f"{{{_SVG}}}title")
    title.text = _title(chart)
    root.insert(0, title)
    runs = {link: index for index, link in links.items()}
    points = {point.index: point for point in chart.points}
    for anchor in root.iter(f"{{{_SVG}}}a"):
        index = runs.get(anchor.get(f"{{{_XLINK}}}href", ""))
        if index is None:
            continue
        anchor.set("target", "_top")
        name = ET.Element(f"{{{_SVG}}}title")
        point = points[index]
        best = " (best)" if index == chart.best else ""
        name.text = f"Run {index}{best}: {chart.x} {point.x:,.6g}, {chart.y} {point.y:,.6g}"
        anchor.insert(0, name)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
