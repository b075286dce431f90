"""The use cases (ingest, dispatch, completion) against in-memory fakes of the ports (tests/unit/fakes.py)."""

from __future__ import annotations

import base64
import io
import json
import re
import tarfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fakes import (
    FakeCluster,
    FakeJobs,
    FakeLease,
    FakeMailer,
    FakeParetoPlotter,
    FakePublisher,
    FakeQuotas,
    FakeStore,
)

from shared.domain.admission_inputs import QueueEntry
from shared.domain.callback_auth import MAX_SKEW_S, job_key, sign
from shared.domain.design import DesignSpec, Resources
from shared.domain.events import UploadEvent
from shared.domain.flows.qflow import QflowOsu035Runner
from shared.domain.job import Job, JobState, SourceObject, advance, new_job
from shared.domain.job_script import ClusterTarget
from shared.domain.quota import QuotaLimits
from shared.domain.upload import job_id_for, results_prefix
from shared.services.complete import handle_callback
from shared.services.completion.run_end import CompletionDeps, Reply
from shared.services.completion.single import finish_job
from shared.services.dispatch import MAX_QUEUE_SCAN, DispatchDeps, dispatch
from shared.services.ingest import IngestDeps, IngestPolicy, ingest_upload
from shared.services.notify import Notifier
from shared.services.scripts import ScriptFactory
from tests.unit.render_script import RENDER_SCRIPT

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures" / "qflow" / "spm"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
OWNER = "ada@example.com"
MASTER = "hook-master-key"
FLOW = "qflow-osu035"
RUNNERS = {FLOW: QflowOsu035Runner(render_script=RENDER_SCRIPT)}
SPM_CONFIG = {"DESIGN_NAME": "spm", "VERILOG_FILES": "dir::src/*.v", "CLOCK_PORT": "clk"}
SPM_VERILOG = b"module spm(input clk, output y); assign y = clk; endmodule\n"


class Clock:
    """A settable `now` for the services."""

    def __init__(self, start: datetime = T0) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


def tar_gz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def spm_archive(config: dict[str, Any] | None = None) -> bytes:
    return tar_gz({"spm/config.json": json.dumps(config or SPM_CONFIG).encode(), "spm/src/spm.v": SPM_VERILOG})


# ------------------------------------------------------------------------------------------------- ingest
class Ingest:
    def __init__(self) -> None:
        self.jobs = FakeJobs()
        self.store = FakeStore()
        self.publisher = FakePublisher()
        self.mailer = FakeMailer()
        self.deps = IngestDeps(
            jobs=self.jobs,
            store=self.store,
            publisher=self.publisher,
            notifier=Notifier(self.jobs, self.mailer, "results"),
            results=self.store,  # type: ignore[arg-type]
            policy=IngestPolicy(
                designs_bucket="designs",
                jobs_topic="olc-jobs",
                flow=FLOW,
                offered_flows=(FLOW,),
                resources=Resources(cpus=1, memory_mb=2048, time_limit_minutes=30),
                max_time_limit_minutes=120,
                max_upload_bytes=1 << 20,
            ),
            quotas=FakeQuotas(),
            limits=QuotaLimits(),
        )

    def upload(
        self, name: str, data: bytes, *, generation: int = 1, metadata: dict[str, str] | None = None
    ) -> UploadEvent:
        self.store.put("designs", name, data)
        return UploadEvent(SourceObject("designs", name, generation, size=len(data)), metadata=metadata or {})

    def run(self, event: UploadEvent) -> Job | None:
        return ingest_upload(event, self.deps, T0)


def test_ingest_records_a_queued_job_with_the_validated_design() -> None:
    ingest = Ingest()
    event = ingest.upload(f"{OWNER}/spm.tar.gz", spm_archive())
    job = ingest.run(event)
    assert job is not None
    assert job.id == job_id_for(event.source)
    assert (job.state, job.owner, job.design_name, job.design_root, job.flow) == (
        JobState.QUEUED,
        OWNER,
        "spm",
        "spm/",
        FLOW,
    )
    assert job.design is not None and job.design.verilog_files == ("src/spm.v",)
    assert job.results_prefix == f"{OWNER}/{job.id}/"
    assert job.resources == Resources(cpus=1, memory_mb=2048, time_limit_minutes=30)
    stored = ingest.jobs.get(job.id)
    assert stored is not None and replace(stored, notified=job.notified) == job  # stored: plus the e-mail's claim
    assert ingest.publisher.messages == [("olc-jobs", {"kind": "queued", "job_id": job.id}, {"kind": "queued"})]
    (accepted,) = ingest.mailer.sent
    assert accepted.to == OWNER and "was accepted" in accepted.subject


