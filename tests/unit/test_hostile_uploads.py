"""The hostile-upload corpus (tests/security/corpus.py) through the ingest use case, with the deployment's default
settings wired as shared/bootstrap.py wires them; and the examples, which must still be accepted."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fakes import FakeJobs, FakeMailer, FakePublisher, FakeQuotas, FakeStore

from olc_cli.client import pack_design
from shared.bootstrap import ingest_policy
from shared.config import Settings
from shared.domain.events import UploadEvent
from shared.domain.job import Job, JobState, SourceObject
from shared.domain.quota import QuotaLimits
from shared.services.ingest import IngestDeps, ingest_upload
from shared.services.notify import Notifier
from tests.security.corpus import CANARY_NAME, Case, cases, config, design, tar
from tests.security.corpus import zip_ as zip_bytes

ROOT = Path(__file__).resolve().parents[2]
OWNER = "mallory@example.com"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ENV = {
    "GOOGLE_CLOUD_PROJECT": "olc-test",
    "DESIGNS_BUCKET": "designs",
    "RESULTS_BUCKET": "results",
    "COMPLETION_URL": "https://completion.example/",
    "SLURM_LOGIN_HOST": "10.0.0.5",
    "EXTRA_FLOWS": "yosys-osu035",
}


def ingest(object_name: str, data: bytes, env: dict[str, str] | None = None) -> tuple[Job, FakePublisher]:
    jobs, store, publisher = FakeJobs(), FakeStore(), FakePublisher()
    deps = IngestDeps(
        jobs=jobs,
        store=store,
        publisher=publisher,
        notifier=Notifier(jobs, FakeMailer(), "results"),
        results=store,  # type: ignore[arg-type]
        policy=ingest_policy(Settings.from_env({**ENV, **(env or {})})),
        quotas=FakeQuotas(),
        limits=QuotaLimits(),
    )
    name = f"{OWNER}/{object_name}"
    store.put("designs", name, data)
    job = ingest_upload(UploadEvent(SourceObject("designs", name, 1, size=len(data))), deps, T0)
    assert job is not None
    return job, publisher


def unpacked(data: bytes) -> bytes:
    try:
        return gzip.decompress(data)
    except (OSError, EOFError):
        return data


# ------------------------------------------------------------------------------------------------ the corpus
def test_the_corpus_is_big_varied_and_well_formed() -> None:
    corpus = cases()
    assert len(corpus) >= 36
    assert len({c.name for c in corpus}) == len(corpus)
    for case in corpus:
        assert case.expected_reason == case.expected_reason.lower(), case.name
        assert case.name.replace("-", "").isalnum(), case.name
    assert sum(CANARY_NAME in c.object_name or CANARY_NAME.encode() in unpacked(c.data) for c in corpus) >= 8
    assert {".tar.gz", ".zip", ".tar", ".tgz", ".exe"} <= {
        suffix
        for c in corpus
        for suffix in (".tar.gz", ".zip", ".tar", ".tgz", ".exe")
        if c.object_name.endswith(suffix)
    }
    assert cases() == corpus  # built once, the same every time


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.name)
def test_each_hostile_upload_is_rejected_with_its_reason(case: Case) -> None:
    job, publisher = ingest(case.object_name, case.data)
    assert job.state is JobState.REJECTED
    reason = job.reason or ""
    assert case.expected_reason in reason.lower(), reason
    assert len(reason) < 2000, "reasons are mailed: keep them short"
    assert publisher.messages == []


# ------------------------------------------------------------------------------------------ what must pass
@pytest.mark.parametrize("example", ["spm", "counter", "broken-synth"])
def test_the_examples_are_accepted(example: str) -> None:
    name, data = pack_design(ROOT / "examples" / example)
    job, publisher = ingest(name, data)
    assert job.state is JobState.QUEUED, job.reason
    assert job.design is not None and job.design.verilog_files
    assert len(publisher.messages) == 1


def test_the_examples_are_accepted_as_zip_and_plain_tar() -> None:
    folder = ROOT / "examples" / "spm"
    files = sorted(
        (f"spm/{p.relative_to(folder).as_posix()}", p.read_bytes()) for p in folder.rglob("*") if p.is_file()
    )
    assert ingest("spm.zip", zip_bytes(files))[0].state is JobState.QUEUED
    assert ingest("spm.tar", tar(files, gz=False))[0].state is JobState.QUEUED
    assert ingest("spm.tgz", tar(files))[0].state is JobState.QUEUED


def test_a_design_may_ask_for_cpus_memory_and_time_within_the_bounds() -> None:
    data = tar(design(config(OLC_CPUS=4, OLC_MEMORY_MB=16384, OLC_TIME_LIMIT_MINUTES=90)))
    job, _ = ingest("spm.tar.gz", data)
    assert job.state is JobState.QUEUED, job.reason
    assert (job.resources.cpus, job.resources.memory_mb, job.resources.time_limit_minutes) == (4, 16384, 90)
    defaults, _ = ingest("spm.tar.gz", tar(design()))
    assert (defaults.resources.cpus, defaults.resources.memory_mb) == (1, 4096)
    bounded, _ = ingest("spm.tar.gz", data, {"MAX_CPUS_PER_JOB": "2"})
    assert bounded.state is JobState.REJECTED and "OLC_CPUS 4 must be a whole number of CPUs from 1 to 2" in (
        bounded.reason or ""
    )


def test_archive_limits_come_from_the_settings() -> None:
    data = tar([*design(), *((f"spm/src/f{i}.v", b"") for i in range(20))])
    assert ingest("spm.tar.gz", data)[0].state is JobState.QUEUED
    job, _ = ingest("spm.tar.gz", data, {"MAX_ARCHIVE_ENTRIES": "10"})
    assert "more than 10 entries" in (job.reason or "")
    job, _ = ingest("spm.tar.gz", tar([*design(), ("spm/big.v", b"x" * 5000)]), {"MAX_FILE_BYTES": "4096"})
    assert "may be at most 4096 bytes" in (job.reason or "")
    job, _ = ingest("spm.tar.gz", tar([*design(), ("spm/big.v", b"x" * 5000)]), {"MAX_UNPACKED_BYTES": "4096"})
    assert "unpacks to more than 4096 bytes" in (job.reason or "")
    repetitive = tar([*design(), ("spm/src/zeros.v", bytes(3 << 20))])
    assert "compression bomb" in (ingest("spm.tar.gz", repetitive)[0].reason or "")
    assert ingest("spm.tar.gz", repetitive, {"MAX_COMPRESSION_RATIO": "5000"})[0].state is JobState.QUEUED


def test_the_spm_config_with_pdk_sections_keeps_every_key() -> None:
    name, data = pack_design(ROOT / "examples" / "spm")
    job, _ = ingest(name, data)
    assert job.design is not None
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        member = archive.extractfile("spm/config.json")
        assert member is not None
        assert job.design.flow_variables == json.loads(member.read())


def test_zip_of_the_corpus_style_builder_is_a_real_zip() -> None:
    with zipfile.ZipFile(io.BytesIO(zip_bytes(design()))) as archive:
        assert archive.testzip() is None
