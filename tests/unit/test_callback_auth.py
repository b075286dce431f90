"""HMAC authentication of cluster callbacks, and that the cluster-side copies (job kit, epilog sender) agree."""

from __future__ import annotations

import importlib.util
import io
import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fakes import (
    FakeCluster,
    FakeJobs,
    FakeMailer,
    FakeParetoPlotter,
    FakePublisher,
    FakeQuotas,
    FakeStore,
)

from shared.domain.callback_auth import (
    MAX_SKEW_S,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    CallbackAuthError,
    job_key,
    sign,
    verify,
)
from shared.domain.job import JobState, SourceObject, new_job
from shared.services.complete import handle_callback
from shared.services.completion.run_end import CompletionDeps
from shared.services.notify import Notifier

SLURM_DIR = Path(__file__).resolve().parents[2] / "infra" / "slurm"
MASTER = "master-key-from-secret-manager"
JOB_ID = "j0123456789abcdef012"
NOW = 1_750_000_000
BODY = b'{"kind":"progress","job_id":"j0123456789abcdef012","stage":"routing"}'


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"{name}_under_test", SLURM_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------------------ sign / verify
def test_job_keys_are_per_job_and_per_master() -> None:
    key = job_key(MASTER, JOB_ID)
    assert key == job_key(MASTER, JOB_ID)
    assert len(key) == 64 and int(key, 16) >= 0
    assert key != job_key(MASTER, "j0123456789abcdef013")
    assert key != job_key("another master", JOB_ID)
    assert MASTER not in key


def test_a_signed_body_verifies() -> None:
    key = job_key(MASTER, JOB_ID)
    verify(key, str(NOW), sign(key, NOW, BODY), BODY, now=NOW + 5)


@pytest.mark.parametrize("skew", [-MAX_SKEW_S, MAX_SKEW_S])
def test_skew_up_to_the_limit_is_accepted(skew: int) -> None:
    key = job_key(MASTER, JOB_ID)
    verify(key, str(NOW), sign(key, NOW, BODY), BODY, now=NOW + skew)


def refusal(key: str, timestamp: str | None, signature: str | None, body: bytes, now: float) -> str:
    with pytest.raises(CallbackAuthError) as caught:
        verify(key, timestamp, signature, body, now)
    return str(caught.value)


def test_a_tampered_body_is_refused() -> None:
    key = job_key(MASTER, JOB_ID)
    tampered = BODY.replace(b"routing", b"gdsii")
    assert refusal(key, str(NOW), sign(key, NOW, BODY), tampered, NOW) == "bad signature"


def test_another_jobs_key_is_refused() -> None:
    """A run holds only its own key, so it cannot report for another job."""
    other = job_key(MASTER, "j0123456789abcdef013")
    assert refusal(job_key(MASTER, JOB_ID), str(NOW), sign(other, NOW, BODY), BODY, NOW) == "bad signature"


def test_a_signature_for_another_timestamp_is_refused() -> None:
    key = job_key(MASTER, JOB_ID)
    assert refusal(key, str(NOW + 1), sign(key, NOW, BODY), BODY, NOW) == "bad signature"


@pytest.mark.parametrize("skew", [MAX_SKEW_S + 1, -(MAX_SKEW_S + 1), 86_400])
def test_stale_or_future_timestamps_are_refused(skew: int) -> None:
    key = job_key(MASTER, JOB_ID)
    assert "away from now" in refusal(key, str(NOW), sign(key, NOW, BODY), BODY, now=NOW + skew)


@pytest.mark.parametrize(
    ("timestamp", "signature", "words"),
    [
        (None, "abc", "missing"),
        (str(NOW), None, "missing"),
        ("", "abc", "missing"),
        (str(NOW), "", "missing"),
        ("yesterday", "abc", "malformed timestamp"),
        ("1.5e9", "abc", "malformed timestamp"),
    ],
)
def test_missing_or_malformed_headers(timestamp: str | None, signature: str | None, words: str) -> None:
    assert words in refusal(job_key(MASTER, JOB_ID), timestamp, signature, BODY, NOW)