def test_an_upload_replaced_before_ingest_read_it_is_rejected_not_retried_forever() -> None:
    ingest = Ingest()
    event = UploadEvent(SourceObject("designs", f"{OWNER}/spm.tar.gz", 7, size=100), metadata={})
    job = ingest.run(event)  # the store has no such generation: it was overwritten meanwhile
    assert job is not None and job.state is JobState.REJECTED
    assert "replaced or deleted before it could be read" in (job.reason or "")


def test_the_same_upload_event_three_times_makes_one_job() -> None:
    ingest = Ingest()
    event = ingest.upload(f"{OWNER}/spm.tar.gz", spm_archive())
    results = [ingest.run(event) for _ in range(3)]
    assert len({j.id for j in results if j}) == 1
    assert len(ingest.jobs.docs) == 1
    assert ingest.jobs.writes == 2  # the job, then its "accepted" e-mail claimed
    # Every delivery re-announces the waiting job, so a crash after the write cannot strand it.
    assert ingest.publisher.kinds() == ["queued"] * 3
    assert len(ingest.mailer.sent) == 1


def test_a_new_generation_of_the_same_name_is_a_new_job() -> None:
    ingest = Ingest()
    first = ingest.run(ingest.upload(f"{OWNER}/spm.tar.gz", spm_archive(), generation=1))
    second = ingest.run(ingest.upload(f"{OWNER}/spm.tar.gz", spm_archive(), generation=2))
    assert first is not None and second is not None and first.id != second.id
    assert len(ingest.jobs.docs) == 2


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        (f"{OWNER}/notes.txt", b"hello", "'notes.txt' is not a design archive"),
        (f"{OWNER}/spm.tar.gz", b"module spm; endmodule\n" * 20, "not a readable .tar/.tar.gz/.zip archive"),
        (f"{OWNER}/spm.tar.gz", tar_gz({"src/spm.v": SPM_VERILOG}), "no config.json found"),
        (f"{OWNER}/spm.tar.gz", spm_archive({"VERILOG_FILES": "dir::rtl/*.v"}), "DESIGN_NAME is missing"),
        (f"{OWNER}/big.tar.gz", b"x" * ((1 << 20) + 1), "the limit is 1048576 bytes"),
    ],
)
def test_an_unusable_upload_is_rejected_with_the_reason_and_one_mail(name: str, data: bytes, words: str) -> None:
    ingest = Ingest()
    event = ingest.upload(name, data)
    job = ingest.run(event)
    assert job is not None and job.state is JobState.REJECTED
    assert words in (job.reason or "")
    assert ingest.publisher.messages == []
    (mail,) = ingest.mailer.sent
    assert mail.to == OWNER and "was rejected" in mail.subject
    assert words in mail.text
    # A redelivery changes nothing and sends nothing.
    assert ingest.run(event) == ingest.jobs.get(job.id)
    assert len(ingest.mailer.sent) == 1
    stored = ingest.jobs.get(job.id)
    assert stored is not None and stored.notified == ("ended",)


def test_a_design_may_ask_for_its_own_time_limit_within_the_bound() -> None:
    ingest = Ingest()
    job = ingest.run(ingest.upload(f"{OWNER}/spm.tar.gz", spm_archive({**SPM_CONFIG, "OLC_TIME_LIMIT_MINUTES": 5})))
    assert job.state is JobState.QUEUED and job.resources.time_limit_minutes == 5
    too_long = spm_archive({**SPM_CONFIG, "OLC_TIME_LIMIT_MINUTES": 121})
    refused = ingest.run(ingest.upload(f"{OWNER}/long.tar.gz", too_long))
    assert refused.state is JobState.REJECTED and "from 1 to 120" in refused.reason


def test_a_bad_config_reports_every_problem() -> None:
    ingest = Ingest()
    config = {"DESIGN_NAME": "my design", "VERILOG_FILES": "dir::rtl/*.v", "CLOCK_PERIOD": "soon"}
    job = ingest.run(ingest.upload(f"{OWNER}/spm.tar.gz", spm_archive(config)))
    assert job is not None and job.state is JobState.REJECTED
    for words in ("DESIGN_NAME 'my design'", "'dir::rtl/*.v' matches no file", "CLOCK_PERIOD 'soon'"):
        assert words in (job.reason or "")


