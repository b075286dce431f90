"""The Pareto plot a sweep's summary shows (shared/adapters/pareto_plot.py): the chart of the runs, decided in
shared/domain/sweeps/judging.py, drawn with Pillow."""

from __future__ import annotations

import io
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from shared.adapters.pareto_plot import PillowParetoPlotter
from shared.domain.metrics import Metrics
from shared.domain.sweeps.judging import SUCCEEDED, RunResult, best_run, pareto_chart, pareto_front
from shared.domain.sweeps.objective import Objective
from shared.domain.sweeps.spec import SweepSpec
from tests.unit.test_sweep import GOOD, parse, result, spec_of

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def pareto_plot_png(
    spec: SweepSpec,
    results: list[RunResult],
    best: int | None,
    front: list[int],
    x: str = "area_um2",
    y: str = "wns_ns",
) -> bytes:
    """The picture sweep completion writes: the chart of the runs, drawn by the adapter."""
    return PillowParetoPlotter().draw_png(pareto_chart(spec, results, best, front, x, y))


def png_image(data: bytes) -> Image.Image:
    assert data.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    assert image.size == (800, 560)
    return image.convert("RGB")


def colour_near(image: Image.Image, rgb: tuple[int, int, int], tolerance: int = 30) -> int:
    return sum(
        count
        for count, pixel in image.getcolors(maxcolors=1 << 20) or []
        if all(abs(a - b) <= tolerance for a, b in zip(pixel, rgb, strict=True))
    )


def test_plot_of_a_sweep() -> None:
    spec = parse({"parameters": {"PL_TARGET_DENSITY": [0.4, 0.5, 0.6], "CLOCK_PERIOD": [6, 8, 10]}})
    results = [
        RunResult(
            i,
            run,
            SUCCEEDED,
            Metrics(
                area_um2=10000 / run["PL_TARGET_DENSITY"],
                wns_ns=min(0.0, run["CLOCK_PERIOD"] - 10 + (0.5 - run["PL_TARGET_DENSITY"]) * 4),
                drc_errors=0,
                lvs_match=True,
            ),
        )
        for i, run in enumerate(spec.runs)
    ]
    results[4] = RunResult(4, spec.runs[4], "FAILED", None, "boom")
    best = best_run(spec, results)
    front = pareto_front(results)
    assert (best, front) == (5, [8, 5])
    image = png_image(pareto_plot_png(spec, results, best, front))
    assert len(image.getcolors(maxcolors=1 << 20) or []) > 50  # not blank
    assert colour_near(image, (234, 88, 12)) > 100  # the best run
    assert colour_near(image, (22, 163, 74)) > 100  # the front
    assert colour_near(image, (37, 99, 235)) > 50  # feasible runs


@pytest.mark.parametrize(
    "results",
    [
        [],
        [result(0, "FAILED"), result(1, "TIMEOUT"), result(2, "CANCELLED")],
        [result(0, **vars(GOOD))],
        [result(i, area_um2=500.0, wns_ns=-0.1 * i) for i in range(3)],
        [result(i, area_um2=500.0 + i, wns_ns=0.0) for i in range(3)],
        [result(i, area_um2=500.0, wns_ns=0.0) for i in range(3)],
        [result(0, area_um2=0.0, wns_ns=0.0), result(1, area_um2=1e-9, wns_ns=0.0)],
        [result(0, area_um2=1e29, wns_ns=-1e29), result(1, area_um2=-1e29, wns_ns=1e29), result(2, area_um2=1e300)],
        [result(0, area_um2=math.inf, wns_ns=math.nan), result(1, area_um2=1.0, wns_ns=1e-300)],
    ],
)
def test_plot_of_degenerate_results(results: list[RunResult]) -> None:
    spec = spec_of(3)
    image = png_image(pareto_plot_png(spec, results, best_run(spec, results), pareto_front(results)))
    assert len(image.getcolors(maxcolors=1 << 20) or []) > 10


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(-1e12, 1e12), st.floats(-1e3, 1e3)), max_size=20))
def test_plot_never_fails(points: list[tuple[float, float]]) -> None:
    results = [result(i, area_um2=x, wns_ns=y, drc_errors=0, lvs_match=True) for i, (x, y) in enumerate(points)]
    spec = spec_of(len(points))
    png_image(pareto_plot_png(spec, results, best_run(spec, results), pareto_front(results)))


def test_plot_of_other_metrics() -> None:
    spec = spec_of(2, Objective("maximize", "max_frequency_mhz"))
    results = [result(0, cell_count=10, max_frequency_mhz=50.0), result(1, cell_count=12, max_frequency_mhz=80.0)]
    front = pareto_front(results, x="cell_count", y="max_frequency_mhz")
    assert front == [0, 1]
    png_image(pareto_plot_png(spec, results, 1, front, x="cell_count", y="max_frequency_mhz"))
    with pytest.raises(ValueError, match="not a numeric metric"):
        pareto_plot_png(spec, results, 1, front, x="lvs_match")
