"""The job: one design upload and its single run, with a forward-only state machine.

States only move forward (QUEUED < SUBMITTED < RUNNING < terminal). Events arrive at least once and out of order,
so a transition to a state at or below the current one is a no-op rather than an error, and a terminal state is final.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from shared.domain.design import DesignSpec, Resources
from shared.domain.metrics import Metrics


class JobState(enum.StrEnum):
    FETCHING = "FETCHING"  # a git submission whose design is being fetched; an upload starts QUEUED
    QUEUED = "QUEUED"
    SUBMITTED = "SUBMITTED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"
    REJECTED = "REJECTED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def phase(self) -> Phase:
        return _PHASE[self]


class Phase(enum.StrEnum):
    """Where a job is on its way, coarser than its state: what the readers of many jobs at once ask for."""

    WAITING = "waiting"  # FETCHING, QUEUED: not in Slurm yet
    ACTIVE = "active"  # SUBMITTED, RUNNING: in Slurm, holding or waiting for its slots
    ENDED = "ended"  # a terminal state


TERMINAL_STATES = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.TIMEOUT, JobState.REJECTED}
)
ACTIVE_STATES = (JobState.SUBMITTED, JobState.RUNNING)
_PHASE = {
    JobState.FETCHING: Phase.WAITING,
    JobState.QUEUED: Phase.WAITING,
    **dict.fromkeys(ACTIVE_STATES, Phase.ACTIVE),
    **dict.fromkeys(TERMINAL_STATES, Phase.ENDED),
}


def phases_made_of(states: Iterable[JobState]) -> tuple[Phase, ...] | None:
    """The phases whose states are exactly `states` (in Phase order), or None when `states` splits a phase."""
    wanted = set(states)
    phases = tuple(p for p in Phase if any(s.phase is p for s in wanted))
    covered = {s for s in JobState if s.phase in phases}
    return phases if phases and covered == wanted else None


_RANK = {
    JobState.FETCHING: 0,
    JobState.QUEUED: 1,
    JobState.SUBMITTED: 2,
    JobState.RUNNING: 3,
    **dict.fromkeys(TERMINAL_STATES, 4),
}


@dataclass(frozen=True)
class SourceObject:
    """The uploaded archive: (bucket, name, generation) identifies one upload."""

    bucket: str
    name: str
    generation: int
    size: int | None = None

    @property
    def uri(self) -> str:
        return f"gs://{self.bucket}/{self.name}#{self.generation}"


@dataclass(frozen=True)
class GitOrigin:
    """Where a git-submitted design came from: the URL, the ref asked for and the design folder, and once fetched
    the commit it resolved to. `registration` names the repository registration whose push started the job."""

    url: str
    ref: str
    path: str = ""
    commit: str | None = None
    registration: str | None = None


@dataclass(frozen=True)
class StateChange:
    state: JobState
    at: datetime
    reason: str | None = None


@dataclass(frozen=True)
class StageMark:
    """The run entered flow stage `name` at `at` (as the completion hook received the report). Inside a flow that
    runs many steps in one stage (OpenLane), each step is a mark of its own: `step` of `steps` (None: unknown), and
    `at` is when the run saw the step start."""

    name: str
    at: datetime
    step: int | None = None
    steps: int | None = None

    def describe(self) -> str:
        """ "step 7 of 10: Yosys.Synthesis", or the stage's name."""
        if self.step is None:
            return self.name
        of = f" of {self.steps}" if self.steps else ""
        return f"step {self.step}{of}: {self.name}"


# A live view, not the log: the whole logs are uploaded with the results.
LOG_TAIL_LINES = 40
LOG_TAIL_CHARS = 4000
# A few stages, or LibreLane's Classic flow's 80 steps; the bound keeps a misbehaving run from growing the document.
MAX_STAGE_MARKS = 128
MAX_STEP_NUMBER = 10_000
# Terminal colour codes first (removing only their ESC would leave "[0m" behind), then the other control
# characters but the line break: the tail is shown on web pages and in e-mails as plain text.
_ANSI_SEQUENCE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class RunProgress:
    """One run of a design-space sweep (one Slurm array task): its own state, stage and outcome."""

    index: int
    state: str = "PENDING"  # PENDING, RUNNING, then SUCCEEDED, FAILED, CANCELLED or TIMEOUT
    stage: str | None = None
    slurm_job_id: str | None = None
    metrics: Metrics | None = None
    error: str | None = None
    # The run's quick links (layout, netlist, ...) as its end recorded them, so closing the sweep need not read the
    # best run's manifest again.
    links: Mapping[str, str] = field(default_factory=dict)

    @property
    def ended(self) -> bool:
        return self.state in RUN_END_STATES