def test_an_upload_outside_an_owner_folder_is_rejected_without_mail() -> None:
    ingest = Ingest()
    job = ingest.run(ingest.upload("spm.tar.gz", spm_archive()))
    assert job is not None and job.state is JobState.REJECTED and job.owner == ""
    assert "not inside an owner folder" in (job.reason or "")
    assert ingest.mailer.sent == []


def test_notify_false_metadata_silences_the_mail() -> None:
    ingest = Ingest()
    job = ingest.run(ingest.upload(f"{OWNER}/notes.txt", b"x", metadata={"notify": "false"}))
    assert job is not None and job.state is JobState.REJECTED and not job.notifications_enabled
    assert ingest.mailer.sent == []


def test_objects_of_other_buckets_are_ignored() -> None:
    ingest = Ingest()
    assert ingest_upload(UploadEvent(SourceObject("results", f"{OWNER}/x.tar.gz", 1)), ingest.deps, T0) is None
    assert ingest.jobs.docs == {} and ingest.publisher.messages == []


# ----------------------------------------------------------------------------------------------- dispatch
TARGET = ClusterTarget(
    partition="debug",
    results_bucket="results",
    storage_endpoint="http://storage.local",
    storage_auth="none",
    hook_url="http://hook.local/",
    hook_auth="none",
)
SCRIPTS = ScriptFactory(
    template=(ROOT / "infra" / "slurm" / "job.sh.tmpl").read_text(),
    kit_source=(ROOT / "infra" / "slurm" / "olc_job.py").read_text(),
    target=TARGET,
    runners=RUNNERS,
    hook_master_key=lambda: MASTER,
)
SPM = DesignSpec("spm", "spm", ("src/spm.v",), clock_port="clk", flow=FLOW)


def queued_job(minute: int, owner: str = OWNER, design: DesignSpec = SPM) -> Job:
    source = SourceObject("designs", f"{owner}/d{minute}.tar.gz", 1000 + minute)
    job_id = job_id_for(source)
    return new_job(
        job_id=job_id,
        owner=owner,
        source=source,
        at=T0 + timedelta(minutes=minute),
        design_name=design.design_name,
        flow=FLOW,
        design_root="spm/",
        design=design,
        results_prefix=results_prefix(owner, job_id),
    )


class Dispatch:
    def __init__(self, *jobs: Job, concurrency: int = 2, lease: FakeLease | None = None) -> None:
        self.jobs = FakeJobs(*jobs)
        self.cluster = FakeCluster()
        self.lease = lease or FakeLease()
        self.mailer = FakeMailer()
        self.clock = Clock(T0 + timedelta(hours=1))
        self.deps = DispatchDeps(
            jobs=self.jobs,
            lease=self.lease,
            cluster=self.cluster,
            scripts=SCRIPTS,
            quotas=FakeQuotas(),
            notifier=Notifier(self.jobs, self.mailer, "results"),
            limits=QuotaLimits(global_concurrency=concurrency, user_concurrency=100, user_monthly_core_hours=1e9),
        )

    def run(self, holder: str = "dispatcher-1"):
        return dispatch(self.deps, holder, self.clock)

    def state(self, job: Job) -> JobState:
        stored = self.jobs.get(job.id)
        assert stored is not None
        return stored.state


def test_dispatch_submits_the_oldest_jobs_up_to_the_concurrency() -> None:
    newest, oldest, middle = queued_job(30), queued_job(10), queued_job(20)
    run = Dispatch(newest, oldest, middle, concurrency=2)
    report = run.run()
    assert run.cluster.submitted_ids == [oldest.id, middle.id]
    assert report.submitted == {oldest.id: "1000", middle.id: "1001"}
    for job, slurm_id in ((oldest, "1000"), (middle, "1001")):
        stored = run.jobs.get(job.id)
        assert stored is not None
        assert (stored.state, stored.slurm_job_id) == (JobState.SUBMITTED, slurm_id)
        assert stored.entered_at(JobState.SUBMITTED) == run.clock()
    assert run.state(newest) is JobState.QUEUED
    assert (run.lease.holder, report.lease_busy) == (None, False)


def test_dispatch_submits_rendered_scripts_for_the_right_jobs() -> None:
    job = queued_job(1)
    run = Dispatch(job)
    run.run()
    ((submission,),) = run.cluster.batches
    (encoded,) = re.findall(r"<<'OLC_SPEC_END'\n([A-Za-z0-9+/=]+)\nOLC_SPEC_END\n", submission.script)
    spec = json.loads(base64.b64decode(encoded))
    assert spec["job_id"] == job.id
    assert spec["hook"]["key"] == job_key(MASTER, job.id)
    assert spec["design"]["name"] == job.source.name
    assert f"#SBATCH --job-name=olc-{job.id}" in submission.script


