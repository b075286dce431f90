"""Git submissions, result reuse and reruns as use cases, against the in-memory fakes of the ports."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from fakes import FakeMailer, FakePublisher

from shared.domain.content_key import content_key, reuse_wanted
from shared.domain.design import DesignSpec
from shared.domain.design_config import apply_overrides, override_problems
from shared.domain.events import DeadLetter, PubSubMessage, UploadEvent
from shared.domain.git_source import (
    REF_NOT_FOUND,
    FetchedDesign,
    GitFetchError,
    GitSource,
    GitSourceError,
)
from shared.domain.job import GitOrigin, Job, JobState, RunProgress, SourceObject, advance
from shared.domain.messages import FetchDesign, decode
from shared.domain.metrics import Metrics
from shared.domain.reuse import reuse_results
from shared.domain.upload import job_named_by
from shared.services.dead_letters import record_dead_letter
from shared.services.fetch_design import FetchDeps, fetch_submitted_design
from shared.services.git_submit import GitRequest, GitSubmitDeps, PushedCommit, submit_git
from shared.services.notify import Notifier
from shared.services.rerun import InvalidOverrides, NotRerunnable, SourceGone, rerun
from tests.unit.test_services import OWNER, SPM_CONFIG, SPM_VERILOG, T0, Ingest, spm_archive, tar_gz

URL = "https://git.example.com/chips/spm.git"
SHA = "a" * 40
LOOPBACK: tuple[str, ...] = ()


class FakeFetcher:
    def __init__(self, archive: bytes = b"", error: GitFetchError | None = None) -> None:
        self.archive, self.error = archive or spm_archive(), error
        self.fetched: list[GitSource] = []

    def fetch(self, source: GitSource) -> FetchedDesign:
        self.fetched.append(source)
        if self.error:
            raise self.error
        return FetchedDesign(SHA, self.archive)


class Git:
    """submit_git, the fetcher and ingest wired over one set of fakes."""

    def __init__(self, fetcher: FakeFetcher | None = None) -> None:
        self.ingest = Ingest()
        self.jobs, self.store = self.ingest.jobs, self.ingest.store
        self.publisher = FakePublisher()
        self.fetcher = fetcher or FakeFetcher()
        self.submit_deps = GitSubmitDeps(self.jobs, self.publisher, "designs", "olc-git-fetches", LOOPBACK)
        self.fetch_deps = FetchDeps(self.store, self.fetcher, "designs", LOOPBACK)

    def submit(self, **request: Any) -> Job:
        return submit_git(self.submit_deps, OWNER, GitRequest(**{"url": URL, "path": "spm", **request}), T0)

    def fetch(self, job: Job) -> str:
        """What the fetcher does with the message the submission published."""
        (message,) = [decode_wire(m, a) for _, m, a in self.publisher.messages if m["job_id"] == job.id][-1:]
        return fetch_submitted_design(message, self.fetch_deps)

    def ingest_packed(self, job: Job, generation: int = 1) -> Job | None:
        """Ingest's answer to the object the fetcher left: the packed design or the reason it could not."""
        name = next(n for (_, n) in self.store.objects if job_named_by(n) == job.id)
        data = self.store.objects[("designs", name)]
        source = SourceObject("designs", name, generation, size=len(data))
        return self.ingest.run(UploadEvent(source, metadata=self.store.meta.get(("designs", name), {})))


def decode_wire(message: dict[str, object], attributes: dict[str, str]) -> FetchDesign:
    decoded = decode(PubSubMessage(json.dumps(message).encode(), attributes))
    assert isinstance(decoded, FetchDesign)
    return decoded


# ------------------------------------------------------------------------------------------------ submitting
def test_a_git_submission_is_recorded_fetching_and_announced_to_the_fetcher() -> None:
    git = Git()
    job = git.submit(ref="v1")
    assert job.state is JobState.FETCHING
    assert job.git == GitOrigin(URL, "v1", "spm")
    assert job.source.name == f"{OWNER}/olc-git/{job.id}.tar.gz" and job_named_by(job.source.name) == job.id
    fetch = {"kind": "fetch", "job_id": job.id, "owner": OWNER, "url": URL, "ref": "v1", "path": "spm"}
    assert git.publisher.messages == [("olc-git-fetches", fetch, {"kind": "fetch"})]
    assert git.fetcher.fetched == []  # the caller never waits for git


