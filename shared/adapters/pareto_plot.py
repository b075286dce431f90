"""ParetoPlotter (shared/ports.py) with Pillow: a sweep's Pareto chart (shared/domain/sweeps/judging.py,
ParetoChart) drawn as a PNG of WIDTH x HEIGHT pixels. The chart says what to show; this module only draws it.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from shared.domain.sweeps.judging import ParetoChart, ParetoPoint

WIDTH, HEIGHT = 800, 560
_SCALE = 2  # drawn at twice the size and scaled down: Pillow draws lines and circles without anti-aliasing
_LEFT, _RIGHT, _TOP, _BOTTOM = 92, WIDTH - 28, 92, HEIGHT - 84
_TEXT = (33, 37, 41)
_MUTED = (108, 117, 125)
_AXIS = (73, 80, 87)
_GRID = (230, 233, 237)
_FEASIBLE = (37, 99, 235)
_INFEASIBLE = (150, 155, 160)
_FRONT = (22, 163, 74)
_BEST = (234, 88, 12)
_WHITE = (255, 255, 255)
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


class PillowParetoPlotter:
    """ParetoPlotter: draws with Pillow, in process."""

    def draw_png(self, chart: ParetoChart) -> bytes:
        return pareto_png(chart)


def pareto_png(chart: ParetoChart) -> bytes:
    """A scatter plot (PNG, WIDTH x HEIGHT) of the chart's points: `x` to the right, `y` up, the front joined."""
    x, y, objective, dots = chart.x, chart.y, chart.objective, chart.points
    canvas = _Canvas()
    canvas.text((_LEFT, 16), f"Sweep of {chart.spec_runs} runs: {objective.sense} {objective.metric}", 20)
    conditions = ", ".join(str(c) for c in objective.constraints) or "no conditions"
    canvas.text((_LEFT, 44), f"subject to {conditions}", 13, _MUTED, width=_RIGHT - _LEFT)
    canvas.text((_LEFT, 64), _plotted_note(chart), 13, _MUTED, width=_RIGHT - _LEFT)
    canvas.rectangle((_LEFT, _TOP, _RIGHT, _BOTTOM), outline=_AXIS)
    if dots:
        _draw_points(canvas, dots, chart.best, chart.front, x, y)
    else:
        canvas.text(
            ((_LEFT + _RIGHT) / 2, (_TOP + _BOTTOM) / 2),
            f"No succeeded run has reported {x} and {y} yet",
            16,
            _MUTED,
            anchor="mm",
        )
    canvas.text(
        ((_LEFT + _RIGHT) / 2, _BOTTOM + 34), f"{x}: {_AXIS_TITLES.get(x, x)}, lower is better", 14, anchor="mt"
    )
    canvas.vertical_text((22, (_TOP + _BOTTOM) / 2), f"{y}: {_AXIS_TITLES.get(y, y)}, higher is better", 14)
    _draw_legend(canvas, chart.best, chart.best_plotted)
    return canvas.png()


def _plotted_note(chart: ParetoChart) -> str:
    parts = [f"{count} {state}" for state, count in chart.not_plotted]
    if chart.unmeasured:
        parts.append(f"{chart.unmeasured} succeeded without both metrics")
    plotted = f"{len(chart.points)} of {chart.listed_runs} runs plotted"
    return plotted + (f"; not plotted: {', '.join(parts)}" if parts else "")


def _draw_points(
    canvas: _Canvas, dots: Sequence[ParetoPoint], best: int | None, front: Sequence[int], x: str, y: str
) -> None:
    x_axis = _Axis.fit([d.x for d in dots], _LEFT, _RIGHT)
    y_axis = _Axis.fit([d.y for d in dots], _BOTTOM, _TOP)
    for tick in x_axis.ticks:
        px = x_axis.pixel(tick)
        canvas.line([(px, _TOP), (px, _BOTTOM)], _GRID)
        canvas.line([(px, _BOTTOM), (px, _BOTTOM + 5)], _AXIS)
        canvas.text((px, _BOTTOM + 9), x_axis.label(tick), 12, anchor="mt")
    for tick in y_axis.ticks:
        py = y_axis.pixel(tick)
        canvas.line([(_LEFT, py), (_RIGHT, py)], _GRID)
        canvas.line([(_LEFT - 5, py), (_LEFT, py)], _AXIS)
        canvas.text((_LEFT - 9, py), y_axis.label(tick), 12, anchor="rm")
    canvas.rectangle((_LEFT, _TOP, _RIGHT, _BOTTOM), outline=_AXIS)
    at = {d.index: (x_axis.pixel(d.x), y_axis.pixel(d.y)) for d in dots}
    line = [at[i] for i in front if i in at]
    if len(line) > 1:
        canvas.line(line, _FRONT, width=3)
    for dot in sorted(dots, key=lambda d: (d.index == best, d.feasible)):  # the best one on top
        px, py = at[dot.index]
        if dot.index == best:
            canvas.circle((px, py), 9, fill=_BEST, outline=_TEXT, width=2)
        elif dot.feasible:
            canvas.circle((px, py), 6, fill=_FEASIBLE, outline=_WHITE, width=1)
        else:
            canvas.circle((px, py), 6, fill=_WHITE, outline=_INFEASIBLE, width=2)
    _label_points(canvas, dots, at, best)
    notes = []
    if len(dots) == 1:
        notes.append("Only one run to show: nothing to compare it with yet")
    elif len({d.x for d in dots}) == 1:
        notes.append(f"Every run has the same {x}")
    elif len({d.y for d in dots}) == 1:
        notes.append(f"Every run has the same {y}")
    for number, note in enumerate(notes):
        canvas.text((_RIGHT - 8, _TOP + 8 + 18 * number), note, 13, _MUTED, anchor="rt")


