"""The interface every flow runner implements.

A runner turns a validated design into a `FlowPlan`: an ordered list of stages, each an argv run WITHOUT a shell
by the job kit on the compute node (infra/slurm/olc_job.py), plus which files to keep and which to parse for
metrics. Because stages are argv lists, user-controlled strings never pass through a shell unquoted; where a
stage needs shell features it runs a fixed script of ours with user values as positional arguments
(`sh -c SCRIPT sh ARG1 ARG2`).

Paths in a plan are relative to the run's work directory, which holds the extracted design under `design/`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from shared.domain.design import DesignSpec, Resources
from shared.domain.metrics import Metrics

DESIGN_DIR = "design"


@dataclass(frozen=True)
class FlowStage:
    """One step of the flow. `name` is what users see as progress (e.g. "synthesis", "routing")."""

    name: str
    argv: tuple[str, ...]
    cwd: str = "."
    env: Mapping[str, str] = field(default_factory=dict)


# How a multi-step flow lays out its run folder, for the job kit's per-step progress (infra/slurm/olc_job.py).
LIBRELANE_LAYOUT = "librelane"  # <run>/NN-<step-id>/ per step; flow.log says "Running '<Step.Id>' at '.../NN-...'"
OPENLANE1_LAYOUT = "openlane1"  # <run>/logs/<stage>/N-<step>.log per step, grouped in stage folders


@dataclass(frozen=True)
class StepProgress:
    """A stage that runs a whole flow of many steps in one process (OpenLane): the kit watches `run_dir` while
    stage `stage` runs and reports each step as its folder appears. `steps` lists the flow's steps in order where
    the runner knows them, and `total` how many steps the flow has (None: unknown)."""

    stage: str
    layout: str
    run_dir: str
    steps: tuple[str, ...] = ()
    total: int | None = None

    def to_spec(self) -> dict[str, object]:
        return {
            "stage": self.stage,
            "layout": self.layout,
            "run_dir": self.run_dir,
            "steps": list(self.steps),
            "total": self.total,
        }


@dataclass(frozen=True)
class FlowPlan:
    runner: str
    stages: tuple[FlowStage, ...]
    # Globs (relative to the work dir) of files uploaded to the results bucket after the flow.
    artifacts: tuple[str, ...]
    # Files (relative to the work dir) that `FlowRunner.parse_metrics` reads; uploaded too.
    metrics_files: tuple[str, ...]
    # Which artifact glob is the layout, for the job document's quick links ("gds", "def", ...).
    primary_outputs: Mapping[str, str] = field(default_factory=dict)
    progress: StepProgress | None = None
    # Metrics the plan's steps must produce when the run succeeds; one missing means a step failed silently (an
    # OpenSTA that exits 0 with empty timing) and the job carries a warning naming it: {metric field: producing step}.
    expected_metrics: Mapping[str, str] = field(default_factory=dict)


class FlowRunner(Protocol):
    name: str

    def plan(self, design: DesignSpec, resources: Resources) -> FlowPlan:
        """The stages that run this design. Pure: no I/O."""
        ...

    def parse_metrics(self, files: Mapping[str, str]) -> Metrics:
        """Normalise metrics from the text of `FlowPlan.metrics_files` (keyed by the same relative paths;
        a file that the run did not produce is absent from the mapping)."""
        ...
