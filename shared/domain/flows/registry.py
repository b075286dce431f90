"""The flow runners a deployment offers, by name (FLOW_RUNNER selects the default one)."""

from __future__ import annotations

from shared.domain.flows.base import FlowRunner
from shared.domain.flows.openlane import LibreLaneRunner, OpenLane1Runner
from shared.domain.flows.qflow import QflowOsu035Runner


def flow_runners(*, openlane_image: str, pdk_root: str, container_binary: str) -> dict[str, FlowRunner]:
    runners: list[FlowRunner] = [
        QflowOsu035Runner(),
        OpenLane1Runner(openlane_image, pdk_root, container_binary),
        LibreLaneRunner(openlane_image, pdk_root, container_binary, module="librelane"),
        LibreLaneRunner(openlane_image, pdk_root, container_binary, module="openlane"),
    ]
    return {runner.name: runner for runner in runners}
