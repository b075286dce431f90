"""ID token verification (shared/adapters/identity.py) against tokens of the local development issuer."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from devstack import dev_issuer
from shared.adapters.identity import IdTokenIdentity, Unauthenticated

ISSUER = "http://127.0.0.1:1/dev"
AUDIENCE = dev_issuer.DEV_AUDIENCE


@pytest.fixture(scope="module")
def issuer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("issuer")
    dev_issuer.ensure_keys(root / "secrets", root / "public")
    return root


@pytest.fixture(scope="module")
def other_issuer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("other-issuer")
    dev_issuer.ensure_keys(root / "secrets", root / "public")
    return root


def mint(root: Path, email: str = "alice@example.com", **claims: object) -> str:
    return dev_issuer.mint_id_token(
        root / "secrets" / dev_issuer.KEY_FILE,
        email,
        issuer=claims.pop("issuer", ISSUER),  # type: ignore[arg-type]
        **claims,  # type: ignore[arg-type]
    )


def verifier(root: Path, fetches: list[str] | None = None, clock: float | None = None) -> IdTokenIdentity:
    def fetch(url: str) -> dict[str, str]:
        if fetches is not None:
            fetches.append(url)
        return json.loads((root / "public" / dev_issuer.CERTS_FILE).read_text())

    return IdTokenIdentity([AUDIENCE], [ISSUER], "http://127.0.0.1:1/certs.json", fetch, clock or time.time)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_valid_token_names_its_verified_email_in_lower_case(issuer_dir: Path) -> None:
    assert verifier(issuer_dir).caller(bearer(mint(issuer_dir, "Alice@Example.com"))) == "alice@example.com"


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"audience": "someone-elses-app"}, "audience"),
        ({"issuer": "https://evil.example"}, "issuer"),
        ({"lifetime_s": -120}, "expired"),
        ({"now": time.time() + 3600}, "early"),  # issued in the future
        ({"email_verified": False}, "verified e-mail"),
    ],
)
def test_tokens_with_wrong_claims_are_refused(issuer_dir: Path, claims: dict[str, object], why: str) -> None:
    with pytest.raises(Unauthenticated) as refused:
        verifier(issuer_dir).caller(bearer(mint(issuer_dir, **claims)))
    assert why.split()[0] in str(refused.value).lower() or why in str(refused.value)


def test_a_token_signed_by_another_key_is_refused(issuer_dir: Path, other_issuer_dir: Path) -> None:
    with pytest.raises(Unauthenticated, match="unknown key"):
        verifier(issuer_dir).caller(bearer(mint(other_issuer_dir)))


def test_a_forged_key_id_does_not_help(issuer_dir: Path, other_issuer_dir: Path) -> None:
    # Signed by the attacker's key but claiming the real key's id: the signature check fails.
    real_kid = next(iter(json.loads((issuer_dir / "public" / dev_issuer.CERTS_FILE).read_text())))
    _header, payload, signature = mint(other_issuer_dir).split(".")
    forged_header = _b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": real_kid}).encode())
    with pytest.raises(Unauthenticated, match="not accepted"):
        verifier(issuer_dir).caller(bearer(f"{forged_header}.{payload}.{signature}"))


def test_a_tampered_payload_is_refused(issuer_dir: Path) -> None:
    header, payload, signature = mint(issuer_dir).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["email"] = "admin@example.com"
    with pytest.raises(Unauthenticated, match="not accepted"):
        verifier(issuer_dir).caller(bearer(f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"))


def test_unsigned_tokens_are_refused(issuer_dir: Path) -> None:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = mint(issuer_dir).split(".")[1]
    with pytest.raises(Unauthenticated, match="RS256"):
        verifier(issuer_dir).caller(bearer(f"{header}.{payload}."))


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic YWxpY2U6eA=="}, {"Authorization": "Bearer "}])
def test_requests_without_a_bearer_token_are_refused(issuer_dir: Path, headers: dict[str, str]) -> None:
    with pytest.raises(Unauthenticated, match="sign in"):
        verifier(issuer_dir).caller(headers)


def test_garbage_is_refused(issuer_dir: Path) -> None:
    with pytest.raises(Unauthenticated, match="not a JWT"):
        verifier(issuer_dir).caller(bearer("not-a-token"))


def test_certificates_are_cached_and_refetched_on_an_unknown_key(issuer_dir: Path, other_issuer_dir: Path) -> None:
    fetches: list[str] = []
    clock = [1000.0]
    identity = IdTokenIdentity(
        [AUDIENCE],
        [ISSUER],
        "https://certs.example/certs.json",
        lambda url: fetches.append(url) or json.loads((issuer_dir / "public" / dev_issuer.CERTS_FILE).read_text()),
        lambda: clock[0],
    )
    token = mint(issuer_dir)
    for _ in range(5):
        identity.caller(bearer(token))
    assert len(fetches) == 1
    for _ in range(5):  # unknown key ids refetch at most once per few seconds
        with pytest.raises(Unauthenticated):
            identity.caller(bearer(mint(other_issuer_dir)))
    assert len(fetches) == 1
    clock[0] += 10
    with pytest.raises(Unauthenticated):
        identity.caller(bearer(mint(other_issuer_dir)))
    assert len(fetches) == 2


def test_an_unconfigured_deployment_lets_nobody_in(issuer_dir: Path) -> None:
    identity = IdTokenIdentity([], [ISSUER], "https://certs.example/certs.json")
    with pytest.raises(Unauthenticated, match="accepts no sign-ins"):
        identity.caller(bearer(mint(issuer_dir)))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
