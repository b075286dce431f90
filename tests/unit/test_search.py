"""Search-based sweeps: OLC_SWEEP's search keys, the batch bookkeeping (ask, tell, budget, failures, redelivery) with
fakes and with the real Optuna sampler, and the use case that proposes and submits the next batch."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from fakes import FakeCluster, FakeJobs, FakeMailer, FakePublisher, FakeStore
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.adapters.optuna_search import OptunaSampler, initial_design, initial_size, settings_in_space
from shared.domain.design import DesignSpec
from shared.domain.job import Job, JobState, SourceObject, new_job, record_submission
from shared.domain.metrics import Metrics
from shared.domain.sweeps import runs as sweep_runs
from shared.domain.sweeps.errors import SweepError
from shared.domain.sweeps.search import COMPLETE, FAILED, SearchPlan, next_batch_size, trials
from shared.domain.sweeps.spec import SweepSpec, parse_sweep, schema_check, sweepable_parameters, with_proposed_runs
from shared.services.completion.run_end import CompletionDeps
from shared.services.completion.sweep import batch_ended, finish_sweep
from shared.services.notify import Notifier
from shared.services.search import continue_search, unsubmitted_batch

T0 = datetime(2026, 12, 7, 9, tzinfo=UTC)
FLOW = "librelane-osu035"
SEARCH = {
    "strategy": "tpe",
    "budget": 8,
    "throttle": 4,
    "objectives": [{"minimize": "area_um2"}, {"maximize": "wns_ns"}],
    "parameters": {"CLOCK_PERIOD": {"min": 5, "max": 20.0}, "SYNTH_STRATEGY": ["AREA 0", "AREA 2", "DELAY 1"]},
    "seed": 11,
}


def parse(value: dict[str, Any], flow: str = FLOW) -> SweepSpec:
    return parse_sweep(
        value, sweepable=sweepable_parameters(flow), max_runs_allowed=24, seed="jseed", check_value=schema_check
    )


def problems(value: dict[str, Any]) -> list[str]:
    with pytest.raises(SweepError) as caught:
        parse(value)
    return list(caught.value.problems)


# ------------------------------------------------------------------------------------------------ checking
def test_a_search_is_read_with_its_plan_and_no_runs_yet() -> None:
    spec = parse(SEARCH)
    assert spec.strategy == "search" and spec.runs == () and spec.max_runs == 8
    plan = spec.search
    assert plan is not None
    assert (plan.strategy, plan.budget, plan.batch, plan.seed) == ("tpe", 8, 4, 11)
    assert plan.objectives == (("minimize", "area_um2"), ("maximize", "wns_ns"))
    period, strategy = plan.dimensions
    assert (period.low, period.high, period.integer, period.categorical) == (5.0, 20.0, False, False)
    assert strategy.choices == ("AREA 0", "AREA 2", "DELAY 1")
    assert spec.objective.metric == "area_um2"  # the best run is ranked by the first objective
    assert SweepSpec.from_dict(spec.to_dict()) == spec


def test_every_problem_of_a_search_is_reported_at_once() -> None:
    found = problems(
        {
            "strategy": "nsga2",
            "budget": 0,
            "throttle": "4",
            "objectives": [{"minimize": "lvs_match"}, {"shrink": "area_um2"}],
            "parameters": {
                "CLOCK_PERIOD": {"min": 20, "max": 5},
                "SYNTH_STRATEGY": ["AREA 9"],
                "PL_TARGET_DENSITY": [0.5],
                "SYNTH_ABC_BUFFERING": {"min": 1, "max": 2, "log": True, "step": 1},
            },
            "seed": -1,
        }
    )
    text = " | ".join(found)
    for expected in (
        "budget 0",
        "throttle '4'",
        "not a numeric metric",
        "shrink",
        "seed -1",
        "min 20 must be less than max 5",
        "AREA 9",
        "PL_TARGET_DENSITY",
        "cannot go with log",
    ):
        assert expected in text, (expected, found)


def test_search_keys_do_not_go_with_a_grid_and_max_runs_not_with_a_search() -> None:
    assert any(
        "budget goes with a search strategy" in p for p in problems({"parameters": {"CLOCK_PERIOD": [5]}, "budget": 4})
    )
    assert any("max_runs goes with a grid" in p for p in problems({**SEARCH, "max_runs": 4}))
    assert any("budget is missing" in p for p in problems({k: v for k, v in SEARCH.items() if k != "budget"}))
    assert any("from 2 to 24" in p for p in problems({**SEARCH, "budget": 25}))


def test_range_bounds_meet_the_settings_own_checks() -> None:
    found = problems({**SEARCH, "parameters": {"CLOCK_PERIOD": {"min": 0.0, "max": 5.0, "log": True}}})
    assert any("log range needs min greater than 0" in p for p in found)


# -------------------------------------------------------------------------------------------- the books
PLAN = SearchPlan(
    "tpe",
    budget=10,
    batch=4,
    objectives=(("minimize", "area_um2"), ("maximize", "wns_ns")),
    seed=3,
    dimensions=parse(SEARCH).search.dimensions,  # type: ignore[union-attr]
)


def test_batches_split_the_budget() -> None:
    assert [PLAN.batch_range(b) for b in range(3)] == [range(0, 4), range(4, 8), range(8, 10)]
    assert [PLAN.batches(n) for n in (1, 4, 5, 10)] == [1, 1, 2, 3]
    assert next_batch_size(PLAN, proposed=4, ended=3, stopped=False) == 0  # a batch is under way
    assert next_batch_size(PLAN, proposed=8, ended=8, stopped=False) == 2  # the rest of the budget
    assert next_batch_size(PLAN, proposed=10, ended=10, stopped=False) == 0  # spent
    assert next_batch_size(PLAN, proposed=4, ended=4, stopped=True) == 0  # cancelled


def test_failed_runs_and_runs_without_a_figure_are_told_as_failed() -> None:
    settings_ = [{"CLOCK_PERIOD": 5.0}, {"CLOCK_PERIOD": 6.0}, {"CLOCK_PERIOD": 7.0}]
    told = trials(
        PLAN,
        settings_,
        {
            0: ("SUCCEEDED", Metrics(area_um2=10.0, wns_ns=0.5)),
            1: ("FAILED", None),
            2: ("SUCCEEDED", Metrics(area_um2=10.0)),  # no WNS: nothing to rank it by
        },
    )
    assert [(t.index, t.state, t.values) for t in told] == [
        (0, COMPLETE, (10.0, 0.5)),
        (1, FAILED, ()),
        (2, FAILED, ()),
    ]


class ScriptedSampler:
    """A fake sampler: deterministic settings from the count of runs told."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def propose(self, plan: SearchPlan, told: Any, count: int) -> list[dict[str, Any]]:
        self.calls.append((len(told), count))
        return [{"CLOCK_PERIOD": 5.0 + len(told) + i, "SYNTH_STRATEGY": "AREA 0"} for i in range(count)]