def test_dispatch_counts_jobs_already_active() -> None:
    running = replace(queued_job(0), state=JobState.RUNNING)
    waiting = [queued_job(m) for m in (1, 2, 3)]
    run = Dispatch(running, *waiting, concurrency=2)
    run.run()
    assert run.cluster.submitted_ids == [waiting[0].id]


def test_dispatch_with_no_free_slot_submits_nothing_and_a_freed_slot_is_used() -> None:
    jobs = [queued_job(m) for m in (1, 2, 3)]
    run = Dispatch(*jobs, concurrency=2)
    run.run()
    run.run()
    assert len(run.cluster.batches) == 1
    run.jobs.mutate(jobs[0].id, lambda j: replace(j, state=JobState.SUCCEEDED))
    run.run()
    assert run.cluster.submitted_ids == [jobs[0].id, jobs[1].id, jobs[2].id]


def test_a_job_slurm_refuses_is_failed_with_the_reason_and_its_slot_reused() -> None:
    refused, other = queued_job(1), queued_job(2)
    run = Dispatch(refused, other, concurrency=1)
    run.cluster.refuse[refused.id] = "sbatch: error: Invalid partition name specified"
    report = run.run()
    stored = run.jobs.get(refused.id)
    assert stored is not None and stored.state is JobState.FAILED
    assert stored.reason == "Slurm refused the run: sbatch: error: Invalid partition name specified"
    assert report.failed == {refused.id: stored.reason}
    assert report.submitted == {other.id: "1000"}
    assert run.state(other) is JobState.SUBMITTED
    assert [m.to for m in run.mailer.sent] == [OWNER]


def test_a_job_the_flow_cannot_plan_fails_instead_of_blocking_the_queue() -> None:
    """Headers alone pass config validation but qflow cannot plan them: that job must fail, not the dispatcher."""
    headers_only = queued_job(1, design=replace(SPM, verilog_files=("src/defs.vh",)))
    good = queued_job(2)
    run = Dispatch(headers_only, good, concurrency=2)
    report = run.run()
    assert run.state(headers_only) is JobState.FAILED
    assert "could not prepare the run" in report.failed[headers_only.id]
    assert report.submitted == {good.id: "1000"}


def queue_reads(run: Dispatch) -> list[int]:
    """Records the limit of every read of the queue the dispatcher makes from now on."""
    reads: list[int] = []
    read = run.jobs.queue_entries

    def counted(limit: int) -> list[QueueEntry]:
        reads.append(limit)
        return read(limit)

    run.jobs.queue_entries = counted  # type: ignore[method-assign]
    return reads


def test_a_job_queued_during_a_round_is_admitted_by_that_round_when_a_slot_is_free() -> None:
    """Its own trigger was turned away while the round held the lease: the round looks at the queue once more."""
    first, late = queued_job(1), queued_job(2)
    run = Dispatch(first, concurrency=2)
    submit = run.cluster.submit

    def submit_while_another_arrives(submissions):  # type: ignore[no-untyped-def]
        run.jobs.create(late)
        return submit(submissions)

    run.cluster.submit = submit_while_another_arrives  # type: ignore[method-assign]
    reads = queue_reads(run)
    report = run.run()
    assert set(report.submitted) == {first.id, late.id}
    assert reads.count(MAX_QUEUE_SCAN) >= 2


def test_a_round_that_leaves_the_cluster_full_reads_the_queue_once() -> None:
    """A long queue behind a full cluster: no job queued meanwhile could start either, so the round does not read
    the whole queue again (the next freed slot, or tick, admits it)."""
    running = replace(queued_job(0), state=JobState.RUNNING)
    waiting = [queued_job(m) for m in (1, 2, 3)]
    run = Dispatch(running, *waiting, concurrency=2)
    reads = queue_reads(run)
    report = run.run()
    assert report.submitted == {waiting[0].id: "1000"}
    assert reads == [1, MAX_QUEUE_SCAN, MAX_QUEUE_SCAN]  # the check, the round's read, the re-count after admitting
    reads.clear()
    run.run()  # full from the start
    assert reads == [1, MAX_QUEUE_SCAN]
    run.jobs.mutate(running.id, lambda j: advance(j, JobState.SUCCEEDED, run.clock()))
    run.run()
    assert run.state(waiting[1]) is JobState.SUBMITTED


