"""The reconciler (lost job ends) and cancellation, with fakes at the ports."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from shared.domain.job import JobState, StateChange
from shared.domain.slurm import LAUNCH_FAILED_HELD, MAX_LAUNCHES, SlurmJobStatus, given_up, to_release
from shared.domain.slurm_commands import parse_status_output, release_script
from shared.domain.sweeps import runs as sweep_runs
from shared.domain.sweeps.spec import parse_sweep, schema_check, sweepable_parameters
from shared.services.cancel import CancelDeps, cancel_job, stop_in_slurm
from shared.services.notify import Notifier
from shared.services.queries import NotFound
from shared.services.reconcile import reconcile
from tests.unit.fakes import FakeCluster, FakeJobs, FakeMailer, FakePublisher, FakeQuotas
from tests.unit.test_services import FLOW, SLURM_ID, Completion, Dispatch, queued_job


def _stale(run: Completion, minutes: int = 10) -> None:
    """Make the job's last change `minutes` old, as if its end report was lost."""
    at = run.clock() - timedelta(minutes=minutes)
    job = replace(run.job, history=(*run.job.history, StateChange(run.job.state, at)))
    run.jobs.mutate(job.id, lambda _: job)


def test_a_job_cancelled_while_pending_is_finished_by_the_reconciler():
    run = Completion(JobState.SUBMITTED)
    _stale(run)
    run.cluster.states[SLURM_ID] = ["CANCELLED"]  # no epilog runs for a pending cancel
    report = reconcile(run.deps, run.clock, quiet_for_s=60)
    assert report.repaired == {run.job.id: "CANCELLED"}
    assert run.jobs.get(run.job.id).state is JobState.CANCELLED
    assert run.cluster.status_calls[0] == [SLURM_ID]  # one batched query
    assert len(run.mailer.sent) == 1


def test_a_job_whose_repair_fails_does_not_hold_up_the_others():
    run = Completion(JobState.RUNNING)
    _stale(run)
    run.put_manifest({"flow_exit_code": 0, "stages": [], "files": []})
    run.cluster.states[SLURM_ID] = ["COMPLETED"]
    broken = replace(run.jobs.get(run.job.id), id="j" + "f" * 19, slurm_job_id="4343", results_prefix="elsewhere/")
    run.jobs.create(broken)
    run.cluster.states["4343"] = ["COMPLETED"]
    read_text = run.store.read_text

    def failing_read(bucket: str, name: str, max_bytes: int = 1 << 20) -> str | None:
        if name.startswith("elsewhere/"):
            raise RuntimeError("the results bucket answered 500")
        return read_text(bucket, name, max_bytes)

    run.store.read_text = failing_read  # type: ignore[method-assign]
    report = reconcile(run.deps, run.clock, quiet_for_s=60)
    assert report.failed == [broken.id]
    assert report.repaired == {run.job.id: "SUCCEEDED"}
    assert run.jobs.get(run.job.id).state is JobState.SUCCEEDED
    assert run.jobs.get(broken.id).state is JobState.RUNNING  # tried again on the next tick


def test_a_lost_success_callback_is_repaired_from_the_manifest():
    run = Completion(JobState.RUNNING)
    _stale(run)
    run.put_manifest({"flow_exit_code": 0, "stages": [], "files": []})
    run.cluster.states[SLURM_ID] = ["COMPLETED"]
    reconcile(run.deps, run.clock, quiet_for_s=60)
    assert run.jobs.get(run.job.id).state is JobState.SUCCEEDED


def test_running_and_recent_jobs_are_left_alone():
    run = Completion(JobState.RUNNING)
    _stale(run)
    run.cluster.states[SLURM_ID] = ["RUNNING"]
    assert reconcile(run.deps, run.clock, quiet_for_s=60).repaired == {}
    fresh = Completion(JobState.RUNNING)
    fresh.cluster.states[SLURM_ID] = ["COMPLETED"]
    assert reconcile(fresh.deps, fresh.clock, quiet_for_s=10**9).checked == 0
    assert fresh.cluster.status_calls == []


def test_a_lost_end_behind_more_than_a_pass_of_quieter_pending_jobs_is_repaired_reading_only_it_whole():
    run = Completion(JobState.RUNNING)
    _stale(run, minutes=10)
    run.put_manifest({"flow_exit_code": 0, "stages": [], "files": []})
    run.cluster.states[SLURM_ID] = ["COMPLETED"]
    waited_since = run.clock() - timedelta(minutes=30)  # in Slurm's queue since before the lost run last changed
    for i in range(150):
        pending = replace(
            run.job,
            id=f"j{i:019x}",
            state=JobState.SUBMITTED,
            slurm_job_id=str(5000 + i),
            history=(StateChange(JobState.SUBMITTED, waited_since),),
        )
        run.jobs.create(pending)
        run.cluster.states[pending.slurm_job_id] = ["PENDING"]
    read_whole: list[str] = []
    get_many = run.jobs.get_many

    def recording_get_many(job_ids):
        read_whole.extend(job_ids)
        return get_many(job_ids)

    run.jobs.get_many = recording_get_many  # type: ignore[method-assign]
    report = reconcile(run.deps, run.clock, quiet_for_s=60, max_jobs=100)
    assert report.repaired == {run.job.id: "SUCCEEDED"}
    assert (report.checked, report.due, read_whole) == (151, 1, [run.job.id])
    assert len(run.cluster.status_calls) == 1  # all 151 in one query


