"""A load-test flow for the local stack: a run that holds a job slot for a while and costs next to nothing.

bench/scale.py brings a thousand jobs to active at once on two cores; a real flow would measure the flows, not the
system around them. This runner's plan sleeps for as many seconds as the design's clock period has nanoseconds
(CLOCK_PERIOD: the one number every design has, so a load test sets the hold time per upload without a setting of
its own), then writes a one-line metrics file. The job kit runs it like any flow: it fetches the design, reports each
stage, uploads the files and sends the end report, so every part of the system but the EDA tools takes its load.

The local stack offers it (EXTRA_FLOWS in devstack/stack.py); a deployment names it only to load-test itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from shared.domain.design import DesignSpec, Resources
from shared.domain.flows.base import FlowPlan, FlowStage
from shared.domain.metrics import Metrics

NAME = "load-test"
PROJECT_DIR = "load_test"
METRICS_FILE = f"{PROJECT_DIR}/metrics.json"
MAX_HOLD_S = 3600.0
# Writes the metrics file; the hold time comes in as the one positional argument (already a plain number).
_REPORT = f"""set -eu
mkdir -p {PROJECT_DIR}
printf '{{"held_s": %s}}\\n' "$1" > {METRICS_FILE}
"""


def hold_seconds(design: DesignSpec) -> float:
    """How long a run holds its slot: CLOCK_PERIOD read as seconds, within 0..MAX_HOLD_S."""
    return round(min(max(float(design.clock_period_ns), 0.0), MAX_HOLD_S), 3)


class LoadTestRunner:
    """FlowRunner: sleep, then write {"held_s": N} (see the module docstring)."""

    name = NAME

    def plan(self, design: DesignSpec, resources: Resources) -> FlowPlan:
        held = f"{hold_seconds(design):g}"
        return FlowPlan(
            runner=self.name,
            stages=(FlowStage("hold", ("sleep", held)), FlowStage("report", ("sh", "-c", _REPORT, "sh", held))),
            artifacts=(METRICS_FILE,),
            metrics_files=(METRICS_FILE,),
        )

    def parse_metrics(self, files: Mapping[str, str]) -> Metrics:
        text = files.get(METRICS_FILE)
        if text is None:
            return Metrics()
        try:
            held = json.loads(text).get("held_s")
        except (ValueError, AttributeError):
            return Metrics()
        return Metrics(runtime_s=float(held)) if isinstance(held, int | float) else Metrics()