def test_every_problem_of_a_request_is_reported_and_nothing_recorded() -> None:
    git = Git()
    with pytest.raises(GitSourceError) as caught:
        git.submit(url="file:///etc/passwd", ref="-x", path="../up")
    assert len(caught.value.problems) == 3
    assert git.jobs.docs == {} and git.publisher.messages == []


def test_the_same_pushed_commit_starts_one_job() -> None:
    git = Git()
    pushed = PushedCommit("r1", SHA)
    jobs = [submit_git(git.submit_deps, OWNER, GitRequest(URL, "main", "spm"), T0, pushed) for _ in range(3)]
    assert len({j.id for j in jobs}) == 1 and len(git.jobs.docs) == 1
    assert jobs[0].git == GitOrigin(URL, "main", "spm", SHA, "r1")
    assert {m["ref"] for _, m, _ in git.publisher.messages} == {SHA}  # exactly the pushed commit is fetched


# -------------------------------------------------------------------------------------------------- fetching
def test_the_fetched_design_goes_the_way_of_every_upload() -> None:
    git = Git()
    job = git.submit()
    assert git.fetch(job) == "uploaded"
    assert git.fetcher.fetched[0].path == "spm"
    assert git.store.meta[("designs", job.source.name)]["git-commit"] == SHA
    assert git.jobs.get(job.id).state is JobState.FETCHING  # type: ignore[union-attr]  # the fetcher writes no job
    queued = git.ingest_packed(job)
    assert queued is not None and queued.id == job.id
    assert queued.state is JobState.QUEUED
    assert [c.state for c in queued.history] == [JobState.FETCHING, JobState.QUEUED]
    assert queued.git == GitOrigin(URL, "main", "spm", SHA) and queued.source.generation == 1
    assert queued.design_name == "spm" and queued.content_key
    assert git.ingest.publisher.kinds() == ["queued"]


def test_a_redelivered_fetch_or_upload_event_changes_nothing() -> None:
    git = Git()
    job = git.submit()
    git.fetch(job)
    assert git.fetch(job) == "already done"
    assert len(git.fetcher.fetched) == 1
    first = git.ingest_packed(job)
    again = git.ingest_packed(job, generation=2)  # even a second upload of the packed design
    assert first is not None and again is not None and again.id == first.id
    assert len(git.jobs.docs) == 1


def test_a_fetch_that_fails_rejects_the_job_with_the_reason_and_one_mail() -> None:
    error = GitFetchError(REF_NOT_FOUND, "the repository has no branch or tag 'nope'")
    git = Git(FakeFetcher(error=error))
    submitted = git.submit(ref="nope")
    assert git.fetch(submitted) == "failed"
    assert git.fetch(submitted) == "already done"
    job = git.ingest_packed(submitted)
    assert job is not None and job.state is JobState.REJECTED
    assert job.reason == f"could not fetch the design from {URL} (nope): the repository has no branch or tag 'nope'"
    assert len(git.ingest.mailer.sent) == 1
    assert "nope" in git.ingest.mailer.sent[0].text


def test_a_failure_report_is_cleaned_and_bounded() -> None:
    git = Git()
    job = git.submit()
    git.store.write_bytes(
        "designs",
        f"{OWNER}/olc-git/{job.id}.fetch-failed.json",
        json.dumps({"reason": "\x1b[31m" + "x" * 5000}).encode(),
        "",
    )
    ended = git.ingest_packed(job)
    assert ended is not None and ended.state is JobState.REJECTED
    assert "\x1b" not in (ended.reason or "") and len(ended.reason or "") < 800


def test_a_packed_design_breaking_an_archive_rule_rejects_the_waiting_job() -> None:
    git = Git(FakeFetcher(archive=tar_gz({"spm/config.json": b"{"})))
    job = git.submit()
    git.fetch(job)
    rejected = git.ingest_packed(job)
    assert rejected is not None and rejected.state is JobState.REJECTED and "not valid JSON" in (rejected.reason or "")
    assert rejected.git is not None and rejected.git.commit == SHA


