"""The local stack's development identity provider: an RSA key, its certificate, and ID tokens signed with it.

The API verifies these tokens with the same code as Google's (shared/adapters/identity.py); only the issuer, the
audience and the certificates URL differ. The private key stays in the stack's secrets folder; only the
certificate is published (served by a small HTTP server, like Google's https://www.googleapis.com/oauth2/v1/certs).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path

KEY_FILE = "olc-dev-issuer-key.pem"
CERTS_FILE = "certs.json"
DEV_AUDIENCE = "olc-local-api"


def ensure_keys(secrets_dir: Path, public_dir: Path) -> str:
    """Create the signing key and publish its certificate once; returns the key id."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key_path = secrets_dir / KEY_FILE
    certs_path = public_dir / CERTS_FILE
    if key_path.exists() and certs_path.exists():
        return next(iter(json.loads(certs_path.read_text())))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "olc-local-dev-issuer")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    kid = key_id(key.public_key())
    secrets_dir.mkdir(parents=True, exist_ok=True)
    public_dir.mkdir(parents=True, exist_ok=True)
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    os.chmod(key_path, 0o600)
    certs_path.write_text(json.dumps({kid: cert.public_bytes(serialization.Encoding.PEM).decode()}))
    return kid


def key_id(public_key: object) -> str:
    """Derived from the key itself, so a token can be minted from the private key file alone."""
    import hashlib

    from cryptography.hazmat.primitives import serialization

    der = public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()[:40]


def mint_id_token(
    key_file: Path,
    email: str,
    *,
    issuer: str,
    audience: str = DEV_AUDIENCE,
    lifetime_s: int = 3600,
    email_verified: bool = True,
    now: float | None = None,
) -> str:
    """An ID token for `email`, shaped like Google's (iss, aud, sub, email, email_verified, iat, exp)."""
    from cryptography.hazmat.primitives import serialization
    from google.auth import crypt, jwt

    pem = key_file.read_bytes()
    public_key = serialization.load_pem_private_key(pem, password=None).public_key()
    signer = crypt.RSASigner.from_string(pem, key_id=key_id(public_key))
    issued = int(now if now is not None else time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": "dev-" + email,
        "email": email,
        "email_verified": email_verified,
        "iat": issued,
        "exp": issued + lifetime_s,
    }
    return jwt.encode(signer, claims).decode()


def service_account_key(email: str) -> dict[str, str]:
    """A key file shaped like a Google service-account key, for signing Cloud Storage URLs on the local stack."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "type": "service_account",
        "project_id": "olc-local",
        "private_key_id": key_id(key.public_key()),
        "private_key": pem,
        "client_email": email,
        "token_uri": "https://oauth2.googleapis.com/token",
    }
