"""RSA signing keys and JWT helpers shared by the Entra, ARM and data-plane stand-ins."""

from __future__ import annotations

import base64
import hashlib
import os
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def new_key_pem() -> bytes:
    """A fresh RSA-2048 private key as PKCS8 PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_key(path: Path) -> None:
    """Create `path` (0600) with a new RSA key unless it exists."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(new_key_pem())


def _b64u(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Signer:
    """Signs and verifies RS256 JWTs with one key; publishes it as a JWKS."""

    #: Seconds of clock skew accepted on ``exp``/``nbf`` (``Behaviour.clock_skew``).
    leeway = 30

    def __init__(self, key_path: Path) -> None:
        key = serialization.load_pem_private_key(Path(key_path).read_bytes(), None)
        assert isinstance(key, rsa.RSAPrivateKey)
        self.key = key
        self.public = key.public_key()
        der = self.public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.kid = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).rstrip(b"=").decode()

    #: Every token signed while recording (``PUT /_sandbox/secrets``), else None.
    issued: list[str] | None = None

    def sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        hdr = {"kid": self.kid, "x5t": self.kid, **(headers or {})}
        token = jwt.encode(claims, self.key, algorithm="RS256", headers=hdr)
        if self.issued is not None:
            self.issued.append(token)
        return token

    def verify(
        self, token: str, audience: str | list[str] | None = None, issuer: str | None = None
    ) -> dict[str, Any]:
        """Claims of a valid token (raises ``jwt.InvalidTokenError`` subclasses otherwise)."""
        options = {"verify_aud": audience is not None, "require": ["exp", "iat"]}
        return dict(
            jwt.decode(
                token,
                self.public,
                algorithms=["RS256"],
                audience=audience,
                issuer=issuer,
                options=options,  # type: ignore[arg-type]
                leeway=self.leeway,
            )
        )

    def jwks(self) -> dict[str, Any]:
        numbers = self.public.public_numbers()
        jwk = {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": _b64u(numbers.n),
            "e": _b64u(numbers.e),
            "alg": "RS256",
        }
        return {"keys": [jwk]}


def now() -> int:
    return int(time.time())


def new_id() -> str:
    return str(uuid.uuid4())


def iso(ts: float | None = None) -> str:
    """ARM / ACR style UTC timestamp with 7 fractional digits."""
    ts = time.time() if ts is None else ts
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))
    return f"{base}.{int((ts % 1) * 10_000_000):07d}Z"


def federation_token(
    key_path: Path, issuer: str, subject: str, audience: str, ttl: int = 86400
) -> str:
    """A workload-identity federation assertion, as a Kubernetes service account token looks."""
    signer = Signer(key_path)
    t = now()
    claims = {"iss": issuer, "sub": subject, "aud": [audience], "iat": t, "nbf": t, "exp": t + ttl}
    return signer.sign(claims)