def test_a_hand_made_upload_into_the_git_folder_is_an_ordinary_upload() -> None:
    ingest = Ingest()
    name = f"{OWNER}/olc-git/j0123456789abcdef012.tar.gz"
    job = ingest.run(ingest.upload(name, spm_archive()))
    assert job is not None and job.id != "j0123456789abcdef012" and job.git is None
    assert job.state is JobState.QUEUED


def test_a_dead_lettered_fetch_rejects_the_waiting_job() -> None:
    git = Git()
    job = git.submit()
    letter = DeadLetter(
        "m1",
        {"kind": "fetch", "CloudPubSubDeadLetterSourceDeliveryCount": "5"},
        {"kind": "fetch", "job_id": job.id},
    )

    class Store:
        def record(self, *args: object) -> None:
            pass

    notifier = Notifier(git.jobs, FakeMailer(), "results")
    record_dead_letter(letter, Store(), git.jobs, notifier, lambda: T0)
    ended = git.jobs.get(job.id)
    assert ended is not None and ended.state is JobState.REJECTED
    assert (ended.reason or "").startswith("the design could not be fetched")


# --------------------------------------------------------------------------------------------------- reusing
def spec(**changes: Any) -> DesignSpec:
    base = DesignSpec("spm", "spm", ("src/spm.v",), flow_variables=dict(SPM_CONFIG))
    return replace(base, **changes)


def test_the_content_key_follows_what_determines_the_result() -> None:
    files = {"config.json": "c" * 64, "src/spm.v": "d" * 64}
    key = content_key(spec(), files, "qflow 1.3", "")
    assert key == content_key(spec(), dict(reversed(files.items())), "qflow 1.3", "")
    changed = [
        content_key(spec(), {**files, "src/spm.v": "e" * 64}, "qflow 1.3", ""),
        content_key(spec(), {**files, "src/defines.vh": "f" * 64}, "qflow 1.3", ""),
        content_key(spec(clock_period_ns=12.0), files, "qflow 1.3", ""),
        content_key(spec(flow="yosys-osu035"), files, "qflow 1.3", ""),
        content_key(spec(), files, "qflow 1.4", ""),
        content_key(spec(pdk="sky130A"), files, "qflow 1.3", ""),
        content_key(spec(flow_variables={**SPM_CONFIG, "SYNTH_STRATEGY": "AREA 1"}), files, "qflow 1.3", ""),
    ]
    assert key not in changed and len(set(changed)) == len(changed)
    same = [
        content_key(spec(cpus=4, memory_mb=8192, time_limit_minutes=30), files, "qflow 1.3", ""),
        content_key(spec(flow_variables={**SPM_CONFIG, "OLC_CPUS": 4, "OLC_CACHE": True}), files, "qflow 1.3", ""),
    ]
    assert set(same) == {key}
    assert not reuse_wanted(spec(flow_variables={"OLC_CACHE": False})) and reuse_wanted(spec())


def succeeded(ingest: Ingest, job: Job) -> Job:
    """`job` as a run that succeeded, with results in the store."""
    prefix = job.results_prefix or ""
    for name in ("manifest.json", "files/spm.gds"):
        ingest.store.put("results", prefix + name, name)
    done = advance(
        job,
        JobState.SUCCEEDED,
        T0,
        metrics=Metrics(area_um2=100.0),
        artifacts={"gds": f"gs://results/{prefix}files/spm.gds"},
        runs=(RunProgress(0, "SUCCEEDED", links={"gds": f"gs://results/{prefix}0/files/spm.gds"}),),
        slurm_job_id="7",
        core_hours=0.5,
    )
    assert done is not None
    ingest.jobs.mutate(job.id, lambda _j: done)
    return done


def results_policy(ingest: Ingest, scope: str = "user") -> None:
    ingest.deps = replace(ingest.deps, policy=replace(ingest.deps.policy, results_bucket="results", reuse_scope=scope))


