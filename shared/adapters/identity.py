"""Who is calling the API.

Production: a Google-signed ID token (`Authorization: Bearer ...`) verified for signature, issuer, expiry and
audience. Local stack only: the `X-OLC-User` header, which Settings refuses outside OLC_ENV=local.
"""

from __future__ import annotations

from collections.abc import Mapping

from google.auth.transport import requests as google_requests
from google.oauth2 import id_token


class Unauthenticated(PermissionError):
    pass


class GoogleIdTokenIdentity:
    def __init__(self, audience: str) -> None:
        self._audience = audience
        self._transport = google_requests.Request()

    def caller(self, headers: Mapping[str, str]) -> str:
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("send an ID token as 'Authorization: Bearer <token>'")
        try:
            claims = id_token.verify_oauth2_token(token, self._transport, audience=self._audience)
        except ValueError as exc:
            raise Unauthenticated(f"the ID token was not accepted: {exc}") from exc
        if not claims.get("email") or not claims.get("email_verified"):
            raise Unauthenticated("the ID token carries no verified e-mail address")
        return str(claims["email"]).lower()


class DevHeaderIdentity:
    """Local stack only: trusts the X-OLC-User header."""

    def caller(self, headers: Mapping[str, str]) -> str:
        user = headers.get("X-OLC-User", "").strip().lower()
        if not user:
            raise Unauthenticated("local stack: set the X-OLC-User header (olc does this from OLC_USER)")
        return user
