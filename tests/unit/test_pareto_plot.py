"""The Pareto plot a sweep's summary shows (shared/adapters/pareto_plot.py): the chart of the runs, decided in
shared/domain/sweeps/judging.py, drawn with matplotlib as a PNG and as an SVG whose points link to their runs."""

from __future__ import annotations

import io
import math
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from shared.adapters.pareto_plot import MatplotlibParetoPlotter
from shared.domain.job import JobState
from shared.domain.metrics import Metrics
from shared.domain.sweeps.judging import (
    AREA_AXIS,
    SLACK_AXIS,
    SUCCEEDED,
    Axis,
    ParetoChart,
    RunResult,
    best_run,
    pareto_chart,
    pareto_front,
)
from shared.domain.sweeps.objective import Objective
from shared.domain.sweeps.spec import SweepSpec
from shared.services.completion.sweep import run_page_link
from shared.web.views import job_links
from tests.unit.test_completion import run_ended, sweep
from tests.unit.test_services import Completion
from tests.unit.test_sweep import GOOD, parse, result, spec_of

REPO = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG = "{http://www.w3.org/2000/svg}"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
BEST, FRONT, FEASIBLE = (234, 88, 12), (22, 163, 74), (37, 99, 235)
JOB = "j" + "0123456789abcdef012"


def link(run: int) -> str:
    return run_page_link(JOB, run)


def chart_of(
    spec: SweepSpec,
    results: list[RunResult],
    x: Axis = AREA_AXIS,
    y: Axis = SLACK_AXIS,
) -> ParetoChart:
    """The chart sweep completion draws: the runs, the best by the objective and the Pareto front."""
    return pareto_chart(spec, results, best_run(spec, results), pareto_front(results, x, y), x, y)


def pareto_plot_png(
    spec: SweepSpec,
    results: list[RunResult],
    best: int | None,
    front: list[int],
    x: Axis = AREA_AXIS,
    y: Axis = SLACK_AXIS,
) -> bytes:
    """The picture sweep completion writes: the chart of the runs, drawn by the adapter."""
    return MatplotlibParetoPlotter().draw_png(pareto_chart(spec, results, best, front, x, y))


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


def svg_links(chart: ParetoChart) -> tuple[ET.Element, dict[int, ET.Element]]:
    """The SVG drawing of `chart` (parsed: it must be well-formed XML) and its links, by the run they lead to."""
    root = ET.fromstring(MatplotlibParetoPlotter().draw_svg(chart, link))
    assert root.tag == f"{SVG}svg"
    anchors = list(root.iter(f"{SVG}a"))
    by_run: dict[int, ET.Element] = {}
    for anchor in anchors:
        found = re.fullmatch(rf"/jobs/{JOB}\?run=(\d+)#run-\1", anchor.get(XLINK_HREF, ""))
        assert found, anchor.attrib
        assert int(found.group(1)) not in by_run, "one link per run"
        by_run[int(found.group(1))] = anchor
    return root, by_run