class Scripts:
    def __init__(self) -> None:
        self.rendered: list[int] = []

    def render(self, job: Job) -> str:
        assert job.design is not None and job.design.sweep is not None
        self.rendered.append(len(job.design.sweep.runs))
        return "#!/bin/sh\n"


def search_job(plan: SearchPlan, sampler: Any) -> Job:
    spec = replace(parse(SEARCH), search=plan, max_runs=plan.budget)
    spec = with_proposed_runs(spec, sampler.propose(plan, [], plan.batch))
    design = DesignSpec("spm", "spm", ("src/spm.v",), flow=FLOW, sweep=spec)
    job = new_job(job_id="j" + "5" * 19, owner="a@b.c", source=SourceObject("d", "a@b.c/x.tgz", 1), at=T0)
    job = replace(job, design=design, array_throttle=plan.batch, results_prefix="a@b.c/j/")
    submitted = record_submission(job, "100", T0, plan.batch)
    assert submitted is not None
    return submitted


def deps_for(jobs: FakeJobs, sampler: Any, cluster: FakeCluster) -> CompletionDeps:
    return CompletionDeps(
        jobs=jobs,
        cluster=cluster,
        store=FakeStore(),
        publisher=FakePublisher(),
        notifier=Notifier(jobs, FakeMailer(), "results"),
        runners={},
        hook_master_key=lambda: "k",
        quotas=None,  # type: ignore[arg-type]
        plotter=None,  # type: ignore[arg-type]
        results_bucket="results",
        jobs_topic="olc-jobs",
        sampler=sampler,
        scripts=Scripts(),  # type: ignore[arg-type]
    )