def test_an_identical_upload_ends_succeeded_at_once_with_a_copy_of_the_results() -> None:
    ingest = Ingest()
    results_policy(ingest)
    first = ingest.run(ingest.upload(f"{OWNER}/spm.tar.gz", spm_archive()))
    assert first is not None
    original = succeeded(ingest, first)
    again = ingest.run(ingest.upload(f"{OWNER}/spm-2.tar.gz", spm_archive()))
    assert again is not None and again.state is JobState.SUCCEEDED
    assert again.reused_from == original.id and again.reason == f"same inputs as job {original.id}: results reused"
    assert again.core_hours == 0.0 and again.slurm_job_id is None and again.metrics == original.metrics
    assert again.artifacts == {"gds": f"gs://results/{again.results_prefix}files/spm.gds"}
    assert again.runs[0].links == {"gds": f"gs://results/{again.results_prefix}0/files/spm.gds"}
    assert ("results", f"{again.results_prefix}files/spm.gds") in ingest.store.objects
    assert "queued" not in ingest.publisher.kinds()[1:]  # nothing for the dispatcher
    assert [m.subject for m in ingest.mailer.sent][-1].startswith("[OpenLane Cloud]")


@pytest.mark.parametrize(
    ("scope", "metadata", "config", "other_user", "reused"),
    [
        ("user", {}, {}, False, True),
        ("user", {"cache": "false"}, {}, False, False),
        ("user", {}, {"OLC_CACHE": False}, False, False),
        ("user", {}, {}, True, False),
        ("all", {}, {}, True, True),
        ("off", {}, {}, False, False),
    ],
)
def test_who_may_reuse_and_who_asked_not_to(
    scope: str, metadata: dict[str, str], config: dict[str, Any], other_user: bool, reused: bool
) -> None:
    ingest = Ingest()
    results_policy(ingest, scope)
    first = ingest.run(ingest.upload(f"{OWNER}/spm.tar.gz", spm_archive()))
    assert first is not None
    succeeded(ingest, first)
    owner = "bob@example.com" if other_user else OWNER
    event = ingest.upload(f"{owner}/spm-2.tar.gz", spm_archive({**SPM_CONFIG, **config}), metadata=metadata)
    job = ingest.run(event)
    assert job is not None
    assert (job.reused_from == first.id) is reused
    assert job.state is (JobState.SUCCEEDED if reused else JobState.QUEUED)


def test_a_failed_run_is_never_reused() -> None:
    ingest = Ingest()
    results_policy(ingest)
    first = ingest.run(ingest.upload(f"{OWNER}/spm.tar.gz", spm_archive()))
    assert first is not None
    ingest.jobs.mutate(first.id, lambda j: advance(j, JobState.FAILED, T0, "synthesis failed"))
    again = ingest.run(ingest.upload(f"{OWNER}/spm-2.tar.gz", spm_archive()))
    assert again is not None and again.state is JobState.QUEUED and again.reused_from is None


def test_reuse_rewrites_only_the_originals_prefix() -> None:
    original = replace(
        Job("jorig", OWNER, SourceObject("d", "n", 1), JobState.SUCCEEDED, T0),
        results_prefix=f"{OWNER}/jorig/",
        artifacts={"gds": f"gs://results/{OWNER}/jorig/files/x.gds", "elsewhere": "gs://other/thing"},
    )
    queued = replace(
        Job("jnew", OWNER, SourceObject("d", "m", 1), JobState.QUEUED, T0), results_prefix=f"{OWNER}/jnew/"
    )
    done = reuse_results(queued, original, T0)
    assert done.artifacts == {"gds": f"gs://results/{OWNER}/jnew/files/x.gds", "elsewhere": "gs://other/thing"}


# ---------------------------------------------------------------------------------------------------- rerun
def test_overrides_are_checked_like_config_json() -> None:
    assert override_problems({"CLOCK_PERIOD": 12, "SYNTH_STRATEGY": "AREA 1"}) == []
    problems = override_problems({"CLOCK_PERIODX": 1, "SYNTH_STRATEGY": 7, "DESIGN_NAME": "x", "CLOCK_PERIOD": -1})
    assert len(problems) == 4
    assert any("did you mean CLOCK_PERIOD" in p for p in problems)
    assert override_problems([1]) and override_problems({f"K{i}": 1 for i in range(60)})
    assert json.loads(apply_overrides('{"A": 1, "B": 2}', {"B": 3})) == {"A": 1, "B": 3}
    assert apply_overrides('{"A": 1, "A": 2}', {"B": 3}) == '{"A": 1, "A": 2}'  # left for the checks to refuse


