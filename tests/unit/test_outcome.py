"""How a run ended: the kit's result manifest read together with Slurm's final JobState."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.domain.job import JobState
from shared.domain.outcome import ManifestError, RunManifest, StageRecord, decide_outcome, parse_manifest

# What infra/slurm/olc_job.py writes (Run.write_manifest).
SUCCESS: dict[str, Any] = {
    "job_id": "j0123456789abcdef012",
    "slurm_job_id": "4242",
    "host": "c1",
    "flow_exit_code": 0,
    "stage_reached": "gdsii",
    "failed_stage": None,
    "stages": [
        {"name": "synthesis", "exit_code": 0, "runtime_s": 3.25},
        {"name": "gdsii", "exit_code": 0, "runtime_s": 1.5},
    ],
    "runtime_s": 4.75,
    "wall_s": 6.0,
    "peak_memory_mb": 212.4,
    "error_excerpt": None,
    "files": ["qflow/layout/spm.gds", "logs/01-synthesis.log"],
    "terminated": False,
}
FLOW_FAILED = {
    **SUCCESS,
    "flow_exit_code": 1,
    "stage_reached": "routing",
    "failed_stage": "routing",
    "error_excerpt": "ERROR: routing failed",
}
TERMINATED = {**SUCCESS, "flow_exit_code": 143, "failed_stage": "placement", "terminated": True}


def manifest(data: dict[str, Any]) -> RunManifest:
    return parse_manifest(json.dumps(data))


# ------------------------------------------------------------------------------------------ parse_manifest
def test_parse_a_good_manifest() -> None:
    parsed = manifest(SUCCESS)
    assert parsed == RunManifest(
        flow_exit_code=0,
        stage_reached="gdsii",
        failed_stage=None,
        stages=(StageRecord("synthesis", 0, 3.25), StageRecord("gdsii", 0, 1.5)),
        runtime_s=4.75,
        peak_memory_mb=212.4,
        error_excerpt=None,
        files=("qflow/layout/spm.gds", "logs/01-synthesis.log"),
        terminated=False,
    )
    assert parsed.succeeded


def test_parse_a_minimal_manifest() -> None:
    parsed = parse_manifest("{}")
    assert (parsed.flow_exit_code, parsed.stages, parsed.files, parsed.terminated) == (None, (), (), False)
    assert not parsed.succeeded


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        '{"flow_exit_code": 0',  # truncated upload
        "[]",
        "null",
        '"text"',
        '{"stages": [{"exit_code": 0}]}',  # stage without a name
        '{"stages": [{"name": "x", "runtime_s": "long"}]}',
        '{"stages": 5}',
        '{"files": 5}',
    ],
)
def test_junk_manifests_raise_manifest_error(text: str) -> None:
    with pytest.raises(ManifestError, match="unreadable result manifest"):
        parse_manifest(text)


def test_a_terminated_run_did_not_succeed_even_with_exit_zero() -> None:
    assert not manifest({**SUCCESS, "terminated": True}).succeeded


# ------------------------------------------------------------------------------------------ decide_outcome
@pytest.mark.parametrize(
    ("slurm", "data", "state", "words"),
    [
        ("COMPLETED", SUCCESS, JobState.SUCCEEDED, None),
        ("COMPLETED", FLOW_FAILED, JobState.FAILED, "the flow failed in stage 'routing' (exit code 1)"),
        ("FAILED", FLOW_FAILED, JobState.FAILED, "stage 'routing'"),
        ("CANCELLED", SUCCESS, JobState.CANCELLED, "cancelled"),
        ("CANCELLED by 1000", TERMINATED, JobState.CANCELLED, "cancelled"),
        ("CANCELLED+", None, JobState.CANCELLED, "cancelled"),
        ("TIMEOUT", TERMINATED, JobState.TIMEOUT, "time limit of 90 min"),
        ("TIMEOUT", None, JobState.TIMEOUT, "time limit of 90 min"),
        ("OUT_OF_MEMORY", FLOW_FAILED, JobState.FAILED, "ran out of memory"),
        ("NODE_FAIL", None, JobState.FAILED, "compute node failed"),
        ("BOOT_FAIL", None, JobState.FAILED, "could not be started"),
        ("PREEMPTED", SUCCESS, JobState.FAILED, "preempted"),
        ("DEADLINE", None, JobState.FAILED, "deadline"),
        # Slurm no longer knows the job (None) or says something we do not list: the manifest decides.
        (None, SUCCESS, JobState.SUCCEEDED, None),
        (None, FLOW_FAILED, JobState.FAILED, "stage 'routing'"),
        ("", SUCCESS, JobState.SUCCEEDED, None),
        (None, TERMINATED, JobState.FAILED, "stopped by a signal"),
        # No manifest: the run never finished its bookkeeping.
        ("COMPLETED", None, JobState.FAILED, "without writing its result manifest"),
        ("FAILED", None, JobState.FAILED, "without writing its result manifest"),
        (None, None, JobState.FAILED, "without writing its result manifest"),
    ],
)
def test_outcome_table(slurm: str | None, data: dict[str, Any] | None, state: JobState, words: str | None) -> None:
    outcome = decide_outcome(slurm, manifest(data) if data is not None else None, 90)
    assert outcome is not None
    assert outcome.state is state
    if words is None:
        assert outcome.reason is None
    else:
        assert words in (outcome.reason or "")


@pytest.mark.parametrize(
    "slurm", ["PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "STAGE_OUT", "SIGNALING"]
)
@pytest.mark.parametrize("data", [SUCCESS, None])
def test_not_finished_yet(slurm: str, data: dict[str, Any] | None) -> None:
    assert decide_outcome(slurm, manifest(data) if data is not None else None, 90) is None


def test_a_failure_without_a_failed_stage_names_the_last_stage_or_setup() -> None:
    reached = decide_outcome("COMPLETED", manifest({**FLOW_FAILED, "failed_stage": None}), 90)
    assert reached is not None and "stage 'routing'" in (reached.reason or "")
    setup = decide_outcome("COMPLETED", manifest({"flow_exit_code": 1}), 90)
    assert setup is not None and "stage 'setup'" in (setup.reason or "")


def test_a_run_stopped_by_slurms_time_limit_warning_is_a_timeout_even_if_it_ended_first():
    from shared.domain.outcome import RunManifest, decide_outcome

    warned = RunManifest(143, "synthesis", "synthesis", (), 30.0, 10.0, None, (), True, "time-limit")
    outcome = decide_outcome("FAILED", warned, 1)
    assert outcome.state.value == "TIMEOUT" and "1 min" in outcome.reason
    # A cancel near the limit is still a cancel: Slurm's state wins.
    assert decide_outcome("CANCELLED", warned, 1).state.value == "CANCELLED"
    signalled = RunManifest(143, "synthesis", "synthesis", (), 30.0, 10.0, None, (), True, "signal")
    assert decide_outcome("FAILED", signalled, 1).state.value == "FAILED"