def test_a_job_cancelled_between_the_plan_and_its_submission_is_not_submitted() -> None:
    """Admission plans from queue entries; the admitted jobs are then read whole, and one no longer waiting (its
    owner cancelled it in between) is left out."""
    cancelled, kept = queued_job(1), queued_job(2)
    run = Dispatch(cancelled, kept, concurrency=2)
    read_whole = run.jobs.get_many

    def cancel_first(job_ids):  # type: ignore[no-untyped-def]
        run.jobs.mutate(cancelled.id, lambda j: advance(j, JobState.CANCELLED, run.clock(), "cancelled by the owner"))
        return read_whole(job_ids)

    run.jobs.get_many = cancel_first  # type: ignore[method-assign]
    report = run.run()
    assert report.submitted == {kept.id: "1000"}
    assert run.cluster.submitted_ids == [kept.id]
    assert run.state(cancelled) is JobState.CANCELLED


def test_dispatch_returns_at_once_when_the_lease_is_taken() -> None:
    job = queued_job(1)
    run = Dispatch(job, lease=FakeLease(other_holder="dispatcher-2"))
    report = run.run()
    assert report.lease_busy
    assert run.cluster.batches == [] and report.submitted == {}
    assert run.state(job) is JobState.QUEUED
    assert run.lease.holder == "dispatcher-2"


def test_waiting_jobs_get_fair_queue_positions_and_estimates() -> None:
    flood = [queued_job(minute, owner="flood@example.com") for minute in range(4)]
    single = queued_job(10, owner="single@example.com")
    run = Dispatch(*flood, single, concurrency=1)
    run.run()
    assert run.state(flood[0]) is JobState.SUBMITTED
    waiting = {j.id: run.jobs.get(j.id) for j in [*flood[1:], single]}
    # Round-robin: the single user's job is next, ahead of the flood's second job.
    assert waiting[single.id].queue_position == 1
    assert [waiting[j.id].queue_position for j in flood[1:]] == [2, 3, 4]
    etas = [waiting[single.id].estimated_start_at, *(waiting[j.id].estimated_start_at for j in flood[1:])]
    assert etas == sorted(etas) and etas[0] > run.clock()


def test_a_submitted_job_no_longer_shows_a_queue_position() -> None:
    jobs = [queued_job(minute) for minute in range(2)]
    run = Dispatch(*jobs, concurrency=1)
    run.run()
    assert run.jobs.get(jobs[1].id).queue_position == 1
    run.jobs.mutate(jobs[0].id, lambda j: advance(j, JobState.SUCCEEDED, run.clock()))
    run.run()
    submitted = run.jobs.get(jobs[1].id)
    assert submitted.state is JobState.SUBMITTED
    assert submitted.queue_position is None and submitted.estimated_start_at is None


def test_dispatch_with_an_empty_queue_does_not_call_the_cluster() -> None:
    run = Dispatch()
    report = run.run()
    assert report.submitted == {} and run.cluster.batches == []
    # Nothing waits (a freed slot, an idle tick): the lease is not even taken (a read and a write saved each time).
    assert run.lease.acquired == 0 and run.lease.holder is None


# --------------------------------------------------------------------------------------------- completion
SLURM_ID = "1000"
SUCCESS_MANIFEST = {
    "flow_exit_code": 0,
    "stage_reached": "gdsii",
    "failed_stage": None,
    "stages": [
        {"name": "synthesis", "exit_code": 0, "runtime_s": 30.0},
        {"name": "gdsii", "exit_code": 0, "runtime_s": 42.0},
    ],
    "runtime_s": 72.0,
    "peak_memory_mb": 180.0,
    "error_excerpt": None,
    "files": [],
    "terminated": False,
}


