"""Jobs as plain dictionaries (the Firestore document) and as the API's JSON."""

from __future__ import annotations

import json
from dataclasses import MISSING, fields
from datetime import UTC, datetime, timedelta, timezone

from shared.domain.design import DesignSpec, Resources
from shared.domain.job import GitOrigin, Job, JobState, RunProgress, SourceObject, StageMark, StateChange, new_job
from shared.domain.job_codec import job_from_dict, job_to_dict, job_to_json
from shared.domain.metrics import Metrics
from shared.domain.sweeps.spec import parse_sweep, schema_check, sweepable_parameters

T0 = datetime(2025, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)


def full_job() -> Job:
    """Every field set to something other than its default."""
    design = DesignSpec(
        design_name="spm",
        top_module="spm",
        verilog_files=("src/spm.v", "src/util.v"),
        clock_port="clk",
        clock_period_ns=12.5,
        flow="openlane2",
        pdk="sky130A",
        flow_variables={"DESIGN_NAME": "spm", "VERILOG_FILES": ["dir::src/*.v"], "FP_CORE_UTIL": 40},
        sweep=parse_sweep(
            {"parameters": {"FP_CORE_UTIL": [30, 40], "CLOCK_PERIOD": [10, 12.5]}},
            sweepable=sweepable_parameters("openlane2"),
            max_runs_allowed=8,
            seed="j0123456789abcdef012",
            check_value=schema_check,
        ),
    )
    return Job(
        id="j0123456789abcdef012",
        owner="ada@example.com",
        source=SourceObject("designs", "ada@example.com/spm.tar.gz", 1741064767890123, size=2048),
        state=JobState.SUCCEEDED,
        created_at=T0,
        history=(
            StateChange(JobState.QUEUED, T0),
            StateChange(JobState.SUBMITTED, T0 + timedelta(seconds=2), "sbatch accepted"),
            StateChange(JobState.RUNNING, T0 + timedelta(seconds=9)),
            StateChange(JobState.SUCCEEDED, T0 + timedelta(minutes=5)),
        ),
        design_name="spm",
        flow="openlane2",
        design_root="spm/",
        design=design,
        resources=Resources(cpus=4, memory_mb=8192, time_limit_minutes=90),
        notifications_enabled=False,
        slurm_job_id="4242",
        stage="gdsii",
        stages=(
            StageMark("fetching design", T0 + timedelta(seconds=9)),
            StageMark("Yosys.Synthesis", T0 + timedelta(seconds=30), step=6, steps=80),
            StageMark("gdsii", T0 + timedelta(minutes=4)),
        ),
        log_tail="Writing cell spm\nGDS generating script ended",
        reason="all good",
        error_excerpt="warning: none",
        warnings=("timing finished without reporting wns ns: shown as not measured; see that step's log",),
        metrics=Metrics(cell_count=321, area_um2=1234.5, wns_ns=-0.25, lvs_match=True, drc_errors=0),
        results_prefix="ada@example.com/j0123456789abcdef012/",
        artifacts={"gds": "gs://results/ada@example.com/j0123456789abcdef012/files/spm.gds"},
        flow_runtime_s=281.5,
        cluster_ended_at=T0 + timedelta(minutes=4, seconds=59),
        queue_position=3,
        estimated_start_at=T0 + timedelta(minutes=1),
        core_hours=0.078,
        last_error="cannot SSH to olc@login:22: timed out",
        submit_failing_since=T0 + timedelta(seconds=30),
        notified=("ended",),
        runs=(
            RunProgress(
                0,
                "SUCCEEDED",
                "gdsii",
                "4243",
                Metrics(area_um2=1200.0, wns_ns=0.0),
                links={"gds": "gs://results/ada@example.com/j0123456789abcdef012/runs/0/files/spm.gds"},
            ),
            RunProgress(1, "FAILED", "routing", "4244", None, "routing congestion"),
        ),
        array_throttle=2,
        arrays=("41", "57"),
        git=GitOrigin("https://git.example.com/chips/spm.git", "main", "designs/spm", "a" * 40, "r1"),
        content_key="ck-" + "b" * 61,
        reused_from="j" + "c" * 19,
        parent_job="j" + "d" * 19,
        reuse_allowed=False,
        call_receipts={"0123456789abcdef0123456789abcdef": 1767225600.5},
    )