# -------------------------------------------------------------------- the cluster-side implementations
class Captured:
    """Stands in for urllib.request.urlopen and keeps every request."""

    def __init__(self, error: Exception | None = None) -> None:
        self.requests: list[urllib.request.Request] = []
        self.error = error

    def __call__(self, request: urllib.request.Request, timeout: float = 0) -> Any:
        self.requests.append(request)
        if "metadata.google.internal" in request.full_url:
            return io.BytesIO(b"id-token-from-metadata\n")
        if self.error is not None:
            raise self.error
        return io.BytesIO(b"{}")

    def hook_requests(self) -> list[urllib.request.Request]:
        return [r for r in self.requests if "metadata.google.internal" not in r.full_url]


def signed_headers(request: urllib.request.Request) -> dict[str, str]:
    """The request's headers, named as the hook (behind Flask's case-insensitive headers) reads them."""
    headers = {k.lower(): v for k, v in request.header_items()}
    return {TIMESTAMP_HEADER: headers["x-olc-timestamp"], SIGNATURE_HEADER: headers["x-olc-signature"]}


def completion_deps(jobs: FakeJobs) -> CompletionDeps:
    return CompletionDeps(
        jobs=jobs,
        cluster=FakeCluster(),
        store=FakeStore(),
        publisher=FakePublisher(),
        notifier=Notifier(jobs, FakeMailer(), "results"),
        runners={},
        hook_master_key=lambda: MASTER,
        quotas=FakeQuotas(),
        plotter=FakeParetoPlotter(),
        results_bucket="results",
        jobs_topic="olc-jobs",
    )


def test_the_job_kits_hook_signs_like_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    kit = load("olc_job")
    captured = Captured()
    monkeypatch.setattr(kit.urllib.request, "urlopen", captured)
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    hook = kit.Hook({"url": "http://hook.local/", "auth": "none", "key": job_key(MASTER, JOB_ID)}, JOB_ID)
    hook.report({"kind": "progress", "stage": "routing"})
    hook.flush(5)  # reports go out in the background

    (request,) = captured.requests
    assert request.get_method() == "POST" and request.full_url == "http://hook.local/"
    body = request.data
    expected = {"kind": "progress", "stage": "routing", "job_id": JOB_ID, "slurm_job_id": "4242", "seq": 1}
    assert json.loads(body) == expected
    headers = signed_headers(request)
    verify(job_key(MASTER, JOB_ID), headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], body, time.time())
    assert headers[SIGNATURE_HEADER] == sign(job_key(MASTER, JOB_ID), int(headers[TIMESTAMP_HEADER]), body)

    # And the service accepts exactly that request.
    jobs = FakeJobs(
        new_job(job_id=JOB_ID, owner="a@b.c", source=SourceObject("d", "a@b.c/x.zip", 1), at=datetime.now(UTC))
    )
    reply = handle_callback(body, headers, completion_deps(jobs), lambda: datetime.now(UTC))
    assert reply.status == 200
    job = jobs.get(JOB_ID)
    assert job is not None and (job.state, job.stage, job.slurm_job_id) == (JobState.RUNNING, "routing", "4242")

    # The same report again within the same second is a new call, not a replay: each body has its own number.
    hook.report({"kind": "progress", "stage": "routing"})
    hook.flush(5)
    again = captured.requests[-1]
    assert json.loads(again.data)["seq"] == 2
    assert (
        handle_callback(again.data, signed_headers(again), completion_deps(jobs), lambda: datetime.now(UTC)).status
        == 200
    )


def test_the_job_kits_hook_adds_an_identity_token_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    kit = load("olc_job")
    captured = Captured()
    monkeypatch.setattr(kit.urllib.request, "urlopen", captured)
    hook = kit.Hook({"url": "https://hook.run.app/", "auth": "google-id-token", "key": "k"}, JOB_ID)
    hook.report({"kind": "progress", "stage": "synthesis"})
    hook.flush(5)
    (request,) = captured.hook_requests()
    assert request.get_header("Authorization") == "Bearer id-token-from-metadata"
    assert "audience=https%3A%2F%2Fhook.run.app%2F" in captured.requests[0].full_url