class Completion:
    def __init__(self, state: JobState = JobState.SUBMITTED, wait_s: float = 5) -> None:
        job = queued_job(1)
        self.job = replace(job, state=state, slurm_job_id=SLURM_ID)
        self.jobs = FakeJobs(self.job)
        self.cluster = FakeCluster()
        self.store = FakeStore()
        self.publisher = FakePublisher()
        self.mailer = FakeMailer()
        self.quotas = FakeQuotas()
        self.plotter = FakeParetoPlotter()
        self.clock = Clock(T0 + timedelta(hours=2))
        self.deps = CompletionDeps(
            jobs=self.jobs,
            cluster=self.cluster,
            store=self.store,
            publisher=self.publisher,
            notifier=Notifier(self.jobs, self.mailer, "results", "https://olc.example.org", self.store),
            runners=RUNNERS,
            hook_master_key=lambda: MASTER,
            quotas=self.quotas,
            plotter=self.plotter,
            results_bucket="results",
            jobs_topic="olc-jobs",
            wait_for_slurm_s=wait_s,
        )
        self.signed_calls = 0

    def put_manifest(self, manifest: dict[str, Any], files: dict[str, str] | None = None) -> None:
        prefix = self.job.results_prefix
        for path, text in (files or {}).items():
            self.store.put("results", f"{prefix}files/{path}", text)
        self.store.put("results", f"{prefix}manifest.json", json.dumps({**manifest, "files": sorted(files or {})}))

    def call(self, payload: dict[str, Any], *, key: str | None = None, skew_s: int = 0) -> Reply:
        body = json.dumps({"job_id": self.job.id, **payload}).encode()
        # Each call is signed anew, as the senders do (the hook refuses an exact replay).
        self.signed_calls += 1
        stamp = int(self.clock().timestamp()) + skew_s + self.signed_calls
        signature = sign(key or job_key(MASTER, self.job.id), stamp, body)
        headers = {"X-OLC-Timestamp": str(stamp), "X-OLC-Signature": signature}
        return handle_callback(body, headers, self.deps, self.clock)

    def ended(self) -> Reply:
        return self.call({"kind": "ended", "slurm_job_id": SLURM_ID, "exit_code2": "0:0", "epilog_at": 1793610000.25})

    def stored(self) -> Job:
        job = self.jobs.get(self.job.id)
        assert job is not None
        return job


def spm_outputs() -> dict[str, str]:
    files = {p.relative_to(FIXTURES).as_posix(): p.read_text() for p in FIXTURES.rglob("*") if p.is_file()}
    files["qflow/layout/spm.gds"] = "GDS"
    return files


def test_a_callback_with_a_bad_signature_is_refused() -> None:
    run = Completion()
    assert run.call({"kind": "progress", "stage": "routing"}, key=job_key("wrong master", run.job.id)).status == 403
    assert run.call({"kind": "progress", "stage": "routing"}, skew_s=-3600).status == 403
    body = json.dumps({"job_id": run.job.id, "kind": "progress"}).encode()
    assert handle_callback(body, {}, run.deps, run.clock).status == 403
    assert run.stored() == run.job


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"kind": "progress"}', b'{"job_id": "j1", "kind": "progress"}', b'{"job_id": "x"}'],
)
def test_malformed_callbacks_are_bad_requests(body: bytes) -> None:
    assert handle_callback(body, {}, Completion().deps, lambda: T0).status == 400


def test_progress_moves_the_job_to_running_with_the_stage() -> None:
    run = Completion()
    assert run.call({"kind": "progress", "stage": "placement", "slurm_job_id": SLURM_ID}) == Reply(200, "recorded")
    job = run.stored()
    assert (job.state, job.stage) == (JobState.RUNNING, "placement")
    assert job.entered_at(JobState.RUNNING) == run.clock()
    assert run.mailer.sent == [] and run.publisher.messages == []


def test_progress_heartbeats_record_the_stage_timeline_and_a_clean_log_tail() -> None:
    run = Completion()
    assert run.call({"kind": "progress", "stage": "routing", "seq": 1}).status == 200
    run.clock.advance(20)
    noisy = "".join(f"pass {i}\x1b[0m\r\n" for i in range(60)) + "\x07done"
    assert run.call({"kind": "progress", "stage": "routing", "log_tail": noisy, "seq": 2}).status == 200
    run.clock.advance(20)
    assert run.call({"kind": "progress", "stage": "drc", "seq": 3}).status == 200
    run.clock.advance(5)
    # The run's last report: the final lines of its last stage; a tail that is not text is ignored.
    assert run.call({"kind": "progress", "stage": "drc", "log_tail": {"x": 1}, "seq": 4}).status == 200
    assert run.call({"kind": "progress", "stage": "drc", "log_tail": "drc = 0\n", "seq": 5}).status == 200

    job = run.stored()
    start = T0 + timedelta(hours=2)
    assert [(m.name, m.at) for m in job.stages] == [("routing", start), ("drc", start + timedelta(seconds=40))]
    assert (job.stage, job.log_tail) == ("drc", "drc = 0")
    history = [r for r in run.jobs.docs[job.id]["history"] if r["state"] == "RUNNING"]
    assert len(history) == 1