def test_the_full_job_really_sets_every_field() -> None:
    """Keeps the round trip below honest when Job gains a field."""
    job = full_job()
    for f in fields(Job):
        if f.default is not MISSING:
            assert getattr(job, f.name) != f.default, f.name
        elif f.default_factory is not MISSING:
            assert getattr(job, f.name) != f.default_factory(), f.name


def test_round_trip_keeps_every_field() -> None:
    job = full_job()
    assert job_from_dict(job_to_dict(job)) == job


def test_round_trip_of_a_minimal_job() -> None:
    job = new_job(job_id="j0", owner="", source=SourceObject("b", "n", 1), at=T0, rejected_reason="no owner folder")
    back = job_from_dict(job_to_dict(job))
    assert back == job
    assert back.design is None and back.metrics is None and back.resources == Resources()


def test_dict_shape() -> None:
    data = job_to_dict(full_job())
    # Firestore integers are 64-bit but generations are compared as text elsewhere; keep them exact.
    assert data["source"]["generation"] == "1741064767890123"
    assert data["state"] == "SUCCEEDED"
    assert data["phase"] == "ended"  # derived, for queries (FirestoreJobs asks for phases, not their states)
    assert data["updated_at"] == T0 + timedelta(minutes=5)
    assert data["history"][1] == {
        "state": "SUBMITTED",
        "at": T0 + timedelta(seconds=2),
        "reason": "sbatch accepted",
    }
    assert data["design"]["verilog_files"] == ("src/spm.v", "src/util.v")
    assert data["design"]["flow_variables"]["FP_CORE_UTIL"] == 40
    assert data["resources"] == {"cpus": 4, "memory_mb": 8192, "time_limit_minutes": 90}
    assert data["metrics"] == {
        "cell_count": 321,
        "area_um2": 1234.5,
        "wns_ns": -0.25,
        "drc_errors": 0,
        "lvs_match": True,
    }
    assert data["notified"] == ["ended"]
    assert data["stages"] == [
        {"name": "fetching design", "at": T0 + timedelta(seconds=9)},
        {"name": "Yosys.Synthesis", "at": T0 + timedelta(seconds=30), "step": 6, "steps": 80},
        {"name": "gdsii", "at": T0 + timedelta(minutes=4)},
    ]
    assert data["log_tail"] == "Writing cell spm\nGDS generating script ended"


def test_job_to_json_gives_iso_strings_in_utc() -> None:
    view = job_to_json(full_job())
    json.dumps(view)  # nothing left that JSON cannot carry
    assert view["created_at"] == "2025-03-04T05:06:07.890000Z"
    assert view["updated_at"] == "2025-03-04T05:11:07.890000Z"
    assert view["cluster_ended_at"] == "2025-03-04T05:11:06.890000Z"
    assert view["stages"][0] == {"name": "fetching design", "at": "2025-03-04T05:06:16.890000Z"}
    assert [c["at"] for c in view["history"]] == [
        "2025-03-04T05:06:07.890000Z",
        "2025-03-04T05:06:09.890000Z",
        "2025-03-04T05:06:16.890000Z",
        "2025-03-04T05:11:07.890000Z",
    ]


def test_job_to_json_converts_other_time_zones_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    job = new_job(
        job_id="j0", owner="o", source=SourceObject("b", "n", 1), at=datetime(2025, 1, 1, 14, tzinfo=plus_two)
    )
    assert job_to_json(job)["created_at"] == "2025-01-01T12:00:00Z"


def test_the_json_view_reads_back_as_the_same_job() -> None:
    job = full_job()
    assert job_from_dict(json.loads(json.dumps(job_to_json(job)))) == job


def test_naive_timestamps_are_read_as_utc() -> None:
    data = job_to_dict(full_job())
    data["created_at"] = datetime(2025, 3, 4, 5, 6, 7)  # what an old document might hold
    assert job_from_dict(data).created_at == datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


def test_missing_optional_fields_take_defaults() -> None:
    data = {
        "id": "j0",
        "owner": "o",
        "source": {"bucket": "b", "name": "n", "generation": "7"},
        "state": "QUEUED",
        "created_at": "2025-01-01T00:00:00Z",
    }
    job = job_from_dict(data)
    assert job.source == SourceObject("b", "n", 7)
    assert job.history == () and job.artifacts == {} and job.notified == ()
    assert job.stages == () and job.log_tail is None
    assert job.notifications_enabled is True and job.design_root == ""
