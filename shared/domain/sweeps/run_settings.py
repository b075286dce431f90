"""The design as one run of a sweep sees it: the run's settings override config.json's. Pure: no I/O."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from shared.domain.config_schema import as_number, shown
from shared.domain.design import RUN_CONFIG_FILE, DesignSpec
from shared.domain.sweeps.errors import SWEEP_KEY


def apply_run_settings(design: DesignSpec, settings: Mapping[str, Any]) -> DesignSpec:
    """`design` as one run of the sweep sees it: the run's settings override config.json's."""
    variables = {k: v for k, v in design.flow_variables.items() if k != SWEEP_KEY}
    # A single run does not sweep again, and a flow handed config.json would not know the key.
    variables.update(settings)
    # Flows that read config.json themselves (OpenLane) get the run's settings as a config file of their own.
    design = dataclasses.replace(design, config_file=RUN_CONFIG_FILE)
    if "CLOCK_PERIOD" not in settings:
        return dataclasses.replace(design, flow_variables=variables)
    # config.json may write the period as text ("10"), as the schema allows.
    period = as_number(settings["CLOCK_PERIOD"])
    if period is None:
        raise ValueError(f"CLOCK_PERIOD {shown(settings['CLOCK_PERIOD'])} is not a number of nanoseconds")
    return dataclasses.replace(design, clock_period_ns=period, flow_variables=variables)