def test_a_heartbeat_keeps_only_the_last_lines() -> None:
    run = Completion(JobState.RUNNING)
    lines = "".join(f"line {i}\n" for i in range(1000))
    assert run.call({"kind": "progress", "stage": "routing", "log_tail": lines}).status == 200
    tail = run.stored().log_tail
    assert tail is not None and tail.splitlines() == [f"line {i}" for i in range(960, 1000)]


def test_the_final_log_tail_survives_the_end_of_the_job() -> None:
    run = Completion(JobState.RUNNING)
    assert run.call({"kind": "progress", "stage": "routing", "log_tail": "ERROR: congestion"}).status == 200
    failed = {**SUCCESS_MANIFEST, "flow_exit_code": 2, "failed_stage": "routing", "error_excerpt": "ERROR: congestion"}
    run.put_manifest(failed)
    run.cluster.states[SLURM_ID] = ["COMPLETED"]
    assert run.ended() == Reply(200, "FAILED")
    job = run.stored()
    assert (job.log_tail, job.error_excerpt, [m.name for m in job.stages]) == (
        "ERROR: congestion",
        "ERROR: congestion",
        ["routing"],
    )


def test_progress_for_an_unknown_job_is_not_found() -> None:
    run = Completion()
    run.jobs.docs.clear()
    assert run.call({"kind": "progress", "stage": "x"}).status == 404


def test_ended_with_a_successful_manifest() -> None:
    run = Completion(JobState.RUNNING)
    pictures = {"render/layout.png": "", "render/layout-thumb.png": ""}
    run.put_manifest(SUCCESS_MANIFEST, {**spm_outputs(), **pictures})
    thumbnail = b"\x89PNG\r\n\x1a\n" + bytes(100)
    run.store.put("results", f"{run.job.results_prefix}files/render/layout-thumb.png", thumbnail)
    run.cluster.states[SLURM_ID] = ["COMPLETED"]
    assert run.ended() == Reply(200, "SUCCEEDED")

    job = run.stored()
    assert job.state is JobState.SUCCEEDED and job.reason is None
    expected = QflowOsu035Runner(render_script=RENDER_SCRIPT).parse_metrics(
        {k: v for k, v in spm_outputs().items() if not k.endswith(".gds")}
    )
    assert expected.cell_count is not None and expected.area_um2 is not None
    assert job.metrics is not None
    assert (job.metrics.cell_count, job.metrics.area_um2) == (expected.cell_count, expected.area_um2)
    assert (job.metrics.runtime_s, job.metrics.peak_memory_mb) == (72.0, 180.0)
    assert job.flow_runtime_s == 72.0
    prefix = f"gs://results/{job.results_prefix}"
    assert job.artifacts["gds"] == f"{prefix}files/qflow/layout/spm.gds"
    assert job.artifacts["manifest"] == f"{prefix}manifest.json"
    assert job.artifacts["layout_png"] == f"{prefix}files/render/layout.png"
    assert job.artifacts["layout_thumb_png"] == f"{prefix}files/render/layout-thumb.png"
    assert job.cluster_ended_at == datetime.fromtimestamp(1793610000.25, UTC)
    assert job.error_excerpt is None

    (mail,) = run.mailer.sent
    assert mail.to == OWNER and "finished successfully" in mail.subject
    assert "Cells" in mail.text and prefix in mail.text
    assert f"https://olc.example.org/v1/jobs/{job.id}/download" in mail.text
    assert [image.data for image in mail.images] == [thumbnail]
    assert run.publisher.messages == [("olc-jobs", {"kind": "slot-freed", "job_id": job.id}, {"kind": "slot-freed"})]
    assert [(user, month) for user, month, _ in run.quotas.added] == [(OWNER, "2026-11")]


def test_ended_with_a_flow_failure() -> None:
    run = Completion(JobState.RUNNING)
    failed = {**SUCCESS_MANIFEST, "flow_exit_code": 2, "failed_stage": "routing", "error_excerpt": "ERROR: congestion"}
    run.put_manifest(failed)
    run.cluster.states[SLURM_ID] = ["COMPLETED"]
    assert run.ended() == Reply(200, "FAILED")
    job = run.stored()
    assert (job.stage, job.error_excerpt) == ("routing", "ERROR: congestion")
    assert "stage 'routing'" in (job.reason or "")
    assert "ERROR: congestion" in run.mailer.sent[0].text


def test_ended_after_a_cancel_without_manifest() -> None:
    run = Completion(JobState.RUNNING)
    run.cluster.states[SLURM_ID] = ["CANCELLED by 1001"]
    assert run.ended() == Reply(200, "CANCELLED")
    assert "was cancelled" in run.mailer.sent[0].subject


