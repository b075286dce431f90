"""The Cloud Storage adapter against the stack's real Cloud Storage emulator."""

from __future__ import annotations

from typing import TYPE_CHECKING

from devstack.stack import PROJECT_ID, RESULTS_BUCKET
from shared.adapters.gcs_store import GcsObjectStore, storage_client

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack


def test_an_empty_report_reads_as_empty_text_and_a_missing_one_as_none(stack: RunningStack) -> None:
    """A run stopped while writing a report leaves an empty file: Cloud Storage answers a ranged read of it with 416,
    which once failed every reconciler tick that tried to end the run."""
    store = GcsObjectStore(storage_client(PROJECT_ID))
    store.write_bytes(RESULTS_BUCKET, "tests/empty-report/area.rpt", b"", "text/plain")
    store.write_bytes(RESULTS_BUCKET, "tests/empty-report/timing.rpt", b"wns 0.0\n", "text/plain")
    assert store.read_text(RESULTS_BUCKET, "tests/empty-report/area.rpt") == ""
    assert store.read_text(RESULTS_BUCKET, "tests/empty-report/timing.rpt") == "wns 0.0\n"
    assert store.read_text(RESULTS_BUCKET, "tests/empty-report/missing.rpt") is None