def grid(count: int) -> tuple[SweepSpec, list[RunResult]]:
    """A sweep of `count` runs, all succeeded, with figures that trade area against slack (as PL_TARGET_DENSITY and
    CLOCK_PERIOD would): some meet the default objective's conditions, some do not."""
    spec = spec_of(count)
    results = []
    for i, run in enumerate(spec.runs):
        density, period = 0.4 + 0.1 * (i % 4), 14 - 2 * (i // 4)
        metrics = Metrics(
            area_um2=10000 / density + 300 * period**0.5,
            wns_ns=min(0.0, period - 10 + (0.5 - density) * 4),
            drc_errors=0,
            lvs_match=True,
        )
        results.append(RunResult(i, run, SUCCEEDED, metrics))
    return spec, results


# ------------------------------------------------------------------------------------------------ the PNG
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
    assert colour_near(image, BEST) > 100  # the best run
    assert colour_near(image, FRONT) > 100  # the front
    assert colour_near(image, FEASIBLE) > 50  # feasible runs


def test_the_front_is_drawn_where_its_runs_are() -> None:
    """Two runs, both on the front: the line between them is green halfway, the plot's corners are not."""
    spec = spec_of(2, Objective("minimize", "area_um2"))
    results = [result(0, area_um2=100.0, wns_ns=-2.0), result(1, area_um2=200.0, wns_ns=-1.0)]
    image = png_image(pareto_plot_png(spec, results, best_run(spec, results), pareto_front(results)))
    assert pareto_front(results) == [0, 1]
    # The axes span 92..772 x 92..476 pixels; with matplotlib's margins the two runs sit on the diagonal, so the
    # middle of the plot is on the line between them.
    middle = image.getpixel(((92 + 772) // 2, (92 + 476) // 2))
    assert all(abs(a - b) <= 40 for a, b in zip(middle, FRONT, strict=True)), middle
    assert image.getpixel((100, 470)) == (255, 255, 255)  # the empty bottom-left corner of the plot


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
    _, links = svg_links(chart_of(spec, results))
    assert set(links) == {p.index for p in chart_of(spec, results).points}


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.floats(-1e12, 1e12), st.floats(-1e3, 1e3)), max_size=20))
def test_plot_never_fails(points: list[tuple[float, float]]) -> None:
    results = [result(i, area_um2=x, wns_ns=y, drc_errors=0, lvs_match=True) for i, (x, y) in enumerate(points)]
    spec = spec_of(len(points))
    png_image(pareto_plot_png(spec, results, best_run(spec, results), pareto_front(results)))


def test_plot_of_other_metrics() -> None:
    spec = spec_of(2, Objective("maximize", "max_frequency_mhz"))
    results = [result(0, cell_count=10, max_frequency_mhz=50.0), result(1, cell_count=12, max_frequency_mhz=80.0)]
    cells, speed = Axis("cell_count", "minimize"), Axis("max_frequency_mhz", "maximize")
    front = pareto_front(results, cells, speed)
    assert front == [0, 1]
    png_image(pareto_plot_png(spec, results, 1, front, cells, speed))
    with pytest.raises(ValueError, match="not a numeric metric"):
        pareto_plot_png(spec, results, 1, front, x=Axis("lvs_match", "minimize"))


# ------------------------------------------------------------------------------------------------ the SVG
@pytest.mark.parametrize("count", [1, 2, 24])
def test_the_svg_links_every_run_on_the_plot_to_its_run(count: int) -> None:
    spec, results = grid(count)
    chart = chart_of(spec, results)
    assert len(chart.points) == count
    root, links = svg_links(chart)
    assert sorted(links) == list(range(count))
    for run, anchor in links.items():
        assert anchor.get("target") == "_top"  # the whole page goes to the run, not a frame or a new window
        (title,) = anchor.findall(f"{SVG}title")
        assert title.text is not None and title.text.startswith(f"Run {run}")
        assert anchor.find(f".//{SVG}use") is not None  # the run's marker is inside its link
    assert root.findtext(f"{SVG}title") == f"Sweep of {count} runs: minimize area_um2"
    assert root.find(f".//{SVG}g[@id='pareto-front']") is not None or len(chart.front) < 2
    best = chart.best
    assert best is not None and "(best)" in (links[best].findtext(f"{SVG}title") or "")
    (marked,) = root.findall(f".//{SVG}g[@id='pareto-best']//{SVG}a")  # the best run, drawn in orange
    assert marked is links[best] and "#ea580c" in ET.tostring(marked, encoding="unicode")
    assert root.find(f"{SVG}metadata") is None