RUN_END_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "TIMEOUT"})


@dataclass(frozen=True)
class Job:
    id: str
    owner: str
    source: SourceObject
    state: JobState
    created_at: datetime
    history: tuple[StateChange, ...] = ()
    design_name: str | None = None
    flow: str | None = None
    design_root: str = ""
    design: DesignSpec | None = None
    resources: Resources = field(default_factory=Resources)
    notifications_enabled: bool = True
    slurm_job_id: str | None = None
    stage: str | None = None
    stages: tuple[StageMark, ...] = ()  # every stage the run entered, in order
    log_tail: str | None = None  # the last lines of the running stage's log; at the end, of the last stage run
    reason: str | None = None
    error_excerpt: str | None = None
    # What a user should know about a finished run although it succeeded (a step that measured nothing).
    warnings: tuple[str, ...] = ()
    metrics: Metrics | None = None
    results_prefix: str | None = None
    artifacts: dict[str, str] = field(default_factory=dict)
    flow_runtime_s: float | None = None
    cluster_ended_at: datetime | None = None  # when the epilog reported the end, for latency figures
    queue_position: int | None = None  # 1-based place in the fair order while QUEUED
    estimated_start_at: datetime | None = None
    core_hours: float | None = None  # what the run used: Slurm's elapsed time x CPUs
    last_error: str | None = None  # why submission keeps failing (cluster unreachable), shown while QUEUED
    submit_failing_since: datetime | None = None
    notified: tuple[str, ...] = ()
    runs: tuple[RunProgress, ...] = ()  # a sweep's runs, by array task id; empty for a single run
    array_throttle: int | None = None  # a sweep's most runs at once (Slurm --array ...%K), fixed at admission
    arrays: tuple[str, ...] = ()  # the Slurm ids of a search's arrays, one per batch submitted (slurm_job_id: the last)
    git: GitOrigin | None = None  # set for a design submitted from a git repository
    # What determines the result (shared/domain/content_key.py); a SUCCEEDED job with the same key can be reused.
    content_key: str | None = None
    reused_from: str | None = None  # the job whose results this one reused instead of running
    parent_job: str | None = None  # the job this one reruns (with changes)
    reuse_allowed: bool = True  # False: the user asked for a run even if one with the same inputs succeeded
    # Signed cluster calls accepted for this job lately (callback_auth.with_receipt), so none is accepted twice.
    call_receipts: dict[str, float] = field(default_factory=dict)

    @property
    def is_sweep(self) -> bool:
        return self.design is not None and self.design.sweep is not None

    @property
    def changed_at(self) -> datetime:
        """When its state last changed (stored as the document's `updated_at`, which queries order by)."""
        return self.history[-1].at if self.history else self.created_at

    def entered_at(self, state: JobState) -> datetime | None:
        for change in self.history:
            if change.state is state:
                return change.at
        return None


class InvalidTransition(ValueError):
    pass


def new_job(
    *,
    job_id: str,
    owner: str,
    source: SourceObject,
    at: datetime,
    rejected_reason: str | None = None,
    **details: Any,
) -> Job:
    """A job as ingest records it: QUEUED, or REJECTED with the reason when the upload is unusable."""
    state = JobState.REJECTED if rejected_reason else JobState.QUEUED
    return Job(
        id=job_id,
        owner=owner,
        source=source,
        state=state,
        created_at=at,
        history=(StateChange(state, at, rejected_reason),),
        reason=rejected_reason,
        **details,
    )


def advance(job: Job, to: JobState, at: datetime, reason: str | None = None, **details: Any) -> Job | None:
    """`job` moved to state `to`, or None when that would not move it forward (duplicate or late event)."""
    if job.state.is_terminal or to.rank <= job.state.rank:
        return None
    if to is JobState.REJECTED and job.state not in (JobState.FETCHING, JobState.QUEUED):
        raise InvalidTransition(f"job {job.id}: only a job that has not started can be rejected")
    history = (*job.history, StateChange(to, at, reason))
    # Leaving the queue (every transition does) ends the queue position and estimate.
    details = {"queue_position": None, "estimated_start_at": None, **details}
    return replace(job, state=to, history=history, reason=reason if reason is not None else job.reason, **details)