def test_the_job_kits_hook_carries_on_when_the_hook_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    kit = load("olc_job")
    refusing = Captured(urllib.error.URLError("connection refused"))
    monkeypatch.setattr(kit.urllib.request, "urlopen", refusing)
    hook = kit.Hook({"url": "http://hook.local/", "key": "k"}, JOB_ID)
    hook.report({"kind": "progress", "stage": "x"})
    hook.report({"kind": "progress", "stage": "y"})
    hook.flush(5)
    assert len(refusing.requests) == 2  # each tried once; the run went on


def slow_hook(monkeypatch: pytest.MonkeyPatch) -> tuple[Captured, Any]:
    """The kit's Hook in front of a hook that takes 0.2 s to answer each report."""
    kit = load("olc_job")
    captured = Captured()

    def slow(request: urllib.request.Request, timeout: float = 0) -> Any:
        time.sleep(0.2)
        return captured(request, timeout)

    monkeypatch.setattr(kit.urllib.request, "urlopen", slow)
    return captured, kit.Hook({"url": "http://hook.local/", "key": "k"}, JOB_ID)


def test_the_job_kit_never_waits_for_the_hook_and_reports_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """A report used to cost the run a round trip to the service before each stage; now one background thread
    delivers them, in the order they were made, and the run's end waits (bounded) for those still on their way."""
    captured, hook = slow_hook(monkeypatch)
    began = time.monotonic()
    for stage in ("fetching design", "synthesis", "sta"):
        hook.report({"kind": "progress", "stage": stage})
    assert time.monotonic() - began < 0.1
    hook.flush(0.05)  # bounded: gives up while reports are still on their way
    assert len(captured.requests) < 3
    hook.flush(5)
    assert [json.loads(r.data)["stage"] for r in captured.requests] == ["fetching design", "synthesis", "sta"]
    assert [json.loads(r.data)["seq"] for r in captured.requests] == [1, 2, 3]


def epilog_record(tmp_path: Path) -> tuple[dict[str, str], Path, bytes]:
    key_file = tmp_path / "hook.key"
    key_file.write_text(MASTER + "\n")
    record = tmp_path / "4242.json"
    body = b'{"kind":"ended","job_id":"%s","slurm_job_id":"4242","exit_code2":"0:0","epilog_at":1750000000.5}\n' % (
        JOB_ID.encode()
    )
    record.write_bytes(body)
    conf = {"OLC_HOOK_KEY_FILE": str(key_file), "OLC_HOOK_URL": "http://hook.local/", "OLC_SPOOL_DIR": str(tmp_path)}
    return conf, record, body


def test_the_epilog_sender_signs_like_the_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notify = load("olc_notify")
    captured = Captured()
    monkeypatch.setattr(urllib.request, "urlopen", captured)  # imported when sending
    conf, record, body = epilog_record(tmp_path)

    assert notify.deliver(conf, str(record)) == "done"
    (request,) = captured.requests
    assert request.data == body  # the record, byte for byte
    headers = signed_headers(request)
    verify(job_key(MASTER, JOB_ID), headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], body, time.time())


def test_the_epilog_sender_delivers_a_record_once_and_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notify = load("olc_notify")
    captured = Captured()
    monkeypatch.setattr(urllib.request, "urlopen", captured)  # imported when sending
    monkeypatch.setattr(notify.time, "sleep", lambda _s: None)
    conf, record, _ = epilog_record(tmp_path)

    notify.send_with_retries(conf, str(record))
    assert len(captured.requests) == 1
    assert list(tmp_path.iterdir()) == [tmp_path / "hook.key"]


