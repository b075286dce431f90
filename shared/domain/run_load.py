"""What an active job holds against its owner's limits: the runs it may have in Slurm at once (slots) and the
core-hours reserved for them until their real usage is counted. The dispatcher counts these for every active job in
every round, so the job store reads only the fields they come from (RUN_LOAD_FIELDS), not whole jobs.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain.job import Job, max_core_hours
from shared.domain.sweeps import runs as sweep_runs

# The stored fields run_load reads (the rest of a job is not needed to count it): what a job store may limit a
# read to. job_codec.job_from_dict needs id, source, state and created_at to build a Job at all.
RUN_LOAD_FIELDS = ("id", "owner", "source", "state", "created_at", "resources", "design", "runs", "array_throttle")


@dataclass(frozen=True)
class RunLoad:
    owner: str
    slots: int
    reserved_core_hours: float


def run_load(job: Job) -> RunLoad:
    return RunLoad(
        owner=job.owner,
        slots=sweep_runs.slots(job),
        reserved_core_hours=sweep_runs.run_count(job) * max_core_hours(job.resources),
    )
