"""The whole pipeline on the real local stack: upload -> ingest -> dispatcher -> Slurm -> flow -> epilog -> hook."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from pathlib import Path

from google.cloud import firestore, pubsub_v1

from devstack.load import job_record
from devstack.mailbox import messages_about, text_body, wait_for_mail
from devstack.stack import DESIGN_EVENTS_TOPIC, DESIGNS_BUCKET, PROJECT_ID, RESULTS_BUCKET
from olc_cli import client
from shared.domain.job import SourceObject
from shared.domain.upload import job_id_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _user() -> str:
    return f"e2e-{uuid.uuid4().hex[:8]}@example.com"


def _submit(stack, design: str, user: str):
    config = stack.client(user)
    name, data = client.pack_design(EXAMPLES / design)
    source = client.upload(config, name, data, reuse=False)
    return config, source, job_id_for(source)


def test_spm_succeeds_with_gds_in_results_and_mail(stack):
    config, source, job_id = _submit(stack, "spm", _user())
    job = client.wait_for_job(config, job_id, 180, lambda _: None)

    assert job["state"] == "SUCCEEDED", job
    assert [e["name"] for e in job["timeline"] if e["kind"] == "state"] == [
        "QUEUED",
        "SUBMITTED",
        "RUNNING",
        "SUCCEEDED",
    ]
    assert job["metrics"]["cell_count"] > 100
    assert job["metrics"]["lvs_match"] is True
    assert job["metrics"]["drc_errors"] == 0
    gds_uri = job_record(job_id).artifacts["gds"]  # the stored job's quick links (the API shows signed ones)
    gds_name = gds_uri.removeprefix(f"gs://{RESULTS_BUCKET}/")
    gds = stack.storage().bucket(RESULTS_BUCKET).blob(gds_name)
    assert gds.exists() and gds.reload() is None and gds.size > 10_000
    _, mail = wait_for_mail(stack.layout.maildir, job_id)
    assert mail["To"] == config.user
    assert "finished successfully" in mail["Subject"]
    body = text_body(mail)
    assert "Cells" in body and f"gs://{RESULTS_BUCKET}/{config.user}/{job_id}/" in body
    # The upload is kept as it was.
    assert stack.storage().bucket(DESIGNS_BUCKET).blob(source.name).exists()


def test_failing_design_fails_with_error_excerpt_on_job_and_mail(stack):
    config, _, job_id = _submit(stack, "broken-synth", _user())
    job = client.wait_for_job(config, job_id, 120, lambda _: None)

    assert job["state"] == "FAILED"
    assert "synthesis" in job["reason"]
    assert "ERROR" in job["error_excerpt"] and "syntax error" in job["error_excerpt"]
    _, mail = wait_for_mail(stack.layout.maildir, job_id)
    assert "failed" in mail["Subject"]
    assert "syntax error" in text_body(mail)


def test_same_event_three_times_makes_one_job_and_one_slurm_run(stack):
    """One real notification from the storage emulator, then the same event twice more: once re-published as a
    bucket notification and once in the Eventarc shape posted straight to the ingest function."""
    config, source, job_id = _submit(stack, "counter", _user())
    blob = stack.storage().bucket(DESIGNS_BUCKET).get_blob(source.name)
    resource = {
        "bucket": DESIGNS_BUCKET,
        "name": source.name,
        "generation": str(source.generation),
        "size": str(blob.size),
        "metadata": blob.metadata or {},
    }
    publisher = pubsub_v1.PublisherClient()
    publisher.publish(
        publisher.topic_path(PROJECT_ID, DESIGN_EVENTS_TOPIC),
        json.dumps(resource).encode(),
        eventType="OBJECT_FINALIZE",
        bucketId=DESIGNS_BUCKET,
        objectId=source.name,
        objectGeneration=str(source.generation),
        payloadFormat="JSON_API_V1",
    ).result(timeout=30)
    request = urllib.request.Request(
        stack.layout.url("ingest") + "/",
        data=json.dumps(resource).encode(),
        headers={
            "Content-Type": "application/json",
            "ce-id": "redelivery-1",
            "ce-specversion": "1.0",
            "ce-source": f"//storage.googleapis.com/projects/_/buckets/{DESIGNS_BUCKET}",
            "ce-type": "google.cloud.storage.object.v1.finalized",
            "ce-subject": f"objects/{source.name}",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert reply.status == 200

    job = client.wait_for_job(config, job_id, 120, lambda _: None)
    assert job["state"] == "SUCCEEDED"
    time.sleep(2)  # let any late duplicate reach the dispatcher
    owned = [
        d.id
        for d in stack.firestore()
        .collection("jobs")
        .where(filter=firestore.FieldFilter("owner", "==", config.user))
        .stream()
    ]
    assert owned == [job_id]
    assert len(stack.slurm_jobs_named(f"olc-{job_id}")) == 1
    mails = [m["Subject"] for _p, m in messages_about(stack.layout.maildir, job_id)]
    assert len(mails) == 2 and sum("was accepted" in s for s in mails) == 1, mails  # one accepted, one finished


def test_upload_that_is_not_an_archive_is_rejected_with_reason_and_kept(stack):
    user = _user()
    config = stack.client(user)
    bucket = stack.storage().bucket(DESIGNS_BUCKET)
    blob = bucket.blob(f"{user}/design.tar.gz")
    blob.upload_from_string(b"this is a README, not a tarball\n")
    job_id = job_id_for(SourceObject(DESIGNS_BUCKET, blob.name, int(blob.generation)))
    job = client.wait_for_job(config, job_id, 60, lambda _: None)

    assert job["state"] == "REJECTED"
    assert "not a readable .tar/.tar.gz/.zip archive" in job["reason"]
    assert bucket.blob(blob.name).exists()
    _, mail = wait_for_mail(stack.layout.maildir, job_id)
    assert "rejected" in mail["Subject"] and "not a readable" in text_body(mail)