def test_a_rerun_copies_the_source_with_its_changes_and_ingest_applies_them() -> None:
    ingest = Ingest()
    parent = ingest.run(ingest.upload(f"{OWNER}/spm.tar.gz", spm_archive()))
    assert parent is not None
    ticket = rerun(ingest.store, parent, {"CLOCK_PERIOD": 12.5}, T0, notify=False, reuse=True)
    meta = ingest.store.meta[("designs", ticket.upload.name)]
    assert meta["olc-parent"] == parent.id and json.loads(meta["olc-overrides"]) == {"CLOCK_PERIOD": 12.5}
    child = ingest.run(UploadEvent(ticket.upload, metadata=meta))
    assert child is not None and child.id == ticket.job_id
    assert child.state is JobState.QUEUED and child.parent_job == parent.id
    assert child.design is not None and child.design.clock_period_ns == 12.5
    assert child.content_key != parent.content_key and not child.notifications_enabled


def test_a_rerun_keeps_the_git_origin_of_its_parent() -> None:
    git = Git()
    job = git.submit()
    git.fetch(job)
    parent = git.ingest_packed(job)
    assert parent is not None
    ticket = rerun(git.store, parent, {"CLOCK_PERIOD": 20}, T0, notify=True, reuse=True)
    child = git.ingest.run(UploadEvent(ticket.upload, metadata=git.store.meta[("designs", ticket.upload.name)]))
    assert child is not None and child.git == parent.git and child.parent_job == parent.id


def test_a_rerun_with_bad_changes_or_without_a_source_is_refused() -> None:
    ingest = Ingest()
    parent = ingest.run(ingest.upload(f"{OWNER}/spm.tar.gz", spm_archive()))
    assert parent is not None
    with pytest.raises(InvalidOverrides):
        rerun(ingest.store, parent, {"NOPE": 1}, T0, notify=True, reuse=True)
    rejected = ingest.run(ingest.upload(f"{OWNER}/bad.tar.gz", tar_gz({"x/config.json": b"{"})))
    assert rejected is not None
    with pytest.raises(NotRerunnable):
        rerun(ingest.store, rejected, {}, T0, notify=True, reuse=True)
    del ingest.store.objects[("designs", parent.source.name)]
    with pytest.raises(SourceGone):
        rerun(ingest.store, parent, {}, T0, notify=True, reuse=True)


def test_changes_smuggled_in_upload_metadata_are_checked_too() -> None:
    ingest = Ingest()
    meta = {"olc-overrides": json.dumps({"VERILOG_FILES": "/etc/passwd"}), "olc-parent": "jnothere00000000000"}
    job = ingest.run(
        ingest.upload(
            f"{OWNER}/spm.tar.gz",
            tar_gz({"spm/config.json": json.dumps(SPM_CONFIG).encode(), "spm/src/spm.v": SPM_VERILOG}),
            metadata=meta,
        )
    )
    assert job is not None and job.state is JobState.REJECTED
    assert "VERILOG_FILES cannot be changed in a rerun" in (job.reason or "")
    assert job.parent_job is None


@pytest.mark.parametrize(("config", "reused"), [({}, True), ({"OLC_CACHE": False}, False)])
def test_a_git_design_asking_for_a_run_in_its_config_runs(config: dict[str, Any], reused: bool) -> None:
    git = Git(FakeFetcher(archive=spm_archive({**SPM_CONFIG, **config})))
    results_policy(git.ingest)
    first = git.ingest.run(git.ingest.upload(f"{OWNER}/spm.tar.gz", spm_archive()))
    assert first is not None
    succeeded(git.ingest, first)
    job = git.submit()
    git.fetch(job)
    ended = git.ingest_packed(job)
    assert ended is not None and (ended.reused_from == first.id) is reused
    assert ended.state is (JobState.SUCCEEDED if reused else JobState.QUEUED)