def test_the_epilog_sender_keeps_the_record_while_the_hook_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notify = load("olc_notify")
    unavailable = urllib.error.HTTPError("http://hook.local/", 503, "not final yet", {}, None)  # type: ignore[arg-type]
    captured = Captured(unavailable)
    monkeypatch.setattr(urllib.request, "urlopen", captured)  # imported when sending
    monkeypatch.setattr(notify.time, "sleep", lambda _s: None)
    conf, record, body = epilog_record(tmp_path)

    assert notify.deliver(conf, str(record)) == "retry"
    captured.requests.clear()
    notify.send_with_retries(conf, str(record))
    assert len(captured.requests) == notify.ATTEMPTS
    assert record.read_bytes() == body  # back in the spool for the next sweep
    assert sorted(p.name for p in tmp_path.iterdir()) == ["4242.json", "hook.key"]


# ------------------------------------------------------------------ the hook itself, end to end in-process
def signed_call(key: str, body: bytes, at: int) -> dict[str, str]:
    return {TIMESTAMP_HEADER: str(at), SIGNATURE_HEADER: sign(key, at, body)}


@pytest.fixture
def hook() -> tuple[CompletionDeps, bytes]:
    jobs = FakeJobs(
        new_job(job_id=JOB_ID, owner="a@b.c", source=SourceObject("d", "a@b.c/x.zip", 1), at=datetime.now(UTC))
    )
    body = json.dumps({"kind": "progress", "stage": "routing", "job_id": JOB_ID}).encode()
    return completion_deps(jobs), body


def test_the_hook_accepts_a_fresh_signed_call_once_and_refuses_its_replay(hook: tuple[CompletionDeps, bytes]) -> None:
    deps, body = hook
    headers = signed_call(job_key(MASTER, JOB_ID), body, int(time.time()))
    assert handle_callback(body, headers, deps, lambda: datetime.now(UTC)).status == 200
    replay = handle_callback(body, headers, deps, lambda: datetime.now(UTC))
    assert (replay.status, replay.message.split(";")[0]) == (409, "this exact call was already received")


def _other_job_key() -> str:
    return job_key(MASTER, "j" + "0" * 19)


@pytest.mark.parametrize(
    ("forge", "status"),
    [
        ("another job's key", 403),  # a run speaking for a job that is not its own
        ("a guessed master key", 403),
        ("a tampered body", 403),
        ("an expired timestamp", 403),
        ("a timestamp from the future", 403),
        ("no signature", 403),
    ],
)
def test_the_hook_refuses_forged_tampered_and_stale_calls(
    hook: tuple[CompletionDeps, bytes], forge: str, status: int
) -> None:
    deps, body = hook
    now = int(time.time())
    key = job_key(MASTER, JOB_ID)
    sent = body
    headers = {
        "another job's key": signed_call(_other_job_key(), body, now),
        "a guessed master key": signed_call(job_key("guess", JOB_ID), body, now),
        "a tampered body": signed_call(key, body, now),
        "an expired timestamp": signed_call(key, body, now - MAX_SKEW_S - 5),
        "a timestamp from the future": signed_call(key, body, now + MAX_SKEW_S + 5),
        "no signature": {TIMESTAMP_HEADER: str(now)},
    }[forge]
    if forge == "a tampered body":
        sent = body.replace(b"routing", b"signoff")
    reply = handle_callback(sent, headers, deps, lambda: datetime.now(UTC))
    assert (reply.status, reply.message) == (status, "not authenticated")
    job = deps.jobs.get(JOB_ID)
    assert job is not None and job.stage is None  # nothing recorded


def test_the_job_kit_folds_reports_of_the_same_stage_still_waiting_into_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """A short stage's start and its final lines, or heartbeats queued behind a slow hook: one call carries them."""
    captured, hook = slow_hook(monkeypatch)
    hook.report({"kind": "progress", "stage": "fetching design"})  # on its way at once
    time.sleep(0.05)
    hook.report({"kind": "progress", "stage": "sta", "step": {"index": 1}})
    hook.report({"kind": "progress", "stage": "sta", "log_tail": "wns 0"})
    hook.flush(5)
    sent = [json.loads(r.data) for r in captured.requests]
    assert [r["stage"] for r in sent] == ["fetching design", "sta"]
    assert sent[1]["log_tail"] == "wns 0" and sent[1]["step"] == {"index": 1} and sent[1]["seq"] == 3
