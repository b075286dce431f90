"""Nobody reads or acts on another user's jobs, on any endpoint; only the cluster can call the completion hook.

The endpoints come from the API's own route table (functions/api.py ROUTES), so a new route is covered the day it
is added; each declares who may use it, and this test holds it to that.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from devstack import dev_issuer
from devstack.stack import LOCAL_ADMIN
from olc_cli import client
from shared.domain.callback_auth import MAX_SKEW_S, SIGNATURE_HEADER, TIMESTAMP_HEADER, job_key, sign
from shared.web.app import ROUTES
from shared.web.routing import Route

if TYPE_CHECKING:
    from tests.e2e.conftest import RunningStack

ALICE = "alice.private@example.com"
BOB = "bob@example.com"
SECRET_NAME = "alice-secret-tapeout"  # appears in alice's job; must never appear in an answer to bob
MISSING_JOB = "j" + "0" * 19


def http(url: str, method: str, headers: dict[str, str], body: bytes | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture(scope="module")
def alices_job(stack: RunningStack) -> dict[str, Any]:
    """A job of alice's: an upload that is rejected at once (no cluster time), with a telling name."""
    config = stack.client(ALICE)
    source = client.upload(config, f"{SECRET_NAME}.exe", b"MZ not a design")
    job = client.wait_for_job(config, client.expected_job_id(source), 60, lambda _: None)
    assert job["state"] == "REJECTED"
    return job


# A git host nothing listens on (127.0.0.1 is the local stack's allowed git host): a submission is refused at once.
NOWHERE_GIT = "http://127.0.0.1:9/nowhere.git"
BODIES = {
    "UploadRequest": {"file_name": "mine.tar.gz"},
    "QuotaChange": {"concurrency": 2},
    "GitSubmitRequest": {"git": {"url": NOWHERE_GIT}, "notify": False},
    "RerunRequest": {"overrides": {"CLOCK_PERIOD": 12}},
    "RepoRequest": {"url": NOWHERE_GIT},
    "GitPushEvent": {"ref": "refs/heads/main", "after": "0" * 40, "repository": {"clone_url": NOWHERE_GIT}},
}
# Routes of the caller's own things named in the path: someone else's (or a missing one) answers 404 to everyone.
OWN_THINGS = {"/v1/repos/{repo_id}"}
# Signed-in routes that start work for the caller only: an admin is no one else's owner there.
OWNER_ONLY = {"/v1/jobs/{job_id}/rerun"}
# Routes that name the caller's jobs in the query: someone else's job answers exactly like a missing one, to everyone
# (admins too: they compare their own jobs only).
JOBS_IN_QUERY = {"/v1/compare": "jobs={job_id},{job_id}:0"}
HOOK = "/v1/hooks/git"
SIGNED_IN = [r for r in ROUTES if r.access != "public"]


def call(
    stack: RunningStack,
    route: Route,
    token: str | None,
    job_id: str,
    user: str,
    confirm: str | None = None,
    body: dict[str, Any] | None = None,
) -> tuple[int, str]:
    path = route.path.format(job_id=job_id, user=user, asset="app.js", design_name="spm", repo_id="r" + "0" * 19)
    if route.method == "DELETE":
        path += f"?confirm={confirm or job_id}"
    if route.path in JOBS_IN_QUERY:
        path += "?" + JOBS_IN_QUERY[route.path].format(job_id=job_id)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body or BODIES[route.request_body]).encode() if route.request_body else None
    request = urllib.request.Request(stack.layout.url("api") + path, data=data, headers=headers, method=route.method)
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(request, timeout=30) as reply:
            return reply.status, reply.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


def test_every_route_declares_who_may_use_it() -> None:
    assert ROUTES and all(r.access in ("public", "job", "user", "admin", "caller") for r in ROUTES)
    assert len({(r.method, r.path) for r in ROUTES}) == len(ROUTES)  # no duplicates
    public_api = {r.path for r in ROUTES if r.access == "public" and r.path.startswith("/v1/")}
    # The git webhook signs in by its signature (X-Hub-Signature-256) instead of a token, and answers an unsigned
    # call with 401 only.
    assert public_api == {"/v1/queue", "/v1/openapi.json", HOOK}, "a public API route must carry no personal data"


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_another_user_gets_nothing_of_alices(stack: RunningStack, alices_job: dict[str, Any], route: Route) -> None:
    bob = stack.layout.id_token(BOB)
    status, body = call(stack, route, bob, alices_job["id"], ALICE)
    assert SECRET_NAME not in body and ALICE not in body, f"{route.path} leaked alice's data to bob: {body}"
    if route.access == "job" or route.path in JOBS_IN_QUERY:
        # Exactly the answer for a job that does not exist, so job ids cannot even be probed.
        missing_status, missing_body = call(stack, route, bob, MISSING_JOB, ALICE)
        assert status == missing_status == 404
        assert body.replace(alices_job["id"], MISSING_JOB) == missing_body
    elif route.access in ("user", "admin"):
        assert status == 403, body
    elif route.path in OWN_THINGS:
        assert status == 404, body
    elif route.path == HOOK:
        assert status == 401, body  # unsigned: a token is no signature
    else:
        assert status in (route.status, 200), body
    after = client.api_get(stack.client(ALICE), f"/v1/jobs/{alices_job['id']}")
    assert after == alices_job  # nothing of alice's changed