def end_runs(jobs: FakeJobs, job_id: str, outcomes: list[str]) -> Job:
    job = jobs.get(job_id)
    assert job is not None
    for run in range(len(job.design.sweep.runs)):  # type: ignore[union-attr]
        if run < len(job.runs) and job.runs[run].ended:
            continue
        state = outcomes[run % len(outcomes)]
        metrics = Metrics(area_um2=100.0 + run, wns_ns=0.1 * run) if state == "SUCCEEDED" else None
        jobs.mutate(job_id, lambda j, r=run, s=state, m=metrics: sweep_runs.record_run_end(j, r, s, m, None, None))
    latest = jobs.get(job_id)
    assert latest is not None
    return latest


def test_each_ended_batch_proposes_and_submits_the_next_until_the_budget_is_spent() -> None:
    sampler, cluster = ScriptedSampler(), FakeCluster()
    plan = replace(PLAN, budget=10, batch=4)
    job = search_job(plan, sampler)
    jobs = FakeJobs(job)
    deps = deps_for(jobs, sampler, cluster)
    for batch in (1, 2):
        ended = end_runs(jobs, job.id, ["SUCCEEDED", "FAILED"])
        reply = continue_search(ended, deps)
        assert reply is not None and reply.status == 200, reply
        current = jobs.get(job.id)
        assert current is not None and len(current.arrays) == batch + 1
        assert current.slurm_job_id == current.arrays[-1]
    final = end_runs(jobs, job.id, ["SUCCEEDED"])
    assert continue_search(final, deps) is None  # spent: the sweep ends
    assert len(final.design.sweep.runs) == 10  # type: ignore[union-attr]
    assert sampler.calls == [(0, 4), (4, 4), (8, 2)]
    assert [len(b) for b in cluster.batches] == [1, 1]
    assert [b[0].batch for b in cluster.batches] == [1, 2]


def test_a_redelivered_end_neither_proposes_nor_submits_a_batch_twice_nor_ends_the_search() -> None:
    """An end delivered twice, or two runs of a batch ending at once: the later one finds the next batch out and
    must leave the search going, not end the sweep with the runs its older view of the job had."""
    sampler, cluster = ScriptedSampler(), FakeCluster()
    job = search_job(PLAN, sampler)
    jobs = FakeJobs(job)
    deps = deps_for(jobs, sampler, cluster)
    ended = end_runs(jobs, job.id, ["SUCCEEDED"])
    assert continue_search(ended, deps).status == 200  # type: ignore[union-attr]
    again = continue_search(ended, deps)  # the same (stale) view of the job, delivered again
    assert again is not None and again.status == 202, "a search under way must not be ended"
    now = lambda: T0  # noqa: E731
    assert batch_ended(ended, deps, now).status == 202
    assert finish_sweep(ended, deps, now).status == 202  # even asked to finish outright, with the old view
    current = jobs.get(job.id)
    assert current is not None and current.state is JobState.SUBMITTED
    assert len(current.design.sweep.runs) == 8 and len(current.arrays) == 2  # type: ignore[union-attr]
    assert len(cluster.batches) == 1
    assert deps.notifier.mailer.sent == []  # type: ignore[attr-defined]  # no "finished" e-mail either