def test_ended_while_slurm_says_completing_waits_for_completed() -> None:
    run = Completion(JobState.RUNNING, wait_s=5)
    run.put_manifest(SUCCESS_MANIFEST)
    run.cluster.states[SLURM_ID] = ["COMPLETING", "COMPLETED"]
    assert run.ended() == Reply(200, "SUCCEEDED")
    assert len(run.cluster.status_calls) == 2


def test_ended_while_slurm_stays_completing_asks_the_caller_to_retry() -> None:
    run = Completion(JobState.RUNNING, wait_s=0)
    run.put_manifest(SUCCESS_MANIFEST)
    run.cluster.states[SLURM_ID] = ["COMPLETING"]
    assert run.ended().status == 503
    assert run.stored().state is JobState.RUNNING
    assert run.mailer.sent == [] and run.publisher.messages == []
    run.cluster.states[SLURM_ID] = ["COMPLETED"]
    assert run.ended() == Reply(200, "SUCCEEDED")


def test_ended_twice_is_a_no_op_the_second_time() -> None:
    run = Completion(JobState.RUNNING)
    run.put_manifest(SUCCESS_MANIFEST)
    run.cluster.states[SLURM_ID] = ["COMPLETED"]
    assert run.ended() == Reply(200, "SUCCEEDED")
    first = run.stored()
    assert run.ended() == Reply(200, "already SUCCEEDED")
    assert without_receipts(run.stored()) == without_receipts(first)
    assert len(run.mailer.sent) == 1
    assert run.publisher.kinds() == ["slot-freed"]
    assert len(run.quotas.added) == 1


def test_late_progress_after_the_end_changes_nothing() -> None:
    run = Completion(JobState.RUNNING)
    run.cluster.states[SLURM_ID] = ["TIMEOUT"]
    assert run.ended() == Reply(200, "TIMEOUT")
    ended = run.stored()
    assert run.call({"kind": "progress", "stage": "routing"}) == Reply(200, "recorded")
    assert without_receipts(run.stored()) == without_receipts(ended)


def without_receipts(job: Job) -> Job:
    """The job apart from the signed calls it remembers (each call adds its receipt)."""
    return replace(job, call_receipts={})


def test_a_report_writes_its_receipt_with_its_change_and_a_replay_is_refused_without_writing() -> None:
    run = Completion(JobState.SUBMITTED)
    body = json.dumps({"kind": "progress", "stage": "routing", "job_id": run.job.id}).encode()
    stamp = int(run.clock().timestamp())
    headers = {"X-OLC-Timestamp": str(stamp), "X-OLC-Signature": sign(job_key(MASTER, run.job.id), stamp, body)}
    writes = run.jobs.writes
    assert handle_callback(body, headers, run.deps, run.clock) == Reply(200, "recorded")
    assert run.jobs.writes == writes + 1  # the stage and the receipt in one write
    assert run.stored().stage == "routing" and len(run.stored().call_receipts) == 1
    assert handle_callback(body, headers, run.deps, run.clock).status == 409
    assert run.jobs.writes == writes + 1


def test_receipts_are_kept_while_their_signatures_are_valid_and_then_dropped() -> None:
    run = Completion(JobState.SUBMITTED)
    assert run.call({"kind": "progress", "stage": "synthesis"}) == Reply(200, "recorded")
    run.clock.advance(2 * MAX_SKEW_S + 5)
    assert run.call({"kind": "progress", "stage": "routing"}) == Reply(200, "recorded")
    assert len(run.stored().call_receipts) == 1  # the first call's signature has expired, so has its receipt


def test_an_end_report_needs_the_slurm_id() -> None:
    run = Completion()
    assert run.call({"kind": "ended"}).status == 400
    assert run.call({"kind": "exploded"}).status == 400


def test_finish_job_for_an_unknown_job() -> None:
    run = Completion()
    assert finish_job("j" + "f" * 19, SLURM_ID, run.deps, run.clock).status == 404


def test_the_reconciler_path_finishes_a_job_slurm_forgot() -> None:
    """finish_job is also the reconciler's path: with Slurm's record gone, the manifest decides."""
    run = Completion(JobState.RUNNING)
    run.put_manifest(SUCCESS_MANIFEST)
    assert finish_job(run.job.id, SLURM_ID, run.deps, run.clock) == Reply(200, "SUCCEEDED")
    assert run.stored().cluster_ended_at is None