def test_a_run_slurm_ended_moments_ago_is_left_to_its_end_report_and_repaired_once_that_is_late():
    run = Completion(JobState.RUNNING)
    started = run.clock() - timedelta(minutes=10)
    job = replace(run.job, history=(*run.job.history, StateChange(JobState.RUNNING, started)))
    run.jobs.mutate(job.id, lambda _: job)
    run.put_manifest({"flow_exit_code": 0, "stages": [], "files": []})
    run.cluster.states[SLURM_ID] = ["COMPLETED"]
    ran_for = {"s": 600.0 - 10}  # Slurm says the run ended 10 s ago: its epilog's report is on the way
    status = run.cluster.status

    def with_run_time(slurm_job_ids):
        return {i: replace(s, elapsed_s=ran_for["s"]) for i, s in status(slurm_job_ids).items()}

    run.cluster.status = with_run_time  # type: ignore[method-assign]
    report = reconcile(run.deps, run.clock, quiet_for_s=60)
    assert (report.checked, report.due, report.repaired) == (1, 0, {})
    assert run.jobs.get(run.job.id).state is JobState.RUNNING

    ran_for["s"] = 600.0 - 61  # ended longer ago than a quiet job is given for news, and still not reported: lost
    assert reconcile(run.deps, run.clock, quiet_for_s=60).repaired == {run.job.id: "SUCCEEDED"}


def test_a_job_whose_report_came_while_slurm_was_asked_is_left_as_reported():
    run = Completion(JobState.RUNNING)
    _stale(run)
    run.cluster.states[SLURM_ID] = ["COMPLETED"]
    status = run.cluster.status

    def report_arrives_meanwhile(slurm_job_ids):
        run.jobs.mutate(run.job.id, lambda job: replace(job, state=JobState.SUCCEEDED))
        return status(slurm_job_ids)

    run.cluster.status = report_arrives_meanwhile  # type: ignore[method-assign]
    report = reconcile(run.deps, run.clock, quiet_for_s=60)
    assert (report.due, report.repaired) == (1, {})
    assert run.mailer.sent == []


def test_a_job_slurm_forgot_without_manifest_fails_with_a_reason():
    run = Completion(JobState.RUNNING)
    _stale(run)
    reconcile(run.deps, run.clock, quiet_for_s=60)
    job = run.jobs.get(run.job.id)
    assert job.state is JobState.FAILED and "manifest" in job.reason


def test_a_run_slurm_holds_after_a_failed_launch_is_released_and_later_given_up():
    run = Completion(JobState.SUBMITTED)
    _stale(run)
    run.cluster.held[SLURM_ID] = 1  # slurmd could not confirm the launch in time; Slurm requeued the job held
    report = reconcile(run.deps, run.clock, quiet_for_s=60)
    assert (report.released, report.repaired, run.cluster.cancelled) == ([SLURM_ID], {}, [])
    assert run.jobs.get(run.job.id).state is JobState.SUBMITTED

    run.cluster.released.clear()
    run.cluster.held[SLURM_ID] = MAX_LAUNCHES  # it failed to launch every time it was released
    report = reconcile(run.deps, run.clock, quiet_for_s=60)
    assert (report.released, run.cluster.cancelled) == ([], [SLURM_ID])
    job = run.jobs.get(run.job.id)
    assert job.state is JobState.FAILED
    assert (
        job.reason
        == f"the cluster could not start the run on a compute node ({MAX_LAUNCHES} tries); upload again to retry"
    )
    assert len(run.mailer.sent) == 1


def test_slurms_record_of_a_job_held_after_a_failed_launch_is_read():
    line = (
        "JobId=41 JobName=olc-j0 UserId=olc(1001) JobState=PENDING Reason=launch_failed_requeued_held "
        "Dependency=(null) Requeue=1 Restarts=2 BatchFlag=1 ExitCode=0:0 RunTime=00:00:00 NumCPUs=1"
    )
    status = parse_status_output(line)["41"]
    assert status.held_after_failed_launch and status.restarts == 2
    assert to_release([status]) == ["41"] and given_up(status) is status
    assert not parse_status_output(line.replace("launch_failed_requeued_held", "JobHeldUser"))[
        "41"
    ].held_after_failed_launch
    assert release_script(["41", "42"]) == "scontrol release 41 42\n"
    with pytest.raises(ValueError):
        release_script(["41; reboot"])


