"""The malicious-upload corpus (tests/security/corpus.py) through the real stack.

Every case must end REJECTED with its expected reason, the owner must get an e-mail saying why, the upload must
still be there untouched, nothing may be written outside a job's own results folder, and the canary file that
the hostile strings try to create must not appear anywhere. A valid design uploaded under a hostile object name,
with hostile metadata, must run normally and leave no canary either.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from devstack.load import design_archive
from devstack.mailbox import messages_about, text_body
from devstack.stack import DESIGNS_BUCKET, REPO_ROOT, RESULTS_BUCKET
from shared.domain.job import SourceObject
from shared.domain.upload import job_id_for
from tests.security.corpus import CANARY_NAME, Case, cases

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack

MALLORY = "mallory@example.com"
HOSTILE_VALID_NAME = "$(touch /tmp/{c}) `touch {c}`; touch {c} & -rf --x=1 'q' \"d\" {{a,b}} * ?/spm.tar.gz"


@pytest.fixture(scope="module")
def corpus_run(stack: RunningStack) -> dict[str, Any]:
    """Upload every case (and one hostile-named valid design), then wait until every job has ended."""
    bucket = stack.storage().bucket(DESIGNS_BUCKET)
    uploads: dict[str, tuple[Case | None, SourceObject, str]] = {}
    for case in cases():
        # A folder per case: several cases share a file name, and an overwrite would replace the earlier upload.
        blob = bucket.blob(f"{MALLORY}/{case.name}/{case.object_name}")
        blob.metadata = {"notify": "true", "comment": f"$(touch /tmp/{CANARY_NAME})"}
        blob.upload_from_string(case.data)
        source = SourceObject(DESIGNS_BUCKET, blob.name, int(blob.generation), len(case.data))
        uploads[case.name] = (case, source, hashlib.md5(case.data).hexdigest())
    valid = design_archive(REPO_ROOT / "examples" / "spm")
    blob = bucket.blob(f"{MALLORY}/" + HOSTILE_VALID_NAME.format(c=CANARY_NAME))
    blob.metadata = {"notify": f"true; touch /tmp/{CANARY_NAME}", "x": f"`touch {CANARY_NAME}`"}
    blob.upload_from_string(valid)
    uploads["hostile-name-valid-design"] = (
        None,
        SourceObject(DESIGNS_BUCKET, blob.name, int(blob.generation), len(valid)),
        hashlib.md5(valid).hexdigest(),
    )
    jobs = stack.firestore().collection("jobs")
    deadline = time.monotonic() + 240
    ended: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline and len(ended) < len(uploads):
        for name, (_case, source, _md5) in uploads.items():
            if name not in ended:
                snapshot = jobs.document(job_id_for(source)).get()
                if snapshot.exists and snapshot.to_dict()["state"] in ("REJECTED", "SUCCEEDED", "FAILED"):
                    ended[name] = snapshot.to_dict()
        time.sleep(0.5)
    missing = sorted(set(uploads) - set(ended))
    assert not missing, f"these uploads never reached an end: {missing}"
    return {"uploads": uploads, "jobs": ended}


def test_the_corpus_is_big_enough() -> None:
    assert len(cases()) >= 30
    assert len({c.name for c in cases()}) == len(cases())


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.name)
def test_each_hostile_upload_is_rejected_with_its_reason(corpus_run: dict[str, Any], case: Case) -> None:
    job = corpus_run["jobs"][case.name]
    assert job["state"] == "REJECTED", f"{case.name} was not rejected: {job['state']}"
    assert case.expected_reason in (job.get("reason") or "").lower(), job.get("reason")
    assert job.get("slurm_job_id") is None


def test_every_rejection_tells_the_owner_why(stack: RunningStack, corpus_run: dict[str, Any]) -> None:
    missing = []
    deadline = time.monotonic() + 30
    for name, job in corpus_run["jobs"].items():
        if job["state"] != "REJECTED":
            continue
        while not (mails := messages_about(stack.layout.maildir, job["id"])) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not mails:
            missing.append(name)
            continue
        _path, message = mails[-1]
        assert message["To"] == MALLORY
        assert "rejected" in message["Subject"].lower()
        assert job["reason"].split(":")[0] in text_body(message)
    assert not missing, f"no e-mail for {missing}"


def test_uploads_are_kept_untouched(stack: RunningStack, corpus_run: dict[str, Any]) -> None:
    bucket = stack.storage().bucket(DESIGNS_BUCKET)
    for name, (_case, source, md5) in corpus_run["uploads"].items():
        blob = bucket.get_blob(source.name)
        assert blob is not None, f"the upload of {name} is gone"
        assert blob.generation == source.generation, f"the upload of {name} was replaced"
        assert hashlib.md5(blob.download_as_bytes()).hexdigest() == md5, name


def test_nothing_is_written_outside_the_jobs_own_folders(stack: RunningStack, corpus_run: dict[str, Any]) -> None:
    prefixes = [job["results_prefix"] for job in corpus_run["jobs"].values() if job.get("results_prefix")]
    for blob in stack.storage().list_blobs(RESULTS_BUCKET, prefix=f"{MALLORY}/"):
        assert any(blob.name.startswith(p) for p in prefixes), f"{blob.name} is outside every job's folder"
    rejected = [j for j in corpus_run["jobs"].values() if j["state"] == "REJECTED"]
    for job in rejected:
        assert not list(stack.storage().list_blobs(RESULTS_BUCKET, prefix=f"{MALLORY}/{job['id']}/"))
    designs = {b.name for b in stack.storage().list_blobs(DESIGNS_BUCKET, prefix=f"{MALLORY}/")}
    assert designs == {source.name for _c, source, _m in corpus_run["uploads"].values()}


def test_a_valid_design_under_a_hostile_name_runs_normally(corpus_run: dict[str, Any]) -> None:
    job = corpus_run["jobs"]["hostile-name-valid-design"]
    assert job["state"] == "SUCCEEDED", job.get("reason")
    assert job["design_name"] == "spm"


def test_no_canary_anywhere(stack: RunningStack, corpus_run: dict[str, Any]) -> None:
    login_home = Path("/home") / stack.layout.login_user
    places = [Path("/tmp"), Path("/var/tmp"), Path("/root"), REPO_ROOT, login_home, stack.layout.state, Path("/")]
    found = []
    for place in places:
        if not place.exists():
            continue
        if place == Path("/"):  # only the top level of / (a `touch` run from / would land there)
            found += [str(p) for p in place.iterdir() if p.name == CANARY_NAME]
            continue
        for root, dirs, files in os.walk(place):
            dirs[:] = [d for d in dirs if d not in (".venv", ".venv-checkov", ".git", "node_modules")]
            # Exactly the name `touch` would create (stored objects may merely contain the string).
            found += [os.path.join(root, f) for f in files + dirs if f == CANARY_NAME]
    assert not found, f"a hostile string was executed: {found}"


def test_secrets_never_reach_logs_or_job_documents(stack: RunningStack, corpus_run: dict[str, Any]) -> None:
    secrets_dir = stack.layout.secrets_dir
    master = (secrets_dir / "olc-hook-key").read_text().strip()
    ssh_key_body = "".join((secrets_dir / "olc-ssh-key").read_text().splitlines()[1:-1])[:60]
    issuer_key_body = "".join((secrets_dir / "olc-dev-issuer-key.pem").read_text().splitlines()[1:-1])[:60]
    needles = {"hook master key": master, "SSH key": ssh_key_body, "issuer key": issuer_key_body}
    logs = list((stack.layout.state / "logs").glob("*.log"))
    assert logs, "no function logs found to check"
    for log in logs:
        text = log.read_text(errors="replace")
        for what, needle in needles.items():
            assert needle not in text, f"the {what} appears in {log.name}"
    for snapshot in stack.firestore().collection("jobs").stream():
        document = str(snapshot.to_dict())
        for what, needle in needles.items():
            assert needle not in document, f"the {what} appears in job {snapshot.id}"
