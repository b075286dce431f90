"""Runs side by side: one table of every metric, the first entry as the reference, and for each other entry its figure,
the difference to the reference (absolute and in percent) and whether that is better or worse by the metric's
direction (shared/domain/metrics.py BETTER). An entry is a job, or one run of a sweep ("JOB:RUN"). The settings in
which the entries differ (config.json, with a sweep run's own settings applied) are listed too. As CSV for a
spreadsheet and as JSON-compatible data. Pure: no I/O.

    j…01                 j…02:3
    area_um2   77920     80100.5 (+2180.5, +2.8%) worse
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from shared.domain.config_schema import as_number, shown
from shared.domain.job import Job
from shared.domain.metrics import BETTER, CORNER_BETTER, CORNER_KEYS, KEY_METRICS, NOT_MEASURED, Metrics
from shared.domain.sweeps.errors import SWEEP_KEY
from shared.domain.sweeps.objective import METRIC_KINDS
from shared.domain.sweeps.table import csv_cell

MIN_ENTRIES = 2
MAX_ENTRIES = 10
MAX_RUN_DIGITS = 6
# JOB or JOB:RUN; the job id as shared/domain/upload.py JOB_ID_PATTERN makes them.
_ENTRY = re.compile(rf"(j[0-9a-f]{{19}})(?::([0-9]{{1,{MAX_RUN_DIGITS}}}))?")
_MAX_LIST_CHARS = MAX_ENTRIES * 40  # more than ten "JOB:RUN," could take
CORNER_PREFIX = "corners."  # a corner's figure is the row "corners.<corner>.<figure>"

Verdict = Literal[
    "reference",  # the reference's own figure
    "better",
    "worse",
    "equal",
    "different",  # differs, and the metric has no better side (true/false figures, the clock period)
    "not_measured",  # this entry did not measure it
    "reference_not_measured",  # measured here but not by the reference: nothing to compare with
]


class CompareError(ValueError):
    """The entries to compare are not usable; `problems` says every reason at once."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


class NoSuchRun(LookupError):
    """The (caller's own) job has no such run."""


@dataclass(frozen=True)
class EntryRef:
    """What to compare: a job as a whole, or one run of a sweep job (`run`, as the job page numbers them)."""

    job_id: str
    run: int | None = None

    def __str__(self) -> str:
        return self.job_id if self.run is None else f"{self.job_id}:{self.run}"


def parse_entries(items: Iterable[str]) -> tuple[EntryRef, ...]:
    """JOB or JOB:RUN each, 2 to 10 of them and each once; CompareError with every problem otherwise."""
    given = list(items)
    count = f"compare {MIN_ENTRIES} to {MAX_ENTRIES} jobs or runs, not {len(given)}"
    if len(given) > MAX_ENTRIES:
        raise CompareError([count])
    problems: list[str] = []
    refs: list[EntryRef] = []
    for item in given:
        match = _ENTRY.fullmatch(item)
        if match is None:
            problems.append(
                f"{shown(item)} is not JOB or JOB:RUN (a job id like j0123456789abcdef012, then :3 for run 3 of a "
                "sweep)"
            )
            continue
        ref = EntryRef(match.group(1), None if match.group(2) is None else int(match.group(2)))
        if ref in refs:
            problems.append(f"{ref} is listed twice")
        refs.append(ref)
    if len(given) < MIN_ENTRIES:
        problems.append(count)
    if problems:
        raise CompareError(problems)
    return tuple(refs)


def parse_entry_list(text: str) -> tuple[EntryRef, ...]:
    """The API's ?jobs=J1,J2:3: comma-separated entries (blanks around them and empty ones are ignored)."""
    if len(text) > _MAX_LIST_CHARS:
        raise CompareError([f"the list of jobs is {len(text)} characters long; {MAX_ENTRIES} entries need fewer"])
    return parse_entries(part.strip() for part in text.split(",") if part.strip())


# ------------------------------------------------------------------------------------------------ the entries
@dataclass(frozen=True)
class Entry:
    """One column: a job (a sweep job as a whole has its best run's figures), or one run of a sweep."""

    ref: EntryRef
    state: str
    design_name: str | None = None
    flow: str | None = None
    metrics: Metrics | None = None  # None: no figures (yet)
    settings: Mapping[str, Any] = field(default_factory=dict)  # config.json as the run used it, OLC_SWEEP left out