@pytest.mark.parametrize("route", SIGNED_IN, ids=lambda r: f"{r.method} {r.path}")
def test_admins_reach_every_route(stack: RunningStack, alices_job: dict[str, Any], route: Route) -> None:
    admin = stack.layout.id_token(LOCAL_ADMIN)
    if route.path in OWN_THINGS | OWNER_ONLY | set(JOBS_IN_QUERY):
        status, body = call(stack, route, admin, alices_job["id"], ALICE)
        assert status == 404, body  # the admin's own things only: alice's registrations, reruns and comparisons
        return
    if route.method == "DELETE":
        # Past the access check the handler asks for confirmation; alice's job must stay for the other tests.
        status, body = call(stack, route, admin, alices_job["id"], ALICE, confirm="not-this-job")
        assert (status, json.loads(body)["error"]["code"]) == (400, "confirmation_required"), body
        return
    status, body = call(stack, route, admin, alices_job["id"], ALICE)
    # Alice's job was rejected: it has no results, so result routes answer no_results, not not_found; the admin's
    # quota change for alice names a per-user field the defaults do not have, which the handler explains.
    reached = {200, 201, 202} | ({404} if '"no_results"' in body or '"no_layout"' in body else set())
    assert status in reached, body
    if route.method == "PUT":
        assert json.loads(body)["user"] == ALICE
        call(stack, route, admin, alices_job["id"], ALICE, body={"concurrency": None})  # restore the default


def forged_tokens(stack: RunningStack, tmp_path: Path) -> dict[str, str | None]:
    dev_issuer.ensure_keys(tmp_path / "secrets", tmp_path / "public")
    stranger_key = tmp_path / "secrets" / dev_issuer.KEY_FILE
    issuer = stack.layout.issuer_url
    header, payload, signature = stack.layout.id_token(BOB).split(".")
    claims = json.loads(_unb64(payload))
    claims["email"] = ALICE
    return {
        "none": None,
        "garbage": "garbage",
        "expired": stack.layout.id_token(ALICE, lifetime_s=-600),
        "wrong audience": stack.layout.id_token(ALICE, audience="someone-else"),
        "unverified e-mail": stack.layout.id_token(ALICE, email_verified=False),
        "another issuer's key": dev_issuer.mint_id_token(stranger_key, ALICE, issuer=issuer),
        "bob's token edited to say alice": f"{header}.{_b64(json.dumps(claims))}.{signature}",
    }


def test_forged_and_expired_tokens_are_refused_everywhere(
    stack: RunningStack, alices_job: dict[str, Any], tmp_path: Path
) -> None:
    refused = 0
    for why, token in forged_tokens(stack, tmp_path).items():
        for route in SIGNED_IN:
            status, body = call(stack, route, token, alices_job["id"], ALICE)
            assert status == 401, f"{why} on {route.method} {route.path}: {status} {body}"
            assert SECRET_NAME not in body
            refused += 1
    assert refused == 7 * len(SIGNED_IN)


# ------------------------------------------------------------------------------------------- completion hook
def hook_call(stack: RunningStack, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    return http(stack.layout.url("completion") + "/", "POST", {"Content-Type": "application/json", **headers}, body)


def test_only_correctly_signed_fresh_calls_reach_the_completion_hook(
    stack: RunningStack, alices_job: dict[str, Any]
) -> None:
    master = (stack.layout.secrets_dir / "olc-hook-key").read_text().strip()
    job_id = alices_job["id"]
    key = job_key(master, job_id)
    body = json.dumps({"kind": "progress", "stage": "synthesis", "job_id": job_id}).encode()
    now = int(time.time())

    def signed(with_key: str, at: int, signed_body: bytes = body) -> dict[str, str]:
        return {TIMESTAMP_HEADER: str(at), SIGNATURE_HEADER: sign(with_key, at, signed_body)}

    genuine = signed(key, now)
    attempts = {
        "unsigned": (body, {}),
        "forged with a guessed key": (body, signed(job_key("guess", job_id), now)),
        "signed with another job's key": (body, signed(job_key(master, MISSING_JOB), now)),
        "tampered body": (body.replace(b"synthesis", b"signoff"), genuine),
        "expired": (body, signed(key, now - MAX_SKEW_S - 60)),
        "from the future": (body, signed(key, now + MAX_SKEW_S + 60)),
    }
    for why, (sent, headers) in attempts.items():
        status, answer = hook_call(stack, sent, headers)
        assert status == 403, f"{why}: {status} {answer}"
    assert hook_call(stack, body, genuine)[0] == 200  # the real one, once (alice's job is final: nothing changes)
    status, answer = hook_call(stack, body, genuine)
    assert status == 409 and "already received" in answer, "a replayed call was accepted"


def _b64(text: str) -> str:
    import base64

    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def _unb64(part: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
