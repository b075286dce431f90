"""One normalised set of metrics, whichever flow produced them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class Metrics:
    """Key figures of a finished run. A field is None when the flow did not report it."""

    cell_count: int | None = None
    area_um2: float | None = None
    wns_ns: float | None = None
    tns_ns: float | None = None
    clock_period_ns: float | None = None
    max_frequency_mhz: float | None = None
    drc_errors: int | None = None
    lvs_match: bool | None = None
    routing_failures: int | None = None
    runtime_s: float | None = None
    peak_memory_mb: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Metrics:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def merged(self, other: Metrics) -> Metrics:
        """Fields of `other` win where they are set."""
        return Metrics.from_dict({**self.to_dict(), **other.to_dict()})
