"""The flow runners a deployment offers, by name (FLOW_RUNNER selects the one new jobs use)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain.flows.base import FlowRunner
from shared.domain.flows.openlane import LibreLaneRunner, OpenLane1Runner
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


def flow_runners(images: ContainerImages) -> dict[str, FlowRunner]:
    runners: list[FlowRunner] = [
        QflowOsu035Runner(),
        SynthStaOsu035Runner(),
        OpenLane1Runner(images.openlane_image, images.openlane_pdk_root, images.container_binary),
        LibreLaneRunner(images.librelane_image, images.librelane_pdk_root, images.container_binary),
    ]
    return {runner.name: runner for runner in runners}
