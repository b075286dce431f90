"""Run on every push, on the real stack: register the stack's git server's examples repository through the API, then
post GitHub-style push events over HTTP, signed (or not) like GitHub signs them.

One push delivered three times (and once more under a new delivery id) starts exactly one job, which fetches the
pushed commit and runs to SUCCEEDED; unsigned, badly signed, unregistered and other-branch pushes start nothing.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from shared.domain.webhooks import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, ZERO_SHA, sign

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack

USER = f"hooks-{uuid.uuid4().hex[:6]}@example.com"
OTHER_USER = f"hooks-other-{uuid.uuid4().hex[:6]}@example.com"
TERMINAL = ("SUCCEEDED", "FAILED", "REJECTED", "CANCELLED", "TIMEOUT")


def http(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def api(stack: RunningStack, method: str, path: str, body: Any = None, user: str = USER) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {stack.layout.id_token(user)}", "Content-Type": "application/json"}
    data = json.dumps(body).encode() if body is not None else None
    return http(stack.layout.url("api") + path, method, data, headers)


def repository(stack: RunningStack) -> str:
    return stack.layout.git_url + "/examples.git"


def head_of(url: str, ref: str) -> str:
    done = subprocess.run(["git", "ls-remote", url, ref], capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.split()[0]


def push_event(url: str, after: str, ref: str = "refs/heads/main") -> bytes:
    """A push event as GitHub sends it (the fields the hook reads, and some it does not)."""
    return json.dumps(
        {
            "ref": ref,
            "before": ZERO_SHA,
            "after": after,
            "created": False,
            "deleted": after == ZERO_SHA,
            "forced": False,
            "repository": {"name": "examples", "clone_url": url, "html_url": url.removesuffix(".git")},
            "pusher": {"name": "ada", "email": USER},
            "head_commit": {"id": after, "message": "OpenLane Cloud example designs"},
        },
        indent=2,  # GitHub pretty-prints; the signature covers exactly these bytes
    ).encode()


def deliver(
    stack: RunningStack, body: bytes, secret: str | None, delivery: str | None = None, event: str = "push"
) -> tuple[int, Any]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/olc-test",
        EVENT_HEADER: event,
        DELIVERY_HEADER: delivery or str(uuid.uuid4()),
    }
    if secret is not None:
        headers[SIGNATURE_HEADER] = sign(secret, body)
    return http(stack.layout.url("api") + "/v1/hooks/git", "POST", body, headers)


def my_job_ids(stack: RunningStack) -> set[str]:
    status, page = api(stack, "GET", "/v1/jobs?limit=500")
    assert status == 200, page
    return {job["id"] for job in page["jobs"]}


def wait_end(stack: RunningStack, job_id: str, timeout_s: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    seen = []
    while time.monotonic() < deadline:
        status, job = api(stack, "GET", f"/v1/jobs/{job_id}")
        if status == 200:
            if not seen or seen[-1] != job["state"]:
                seen.append(job["state"])
            if job["state"] in TERMINAL:
                return {**job, "states_seen": seen}
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not end within {timeout_s} s; states seen: {seen}")


@pytest.fixture(scope="module")
def registration(stack: RunningStack) -> dict[str, Any]:
    status, created = api(stack, "POST", "/v1/repos", {"url": repository(stack), "branch": "main", "path": "spm"})
    assert status == 201, created
    return created


def test_a_registration_answers_the_webhook_url_and_a_secret_shown_once(
    stack: RunningStack, registration: dict[str, Any]
) -> None:
    assert registration["url"] == repository(stack)
    assert (registration["branch"], registration["path"]) == ("main", "spm")
    assert registration["webhook_url"] == stack.layout.url("api") + "/v1/hooks/git"
    assert len(registration["secret"]) == 64 and registration["events"] == ["push"]
    status, listed = api(stack, "GET", "/v1/repos")
    assert status == 200 and [r["id"] for r in listed["repos"]] == [registration["id"]]
    assert registration["secret"] not in json.dumps(listed)
    # Someone else neither sees it nor removes it: their answer is the one for a registration that does not exist.
    assert api(stack, "GET", "/v1/repos", user=OTHER_USER) == (200, {"repos": []})
    theirs = api(stack, "DELETE", f"/v1/repos/{registration['id']}", user=OTHER_USER)
    missing = api(stack, "DELETE", "/v1/repos/r" + "0" * 19, user=OTHER_USER)
    assert theirs[0] == missing[0] == 404
    assert json.dumps(theirs[1]).replace(registration["id"], "r" + "0" * 19) == json.dumps(missing[1])
    status, again = api(stack, "POST", "/v1/repos", {"url": repository(stack), "branch": "main", "path": "spm"})
    assert (status, again["error"]["code"]) == (409, "already_registered")


def test_one_push_delivered_three_times_runs_the_pushed_commit_once(
    stack: RunningStack, registration: dict[str, Any]
) -> None:
    url, secret = repository(stack), registration["secret"]
    commit = head_of(url, "refs/heads/main")
    before = my_job_ids(stack)
    assert deliver(
        stack, json.dumps({"zen": "z", "repository": {"clone_url": url}}).encode(), secret, event="ping"
    ) == (
        200,
        {"pong": True},
    )
    body, delivery = push_event(url, commit), str(uuid.uuid4())
    first = deliver(stack, body, secret, delivery)
    assert first[0] == 202, first
    (job_id,) = first[1]["job_ids"]
    for _ in range(2):
        assert deliver(stack, body, secret, delivery) == (
            200,
            {"duplicate": True, "job_id": job_id, "job_ids": [job_id]},
        )
    # The same commit under a new delivery id (a replayed body, or GitHub's "redeliver") finds the same job.
    assert deliver(stack, body, secret) == (200, {"duplicate": True, "job_id": job_id, "job_ids": [job_id]})
    job = wait_end(stack, job_id)
    assert job["state"] == "SUCCEEDED", job
    assert job["git"] == {"url": url, "ref": "main", "path": "spm", "commit": commit}
    assert job["owner"] == USER and job["design_name"] == "spm"
    states = [event["name"] for event in job["timeline"] if event["kind"] == "state"]
    assert states[:2] == ["FETCHING", "QUEUED"] and states[-1] == "SUCCEEDED", states
    assert my_job_ids(stack) - before == {job_id}


def test_unsigned_forged_unregistered_and_other_branch_pushes_start_nothing(
    stack: RunningStack, registration: dict[str, Any]
) -> None:
    url, secret = repository(stack), registration["secret"]
    commit = head_of(url, "refs/heads/main")
    before = my_job_ids(stack)
    other_commit = "f" * 40  # a commit never pushed: nothing may be started for it, whatever is sent
    body = push_event(url, other_commit)

    status, answer = deliver(stack, body, None)
    assert (status, answer["error"]["code"]) == (401, "missing_signature")
    status, forged = deliver(stack, body, "a guessed secret")
    assert (status, forged["error"]["code"]) == (401, "bad_signature")
    tampered_headers = {
        "Content-Type": "application/json",
        EVENT_HEADER: "push",
        DELIVERY_HEADER: str(uuid.uuid4()),
        SIGNATURE_HEADER: sign(secret, push_event(url, commit)),  # signed for another body
    }
    assert http(stack.layout.url("api") + "/v1/hooks/git", "POST", body, tampered_headers)[0] == 401
    # An unregistered repository, even signed with a real secret, gets the very answer a forged signature gets.
    unregistered = deliver(stack, push_event(stack.layout.git_url + "/elsewhere.git", other_commit), secret)
    assert unregistered == (401, forged)
    status, ignored = deliver(stack, push_event(url, other_commit, ref="refs/heads/dev"), secret)
    assert (status, ignored) == (
        202,
        {"ignored": "branch dev is not registered (this registration runs pushes to main)"},
    )
    status, tag = deliver(stack, push_event(url, commit, ref="refs/tags/v1"), secret)
    assert status == 202 and "not a branch" in tag["ignored"]
    status, deleted = deliver(stack, push_event(url, ZERO_SHA), secret)
    assert status == 202 and "deleted" in deleted["ignored"]
    status, malformed = deliver(stack, b"payload=%7B%7D", secret)  # a webhook left at form encoding
    assert (status, malformed["error"]["code"]) == (400, "invalid_json")

    assert my_job_ids(stack) == before  # the hook records a job before it answers, so none was started


def test_after_removal_pushes_start_nothing(stack: RunningStack, registration: dict[str, Any]) -> None:
    status, removed = api(stack, "DELETE", f"/v1/repos/{registration['id']}")
    assert (status, removed) == (200, {"id": registration["id"], "removed": True})
    assert api(stack, "GET", "/v1/repos") == (200, {"repos": []})
    before = my_job_ids(stack)
    status, answer = deliver(stack, push_event(repository(stack), "e" * 40), registration["secret"])
    assert (status, answer["error"]["code"]) == (401, "bad_signature")
    assert my_job_ids(stack) == before


def test_olc_repo_adds_lists_and_removes(stack: RunningStack, capsys: pytest.CaptureFixture[str]) -> None:
    from olc_cli.main import main

    user = f"hooks-cli-{uuid.uuid4().hex[:6]}@example.com"
    url = repository(stack)
    assert main(["repo", "add", url, "--branch", "main", "--path", "spm", "--user", user]) == 0
    printed = capsys.readouterr().out
    assert stack.layout.url("api") + "/v1/hooks/git" in printed and "application/json" in printed
    assert main(["repo", "list", "--json", "--user", user]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert (listed["url"], listed["branch"], listed["path"]) == (url, "main", "spm") and "secret" not in listed
    assert listed["id"] in printed
    assert main(["repo", "add", url, "--branch", "main", "--path", "spm", "--user", user]) == 2  # already registered
    assert "already" in capsys.readouterr().err
    assert main(["repo", "remove", listed["id"], "--user", user]) == 0
    assert main(["repo", "remove", listed["id"], "--user", user]) == 2
    assert "no repository registration" in capsys.readouterr().err
    assert main(["repo", "list", "--user", user]) == 0
    assert "no repositories registered" in capsys.readouterr().out