def entry_for(job: Job, run: int | None) -> Entry:
    """The entry for `job`, or for its run `run`; NoSuchRun when the job has no such run."""
    settings = {k: v for k, v in (job.design.flow_variables if job.design else {}).items() if k != SWEEP_KEY}
    common = {"design_name": job.design_name, "flow": job.flow}
    if run is None:
        return Entry(EntryRef(job.id), job.state.value, metrics=job.metrics, settings=settings, **common)
    sweep = job.design.sweep if job.design else None
    progress = {r.index: r for r in job.runs}
    if sweep is None and not progress:
        raise NoSuchRun(f"job {job.id} is not a sweep: compare it as {job.id}, without :{run}")
    known = len(sweep.runs) if sweep is not None else 0
    if run not in progress and not 0 <= run < known:
        last = max([known - 1, *progress])
        raise NoSuchRun(f"job {job.id} has no run {run}: its runs are 0 to {last}")
    if sweep is not None and run < known:
        settings |= dict(sweep.runs[run])
    found = progress.get(run)
    state = found.state if found is not None else "PENDING"
    metrics = found.metrics if found is not None else None
    return Entry(EntryRef(job.id, run), state, metrics=metrics, settings=settings, **common)


# ------------------------------------------------------------------------------------------------ the table
Figure = int | float | bool


@dataclass(frozen=True)
class Cell:
    value: Figure | None  # None: not measured
    verdict: Verdict
    difference: int | float | None = None  # value - reference, for numbers
    percent: float | None = None  # the difference in percent of the reference's size; None when that is 0


@dataclass(frozen=True)
class Row:
    metric: str  # a Metrics field, or "corners.<corner>.<figure>"
    better: str | None  # "lower", "higher", or None: only equal or different
    cells: tuple[Cell, ...]  # one per entry, the reference's first


