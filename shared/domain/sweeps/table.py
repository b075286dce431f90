"""The comparison table of a sweep: every run with its settings, its figures, whether it meets the objective and
which is best, as CSV (for a spreadsheet) and as JSON-compatible data. Pure: no I/O.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from shared.domain.config_schema import as_number
from shared.domain.sweeps.judging import RunResult, every_run, json_metrics, run_feasible
from shared.domain.sweeps.objective import METRIC_KINDS, number_text
from shared.domain.sweeps.spec import SweepSpec


def comparison_table(spec: SweepSpec, results: Iterable[RunResult], best: int | None) -> tuple[str, dict[str, Any]]:
    """CSV text and a JSON-compatible dict of every run of the sweep, in run order.

    A run of the spec without a result is shown as PENDING.
    """
    rows = every_run(spec, results)
    reported = [
        name
        for name in METRIC_KINDS
        if any(r.metrics is not None and getattr(r.metrics, name) is not None for r in rows)
    ]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["run", "state", *spec.parameters, *reported, "feasible", "best"])
    runs = []
    for row in rows:
        settings = dict(spec.runs[row.index]) if 0 <= row.index < len(spec.runs) else dict(row.settings)
        metrics = json_metrics(row.metrics) if row.metrics is not None else {}
        ok = run_feasible(spec.objective, row)
        writer.writerow(
            [
                row.index,
                row.state,
                *(csv_cell(settings.get(name)) for name in spec.parameters),
                *(csv_cell(metrics.get(name)) for name in reported),
                csv_cell(ok),
                csv_cell(row.index == best),
            ]
        )
        runs.append(
            {
                "run": row.index,
                "state": row.state,
                "settings": settings,
                "metrics": metrics,
                "feasible": ok,
                "best": row.index == best,
                "error": row.error,
            }
        )
    data = {
        "parameters": [{"name": name, "values": list(values)} for name, values in spec.parameters.items()],
        "objective": spec.objective.to_dict(),
        "best_run": best,
        "runs": runs,
    }
    return text.getvalue(), data


def csv_cell(value: Any, missing: str = "") -> str:
    """A value as a CSV cell a spreadsheet shows as written (never runs as a formula)."""
    if value is None:
        return missing
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return number_text(value)
    text = str(value)
    # A spreadsheet runs a cell starting with = + - @ as a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@") and as_number(text) is None else text
