"""The batch script of a job's run as the cluster gets it: the flow's plan, the job kit and the run's specification in
one script (a Slurm job array for a sweep, or for a search's latest batch). Used by the dispatcher for a job's first
submission and by the completion path for a search's later batches."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from shared.domain.callback_auth import job_key
from shared.domain.flows.base import FlowRunner
from shared.domain.job import Job
from shared.domain.job_script import (
    ArrayTasks,
    ClusterTarget,
    RenderError,
    kit_spec,
    render_job_script,
    sweep_spec,
)
from shared.domain.sweeps.run_settings import apply_run_settings


@dataclass(frozen=True)
class ScriptFactory:
    template: str
    kit_source: str
    target: ClusterTarget
    runners: Mapping[str, FlowRunner]
    hook_master_key: Callable[[], str]

    def render(self, job: Job) -> str:
        if job.design is None:
            raise RenderError(f"job {job.id} has no validated design")
        runner = self.runners.get(job.flow or "")
        if runner is None:
            raise RenderError(f"flow {job.flow!r} is not available on this deployment")
        try:
            plan = runner.plan(job.design, job.resources)
        except ValueError as exc:  # the runner cannot run this design: fail the job, not the whole dispatch
            raise RenderError(str(exc)) from exc
        spec = kit_spec(job, plan, self.target, job_key(self.hook_master_key(), job.id))
        sweep = job.design.sweep
        if sweep is None:
            return render_job_script(self.template, self.kit_source, job, job.resources, spec, self.target)
        try:
            plans = [runner.plan(apply_run_settings(job.design, values), job.resources) for values in sweep.runs]
        except ValueError as exc:
            raise RenderError(str(exc)) from exc
        spec = sweep_spec(spec, plans, sweep.runs)
        array = ArrayTasks(len(sweep.runs), job.array_throttle or 1)
        if sweep.search is not None:  # a search runs its latest batch
            batch = sweep.search.batches(len(sweep.runs)) - 1
            tasks = sweep.search.batch_range(batch)
            throttle = min(job.array_throttle or sweep.search.batch, sweep.search.batch)
            array = ArrayTasks(len(tasks), throttle, tasks.start, batch)
        return render_job_script(self.template, self.kit_source, job, job.resources, spec, self.target, array)
