"""The content key: one hash of everything that determines a run's result, so an identical submission can reuse the
results of a run that already succeeded instead of running again.

What goes in:
- the design folder's files but config.json, each as its path and the SHA-256 of its content. Every file the run
  receives counts, not only those config.json names: a Verilog `include` or a file named by a flow variable is read
  by the flow, and no file list short of running the flow says which;
- the resolved configuration (the DesignSpec: the design's variables with the deployment's defaults filled in, the
  sweep), without the keys that ask for resources or for reuse itself, which change how a run is scheduled but not
  what it produces;
- the flow, its version (the image reference, or the versions of the installed tools: `FLOW_VERSIONS`), and the PDK.

Anything missing would make a changed design reuse stale results; anything extra only costs a run. So the key errs on
the side of extra.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, replace
from typing import Any

from shared.domain.design import DesignSpec
from shared.domain.design_config import CACHE_KEY, CPUS_KEY, FLOW_KEY, MEMORY_KEY, TIME_LIMIT_KEY

KEY_VERSION = 1  # bumped whenever what goes into the key changes, so old keys never match new ones
# Scheduling requests (a run that timed out never succeeded, so it is never reused either), the wish to reuse, and
# OLC_FLOW, which is in the key as the flow it resolved to (naming the default flow or leaving it out is the same).
_NOT_RESULT_KEYS = frozenset({CACHE_KEY, CPUS_KEY, MEMORY_KEY, TIME_LIMIT_KEY, FLOW_KEY})


def content_key(design: DesignSpec, file_digests: Mapping[str, str], flow_version: str, pdk: str) -> str:
    """`file_digests`: SHA-256 of each design file by its path relative to the design root."""
    settings = replace(
        design,
        time_limit_minutes=None,
        cpus=None,
        memory_mb=None,
        sweep=None,
        flow_variables={k: v for k, v in design.flow_variables.items() if k not in _NOT_RESULT_KEYS},
    )
    described: dict[str, Any] = {
        "key_version": KEY_VERSION,
        # config.json counts by what it says (the resolved configuration below), not by its bytes.
        "files": dict(sorted((p, d) for p, d in file_digests.items() if p != design.config_file)),
        "design": asdict(settings),
        "sweep": design.sweep.to_dict() if design.sweep else None,
        "flow": design.flow,
        "flow_version": flow_version,
        "pdk": design.pdk or pdk,
    }
    canonical = json.dumps(described, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def reuse_wanted(design: DesignSpec) -> bool:
    """False when config.json says `"OLC_CACHE": false`."""
    return design.flow_variables.get(CACHE_KEY, True) is not False