@dataclass(frozen=True)
class SettingRow:
    """A config.json setting in which the entries differ; None where an entry does not set it."""

    name: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Comparison:
    entries: tuple[Entry, ...]
    settings: tuple[SettingRow, ...]
    rows: tuple[Row, ...]

    @property
    def reference(self) -> Entry:
        return self.entries[0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible: the entries, the settings they differ in, and a row per metric."""
        return {
            "reference": str(self.reference.ref),
            "entries": [
                {
                    "ref": str(e.ref),
                    "job_id": e.ref.job_id,
                    "run": e.ref.run,
                    "state": e.state,
                    "design_name": e.design_name,
                    "flow": e.flow,
                }
                for e in self.entries
            ],
            "settings": [{"name": s.name, "values": list(s.values)} for s in self.settings],
            "rows": [
                {
                    "metric": row.metric,
                    "better": row.better,
                    "cells": [
                        {"value": c.value, "verdict": c.verdict, "difference": c.difference, "percent": c.percent}
                        for c in row.cells
                    ],
                }
                for row in self.rows
            ],
        }

    def to_csv(self) -> str:
        """One line per setting and metric: the reference's value, then each other entry's value, difference,
        difference in percent and verdict. What was not measured says so."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        labels = [str(e.ref) for e in self.entries]
        others = [f"{label} {what}" for label in labels[1:] for what in ("difference", "difference %", "verdict")]
        writer.writerow(["kind", "name", "better", labels[0], *_interleave(labels[1:], others)])
        writer.writerow(["entry", "design", "", *_spread([e.design_name or "" for e in self.entries])])
        writer.writerow(["entry", "state", "", *_spread([e.state for e in self.entries])])
        for setting in self.settings:
            texts = [_setting_text(v) for v in setting.values]
            verdicts = ["equal" if v == setting.values[0] else "different" for v in setting.values]
            writer.writerow(["setting", setting.name, "", *_spread(texts, verdicts)])
        for row in self.rows:
            cells = []
            for index, cell in enumerate(row.cells):
                cells.append(csv_cell(cell.value, NOT_MEASURED))
                if index:
                    cells += [csv_cell(cell.difference, ""), csv_cell(cell.percent, ""), cell.verdict]
            writer.writerow(["metric", row.metric, row.better or "", *cells])
        return out.getvalue()


def compare(entries: Sequence[Entry]) -> Comparison:
    """The table of `entries`, the first as the reference. Rows: the key figures (KEY_METRICS) always, every other
    figure and timing corner that any entry measured, in Metrics' order."""
    entries = tuple(entries)
    rows = []
    for name in _metric_names(entries):
        better = _better(name)
        values = [_figure(e.metrics, name) for e in entries]
        rows.append(Row(name, better, tuple(_cell(v, values[0], better, i == 0) for i, v in enumerate(values))))
    return Comparison(entries, _differing_settings(entries), tuple(rows))


def _metric_names(entries: Sequence[Entry]) -> list[str]:
    measured = [e.metrics for e in entries if e.metrics is not None]
    names = [
        f.name
        for f in fields(Metrics)
        if f.name in METRIC_KINDS and (f.name in KEY_METRICS or any(_figure(m, f.name) is not None for m in measured))
    ]
    corners: dict[str, None] = {}
    for metrics in measured:
        corners |= dict.fromkeys(sorted(metrics.corners or {}))
    for corner in corners:
        names += [
            f"{CORNER_PREFIX}{corner}.{key}"
            for key in CORNER_KEYS
            if any(_figure(m, f"{CORNER_PREFIX}{corner}.{key}") is not None for m in measured)
        ]
    return names


def _better(name: str) -> str | None:
    if name.startswith(CORNER_PREFIX):
        return CORNER_BETTER.get(name.rsplit(".", 1)[-1])
    return BETTER.get(name)


def _figure(metrics: Metrics | None, name: str) -> Figure | None:
    """The entry's figure, None when not measured (NaN and infinity are no measurement either)."""
    if metrics is None:
        return None
    if name.startswith(CORNER_PREFIX):
        corner, _, key = name.removeprefix(CORNER_PREFIX).rpartition(".")
        value = (metrics.corners or {}).get(corner, {}).get(key)
    else:
        value = getattr(metrics, name)
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and math.isfinite(value):
        return value
    return None


def _cell(value: Figure | None, reference: Figure | None, better: str | None, is_reference: bool) -> Cell:
    if value is None:
        return Cell(None, "not_measured")
    if is_reference:
        return Cell(value, "reference")
    if reference is None:
        return Cell(value, "reference_not_measured")
    if isinstance(value, bool) or isinstance(reference, bool):
        return Cell(value, "equal" if value == reference else "different")
    difference = _tidy(value - reference)
    percent = None if reference == 0 else _tidy(round(100 * difference / abs(reference), 2))
    if difference == 0:
        verdict: Verdict = "equal"
    elif better is None:
        verdict = "different"
    else:
        verdict = "better" if (difference < 0) == (better == "lower") else "worse"
    return Cell(value, verdict, difference, percent)


def _tidy(number: int | float) -> int | float:
    """A difference without float noise (0.1 - 0.3 is -0.2, not -0.19999999999999998), and never -0."""
    if isinstance(number, int):
        return number
    tidy = float(f"{number:.12g}")
    return 0.0 if tidy == 0 else tidy


def _differing_settings(entries: Sequence[Entry]) -> tuple[SettingRow, ...]:
    names: dict[str, None] = {}
    for entry in entries:
        names |= dict.fromkeys(entry.settings)
    rows = []
    for name in names:
        values = tuple(entry.settings.get(name) for entry in entries)
        if len({_same_key(v) for v in values}) > 1:
            rows.append(SettingRow(name, values))
    return tuple(rows)


def _same_key(value: Any) -> str:
    """Settings compare by value: 10 and 10.0 and "10" (config.json may write a number as text) are the same."""
    number = as_number(value)
    return repr(number) if number is not None else json.dumps(value, sort_keys=True, default=str)


# ------------------------------------------------------------------------------------------------ CSV cells
def _interleave(labels: Sequence[str], others: Sequence[str]) -> list[str]:
    """Each other entry's label followed by its three columns (difference, difference %, verdict)."""
    out: list[str] = []
    for index, label in enumerate(labels):
        out += [label, *others[3 * index : 3 * index + 3]]
    return out


def _spread(texts: Sequence[str], verdicts: Sequence[str] | None = None) -> list[str]:
    """A row that has a value per entry and no differences: the reference's, then each other's with empty
    difference columns (and a verdict when given)."""
    out = [texts[0]]
    for index, text in enumerate(texts[1:], start=1):
        out += [text, "", "", verdicts[index] if verdicts else ""]
    return out


def _setting_text(value: Any) -> str:
    if value is None:
        return "not set"
    if isinstance(value, dict | list):
        return csv_cell(json.dumps(value, sort_keys=True))
    return csv_cell(value)
