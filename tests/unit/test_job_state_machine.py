"""The job's forward-only state machine: events arrive at least once and out of order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.job import (
    LOG_TAIL_CHARS,
    LOG_TAIL_LINES,
    MAX_STAGE_MARKS,
    TERMINAL_STATES,
    InvalidTransition,
    Job,
    JobState,
    Phase,
    SourceObject,
    StageMark,
    advance,
    clean_log_tail,
    new_job,
    phases_made_of,
    record_stage,
    record_submission,
)

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
SOURCE = SourceObject("designs", "ada@example.com/spm.tar.gz", 1700000000000001)
ENDINGS = sorted(TERMINAL_STATES - {JobState.REJECTED})


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def queued() -> Job:
    return new_job(job_id="j0123456789abcdef012", owner="ada@example.com", source=SOURCE, at=T0)


def walk(*states: JobState) -> Job:
    job = queued()
    for minute, state in enumerate(states, start=1):
        moved = advance(job, state, at(minute))
        assert moved is not None, f"{job.state} -> {state} should move forward"
        job = moved
    return job


# ------------------------------------------------------------------------------------------------ new_job
def test_new_job_is_queued_with_one_history_entry() -> None:
    job = queued()
    assert job.state is JobState.QUEUED
    assert [(c.state, c.at) for c in job.history] == [(JobState.QUEUED, T0)]
    assert job.reason is None


def test_new_job_with_a_reason_is_rejected_and_final() -> None:
    job = new_job(job_id="j0", owner="", source=SOURCE, at=T0, rejected_reason="not an archive")
    assert job.state is JobState.REJECTED
    assert job.reason == "not an archive"
    assert job.history[0].reason == "not an archive"
    assert all(advance(job, s, at(1)) is None for s in JobState)


# ------------------------------------------------------------------------------------------------ advance
def test_advance_moves_forward_and_records_when() -> None:
    job = walk(JobState.SUBMITTED, JobState.RUNNING, JobState.SUCCEEDED)
    assert job.state is JobState.SUCCEEDED
    assert [c.state for c in job.history] == [
        JobState.QUEUED,
        JobState.SUBMITTED,
        JobState.RUNNING,
        JobState.SUCCEEDED,
    ]
    assert job.entered_at(JobState.QUEUED) == T0
    assert job.entered_at(JobState.SUBMITTED) == at(1)
    assert job.entered_at(JobState.RUNNING) == at(2)
    assert job.entered_at(JobState.SUCCEEDED) == at(3)
    assert job.entered_at(JobState.FAILED) is None


def test_advance_may_skip_states() -> None:
    job = walk(JobState.RUNNING)
    assert job.entered_at(JobState.SUBMITTED) is None
    assert walk(JobState.FAILED).state is JobState.FAILED


@pytest.mark.parametrize(
    ("path", "late"),
    [
        ((JobState.SUBMITTED,), JobState.SUBMITTED),
        ((JobState.SUBMITTED,), JobState.QUEUED),
        ((JobState.RUNNING,), JobState.SUBMITTED),
        ((JobState.RUNNING,), JobState.RUNNING),
    ],
)
def test_duplicate_or_late_events_are_no_ops(path: tuple[JobState, ...], late: JobState) -> None:
    assert advance(walk(*path), late, at(10)) is None


@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize("later", list(JobState))
def test_a_terminal_state_is_final(ending: JobState, later: JobState) -> None:
    assert advance(walk(JobState.RUNNING, ending), later, at(10), "too late") is None


def test_advance_keeps_the_reason_and_applies_details() -> None:
    failed = advance(walk(JobState.RUNNING), JobState.FAILED, at(5), "flow failed", stage="routing")
    assert failed is not None
    assert (failed.reason, failed.stage) == ("flow failed", "routing")
    assert failed.history[-1].reason == "flow failed"
    # A move without a reason keeps the earlier one instead of wiping it.
    job = new_job(job_id="j0", owner="o", source=SOURCE, at=T0)
    job = advance(job, JobState.SUBMITTED, at(1), "sbatch accepted") or job
    running = advance(job, JobState.RUNNING, at(2))
    assert running is not None and running.reason == "sbatch accepted"


@pytest.mark.parametrize("started", [JobState.SUBMITTED, JobState.RUNNING])
def test_a_job_that_has_started_cannot_be_rejected(started: JobState) -> None:
    with pytest.raises(InvalidTransition):
        advance(walk(started), JobState.REJECTED, at(5), "no")


def test_a_queued_job_can_still_be_rejected() -> None:
    job = advance(queued(), JobState.REJECTED, at(1), "over quota")
    assert job is not None
    assert (job.state, job.reason, job.entered_at(JobState.REJECTED)) == (JobState.REJECTED, "over quota", at(1))


def test_advance_does_not_modify_the_original() -> None:
    job = queued()
    advance(job, JobState.SUBMITTED, at(1))
    assert job.state is JobState.QUEUED and len(job.history) == 1


# -------------------------------------------------------------------------------------- record_submission
def test_record_submission_moves_queued_to_submitted_with_the_slurm_id() -> None:
    job = record_submission(queued(), "4242", at(1))
    assert job is not None
    assert (job.state, job.slurm_job_id) == (JobState.SUBMITTED, "4242")
    assert job.entered_at(JobState.SUBMITTED) == at(1)


def test_record_submission_twice_is_a_no_op() -> None:
    job = record_submission(queued(), "4242", at(1))
    assert job is not None
    assert record_submission(job, "4242", at(2)) is None


def test_record_submission_after_the_run_reported_running_keeps_running() -> None:
    running = record_stage(queued(), "synthesis", at(1))
    assert running is not None and running.state is JobState.RUNNING
    job = record_submission(running, "4242", at(2))
    assert job is not None
    assert (job.state, job.stage, job.slurm_job_id) == (JobState.RUNNING, "synthesis", "4242")
    assert job.history == running.history  # no SUBMITTED entry after RUNNING


@pytest.mark.parametrize("ending", ENDINGS)
def test_record_submission_after_the_run_ended_keeps_the_end_and_fills_the_id(ending: JobState) -> None:
    ended = walk(ending)
    job = record_submission(ended, "4242", at(5))
    assert job is not None
    assert (job.state, job.slurm_job_id) == (ending, "4242")
    assert job.history == ended.history


# ------------------------------------------------------------------------------------------- record_stage
def test_record_stage_moves_to_running_and_sets_the_stage() -> None:
    submitted = record_submission(queued(), "7", at(1))
    assert submitted is not None
    job = record_stage(submitted, "placement", at(2))
    assert job is not None
    assert (job.state, job.stage) == (JobState.RUNNING, "placement")
    assert job.entered_at(JobState.RUNNING) == at(2)
    later = record_stage(job, "routing", at(3))
    assert later is not None
    assert (later.stage, later.entered_at(JobState.RUNNING)) == ("routing", at(2))


def test_record_stage_repeated_is_a_no_op() -> None:
    job = record_stage(queued(), "routing", at(1))
    assert job is not None
    assert record_stage(job, "routing", at(2)) is None


def test_record_stage_fills_a_missing_slurm_id_but_never_replaces_one() -> None:
    job = record_stage(queued(), "synthesis", at(1), slurm_job_id="55")
    assert job is not None and job.slurm_job_id == "55"
    again = record_stage(job, "routing", at(2), slurm_job_id="99")
    assert again is not None and again.slurm_job_id == "55"


@pytest.mark.parametrize("ending", ENDINGS)
def test_record_stage_after_the_end_is_ignored(ending: JobState) -> None:
    assert record_stage(walk(JobState.RUNNING, ending), "routing", at(9)) is None


def test_each_new_stage_gets_a_mark_and_repeats_do_not() -> None:
    job = queued()
    for minute, stage in enumerate(["fetching design", "synthesis", "synthesis", "routing", "routing"], start=1):
        job = record_stage(job, stage, at(minute)) or job
    assert job.stages == (
        StageMark("fetching design", at(1)),
        StageMark("synthesis", at(2)),
        StageMark("routing", at(4)),
    )
    assert job.stage == "routing"


def test_heartbeats_refresh_the_log_tail_and_a_new_stage_starts_without_one() -> None:
    job = record_stage(queued(), "routing", at(1))
    assert job is not None and job.log_tail is None
    beat = record_stage(job, "routing", at(2), log_tail="pass 1\npass 2")
    assert beat is not None and beat.log_tail == "pass 1\npass 2"
    assert beat.stages == job.stages
    # A report without a tail keeps the last one; the same tail again changes nothing.
    assert record_stage(beat, "routing", at(3)) is None
    assert record_stage(beat, "routing", at(3), log_tail="pass 1\npass 2") is None
    following = record_stage(beat, "drc", at(4))
    assert following is not None and following.log_tail is None
    assert [m.name for m in following.stages] == ["routing", "drc"]


def test_stage_marks_are_bounded() -> None:
    job = queued()
    for minute in range(MAX_STAGE_MARKS + 10):
        job = record_stage(job, f"stage {minute}", at(minute)) or job
    assert len(job.stages) == MAX_STAGE_MARKS
    assert job.stage == f"stage {MAX_STAGE_MARKS + 9}"


def test_the_log_tail_keeps_the_last_lines_within_the_bounds() -> None:
    text = "".join(f"line {i}\n" for i in range(100))
    assert clean_log_tail(text) == "\n".join(f"line {i}" for i in range(100 - LOG_TAIL_LINES, 100))
    long_lines = "\n".join(f"{i:03d}" + "y" * 300 for i in range(30))
    tail = clean_log_tail(long_lines)
    assert tail is not None and len(tail) <= LOG_TAIL_CHARS
    assert tail.endswith("029" + "y" * 300) and tail.startswith("0")  # whole lines only
    assert clean_log_tail("x" * 10_000) == "x" * LOG_TAIL_CHARS  # one line: cut, not dropped


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("\x1b[1;31mERROR\x1b[0m: congestion\r\n", "ERROR: congestion"),
        ("progress 10%\rprogress 100%\n", "progress 10%\nprogress 100%"),
        ("a\x00b\x07c\x08d\x7fe\x9bf\tg", "abcdef    g"),
        ("<script>alert(1)</script>", "<script>alert(1)</script>"),  # text, escaped where it is shown
        ("\n\n  \n", None),
        ("", None),
        (None, None),
        (42, None),
    ],
)
def test_the_log_tail_is_cleaned_of_control_characters(raw: object, clean: str | None) -> None:
    assert clean_log_tail(raw) == clean


# ------------------------------------------------------------------------------------------- property
EVENTS = st.one_of(
    st.tuples(st.just("advance"), st.sampled_from(list(JobState))),
    st.tuples(st.just("submitted"), st.sampled_from(["101", "102"])),
    st.tuples(st.just("stage"), st.sampled_from(["synthesis", "routing"])),
)


def apply(job: Job, event: tuple[str, object], when: datetime) -> Job:
    kind, value = event
    if kind == "advance":
        assert isinstance(value, JobState)
        try:
            moved = advance(job, value, when, f"to {value}")
        except InvalidTransition:
            assert value is JobState.REJECTED and job.state is not JobState.QUEUED
            moved = None
    elif kind == "submitted":
        moved = record_submission(job, str(value), when)
    else:
        moved = record_stage(job, str(value), when)
    return moved or job


@settings(max_examples=300, deadline=None)
@given(st.lists(EVENTS, max_size=12), st.randoms(use_true_random=False))
def test_no_order_of_events_moves_a_job_backwards_or_out_of_a_terminal_state(events, rng) -> None:
    rng.shuffle(events)
    job = queued()
    first_terminal: JobState | None = None
    for minute, event in enumerate(events, start=1):
        before = job
        job = apply(job, event, at(minute))
        assert job.state.rank >= before.state.rank
        if before.state.is_terminal:
            assert job.state is before.state
            assert job.history == before.history
        if first_terminal is None and job.state.is_terminal:
            first_terminal = job.state
        # History grows by exactly one entry per state change, and only forward.
        assert len(job.history) == len(before.history) + (job.state is not before.state)
    ranks = [c.state.rank for c in job.history]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks)
    assert job.history[-1].state is job.state
    assert [c.at for c in job.history] == sorted(c.at for c in job.history)
    if first_terminal is not None:
        assert job.state is first_terminal


def test_each_state_is_in_one_phase_and_a_phase_moves_only_forward() -> None:
    assert {s: s.phase for s in JobState if s.phase is not Phase.ENDED} == {
        JobState.FETCHING: Phase.WAITING,
        JobState.QUEUED: Phase.WAITING,
        JobState.SUBMITTED: Phase.ACTIVE,
        JobState.RUNNING: Phase.ACTIVE,
    }
    assert {s for s in JobState if s.phase is Phase.ENDED} == TERMINAL_STATES
    order = list(Phase)
    assert all(order.index(a.phase) <= order.index(b.phase) for a in JobState for b in JobState if a.rank < b.rank)


def test_states_that_make_whole_phases_are_asked_for_by_phase_and_others_are_not() -> None:
    not_ended = [JobState.RUNNING, JobState.FETCHING, JobState.SUBMITTED, JobState.QUEUED]
    assert phases_made_of(not_ended) == (Phase.WAITING, Phase.ACTIVE)
    assert phases_made_of([JobState.SUBMITTED, JobState.RUNNING]) == (Phase.ACTIVE,)
    assert phases_made_of(TERMINAL_STATES) == (Phase.ENDED,)
    assert phases_made_of([JobState.QUEUED]) is None  # half of "waiting": FETCHING would come along
    assert phases_made_of([JobState.SUBMITTED, JobState.RUNNING, JobState.SUCCEEDED]) is None
    assert phases_made_of([]) is None
