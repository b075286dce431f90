"""What a validated design upload is, independent of the flow that will run it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# sweeps/spec.py imports nothing of this module (the design as one run sees it is sweeps/run_settings.py).
from shared.domain.sweeps.spec import SweepSpec

# The config file of one run of a sweep, written by the flow from the run's settings (see flows/openlane.py).
RUN_CONFIG_FILE = "olc-run-config.json"


@dataclass(frozen=True)
class Resources:
    """What one run asks Slurm for."""

    cpus: int = 1
    memory_mb: int = 4096
    time_limit_minutes: int = 50


@dataclass(frozen=True)
class DesignSpec:
    """A design as the flow runners see it.

    Paths are relative to the design root inside the extracted archive (the folder holding config.json),
    always with forward slashes and never escaping that root.
    """

    design_name: str
    top_module: str
    verilog_files: tuple[str, ...]
    clock_port: str | None = None
    clock_period_ns: float = 10.0
    flow: str = "qflow-osu035"
    pdk: str = "osu035"
    config_file: str = "config.json"
    time_limit_minutes: int | None = None  # the designer's request (OLC_TIME_LIMIT_MINUTES), already bounded
    cpus: int | None = None  # the designer's request (OLC_CPUS), already bounded
    memory_mb: int | None = None  # the designer's request (OLC_MEMORY_MB), already bounded
    # Every key of config.json, as uploaded and checked against shared/domain/config_schema.py; the OpenLane runners
    # hand it to the flow unchanged.
    flow_variables: dict[str, Any] = field(default_factory=dict)
    # A design-space sweep (OLC_SWEEP): one job, one run per entry of `sweep.runs`, as a Slurm job array.
    sweep: SweepSpec | None = None
