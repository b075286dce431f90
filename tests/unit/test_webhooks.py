"""Run on every push: signatures, push events, registrations and the hook's use case (against fakes), and the hook's
route through the app (raw body, headers, body cap)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import flask
import pytest
from fakes import FakeJobs, FakePublisher, FakeReplayGuard, FakeRepos

from olc_cli import repos as repos_cli
from olc_cli.main import _parser
from shared import bootstrap
from shared.domain import webhooks
from shared.domain.git_source import GitSourceError
from shared.domain.job import JobState
from shared.domain.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    MAX_REPOS_PER_USER,
    REPO_ID,
    SIGNATURE_HEADER,
    ZERO_SHA,
    EventError,
    PushEvent,
    Registration,
    SignatureError,
    delivery_id,
    ignored_reason,
    parse_push,
    repository_urls,
    sign,
    signature_digest,
    signature_matches,
    url_key,
)
from shared.services.git_submit import GitSubmitDeps
from shared.services.repos import (
    AlreadyRegistered,
    HookDelivery,
    RegistrationNotFound,
    RepoDeps,
    RepoLimitReached,
    list_repos,
    receive_push,
    register_repo,
    remove_repo,
)
from shared.web import app

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ADA = "ada@example.com"
BOB = "bob@example.com"
REPO = "https://github.com/ada/chips.git"
SHA = "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"
OTHER_SHA = "0" * 39 + "1"
FETCH_TOPIC = "olc-git-fetches"


# ------------------------------------------------------------------------------------------------- signatures
def test_a_good_signature_verifies_and_a_bad_one_does_not() -> None:
    body = b'{"ref": "refs/heads/main"}'
    header = sign("s3cret", body)
    assert header.startswith("sha256=") and len(header) == len("sha256=") + 64
    digest = signature_digest(header)
    assert signature_matches("s3cret", body, digest)
    assert not signature_matches("another secret", body, digest)
    assert not signature_matches("s3cret", body + b" ", digest)  # the exact bytes are signed
    assert signature_matches("s3cret", body, signature_digest(header.upper().replace("SHA256=", "sha256=")))


@pytest.mark.parametrize("header", [None, ""])
def test_a_missing_signature_is_refused(header: str | None) -> None:
    with pytest.raises(SignatureError) as refused:
        signature_digest(header)
    assert refused.value.code == "missing_signature"


@pytest.mark.parametrize(
    "header",
    [
        "sha1=" + "a" * 40,  # GitHub's old header format
        "SHA256=" + "a" * 64,
        "a" * 64,  # no prefix
        "sha256=" + "a" * 63,
        "sha256=" + "g" * 64,
        "sha256=" + "a" * 64 + "00",
    ],
)
def test_a_signature_in_another_form_is_refused(header: str) -> None:
    with pytest.raises(SignatureError) as refused:
        signature_digest(header)
    assert refused.value.code == "bad_signature"


def test_signatures_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = webhooks.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(webhooks.hmac, "compare_digest", spy)
    body = b"{}"
    assert signature_matches("k", body, signature_digest(sign("k", body)))
    assert not signature_matches("k", body, bytes(32))
    assert len(compared) == 2 and compared[1][1] == bytes(32)


# ----------------------------------------------------------------------------------------------------- events
def push_payload(ref: str = "refs/heads/main", after: str = SHA, url: str = REPO, **more: Any) -> dict[str, Any]:
    return {
        "ref": ref,
        "before": "f" * 40,
        "after": after,
        "repository": {"clone_url": url, "html_url": url.removesuffix(".git"), "full_name": "ada/chips"},
        **more,
    }


def test_a_push_is_read_from_its_ref_and_head_commit() -> None:
    push = parse_push(push_payload())
    assert push == PushEvent("refs/heads/main", SHA, deleted=False)
    assert push.branch == "main"
    assert repository_urls(push_payload()) == (REPO, REPO.removesuffix(".git"))


def test_a_deleted_branch_and_a_tag_are_pushes_that_start_nothing() -> None:
    registration = Registration("r" + "0" * 19, ADA, REPO, "main", "", "k", T0)
    deleted = parse_push(push_payload(after=ZERO_SHA))
    assert deleted.deleted and "deleted" in (ignored_reason(registration, deleted) or "")
    flagged = parse_push(push_payload(deleted=True))
    assert flagged.deleted and ignored_reason(registration, flagged)
    tag = parse_push(push_payload(ref="refs/tags/v1"))
    assert tag.branch is None and "not a branch" in (ignored_reason(registration, tag) or "")
    other = parse_push(push_payload(ref="refs/heads/dev"))
    assert ignored_reason(registration, other) == (
        "branch dev is not registered (this registration runs pushes to main)"
    )
    assert ignored_reason(registration, parse_push(push_payload())) is None


def test_a_body_that_is_no_push_names_every_problem() -> None:
    with pytest.raises(EventError) as refused:
        parse_push({"ref": "main", "after": "HEAD", "deleted": "yes"})
    message = refused.value.message
    assert "ref must be" in message and "after must be" in message and "deleted must be" in message
    for payload in (None, [], "x", {"repository": "x"}, {"repository": {"clone_url": 5}}):
        with pytest.raises(EventError):
            repository_urls(payload)


def test_delivery_ids_are_checked() -> None:
    assert delivery_id(" 72d3162e-cc78-11e3-81ab-4c9367dc0958 ") == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    for bad in (None, "", "a/b", "x" * 101, "a b"):
        with pytest.raises(EventError):
            delivery_id(bad)


def test_clone_url_and_page_url_name_the_same_repository() -> None:
    assert (
        url_key("https://github.com/Ada/Chips.git")
        == url_key("https://github.com/ada/chips")
        == ("https://github.com/ada/chips")
    )


# --------------------------------------------------------------------------------------------- registrations
def deps() -> RepoDeps:
    git = GitSubmitDeps(FakeJobs(), FakePublisher(), "designs", FETCH_TOPIC, ("127.0.0.1",))
    return RepoDeps(FakeRepos(), FakeReplayGuard(), git)


def test_a_registration_is_normalised_and_gets_a_fresh_secret() -> None:
    d = deps()
    first = register_repo(d, ADA, "HTTPS://GitHub.com:443/ada/chips.git", "refs/heads/main", "/designs/spm/", T0)
    assert REPO_ID.match(first.id)
    assert (first.owner, first.url, first.branch, first.path) == (ADA, REPO, "main", "designs/spm")
    assert len(first.secret) == 64 and int(first.secret, 16) >= 0
    second = register_repo(d, ADA, REPO, "dev", "", T0)
    assert second.secret != first.secret and second.id != first.id
    assert [r.id for r in list_repos(d.registry, ADA)] == [first.id, second.id]
    assert list_repos(d.registry, BOB) == []


@pytest.mark.parametrize(
    ("url", "branch", "path", "says"),
    [
        ("file:///etc", "main", "", "https://"),
        ("https://user:pw@github.com/a/b.git", "main", "", "credentials"),
        (REPO, "--upload-pack=x", "", "git.ref"),
        (REPO, SHA, "", "not a commit SHA"),
        (REPO, "refs/tags/v1", "", "not refs/"),
        (REPO, "main", "../etc", "git.path"),
    ],
)
def test_a_bad_registration_says_why(url: str, branch: str, path: str, says: str) -> None:
    d = deps()
    with pytest.raises(GitSourceError) as refused:
        register_repo(d, ADA, url, branch, path, T0)
    assert says in str(refused.value)
    assert d.registry.docs == {}


def test_the_same_registration_twice_and_too_many_are_refused() -> None:
    d = deps()
    first = register_repo(d, ADA, REPO, "main", "spm", T0)
    with pytest.raises(AlreadyRegistered) as again:
        register_repo(d, ADA, REPO.removesuffix(".git"), "main", "spm", T0)
    assert again.value.existing.id == first.id and first.secret not in str(again.value)
    register_repo(d, BOB, REPO, "main", "spm", T0)  # another user may register the same repository
    for n in range(MAX_REPOS_PER_USER - 1):
        register_repo(d, ADA, f"https://github.com/ada/chip{n}.git", "main", "", T0)
    with pytest.raises(RepoLimitReached):
        register_repo(d, ADA, "https://github.com/ada/one-more.git", "main", "", T0)


def test_only_the_owner_removes_a_registration_and_others_see_it_as_missing() -> None:
    d = deps()
    mine = register_repo(d, ADA, REPO, "main", "", T0)
    with pytest.raises(RegistrationNotFound) as bobs_try:
        remove_repo(d.registry, BOB, mine.id)
    with pytest.raises(RegistrationNotFound) as missing:
        remove_repo(d.registry, BOB, "r" + "0" * 19)
    assert type(bobs_try.value) is type(missing.value)
    assert d.registry.get(mine.id) == mine
    assert remove_repo(d.registry, ADA, mine.id) == mine
    assert d.registry.get(mine.id) is None
    with pytest.raises(RegistrationNotFound):
        remove_repo(d.registry, ADA, mine.id)


# ------------------------------------------------------------------------------------------------------ hook
def delivery(
    secret: str | None,
    payload: dict[str, Any],
    event: str = "push",
    delivery_id: str = "d-1",
    signature: str | None = None,
) -> HookDelivery:
    body = json.dumps(payload).encode()
    headers = {EVENT_HEADER: event, DELIVERY_HEADER: delivery_id}
    if signature is not None or secret is not None:
        headers[SIGNATURE_HEADER] = signature if signature is not None else sign(secret or "", body)
    return HookDelivery(headers, body, payload)


def jobs_of(d: RepoDeps) -> list[Any]:
    assert isinstance(d.git.jobs, FakeJobs)
    return d.git.jobs.all()


def fetches(d: RepoDeps) -> int:
    assert isinstance(d.git.publisher, FakePublisher)
    return d.git.publisher.kinds().count("fetch")


def test_three_deliveries_of_one_push_start_one_job_of_the_registered_design() -> None:
    d = deps()
    reg = register_repo(d, ADA, REPO, "main", "designs/spm", T0)
    answers = [receive_push(d, delivery(reg.secret, push_payload()), T0 + timedelta(seconds=i)) for i in range(3)]
    assert [a.outcome for a in answers] == ["started", "duplicate", "duplicate"]
    assert answers[0].job_ids == answers[1].job_ids == answers[2].job_ids
    (job,) = jobs_of(d)
    assert job.id == answers[0].job_ids[0] and job.owner == ADA and job.state is JobState.FETCHING
    assert job.git is not None
    assert (job.git.url, job.git.ref, job.git.path, job.git.commit, job.git.registration) == (
        REPO,
        "main",
        "designs/spm",
        SHA,
        reg.id,
    )
    assert fetches(d) == 1
    assert set(d.replays.seen) == {f"git-hook:{reg.id}:d-1"}  # type: ignore[attr-defined]
    assert d.replays.seen[f"git-hook:{reg.id}:d-1"] == T0 + timedelta(days=7)  # type: ignore[attr-defined]


def test_the_same_commit_sent_again_with_a_new_delivery_id_finds_the_same_job() -> None:
    d = deps()
    reg = register_repo(d, ADA, REPO, "main", "", T0)
    first = receive_push(d, delivery(reg.secret, push_payload(), delivery_id="d-1"), T0)
    again = receive_push(d, delivery(reg.secret, push_payload(), delivery_id="d-2"), T0)
    assert (again.outcome, again.job_ids) == ("duplicate", first.job_ids)
    assert len(jobs_of(d)) == 1 and fetches(d) == 1  # the fetcher is not asked again
    newer = receive_push(d, delivery(reg.secret, push_payload(after=OTHER_SHA), delivery_id="d-3"), T0)
    assert newer.outcome == "started" and newer.job_ids != first.job_ids and len(jobs_of(d)) == 2


def test_a_delivery_whose_first_attempt_failed_before_the_job_was_recorded_starts_it() -> None:
    d = deps()
    reg = register_repo(d, ADA, REPO, "main", "", T0)
    d.replays.first_use(f"git-hook:{reg.id}:d-1", T0)  # the first attempt got this far, then died
    answer = receive_push(d, delivery(reg.secret, push_payload()), T0)
    assert answer.outcome == "started" and len(jobs_of(d)) == 1


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (push_payload(ref="refs/heads/dev"), "branch dev is not registered"),
        (push_payload(ref="refs/tags/v1"), "refs/tags/v1 is not a branch"),
        (push_payload(after=ZERO_SHA, deleted=True), "was deleted"),
    ],
)
def test_other_branches_tags_and_deletions_start_nothing(payload: dict[str, Any], says: str) -> None:
    d = deps()
    reg = register_repo(d, ADA, REPO, "main", "", T0)
    answer = receive_push(d, delivery(reg.secret, payload), T0)
    assert answer.outcome == "ignored" and says in answer.reason
    assert jobs_of(d) == [] and fetches(d) == 0


def test_unsigned_badly_signed_and_unregistered_pushes_start_nothing_and_look_alike() -> None:
    d = deps()
    reg = register_repo(d, ADA, REPO, "main", "", T0)
    with pytest.raises(SignatureError) as unsigned:
        receive_push(d, delivery(None, push_payload()), T0)
    assert unsigned.value.code == "missing_signature"
    with pytest.raises(SignatureError) as wrong_secret:
        receive_push(d, delivery("guessed", push_payload()), T0)
    with pytest.raises(SignatureError) as unregistered:
        receive_push(d, delivery(reg.secret, push_payload(url="https://github.com/eve/other.git")), T0)
    with pytest.raises(SignatureError) as bad_form:
        receive_push(d, delivery(None, push_payload(), signature="sha1=" + "0" * 40), T0)
    assert (wrong_secret.value.code, wrong_secret.value.message) == (
        unregistered.value.code,
        unregistered.value.message,
    )
    assert bad_form.value.code == "bad_signature"
    body = json.dumps(push_payload()).encode()
    tampered = HookDelivery({**delivery(reg.secret, push_payload()).headers}, body + b" ", push_payload())
    with pytest.raises(SignatureError):
        receive_push(d, tampered, T0)
    assert jobs_of(d) == [] and fetches(d) == 0 and d.replays.seen == {}  # type: ignore[attr-defined]


def test_the_registration_decides_what_runs_not_the_delivery() -> None:
    d = deps()
    reg = register_repo(d, ADA, "https://github.com/Ada/Chips", "main", "spm", T0)
    payload = push_payload(url="https://github.com/ada/chips.git")  # GitHub's clone URL, other spelling
    answer = receive_push(d, delivery(reg.secret, payload), T0)
    (job,) = jobs_of(d)
    assert answer.outcome == "started" and job.git is not None
    assert (job.git.url, job.git.path) == ("https://github.com/Ada/Chips", "spm")


def test_only_the_registration_whose_secret_signs_the_delivery_runs() -> None:
    d = deps()
    ada = register_repo(d, ADA, REPO, "main", "", T0)
    bob = register_repo(d, BOB, REPO, "main", "", T0)
    answer = receive_push(d, delivery(bob.secret, push_payload()), T0)
    (job,) = jobs_of(d)
    assert answer.outcome == "started" and job.owner == BOB and job.git and job.git.registration == bob.id
    assert ada.id not in json.dumps(d.replays.seen, default=str)  # type: ignore[attr-defined]


def test_a_ping_is_answered_once_signed_and_other_events_are_ignored() -> None:
    d = deps()
    reg = register_repo(d, ADA, REPO, "main", "", T0)
    ping = {"zen": "Keep it logically awesome.", "hook_id": 1, "repository": push_payload()["repository"]}
    assert receive_push(d, delivery(reg.secret, ping, event="ping"), T0).outcome == "pong"
    with pytest.raises(SignatureError):
        receive_push(d, delivery("guessed", ping, event="ping"), T0)
    issue = receive_push(d, delivery(reg.secret, push_payload(), event="issues"), T0)
    assert issue.outcome == "ignored" and "only push" in issue.reason
    assert jobs_of(d) == []


def test_a_signed_delivery_that_is_no_push_is_explained() -> None:
    d = deps()
    reg = register_repo(d, ADA, REPO, "main", "", T0)
    with pytest.raises(EventError) as refused:
        receive_push(d, delivery(reg.secret, push_payload(after="nope")), T0)
    assert "after must be" in refused.value.message
    with pytest.raises(EventError):
        receive_push(d, delivery(reg.secret, push_payload(), delivery_id="no/slashes"), T0)


# ----------------------------------------------------------------------------------------- through the app
@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> RepoDeps:
    d = deps()
    monkeypatch.setattr(app, "settings", lambda: SimpleNamespace(project_id="p", status_base_url="https://olc.test"))
    monkeypatch.setattr(bootstrap, "repo_deps", lambda: d)
    monkeypatch.setattr(bootstrap, "repos", lambda: d.registry)
    monkeypatch.setattr(
        bootstrap, "identity", lambda: SimpleNamespace(caller=lambda headers: headers.get("X-Test-User", ADA))
    )
    return d


def request(method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> flask.Response:
    with flask.Flask(__name__).test_request_context(
        path, method=method, data=body, headers={"Content-Type": "application/json", **(headers or {})}
    ):
        return app.handle(flask.request)


def test_the_api_registers_lists_and_removes_repositories(served: RepoDeps) -> None:
    created = request("POST", "/v1/repos", json.dumps({"url": REPO, "branch": "main", "path": "spm"}).encode())
    assert created.status_code == 201, created.get_json()
    shown = created.get_json()
    assert shown["webhook_url"] == "https://olc.test/v1/hooks/git" and len(shown["secret"]) == 64
    assert (shown["content_type"], shown["events"]) == ("application/json", ["push"])
    listed = request("GET", "/v1/repos")
    assert [r["id"] for r in listed.get_json()["repos"]] == [shown["id"]]
    assert shown["secret"] not in listed.get_data(as_text=True)
    again = request("POST", "/v1/repos", json.dumps({"url": REPO, "path": "spm"}).encode())
    assert (again.status_code, again.get_json()["error"]["code"]) == (409, "already_registered")
    bad = request("POST", "/v1/repos", json.dumps({"url": "ssh://x/y"}).encode())
    assert (bad.status_code, bad.get_json()["error"]["code"]) == (400, "invalid_git_source")
    bobs = request("DELETE", f"/v1/repos/{shown['id']}", headers={"X-Test-User": BOB})
    missing = request("DELETE", "/v1/repos/r" + "0" * 19, headers={"X-Test-User": BOB})
    assert bobs.status_code == missing.status_code == 404
    assert bobs.get_data(as_text=True).replace(shown["id"], "r" + "0" * 19) == missing.get_data(as_text=True)
    assert request("DELETE", f"/v1/repos/{shown['id']}").get_json() == {"id": shown["id"], "removed": True}
    assert request("GET", "/v1/repos").get_json() == {"repos": []}


def test_the_hook_verifies_the_exact_bytes_it_received(served: RepoDeps) -> None:
    reg = register_repo(served, ADA, REPO, "main", "", T0)
    # Spacing json.dumps would not produce: the signature covers the bytes as sent, not a re-encoding.
    body = b'{"ref":"refs/heads/main",  "after":"%s","repository":{"clone_url":"%s"}}' % (SHA.encode(), REPO.encode())
    headers = {EVENT_HEADER: "push", DELIVERY_HEADER: "d-1", SIGNATURE_HEADER: sign(reg.secret, body)}
    started = request("POST", "/v1/hooks/git", body, headers)
    assert started.status_code == 202, started.get_json()
    job_id = started.get_json()["job_ids"][0]
    assert started.get_json()["pages"] == [f"https://olc.test/jobs/{job_id}"]
    duplicate = request("POST", "/v1/hooks/git", body, headers)
    assert (duplicate.status_code, duplicate.get_json()) == (
        200,
        {"duplicate": True, "job_id": job_id, "job_ids": [job_id]},
    )
    unsigned = request("POST", "/v1/hooks/git", body, {EVENT_HEADER: "push", DELIVERY_HEADER: "d-2"})
    assert (unsigned.status_code, unsigned.get_json()["error"]["code"]) == (401, "missing_signature")
    other = body.replace(b"refs/heads/main", b"refs/heads/dev")
    ignored = request("POST", "/v1/hooks/git", other, {**headers, SIGNATURE_HEADER: sign(reg.secret, other)})
    assert ignored.status_code == 202 and "branch dev is not registered" in ignored.get_json()["ignored"]
    ping = json.dumps({"zen": "z", "repository": {"clone_url": REPO}}).encode()
    pong = request("POST", "/v1/hooks/git", ping, {EVENT_HEADER: "ping", SIGNATURE_HEADER: sign(reg.secret, ping)})
    assert (pong.status_code, pong.get_json()) == (200, {"pong": True})
    assert len(jobs_of(served)) == 1


def test_the_hook_takes_bodies_up_to_1_mib_and_other_routes_keep_64_kib(served: RepoDeps) -> None:
    reg = register_repo(served, ADA, REPO, "main", "", T0)
    payload = push_payload(commits=[{"message": "x" * 1000, "id": SHA}] * 500)  # about 520 KB, like a big push
    body = json.dumps(payload).encode()
    assert 64 << 10 < len(body) < 1 << 20
    headers = {EVENT_HEADER: "push", DELIVERY_HEADER: "d-1", SIGNATURE_HEADER: sign(reg.secret, body)}
    assert request("POST", "/v1/hooks/git", body, headers).status_code == 202
    huge = json.dumps(push_payload(padding="x" * (1 << 20))).encode()
    too_large = request("POST", "/v1/hooks/git", huge, {**headers, SIGNATURE_HEADER: sign(reg.secret, huge)})
    assert (too_large.status_code, too_large.get_json()["error"]["code"]) == (413, "body_too_large")
    big_registration = json.dumps({"url": REPO, "path": "x" * (70 << 10)}).encode()
    assert request("POST", "/v1/repos", big_registration).status_code == 413


# ------------------------------------------------------------------------------------------------------- olc
def test_olc_repo_parses_add_list_and_remove() -> None:
    add = _parser().parse_args(["repo", "add", REPO, "--branch", "dev", "--path", "spm", "--user", ADA])
    assert (add.url, add.branch, add.path, add.user, add.handler) == (REPO, "dev", "spm", ADA, repos_cli.add)
    assert _parser().parse_args(["repo", "add", REPO]).branch == "main"
    assert _parser().parse_args(["repo", "list", "--json"]).handler is repos_cli.list_repos
    remove = _parser().parse_args(["repo", "remove", "r" + "0" * 19])
    assert (remove.repo_id, remove.handler) == ("r" + "0" * 19, repos_cli.remove)


def test_olc_prints_how_to_add_the_webhook(capsys: pytest.CaptureFixture[str]) -> None:
    repos_cli.print_registration(
        {
            "id": "r" + "1" * 19,
            "url": REPO,
            "branch": "main",
            "path": "spm",
            "webhook_url": "https://olc.test/v1/hooks/git",
            "secret": "ab" * 32,
            "content_type": "application/json",
        }
    )
    out = capsys.readouterr().out
    for needed in ("https://olc.test/v1/hooks/git", "application/json", "ab" * 32, "push event", "Webhooks"):
        assert needed in out
