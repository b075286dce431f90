"""What the benchmarks share: percentiles of a sample (nearest rank, as every table here prints them). The scripts run
as `python bench/NAME.py`, so they import this as `percentiles`."""

from __future__ import annotations

import statistics


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def p50_p95_max(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), percentile(values, 0.95), max(values)
