"""Completion reads a run's manifest once: Slurm's final state first, then the manifest, then the outcome
(shared/services/completion/run_end.py), for a single job, a run of a sweep, the reconciler and the sweep's close.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

from fakes import FakeCluster, FakeStore

from shared.domain.job import JobState, StateChange
from shared.domain.slurm import SlurmJobStatus
from shared.domain.sweeps.spec import parse_sweep, schema_check, sweepable_parameters
from shared.services.completion.run_end import Reply
from shared.services.completion.single import finish_job
from shared.services.reconcile import reconcile
from tests.unit.test_services import FLOW, SLURM_ID, SUCCESS_MANIFEST, Completion


class CountingStore(FakeStore):
    """FakeStore that notes every manifest it is asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.manifest_reads: list[str] = []

    def read_text(self, bucket: str, name: str, max_bytes: int = 1 << 20) -> str | None:
        if name.endswith("manifest.json"):
            self.manifest_reads.append(name)
        return super().read_text(bucket, name, max_bytes)


class LandingCluster(FakeCluster):
    """FakeCluster on which the manifest lands while Slurm still shows the job COMPLETING (the epilog's moment)."""

    def __init__(self, store: FakeStore, name: str, manifest: dict) -> None:
        super().__init__()
        self.landing = (store, name, manifest)

    def status(self, slurm_job_ids: Sequence[str]) -> dict[str, SlurmJobStatus]:
        statuses = super().status(slurm_job_ids)
        store, name, manifest = self.landing
        store.put("results", name, json.dumps(manifest))
        return statuses


def counted(run: Completion) -> CountingStore:
    store = CountingStore()
    store.objects.update(run.store.objects)
    run.store = store
    run.deps = replace(run.deps, store=store)
    return store


def test_a_job_end_reads_its_manifest_once() -> None:
    run = Completion(JobState.RUNNING)
    run.put_manifest(SUCCESS_MANIFEST)
    store = counted(run)
    run.cluster.states[SLURM_ID] = ["COMPLETING", "COMPLETING", "COMPLETED"]
    assert run.ended() == Reply(200, "SUCCEEDED")
    assert store.manifest_reads == [f"{run.job.results_prefix}manifest.json"]
    assert len(run.cluster.status_calls) == 3  # Slurm first: the manifest is read once it says COMPLETED


def test_a_manifest_that_lands_while_slurm_is_completing_decides() -> None:
    run = Completion(JobState.RUNNING)
    store = counted(run)
    run.cluster = LandingCluster(store, f"{run.job.results_prefix}manifest.json", {**SUCCESS_MANIFEST, "files": []})
    run.cluster.states[SLURM_ID] = ["COMPLETING", "COMPLETED"]
    run.deps = replace(run.deps, cluster=run.cluster)
    assert run.ended() == Reply(200, "SUCCEEDED")
    assert store.manifest_reads == [f"{run.job.results_prefix}manifest.json"]


def test_a_job_slurm_has_not_finished_reads_no_manifest() -> None:
    run = Completion(JobState.RUNNING, wait_s=0)
    run.put_manifest(SUCCESS_MANIFEST)
    store = counted(run)
    run.cluster.states[SLURM_ID] = ["COMPLETING"]
    assert run.ended().status == 503
    assert store.manifest_reads == []


def test_the_reconcilers_end_of_a_job_reads_its_manifest_once() -> None:
    run = Completion(JobState.RUNNING)
    run.put_manifest(SUCCESS_MANIFEST)
    store = counted(run)
    known = SlurmJobStatus(SLURM_ID, "COMPLETED", elapsed_s=60)
    assert finish_job(run.job.id, SLURM_ID, run.deps, run.clock, known_status=known) == Reply(200, "SUCCEEDED")
    assert store.manifest_reads == [f"{run.job.results_prefix}manifest.json"]
    assert run.cluster.status_calls == []  # Slurm's record came with the call


