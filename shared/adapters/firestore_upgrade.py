"""Brings stored jobs up to the fields the queries need; cloudbuild.yaml runs it after each deploy.

`phase` (shared/domain/job.py Phase) is derived from a job's state and stored so that the readers of many jobs ask
for one value instead of several states. A job stored before the field existed lacks it, and a query on it does not
see the job: the dispatcher would not count such a run as active (and could admit too many) and the reconciler would
not repair it. Every write of a job stores it, so only jobs not written since need it. This writes it on each of
them, under the document's update-time precondition (a job changed meanwhile already has it), then records the
version done in `schema/jobs`, so a later deploy reads that one document and stops.

    python -m shared.adapters.firestore_upgrade --project PROJECT [--database DB]
"""

from __future__ import annotations

import argparse
import sys

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.adapters.firestore_jobs import JOBS
from shared.domain.job import JobState
from shared.structured_log import configure, fields, get

log = get(__name__)
SCHEMA = "schema"
JOBS_SCHEMA_VERSION = 1  # 1: `phase`
_PAGE = 400  # Firestore takes up to 500 writes in one commit


def upgrade_jobs(client: firestore.Client) -> int:
    """Write the derived fields jobs lack; returns how many jobs were written (0 once the version is recorded)."""
    marker = client.collection(SCHEMA).document(JOBS)
    recorded = marker.get()
    if recorded.exists and (recorded.to_dict() or {}).get("version", 0) >= JOBS_SCHEMA_VERSION:
        return 0
    written = 0
    query = client.collection(JOBS).order_by("__name__").select(["state", "phase"]).limit(_PAGE)
    page = list(query.stream())
    while page:
        stale = [s for s in page if (s.to_dict() or {}).get("phase") != JobState(s.get("state")).phase.value]
        written += _write_phases(client, stale)
        page = list(query.start_after(page[-1]).stream())
    marker.set({"version": JOBS_SCHEMA_VERSION, "at": firestore.SERVER_TIMESTAMP})
    return written


def _write_phases(client: firestore.Client, stale: list[firestore.DocumentSnapshot]) -> int:
    def update(batch: firestore.WriteBatch, snapshot: firestore.DocumentSnapshot) -> None:
        option = client.write_option(last_update_time=snapshot.update_time)
        batch.update(snapshot.reference, {"phase": JobState(snapshot.get("state")).phase.value}, option=option)

    if not stale:
        return 0
    batch = client.batch()
    for snapshot in stale:
        update(batch, snapshot)
    try:
        batch.commit()
        return len(stale)
    except (gexc.FailedPrecondition, gexc.NotFound):
        pass  # one of them changed (and so has its phase) or went meanwhile: the rest one by one
    written = 0
    for snapshot in stale:
        batch = client.batch()
        update(batch, snapshot)
        try:
            batch.commit()
            written += 1
        except (gexc.FailedPrecondition, gexc.NotFound):
            pass
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", required=True)
    parser.add_argument("--database", default="(default)")
    args = parser.parse_args(argv)
    configure()
    written = upgrade_jobs(firestore.Client(project=args.project, database=args.database))
    log.info("stored jobs upgraded", extra=fields(jobs_written=written, schema_version=JOBS_SCHEMA_VERSION))
    return 0


if __name__ == "__main__":
    sys.exit(main())