def test_a_batch_proposed_but_never_submitted_is_submitted_on_the_next_look() -> None:
    sampler, cluster = ScriptedSampler(), FakeCluster()
    job = search_job(PLAN, sampler)
    jobs = FakeJobs(job)
    deps = deps_for(jobs, sampler, cluster)
    cluster.unreachable = 1  # the first sbatch of the batch cannot reach the cluster
    ended = end_runs(jobs, job.id, ["SUCCEEDED"])
    reply = continue_search(ended, deps)
    assert reply is not None and reply.status == 503
    waiting = jobs.get(job.id)
    assert waiting is not None and unsubmitted_batch(waiting)
    reply = continue_search(waiting, deps)  # the reconciler, or the sender's retry
    assert reply is not None and reply.status == 200 and not unsubmitted_batch(jobs.get(job.id))  # type: ignore[arg-type]
    assert sampler.calls == [(0, 4), (4, 4)]  # proposed once


def test_a_cancelled_batch_stops_the_search_and_keeps_every_finished_run() -> None:
    sampler, cluster = ScriptedSampler(), FakeCluster()
    job = search_job(PLAN, sampler)
    jobs = FakeJobs(job)
    deps = deps_for(jobs, sampler, cluster)
    ended = end_runs(jobs, job.id, ["SUCCEEDED", "CANCELLED"])
    assert continue_search(ended, deps) is None
    state, _reason, _best = sweep_runs.outcome(ended)
    assert state is JobState.SUCCEEDED and cluster.batches == []


@settings(max_examples=60, deadline=None)
@given(
    budget=st.integers(2, 12),
    batch=st.integers(1, 6),
    outcomes=st.lists(st.sampled_from(["SUCCEEDED", "FAILED", "TIMEOUT"]), min_size=1, max_size=5),
    redeliveries=st.integers(1, 3),
)
def test_properties_never_over_budget_never_told_twice_every_run_accounted(
    budget: int, batch: int, outcomes: list[str], redeliveries: int
) -> None:
    sampler, cluster = ScriptedSampler(), FakeCluster()
    plan = replace(PLAN, budget=budget, batch=min(batch, budget))
    job = search_job(plan, sampler)
    jobs = FakeJobs(job)
    deps = deps_for(jobs, sampler, cluster)
    for _ in range(budget + 1):
        ended = end_runs(jobs, job.id, outcomes)
        replies = [continue_search(ended, deps) for _ in range(redeliveries)]
        if replies[0] is None:
            break
        assert all(reply is not None for reply in replies)  # a redelivery never ends a search under way
    final = jobs.get(job.id)
    assert final is not None and final.design is not None and final.design.sweep is not None
    runs = final.design.sweep.runs
    assert len(runs) == budget  # the whole budget, never more
    told_counts = [told for told, _ in sampler.calls]
    assert told_counts == sorted(set(told_counts))  # each history told once, growing
    assert sum(count for _, count in sampler.calls) == budget
    assert len(final.arrays) == plan.batches(budget)  # one array per batch, none twice
    assert sorted(r.index for r in final.runs if r.ended) == list(range(budget))  # every run accounted for


# ------------------------------------------------------------------------------------------- the real sampler
@pytest.mark.parametrize("strategy", ["random", "tpe", "nsga2"])
def test_optuna_proposes_the_same_batch_for_the_same_history_within_the_space(strategy: str) -> None:
    plan = replace(PLAN, strategy=strategy, budget=12, batch=4)
    sampler = OptunaSampler()
    first = sampler.propose(plan, [], 4)
    assert first == sampler.propose(plan, [], 4)
    assert all(settings_in_space(plan, s) for s in first)
    told = trials(
        plan,
        first,
        {
            i: ("SUCCEEDED", Metrics(area_um2=50.0 * s["CLOCK_PERIOD"], wns_ns=s["CLOCK_PERIOD"] - 8))
            for i, s in enumerate(first)
        },
    )
    second = sampler.propose(plan, told, 4)
    assert second == sampler.propose(plan, told, 4)
    assert all(settings_in_space(plan, s) for s in second)
    assert second != first