def _stale_sweep(run: Completion, periods: list[int]) -> None:
    """The run's job as a sweep of CLOCK_PERIOD (one Slurm array, SLURM_ID) that has been quiet for ten minutes."""
    assert run.job.design is not None
    sweep = parse_sweep(
        {"parameters": {"CLOCK_PERIOD": periods}},
        sweepable=sweepable_parameters(FLOW),
        max_runs_allowed=10,
        seed=run.job.id,
        check_value=schema_check,
    )
    run.job = replace(run.job, design=replace(run.job.design, sweep=sweep), array_throttle=2)
    run.jobs.mutate(run.job.id, lambda _: run.job)
    _stale(run)


def _put_run_manifest(run: Completion, index: int, exit_code: int) -> None:
    manifest = {"flow_exit_code": exit_code, "stages": [], "files": [], "run_index": index}
    run.store.put("results", f"{run.job.results_prefix}runs/{index}/manifest.json", json.dumps(manifest))


def _task(index: int | None, state: str) -> SlurmJobStatus:
    task_id = SLURM_ID if index is None else str(int(SLURM_ID) + 1 + index)
    return SlurmJobStatus(task_id, state, array_task_id=index, array_job_id=SLURM_ID)


def test_sweep_runs_whose_end_reports_were_lost_are_ended_and_the_sweep_with_them():
    run = Completion(JobState.RUNNING)
    _stale_sweep(run, [5, 6, 7])
    _put_run_manifest(run, 0, 0)
    _put_run_manifest(run, 1, 2)
    run.cluster.arrays[SLURM_ID] = [_task(0, "COMPLETED"), _task(1, "FAILED"), _task(2, "RUNNING")]
    report = reconcile(run.deps, run.clock, quiet_for_s=60)
    assert report.repaired == {run.job.id: "run 0: run 0 SUCCEEDED; run 1: run 1 FAILED"}
    job = run.jobs.get(run.job.id)
    assert [r.state for r in job.runs] == ["SUCCEEDED", "FAILED", "PENDING"]
    assert [r.slurm_job_id for r in job.runs[:2]] == [str(int(SLURM_ID) + 1), str(int(SLURM_ID) + 2)]
    assert job.state is JobState.RUNNING and run.mailer.sent == []  # run 2 is still running
    assert reconcile(run.deps, run.clock, quiet_for_s=60).repaired == {}  # nothing new: nothing done

    # Run 2 ends and Slurm forgets the whole array before anyone reports: its manifest decides, and the sweep ends.
    _put_run_manifest(run, 2, 0)
    run.cluster.arrays[SLURM_ID] = []
    assert reconcile(run.deps, run.clock, quiet_for_s=60).repaired == {run.job.id: "run 2: SUCCEEDED"}
    job = run.jobs.get(run.job.id)
    assert job.state is JobState.SUCCEEDED and job.reason.startswith("3 runs: 2 succeeded, 1 failed")
    assert run.store.read_text("results", f"{run.job.results_prefix}sweep/comparison.csv")
    assert len(run.mailer.sent) == 1


def test_a_sweep_run_held_after_failed_launches_is_released_then_given_up_as_a_failed_run():
    run = Completion(JobState.RUNNING)
    _stale_sweep(run, [5, 6])
    held = replace(_task(1, "PENDING"), reason=LAUNCH_FAILED_HELD, restarts=1)
    run.cluster.arrays[SLURM_ID] = [_task(0, "RUNNING"), held]
    report = reconcile(run.deps, run.clock, quiet_for_s=60)
    assert (report.released, report.repaired, run.cluster.cancelled) == ([held.slurm_job_id], {}, [])

    run.cluster.arrays[SLURM_ID] = [_task(0, "RUNNING"), replace(held, restarts=MAX_LAUNCHES)]
    report = reconcile(run.deps, run.clock, quiet_for_s=60)
    assert (report.released, run.cluster.cancelled) == ([], [held.slurm_job_id])
    job = run.jobs.get(run.job.id)
    assert [r.state for r in job.runs][1] == "FAILED" and job.state is JobState.RUNNING  # run 0 still runs


def test_a_sweep_with_runs_waiting_behind_its_throttle_is_left_alone():
    run = Completion(JobState.RUNNING)
    _stale_sweep(run, [5, 6, 7])
    run.cluster.arrays[SLURM_ID] = [_task(None, "PENDING"), _task(0, "RUNNING"), _task(1, "COMPLETING")]
    assert reconcile(run.deps, run.clock, quiet_for_s=60).repaired == {}
    assert [r.state for r in run.jobs.get(run.job.id).runs] in ([], ["PENDING"] * 3)


