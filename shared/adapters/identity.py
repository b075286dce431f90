"""Who is calling the API: an OpenID Connect ID token (`Authorization: Bearer ...`), verified in full.

One verifier for every environment; only its configuration differs:
- production: Google-signed tokens (issuer accounts.google.com, Google's certificates) or Firebase Authentication
  tokens (issuer https://securetoken.google.com/PROJECT), with our OAuth client id / project as the audience;
- local stack: a development issuer whose RSA key the stack generates (devstack/dev_issuer.py) and whose
  certificates it serves over HTTP, so tokens are signed and checked exactly as in production.

Checked: signature against the issuer's published certificates (by key id), expiry and issue time (small clock
skew allowed), audience, issuer, and a verified e-mail address, which becomes the caller's identity.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence

from google.auth import exceptions as auth_exceptions
from google.auth import jwt

CLOCK_SKEW_S = 30
CERTS_TTL_S = 600


class Unauthenticated(PermissionError):
    pass


CertsFetcher = Callable[[str], Mapping[str, str]]


def fetch_certs(url: str) -> Mapping[str, str]:
    """The issuer's certificates as {key id: PEM}, the format Google and Firebase publish."""
    if not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise Unauthenticated(f"refusing to fetch signing certificates over plain HTTP from {url}")
    with urllib.request.urlopen(url, timeout=10) as reply:  # noqa: S310 - scheme checked above
        certs = json.loads(reply.read())
    if not isinstance(certs, dict) or not all(isinstance(v, str) for v in certs.values()):
        raise Unauthenticated(f"{url} did not return a {{key id: certificate}} object")
    return certs


class IdTokenIdentity:
    def __init__(
        self,
        audiences: Sequence[str],
        issuers: Sequence[str],
        certs_url: str,
        fetch: CertsFetcher = fetch_certs,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._audiences = list(audiences)
        self._issuers = frozenset(issuers)
        self._certs_url = certs_url
        self._fetch = fetch
        self._clock = clock
        self._certs: Mapping[str, str] = {}
        self._fetched_at = -CERTS_TTL_S * 2.0
        self._lock = threading.Lock()

    def caller(self, headers: Mapping[str, str]) -> str:
        if not self._audiences or not self._issuers or not self._certs_url:
            raise Unauthenticated("this deployment accepts no sign-ins yet (ID_TOKEN_AUDIENCES/ISSUERS unset)")
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("sign in: send an ID token as 'Authorization: Bearer <token>'")
        claims = self._verified_claims(token.strip())
        if claims.get("iss") not in self._issuers:
            raise Unauthenticated(f"ID tokens from issuer {claims.get('iss')!r} are not accepted here")
        email = claims.get("email")
        if not isinstance(email, str) or not email or claims.get("email_verified") is not True:
            raise Unauthenticated("the ID token carries no verified e-mail address")
        return email.lower()

    def _verified_claims(self, token: str) -> Mapping[str, object]:
        try:
            header = jwt.decode_header(token)
        except (ValueError, auth_exceptions.GoogleAuthError) as exc:
            raise Unauthenticated("the bearer token is not a JWT") from exc
        if header.get("alg") != "RS256":
            raise Unauthenticated("ID tokens must be signed with RS256")
        certs = self._certs_with(str(header.get("kid", "")))
        try:
            return jwt.decode(token, certs=dict(certs), audience=self._audiences, clock_skew_in_seconds=CLOCK_SKEW_S)
        except (ValueError, auth_exceptions.GoogleAuthError) as exc:
            raise Unauthenticated(f"the ID token was not accepted: {exc}") from exc

    def _certs_with(self, kid: str) -> Mapping[str, str]:
        """Cached certificates; refetched when stale or when a token names a key we have not seen (rotation)."""
        with self._lock:
            age = self._clock() - self._fetched_at
            # An unknown kid may mean the issuer rotated keys; but a burst of tokens with a bogus kid must not
            # turn into a burst of fetches.
            if age > CERTS_TTL_S or (kid not in self._certs and age > 5):
                try:
                    self._certs = self._fetch(self._certs_url)
                except (OSError, ValueError) as exc:
                    raise Unauthenticated(f"cannot load the issuer's certificates: {exc}") from exc
                self._fetched_at = self._clock()
            if kid not in self._certs:
                raise Unauthenticated("the ID token is signed with an unknown key")
            return {kid: self._certs[kid]}