def test_a_failed_trial_does_not_stop_optuna() -> None:
    sampler = OptunaSampler()
    first = sampler.propose(PLAN, [], 4)
    told = trials(PLAN, first, dict.fromkeys(range(4), ("FAILED", None)))
    assert len(sampler.propose(PLAN, told, 4)) == 4


def test_ingest_proposes_the_first_batch_and_a_deployment_without_a_sampler_refuses_searches() -> None:
    from tests.unit.test_services import OWNER, SPM_CONFIG, Ingest, spm_archive

    sweep = {
        "strategy": "nsga2",
        "budget": 6,
        "throttle": 4,
        "parameters": {"CLOCK_PERIOD": {"min": 5, "max": 20}, "PL_TARGET_DENSITY": [0.5, 0.7]},
    }
    ingest = Ingest()
    ingest.deps = replace(ingest.deps, sampler=OptunaSampler())
    job = ingest.run(ingest.upload(f"{OWNER}/spm.tar.gz", spm_archive({**SPM_CONFIG, "OLC_SWEEP": sweep})))
    assert job is not None and job.state is JobState.QUEUED, job.reason
    spec = job.design.sweep  # type: ignore[union-attr]
    assert spec is not None and spec.search is not None and len(spec.runs) == 4
    assert all(5 <= r["CLOCK_PERIOD"] <= 20 and r["PL_TARGET_DENSITY"] in (0.5, 0.7) for r in spec.runs)
    assert isinstance(spec.runs[0]["CLOCK_PERIOD"], int)  # an integer range proposes whole numbers
    without = Ingest()
    refused = without.run(without.upload(f"{OWNER}/spm.tar.gz", spm_archive({**SPM_CONFIG, "OLC_SWEEP": sweep})))
    assert (
        refused is not None and refused.state is JobState.REJECTED and "does not run searches" in (refused.reason or "")
    )


def test_a_batch_that_ran_before_its_id_was_recorded_is_recorded_and_the_search_ends() -> None:
    """The submitter was killed right after sbatch: the batch ran, and its end finds the id missing."""
    sampler, cluster = ScriptedSampler(), FakeCluster()
    plan = replace(PLAN, budget=8, batch=4)
    job = search_job(plan, sampler)
    jobs = FakeJobs(job)
    deps = deps_for(jobs, sampler, cluster)
    ended = end_runs(jobs, job.id, ["SUCCEEDED"])
    proposals = sampler.propose(plan, [], 4)
    jobs.mutate(
        job.id,
        lambda j: replace(j, design=replace(j.design, sweep=with_proposed_runs(j.design.sweep, proposals))),  # type: ignore[arg-type, union-attr]
    )
    ran = end_runs(jobs, job.id, ["SUCCEEDED"])  # batch 1 ran, but Job.arrays never heard of it
    assert unsubmitted_batch(ran) and sweep_runs.all_ended(ran)
    assert continue_search(ran, deps) is None  # recorded (Slurm answers "existing"), then spent
    final = jobs.get(job.id)
    assert final is not None and len(final.arrays) == 2 and not unsubmitted_batch(final)
    assert ended.id == final.id


@pytest.mark.parametrize("strategy", ["random", "tpe", "nsga2"])
def test_optuna_never_proposes_settings_already_run_while_the_space_has_others(strategy: str) -> None:
    from shared.domain.sweeps.search import Dimension

    plan = SearchPlan(
        strategy,  # type: ignore[arg-type]
        budget=6,
        batch=3,
        objectives=(("minimize", "area_um2"),),
        seed=1,
        dimensions=(
            Dimension("SYNTH_STRATEGY", choices=("AREA 0", "AREA 2", "DELAY 0")),
            Dimension("B", choices=(1, 2)),
        ),
    )
    sampler = OptunaSampler()
    first = sampler.propose(plan, [], 3)
    told = trials(plan, first, {i: ("SUCCEEDED", Metrics(area_um2=float(i))) for i in range(3)})
    second = sampler.propose(plan, told, 3)
    keys = [tuple(sorted(s.items())) for s in first + second]
    assert len(set(keys)) == 6  # the whole space of six, each once