def _label_points(
    canvas: _Canvas, dots: Sequence[ParetoPoint], at: Mapping[int, tuple[float, float]], best: int | None
) -> None:
    """Run numbers next to their dots, moved around a dot until they cover no other label or dot."""
    groups: dict[tuple[int, int], list[int]] = {}
    for dot in sorted(dots, key=lambda d: d.index):
        px, py = at[dot.index]
        groups.setdefault((round(px), round(py)), []).append(dot.index)
    taken = [(px - 7, py - 7, px + 7, py + 7) for px, py in at.values()]
    for (px, py), indices in groups.items():
        label = ",".join(str(i) for i in indices)
        size = 13 if best in indices else 12
        width, height = canvas.measure(label, size)
        gap = 11 if best in indices else 8
        candidates = [
            (px + gap, py - gap - height),
            (px + gap, py + gap),
            (px - gap - width, py - gap - height),
            (px - gap - width, py + gap),
            (px - width / 2, py - gap - height - 2),
            (px - width / 2, py + gap + 2),
        ]
        boxes = [(cx, cy, cx + width, cy + height) for cx, cy in candidates]
        inside = [b for b in boxes if b[0] >= _LEFT + 2 and b[2] <= _RIGHT - 2 and b[1] >= _TOP + 2 and b[3] <= _BOTTOM]
        own = (px - 7, py - 7, px + 7, py + 7)
        free = [b for b in inside if not any(_overlap(b, t) for t in taken if t != own)]
        box = (free or inside or boxes)[0]
        taken.append(box)
        canvas.text((box[0], box[1]), label, size, _BEST if best in indices else _TEXT)


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _draw_legend(canvas: _Canvas, best: int | None, best_plotted: bool) -> None:
    x, y = float(_LEFT), HEIGHT - 22.0
    items: list[tuple[str, str]] = [
        ("feasible", "meets subject_to"),
        ("infeasible", "fails subject_to"),
        ("front", "Pareto front"),
    ]
    if best is None:
        items.append(("none", "no best run: no succeeded run meets subject_to"))
    else:
        items.append(("best", f"best: run {best}" + ("" if best_plotted else " (not plotted)")))
    for kind, text in items:
        if kind == "feasible":
            canvas.circle((x + 6, y), 6, fill=_FEASIBLE, outline=_WHITE, width=1)
        elif kind == "infeasible":
            canvas.circle((x + 6, y), 6, fill=_WHITE, outline=_INFEASIBLE, width=2)
        elif kind == "front":
            canvas.line([(x - 4, y), (x + 16, y)], _FRONT, width=3)
        elif kind == "best":
            canvas.circle((x + 6, y), 8, fill=_BEST, outline=_TEXT, width=2)
        start = x + (20 if kind != "none" else 0)
        canvas.text((start, y), text, 13, _BEST if kind == "best" else _TEXT, anchor="lm")
        x = start + canvas.measure(text, 13)[0] + 26


