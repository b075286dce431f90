"""Use case: a search's batch has ended (its last run reported, or the reconciler found it ended). Tell the sampler
every result, have it propose the next batch, and submit that batch as one Slurm array, until the budget is spent.

Each step is idempotent, so a redelivered end report, a crash between steps or the reconciler repeating it never
proposes or submits a batch twice:
1. proposing: the sampler is deterministic for the same results (shared/adapters/optuna_search.py), and the batch
   is added only to a job that has exactly the runs proposed before (an optimistic write);
2. submitting: every batch is a Slurm job of its own name (`olc-<job>-b<batch>`), which sbatch is skipped for when
   Slurm has it already (shared/domain/slurm_commands.py), and its id is recorded once (`Job.arrays`).
A batch with a CANCELLED run stops the search (a cancel): the sweep then ends with the runs it has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from shared.domain.job import Job
from shared.domain.slurm import SlurmSubmission
from shared.domain.sweeps import runs as sweep_runs
from shared.domain.sweeps.search import SearchPlan, next_batch_size, trials
from shared.domain.sweeps.spec import with_proposed_runs
from shared.ports import ClusterError
from shared.services.completion.run_end import CompletionDeps, Reply
from shared.structured_log import fields, get

log = get(__name__)


def plan_of(job: Job) -> SearchPlan | None:
    sweep = job.design.sweep if job.design is not None else None
    return sweep.search if sweep is not None else None


def unsubmitted_batch(job: Job) -> bool:
    """A batch was proposed but its array was never recorded (a crash or a failed sbatch in between)."""
    plan = plan_of(job)
    if plan is None or job.state.is_terminal or job.design is None or job.design.sweep is None:
        return False
    return plan.batches(len(job.design.sweep.runs)) > len(job.arrays) and not stopped(job)


def stopped(job: Job) -> bool:
    return any(r.state == "CANCELLED" for r in job.runs)


def search_over(job: Job) -> bool:
    """Whether a search has nothing more to run: every run proposed has ended, and the budget is spent or the search
    was cancelled. A sweep that is not a search is over when its runs are."""
    plan = plan_of(job)
    if not sweep_runs.all_ended(job):
        return False
    if plan is None or job.design is None or job.design.sweep is None:
        return True
    return len(job.design.sweep.runs) >= plan.budget or stopped(job)


def continue_search(job: Job, deps: CompletionDeps) -> Reply | None:
    """The next batch proposed and submitted (200); 202 when a batch is under way, nothing to do; None only when the
    search is over (the caller ends the sweep).

    Every decision is taken on the stored job, never on the caller's view: a redelivered end report, or a second
    run of the same batch ending at the same moment, finds the next batch proposed (or running) by the other and
    answers that it is under way, instead of ending a search that is not over."""
    plan = plan_of(job)
    if plan is None:
        return None
    job = deps.jobs.get(job.id) or job
    if job.design is None or job.design.sweep is None:
        return None
    proposed = len(job.design.sweep.runs)
    ended = {r.index: (r.state, r.metrics) for r in job.runs if r.ended}
    count = next_batch_size(plan, proposed, len(ended), stopped(job))
    if count:
        told = trials(plan, job.design.sweep.runs, ended)
        proposals = deps.sampler.propose(plan, told, count)
        ours: list[bool] = []

        def add_batch(current: Job) -> Job | None:
            added = _with_batch(current, proposed, proposals)
            ours[:] = [added is not None]
            return added

        deps.jobs.mutate(job.id, add_batch)
        if ours == [True]:
            log.info("search batch proposed", extra=fields(batch=plan.batches(proposed), runs=count, told=len(told)))
        job = deps.jobs.get(job.id) or job  # ours, or the batch another delivery proposed first
    if unsubmitted_batch(job):
        reply = _submit(job, plan, deps)
        current = deps.jobs.get(job.id) or job
        if reply.status == 200 and sweep_runs.all_ended(current):
            # The batch had already run when its id was recorded (the submitter crashed after sbatch): go on.
            return continue_search(current, deps)
        return reply
    if job.state.is_terminal or search_over(job):
        return None
    batch = max(len(job.arrays) - 1, 0)
    runs_ended = sum(1 for r in job.runs if r.ended)
    return Reply(202, f"batch {batch} under way: {runs_ended} of {len(job.design.sweep.runs)} runs ended")


def _with_batch(job: Job, proposed: int, proposals: Sequence[Mapping[str, Any]]) -> Job | None:
    if job.state.is_terminal or job.design is None or job.design.sweep is None:
        return None
    if len(job.design.sweep.runs) != proposed or stopped(job):
        return None  # another delivery added this batch already, or the search was cancelled meanwhile
    sweep = with_proposed_runs(job.design.sweep, proposals)
    return replace(job, design=replace(job.design, sweep=sweep))


def _submit(job: Job, plan: SearchPlan, deps: CompletionDeps) -> Reply:
    assert job.design is not None and job.design.sweep is not None and deps.scripts is not None
    batch = plan.batches(len(job.design.sweep.runs)) - 1
    try:
        result = deps.cluster.submit([SlurmSubmission(job.id, deps.scripts.render(job), batch)])
    except ClusterError as exc:
        log.warning("search batch not submitted; retried", extra=fields(batch=batch, error=str(exc)))
        return Reply(503, f"batch {batch} could not be submitted yet: {exc}")
    slurm_id = result.accepted.get(job.id)
    if slurm_id is None:
        error = result.refused.get(job.id, "sbatch gave no id")
        log.error("search batch refused by Slurm", extra=fields(batch=batch, error=error))
        return Reply(503, f"batch {batch} was refused by Slurm: {error}")

    def record(current: Job) -> Job | None:
        if current.state.is_terminal or len(current.arrays) != batch:
            return None
        return replace(current, arrays=(*current.arrays, slurm_id), slurm_job_id=slurm_id)

    deps.jobs.mutate(job.id, record)
    runs = plan.batch_range(batch)
    log.info("search batch submitted", extra=fields(batch=batch, slurm_job_id=slurm_id, runs=len(runs)))
    return Reply(200, f"batch {batch} submitted: runs {runs.start}-{runs.stop - 1}")