def test_a_sweep_whose_runs_all_ended_but_which_was_never_closed_is_closed():
    """The hook recorded the last run's end and died before writing the summary and ending the job."""
    run = Completion(JobState.RUNNING)
    _stale_sweep(run, [5, 6])
    for index in (0, 1):
        _put_run_manifest(run, index, 0)
        run.jobs.mutate(
            run.job.id, lambda j, i=index: sweep_runs.record_run_end(j, i, "SUCCEEDED", None, None, f"90{i}")
        )
    run.job = run.jobs.get(run.job.id)
    _stale(run)
    assert reconcile(run.deps, run.clock, quiet_for_s=60).repaired == {run.job.id: "SUCCEEDED"}
    assert run.cluster.status_calls == [[SLURM_ID]]
    assert run.jobs.get(run.job.id).state is JobState.SUCCEEDED


def _cancel_deps(jobs: FakeJobs, publisher: FakePublisher, mailer: FakeMailer) -> CancelDeps:
    return CancelDeps(jobs, publisher, "olc-jobs", FakeQuotas(), Notifier(jobs, mailer, "results"))


def test_cancel_while_queued_ends_at_once_and_mails():
    job = queued_job(1)
    jobs, publisher, mailer = FakeJobs(job), FakePublisher(), FakeMailer()
    result = cancel_job(_cancel_deps(jobs, publisher, mailer), job.owner, job.id, lambda: job.created_at)
    assert result.state == "CANCELLED" and jobs.get(job.id).state is JobState.CANCELLED
    assert publisher.kinds() == [] and len(mailer.sent) == 1


def test_cancel_while_in_slurm_asks_the_dispatcher_to_scancel_and_waits_for_slurm():
    job = replace(queued_job(1), state=JobState.RUNNING, slurm_job_id="77")
    jobs, publisher, mailer = FakeJobs(job), FakePublisher(), FakeMailer()
    result = cancel_job(_cancel_deps(jobs, publisher, mailer), job.owner, job.id, lambda: job.created_at)
    assert publisher.kinds() == ["cancel"]
    assert result.state == "RUNNING" and "stopping" in result.message
    assert jobs.get(job.id).state is JobState.RUNNING  # CANCELLED only when Slurm confirms
    cluster = FakeCluster()
    assert stop_in_slurm(jobs, cluster, job.id) is True
    assert cluster.cancelled == ["77"]
    jobs.mutate(job.id, lambda j: replace(j, state=JobState.CANCELLED))
    assert stop_in_slurm(jobs, cluster, job.id) is False  # a late or repeated request does nothing


def test_cancel_is_idempotent_on_a_finished_job_and_refused_to_strangers():
    job = replace(queued_job(1), state=JobState.SUCCEEDED)
    jobs, publisher, mailer = FakeJobs(job), FakePublisher(), FakeMailer()
    deps = _cancel_deps(jobs, publisher, mailer)
    result = cancel_job(deps, job.owner, job.id, lambda: job.created_at)
    assert "already ended as SUCCEEDED" in result.message and publisher.kinds() == []
    with pytest.raises(NotFound):
        cancel_job(deps, "mallory@example.com", job.id, lambda: job.created_at)


def test_a_job_cancelled_while_being_submitted_is_scancelled():
    job = queued_job(1)
    run = Dispatch(job, concurrency=1)
    original_submit = run.cluster.submit

    def submit_then_owner_cancels(submissions):
        result = original_submit(submissions)
        cancel_job(_cancel_deps(run.jobs, FakePublisher(), run.mailer), job.owner, job.id, run.clock)
        return result

    run.cluster.submit = submit_then_owner_cancels
    run.run()
    stored = run.jobs.get(job.id)
    assert stored.state is JobState.CANCELLED
    assert run.cluster.cancelled == [stored.slurm_job_id]


def test_an_unreachable_cluster_keeps_jobs_queued_with_the_reason_then_fails_them():

    from shared.ports import ClusterError

    job = queued_job(1)
    run = Dispatch(job, concurrency=1)

    def unreachable(_submissions):
        raise ClusterError("cannot SSH to olc@login:22: Connection refused")

    run.cluster.submit = unreachable
    with pytest.raises(ClusterError):
        run.run()
    waiting = run.jobs.get(job.id)
    assert waiting.state is JobState.QUEUED and "Connection refused" in waiting.last_error
    run.clock.advance(31 * 60)
    with pytest.raises(ClusterError):
        run.run()
    failed = run.jobs.get(job.id)
    assert failed.state is JobState.FAILED and "could not be reached for 30 min" in failed.reason