def sweep(run: Completion, runtimes: list[float]) -> None:
    """The run's job as a sweep of CLOCK_PERIOD, one run per runtime, where the fastest run is the best; each run's
    manifest is in place."""
    assert run.job.design is not None
    spec = parse_sweep(
        {"parameters": {"CLOCK_PERIOD": [5 + i for i in range(len(runtimes))]}, "objective": {"minimize": "runtime_s"}},
        sweepable=sweepable_parameters(FLOW),
        max_runs_allowed=10,
        seed=run.job.id,
        check_value=schema_check,
    )
    spec = replace(spec, objective=replace(spec.objective, constraints=()))
    run.job = replace(run.job, design=replace(run.job.design, sweep=spec), array_throttle=2)
    run.jobs.mutate(run.job.id, lambda _: run.job)
    for index, runtime in enumerate(runtimes):
        manifest = {**SUCCESS_MANIFEST, "runtime_s": runtime, "files": []}
        run.store.put("results", f"{run.job.results_prefix}runs/{index}/manifest.json", json.dumps(manifest))


def run_ended(run: Completion, index: int) -> Reply:
    task = str(int(SLURM_ID) + 1 + index)
    run.cluster.states[task] = ["COMPLETING", "COMPLETED"]
    return run.call({"kind": "ended", "slurm_job_id": task, "run": index})


def test_each_run_of_a_sweep_reads_its_manifest_once_and_the_last_one_ends_the_sweep() -> None:
    run = Completion(JobState.RUNNING)
    sweep(run, [30.0, 20.0])  # run 1, the last to end, is the best
    store = counted(run)
    prefix = run.job.results_prefix
    assert run_ended(run, 0) == Reply(200, "run 0 SUCCEEDED")
    assert store.manifest_reads == [f"{prefix}runs/0/manifest.json"]
    store.manifest_reads.clear()
    assert run_ended(run, 1) == Reply(200, "SUCCEEDED")
    assert store.manifest_reads == [f"{prefix}runs/1/manifest.json"]  # its links come from that one reading
    job = run.stored()
    assert job.artifacts["best_run"] == f"{prefix}runs/1/"
    (chart,) = run.plotter.charts
    assert (chart.best, chart.x, chart.y, chart.spec_runs) == (1, "area_um2", "wns_ns", 2)
    assert store.objects[("results", f"{prefix}sweep/pareto.png")].startswith(b"\x89PNG")


def test_a_sweeps_close_takes_the_best_runs_links_from_its_recorded_end() -> None:
    run = Completion(JobState.RUNNING)
    sweep(run, [20.0, 30.0])  # run 0, the first to end, is the best
    store = counted(run)
    prefix = run.job.results_prefix
    assert run_ended(run, 0) == Reply(200, "run 0 SUCCEEDED")
    store.manifest_reads.clear()
    assert run_ended(run, 1) == Reply(200, "SUCCEEDED")
    # Its own manifest once; the best run's links were recorded when it ended.
    assert store.manifest_reads == [f"{prefix}runs/1/manifest.json"]
    assert run.stored().artifacts["best_run"] == f"{prefix}runs/0/"


def test_the_reconciler_reads_each_lost_runs_manifest_once() -> None:
    run = Completion(JobState.RUNNING)
    sweep(run, [30.0, 20.0, 25.0])
    at = run.clock() - timedelta(minutes=10)
    run.job = replace(run.job, history=(*run.job.history, StateChange(run.job.state, at)))
    run.jobs.mutate(run.job.id, lambda _: run.job)
    store = counted(run)
    prefix = run.job.results_prefix
    run.cluster.arrays[SLURM_ID] = [
        SlurmJobStatus(str(int(SLURM_ID) + 1 + i), "COMPLETED", array_task_id=i, array_job_id=SLURM_ID)
        for i in range(3)
    ]
    report = reconcile(run.deps, run.clock, quiet_for_s=60)
    assert report.repaired == {run.job.id: "run 0: run 0 SUCCEEDED; run 1: run 1 SUCCEEDED; run 2: SUCCEEDED"}
    assert store.manifest_reads == [
        f"{prefix}runs/0/manifest.json",
        f"{prefix}runs/1/manifest.json",
        f"{prefix}runs/2/manifest.json",
    ]
    assert run.stored().state is JobState.SUCCEEDED