def max_core_hours(resources: Resources) -> float:
    """The most a run can use: its CPUs for its whole time limit."""
    return resources.cpus * resources.time_limit_minutes / 60


def record_submission(job: Job, slurm_job_id: str, at: datetime, array_throttle: int | None = None) -> Job | None:
    """The dispatcher's sbatch was accepted. The run may already have reported progress or even ended
    (its callbacks can overtake this write), so keep any later state and only fill in the Slurm id."""
    if job.slurm_job_id == slurm_job_id:
        return None
    moved = advance(job, JobState.SUBMITTED, at)
    return replace(
        moved or job,
        slurm_job_id=slurm_job_id,
        arrays=job.arrays if slurm_job_id in job.arrays else (*job.arrays, slurm_job_id),
        last_error=None,
        submit_failing_since=None,
        array_throttle=array_throttle or job.array_throttle,
    )


def record_submit_failure(job: Job, error: str, at: datetime, give_up_after: timedelta) -> Job | None:
    """sbatch could not be reached for this admitted job. It stays QUEUED (every trigger retries) with the reason
    visible, until the failures have lasted `give_up_after`: then it FAILS saying so."""
    if job.state is not JobState.QUEUED:
        return None
    since = job.submit_failing_since or at
    if at - since >= give_up_after:
        minutes = round(give_up_after.total_seconds() / 60)
        return advance(job, JobState.FAILED, at, f"the cluster could not be reached for {minutes} min: {error}")
    return replace(job, last_error=error, submit_failing_since=since)


@dataclass(frozen=True)
class StepReport:
    """A step of a multi-step flow as the run reported it (untrusted numbers, bounded by `record_stage`)."""

    index: int | None
    total: int | None
    started_at: datetime | None


def record_stage(
    job: Job,
    stage: str,
    at: datetime,
    slurm_job_id: str | None = None,
    log_tail: str | None = None,
    step: StepReport | None = None,
) -> Job | None:
    """The run reported that it is in flow stage `stage` (or, with `step`, in that step of a multi-step flow): as
    it enters it, and then every few seconds with the tail of the stage's log (`log_tail`, untrusted text). A new
    stage gets a mark and starts without a tail; repeated reports of the same stage only refresh the tail."""
    if job.state.is_terminal:
        return None
    moved = advance(job, JobState.RUNNING, at) or job
    tail = clean_log_tail(log_tail)
    if not job.stages or job.stages[-1].name != stage:
        mark = _mark(job, stage, at, step)
        marks = job.stages if len(job.stages) >= MAX_STAGE_MARKS else (*job.stages, mark)
    else:
        marks, tail = job.stages, tail if tail is not None else job.log_tail
    updated = replace(moved, stage=stage, stages=marks, log_tail=tail, slurm_job_id=job.slurm_job_id or slurm_job_id)
    return None if updated == job else updated


def _mark(job: Job, stage: str, at: datetime, step: StepReport | None) -> StageMark:
    if step is None:
        return StageMark(stage, at)
    # The run's clock says when the step started; it may neither precede the last mark nor follow the report.
    earliest = job.stages[-1].at if job.stages else (job.history[-1].at if job.history else at)
    started = min(max(step.started_at or at, earliest), at)
    index = step.index if step.index is not None and 0 < step.index <= MAX_STEP_NUMBER else None
    total = step.total if step.total is not None and 0 < step.total <= MAX_STEP_NUMBER else None
    if index is not None and total is not None and index > total:
        total = None  # a flow with more steps than the runner expected: say which step, not a wrong count
    return StageMark(stage, started, index, total)


def clean_log_tail(text: object) -> str | None:
    """At most LOG_TAIL_LINES lines and LOG_TAIL_CHARS characters of the end of `text`, without control
    characters but the line break; None when nothing is left."""
    if not isinstance(text, str):
        return None
    # Bounded before the expressions run: the text comes from the run, which the design controls.
    text = text[-8 * LOG_TAIL_CHARS :].replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    text = _CONTROL.sub("", _ANSI_SEQUENCE.sub("", text))
    lines = text.rstrip().splitlines()[-LOG_TAIL_LINES:]
    kept = "\n".join(lines)
    if len(kept) > LOG_TAIL_CHARS:
        kept = kept[-LOG_TAIL_CHARS:]
        # Drop the cut first line, unless it is the only one.
        kept = kept.split("\n", 1)[1] if "\n" in kept else kept
    return kept if kept.strip() else None