def test_runs_that_were_not_measured_are_counted_not_linked() -> None:
    spec, results = grid(8)
    results[3] = RunResult(3, spec.runs[3], SUCCEEDED, Metrics(area_um2=12000.0))  # no WNS: "not measured"
    results[5] = RunResult(5, spec.runs[5], "FAILED", None, "boom")
    chart = chart_of(spec, results)
    assert (chart.unmeasured, chart.not_plotted) == (1, (("failed", 1),))
    _, links = svg_links(chart)
    assert sorted(links) == [0, 1, 2, 4, 6, 7]
    image = png_image(MatplotlibParetoPlotter().draw_png(chart))
    assert colour_near(image, FEASIBLE) > 50


def test_the_24_run_plot_is_drawn_alike_as_png_and_svg() -> None:
    spec, results = grid(24)
    chart = chart_of(spec, results)
    image = png_image(MatplotlibParetoPlotter().draw_png(chart))
    assert colour_near(image, BEST) > 100 and colour_near(image, FRONT) > 100 and colour_near(image, FEASIBLE) > 50
    root, _ = svg_links(chart)
    assert root.get("viewBox") == "0 0 576 403.2"  # 800 x 560 pixels at 100 per inch, in points


def test_drawings_in_parallel_threads_do_not_mix() -> None:
    """No pyplot: each drawing has its own figure, so requests drawing at once in one process get their own plots."""
    charts = [chart_of(*grid(count)) for count in (2, 8, 16)]
    alone = [MatplotlibParetoPlotter().draw_png(chart) for chart in charts]
    with ThreadPoolExecutor(6) as pool:
        together = list(pool.map(lambda chart: MatplotlibParetoPlotter().draw_png(chart), charts * 2))
    assert together == alone * 2


def test_no_pyplot_and_no_matplotlib_at_start_up() -> None:
    """pyplot keeps global figures (not safe for concurrent requests); and importing the adapter, as every
    function's start does through bootstrap, must not load matplotlib (only a sweep's end draws)."""
    pyplot = re.compile(
        r"^\s*(import\s+(matplotlib\.pyplot|pylab)\b|from\s+(matplotlib\s+import\s+pyplot|matplotlib\.pyplot|pylab)\b)",
        re.M,
    )
    users = [path for path in (REPO / "shared").rglob("*.py") if pyplot.search(path.read_text())]
    assert users == []
    assert pyplot.search("    from matplotlib import pyplot as plt\n") and pyplot.search("import matplotlib.pyplot\n")
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, shared.adapters.pareto_plot; print('matplotlib' in sys.modules)"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "False"


# ------------------------------------------------------------------------------------ where the SVG goes
def test_a_sweeps_summary_writes_the_svg_beside_the_png_and_the_page_links_it() -> None:
    run = Completion(JobState.RUNNING)
    sweep(run, [30.0, 20.0])
    for index in (0, 1):
        run_ended(run, index)
    job = run.stored()
    prefix = job.results_prefix
    assert job.state is JobState.SUCCEEDED
    assert job.artifacts["pareto_svg"] == f"gs://results/{prefix}sweep/pareto.svg"
    svg = run.store.objects[("results", f"{prefix}sweep/pareto.svg")]
    hrefs = re.findall(rb'href="([^"]+)"', svg)
    assert hrefs == [f"/jobs/{job.id}?run={i}#run-{i}".encode() for i in (0, 1)]
    assert run.plotter.svg_links == [{0: f"/jobs/{job.id}?run=0#run-0", 1: f"/jobs/{job.id}?run=1#run-1"}]
    links = job_links(job, "https://olc.example.org")
    api = f"https://olc.example.org/v1/jobs/{job.id}"
    assert links["pareto"] == f"{api}/download?path=sweep/pareto.png"
    assert links["pareto_svg"] == f"{api}/download?path=sweep/pareto.svg"


def test_the_job_page_gives_each_run_row_the_anchor_the_links_lead_to() -> None:
    script = (REPO / "shared" / "web" / "assets" / "job-page.js").read_text()
    assert "id: `run-${run.run}`" in script
    assert run_page_link("jabc", 3).endswith("#run-3")