def test_nsga2_breeds_from_the_rebuilt_generations_instead_of_sampling_at_random() -> None:
    """The study is rebuilt from history each batch: without each trial's generation NSGA-II would see only a first
    generation and sample at random for ever."""
    plan = replace(PLAN, strategy="nsga2", budget=12, batch=4)
    sampler = OptunaSampler()
    first = sampler.propose(plan, [], 4)
    told = trials(
        plan,
        first,
        {
            i: ("SUCCEEDED", Metrics(area_um2=50.0 * s["CLOCK_PERIOD"], wns_ns=s["CLOCK_PERIOD"] - 8))
            for i, s in enumerate(first)
        },
    )
    bred = sampler.propose(plan, told, 4)
    at_random = sampler.propose(replace(plan, strategy="random"), told, 4)
    assert bred != at_random


def test_a_search_starts_from_a_latin_hypercube_that_sees_every_choice() -> None:
    """Eight random runs would miss a given one of nine strategies about two times in five; the space-filling start
    proposes each of them, and ranges of every kind stay within their bounds and steps."""
    from shared.domain.sweeps.search import Dimension

    strategies = ("AREA 0", "AREA 1", "AREA 2", "AREA 3", "DELAY 0", "DELAY 1", "DELAY 2", "DELAY 3", "DELAY 4")
    dimensions = (
        Dimension("SYNTH_STRATEGY", choices=strategies),
        Dimension("SYNTH_ABC_BUFFERING", choices=(True, False)),
        Dimension("CLOCK_PERIOD", low=5.0, high=20.0, step=0.5),
        Dimension("FP_CORE_UTIL", low=20, high=60, integer=True),
        Dimension("PL_TARGET_DENSITY", low=0.3, high=0.9, log=True),
    )
    for seed in range(1, 21):
        plan = SearchPlan(
            "nsga2", budget=24, batch=4, objectives=(("minimize", "area_um2"),), seed=seed, dimensions=dimensions
        )
        design = initial_design(plan)
        assert len(design) == initial_size(plan) == 9
        assert {point["SYNTH_STRATEGY"] for point in design} == set(strategies)
        assert {point["SYNTH_ABC_BUFFERING"] for point in design} == {True, False}
        assert all(settings_in_space(plan, point) for point in design)
        assert all((point["CLOCK_PERIOD"] * 2).is_integer() for point in design)
        assert all(isinstance(point["FP_CORE_UTIL"], int) for point in design)
        assert design == initial_design(plan)  # from the seed alone: every rebuild enqueues the same points
    assert initial_design(replace(plan, seed=1)) != initial_design(replace(plan, seed=2))


@pytest.mark.parametrize("strategy", ["random", "tpe", "nsga2"])
def test_the_first_batches_are_the_space_filling_start_then_the_sampler_takes_over(strategy: str) -> None:
    plan = replace(PLAN, strategy=strategy, budget=12, batch=4)  # a start of four: a third of the budget
    design = initial_design(plan)
    sampler = OptunaSampler()
    first = sampler.propose(plan, [], 4)
    assert first == design[:4] and len(design) == 4
    told = trials(plan, first, {i: ("SUCCEEDED", Metrics(area_um2=float(i), wns_ns=-float(i))) for i in range(4)})
    assert all(settings_in_space(plan, s) for s in sampler.propose(plan, told, 4))


def test_the_start_is_never_more_than_half_the_budget() -> None:
    from shared.domain.sweeps.search import Dimension

    wide = (Dimension("SYNTH_STRATEGY", choices=tuple(f"S{i}" for i in range(20))),)
    plan = SearchPlan("tpe", budget=8, batch=2, objectives=(("minimize", "area_um2"),), seed=1, dimensions=wide)
    assert initial_size(plan) == 4
    assert initial_size(replace(plan, budget=1)) == 1