@dataclass(frozen=True)
class _Axis:
    """A linear axis from data values to pixels, with round tick values."""

    low: float
    high: float
    start: float  # pixel of `low`
    end: float  # pixel of `high`
    ticks: tuple[float, ...]
    step: float

    @classmethod
    def fit(cls, values: Sequence[float], start: float, end: float) -> _Axis:
        low, high = min(values), max(values)
        if high - low <= 1e-12 * max(1.0, abs(low)):
            # One value (or all equal): show it in the middle of a range around it.
            half = abs(low) * 0.1 or 1.0
            low, high = low - half, high + half
        else:
            pad = (high - low) * 0.08
            low, high = low - pad, high + pad
        step = _tick_step((high - low) / 6)
        first = math.ceil(low / step)
        ticks = tuple(round(i * step, 12) + 0.0 for i in range(first, math.floor(high / step) + 1))
        return cls(low, high, start, end, ticks, step)

    def pixel(self, value: float) -> float:
        return self.start + (value - self.low) / (self.high - self.low) * (self.end - self.start)

    def label(self, value: float) -> str:
        biggest = max(abs(self.low), abs(self.high))
        if biggest >= 1e7 or self.step < 1e-5:
            return f"{value:.3g}"
        decimals = max(0, -math.floor(math.log10(self.step) + 1e-9))
        if not math.isclose(self.step * 10**decimals, round(self.step * 10**decimals)):
            decimals += 1  # a step of 2.5 needs one more digit
        return f"{value + 0.0:,.{decimals}f}"


def _tick_step(rough: float) -> float:
    magnitude = 10 ** math.floor(math.log10(rough))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= rough)


@functools.lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


class _Canvas:
    """Drawing in WIDTH x HEIGHT coordinates on an image _SCALE times larger."""

    def __init__(self) -> None:
        self.image = Image.new("RGB", (WIDTH * _SCALE, HEIGHT * _SCALE), _WHITE)
        self.draw = ImageDraw.Draw(self.image)

    def png(self) -> bytes:
        out = io.BytesIO()
        self.image.resize((WIDTH, HEIGHT), Image.Resampling.LANCZOS).save(out, format="PNG", optimize=True)
        return out.getvalue()

    def measure(self, text: str, size: int) -> tuple[float, float]:
        left, top, right, bottom = self.draw.textbbox((0, 0), text, font=_font(size * _SCALE))
        return (right - left) / _SCALE, (bottom - top) / _SCALE

    def text(
        self,
        xy: tuple[float, float],
        text: str,
        size: int,
        fill: tuple[int, int, int] = _TEXT,
        *,
        anchor: str = "lt",
        width: float | None = None,
    ) -> None:
        """`anchor`: horizontal l/m/r and vertical t/m of `xy` (placed by the ink, for every kind of font)."""
        font = _font(size * _SCALE)
        if width is not None:
            text = self._fit(text, size, width)
        left, top, right, bottom = self.draw.textbbox((0, 0), text, font=font)
        x, y = xy[0] * _SCALE, xy[1] * _SCALE
        x -= {"l": 0, "m": (right - left) / 2, "r": right - left}[anchor[0]] + left
        y -= {"t": 0, "m": (bottom - top) / 2, "b": bottom - top}[anchor[1]] + top
        self.draw.text((x, y), text, fill=fill, font=font)

    def vertical_text(self, center: tuple[float, float], text: str, size: int) -> None:
        font = _font(size * _SCALE)
        left, top, right, bottom = self.draw.textbbox((0, 0), text, font=font)
        label = Image.new("L", (right - left + 4, bottom - top + 4), 0)
        ImageDraw.Draw(label).text((2 - left, 2 - top), text, fill=255, font=font)
        mask = label.rotate(90, expand=True)
        x = round(center[0] * _SCALE - mask.width / 2)
        y = round(center[1] * _SCALE - mask.height / 2)
        self.image.paste(Image.new("RGB", mask.size, _AXIS), (x, y), mask)

    def _fit(self, text: str, size: int, width: float) -> str:
        if self.measure(text, size)[0] <= width:
            return text
        while text and self.measure(text + "…", size)[0] > width:
            text = text[:-1]
        return text.rstrip(" ,") + "…"

    def line(self, points: Sequence[tuple[float, float]], fill: tuple[int, int, int], width: int = 1) -> None:
        scaled = [(px * _SCALE, py * _SCALE) for px, py in points]
        self.draw.line(scaled, fill=fill, width=width * _SCALE, joint="curve")

    def rectangle(self, box: tuple[float, float, float, float], *, outline: tuple[int, int, int]) -> None:
        self.draw.rectangle([c * _SCALE for c in box], outline=outline, width=_SCALE)

    def circle(
        self,
        center: tuple[float, float],
        radius: float,
        *,
        fill: tuple[int, int, int],
        outline: tuple[int, int, int],
        width: int,
    ) -> None:
        cx, cy, r = center[0] * _SCALE, center[1] * _SCALE, radius * _SCALE
        self.draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill, outline=outline, width=width * _SCALE)
