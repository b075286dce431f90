"""The flow runners a deployment offers, by name (FLOW_RUNNER selects the one new jobs use; EXTRA_FLOWS others)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain.flows.base import FlowRunner
from shared.domain.flows.load_test import LoadTestRunner
from shared.domain.flows.openlane import (
    FRONT_END_STEPS,
    ContainerCommand,
    Execution,
    FixedSteps,
    LibreLaneRunner,
    NativeCommand,
    OpenLane1Runner,
)
from shared.domain.flows.osu035 import LIBERTY
from shared.domain.flows.qflow import QflowOsu035Runner
from shared.domain.flows.synth_sta import SynthStaOsu035Runner


@dataclass(frozen=True)
class ContainerImages:
    """Each OpenLane generation ships its own image and expects its own open_pdks revision."""

    openlane_image: str
    openlane_pdk_root: str
    librelane_image: str
    librelane_pdk_root: str
    container_binary: str = "singularity"
    # "container" runs LibreLane in its image; "native" with the LibreLane installed with `librelane_python`.
    librelane_runtime: str = "container"
    librelane_python: str = ""

    def librelane_execution(self) -> Execution:
        if self.librelane_runtime == "native":
            return NativeCommand(self.librelane_python, self.librelane_pdk_root)
        return ContainerCommand(self.librelane_image, self.librelane_pdk_root, self.container_binary)


LIBRELANE_OSU035 = "librelane-osu035"


def flow_runners(images: ContainerImages, *, render_script: str) -> dict[str, FlowRunner]:
    """`render_script`: the text of infra/slurm/render_layout.py, which the layout flows run last (render.py); the
    caller reads it (shared/bootstrap.py), because the domain reads no files."""
    librelane = images.librelane_execution()
    runners: list[FlowRunner] = [
        QflowOsu035Runner(render_script=render_script),
        SynthStaOsu035Runner(),
        OpenLane1Runner(
            images.openlane_image, images.openlane_pdk_root, images.container_binary, render_script=render_script
        ),
        LibreLaneRunner(librelane, render_script=render_script),
        LoadTestRunner(),
    ]
    if isinstance(librelane, NativeCommand):
        # LibreLane's own steps up to synthesis on Debian's OSU 0.35 um cells (the PDK configuration the local stack
        # installs, infra/librelane/pdk), then Debian's OpenSTA on the netlist: what runs without OpenROAD.
        runners.append(
            LibreLaneRunner(
                librelane, name=LIBRELANE_OSU035, fixed=FixedSteps(FRONT_END_STEPS, "osu035", timing_liberty=LIBERTY)
            )
        )
    return {runner.name: runner for runner in runners}
