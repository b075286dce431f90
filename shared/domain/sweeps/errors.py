"""The OLC_SWEEP key of config.json, and how problems with it are reported: every problem at once, in words a
designer understands (each names the key it is about, e.g. "OLC_SWEEP.max_runs ...").
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from shared.domain.config_schema import shown

SWEEP_KEY = "OLC_SWEEP"
MAX_PROBLEMS = 20  # the reason goes into an e-mail; past this many, the rest are counted


class SweepError(ValueError):
    """Every problem found in OLC_SWEEP, in words a designer understands."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("config.json: " + "; ".join(self.problems))


def unknown_key(key: str, what: str, known: Sequence[str]) -> str:
    """The problem of an unknown key, with the closest known one ("did you mean") or the list of them."""
    close = difflib.get_close_matches(key.lower(), known, n=1, cutoff=0.6) if len(key) <= 64 else []
    if close:
        return f"{what} {shown(key)}: did you mean {close[0]!r}?"
    return f"{what} {shown(key)}: the keys are {', '.join(known)}"
