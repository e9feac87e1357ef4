"""Docker registry token server (bearer-token auth) for the sandbox target registry.

Implements the distribution token flow: ``GET /token?service=..&scope=..`` with HTTP Basic
credentials, and the OAuth2 ``POST /token`` form (``grant_type=password|refresh_token``).
Tokens are JWTs signed by a leaf cert of the sandbox CA, carrying the cert in the ``x5c`` header,
which distribution 2.8 verifies against its ``auth.token.rootcertbundle``.

Run standalone: ``python -m sandbox.token_server --config token-server.json --port P``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

DEFAULT_TTL = 300


@dataclass
class TokenServerSettings:
    """What the token server needs: who may log in, and how tokens are signed."""

    issuer: str
    service: str
    users: dict[str, str]
    signer_cert: Path
    signer_key: Path
    ttl: int = DEFAULT_TTL

    @classmethod
    def from_file(cls, path: Path) -> TokenServerSettings:
        data = json.loads(Path(path).read_text())
        return cls(
            issuer=data["issuer"],
            service=data["service"],
            users=dict(data["users"]),
            signer_cert=Path(data["signer_cert"]),
            signer_key=Path(data["signer_key"]),
            ttl=int(data.get("ttl", DEFAULT_TTL)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "service": self.service,
            "users": self.users,
            "signer_cert": str(self.signer_cert),
            "signer_key": str(self.signer_key),
            "ttl": self.ttl,
        }


def parse_scope(scope: str) -> list[dict[str, Any]]:
    """Parse one or more space-separated scopes (``type:name:a,b``) into access entries.

    ``repository:team-a/api:pull,push`` -> ``{"type": "repository", "name": "team-a/api",
    "actions": ["pull", "push"]}``. Malformed entries are ignored (granted nothing).
    """
    out: list[dict[str, Any]] = []
    for item in scope.split():
        parts = item.split(":")
        if len(parts) < 3:
            continue
        rtype, name, actions = parts[0], ":".join(parts[1:-1]), parts[-1]
        if "(" in rtype:  # e.g. repository(plugin)
            rtype = rtype.split("(", 1)[0]
        acts = sorted({a for a in actions.split(",") if a})
        if rtype and name and acts:
            out.append({"type": rtype, "name": name, "actions": acts})
    return out


def _merge_access(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    merged: dict[tuple[str, str], set[str]] = {}
    for e in entries:
        merged.setdefault((e["type"], e["name"]), set()).update(e["actions"])
    return [{"type": t, "name": n, "actions": sorted(a)} for (t, n), a in merged.items()]


@dataclass
class TokenIssuer:
    """Signs registry JWTs with the signer key; the x5c header carries the signer cert."""

    settings: TokenServerSettings
    _key: Any = field(init=False, repr=False)
    _alg: str = field(init=False)
    _x5c: list[str] = field(init=False)

    def __post_init__(self) -> None:
        key = serialization.load_pem_private_key(self.settings.signer_key.read_bytes(), None)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            self._alg = {256: "ES256", 384: "ES384", 521: "ES512"}[key.curve.key_size]
        elif isinstance(key, rsa.RSAPrivateKey):
            self._alg = "RS256"
        else:
            raise ValueError(f"unsupported signing key type {type(key).__name__}")
        self._key = key
        certs = x509.load_pem_x509_certificates(self.settings.signer_cert.read_bytes())
        self._x5c = [
            base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in certs
        ]

    def issue(self, subject: str, access: list[dict[str, Any]], audience: str) -> dict[str, Any]:
        """Token response body granting exactly `access` to `subject` for `audience`."""
        now = int(time.time())
        claims = {
            "iss": self.settings.issuer,
            "sub": subject,
            "aud": audience,
            "exp": now + self.settings.ttl,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": _merge_access(access),
        }
        token = jwt.encode(claims, self._key, algorithm=self._alg, headers={"x5c": self._x5c})
        issued_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        return {
            "token": token,
            "access_token": token,
            "expires_in": self.settings.ttl,
            "issued_at": issued_at,
        }


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        user, sep, password = base64.b64decode(value.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def create_app(settings: TokenServerSettings) -> Starlette:
    """The token server ASGI app. Routes: /token (GET, POST), /healthz, /_sandbox/stats."""
    issuer = TokenIssuer(settings)
    refresh_tokens: dict[str, str] = {}
    stats = {"tokens_issued": 0, "denied": 0}

    def check(user: str | None, password: str | None) -> bool:
        if not user or password is None or user not in settings.users:
            return False
        return hmac.compare_digest(settings.users[user].encode(), password.encode())

    def unauthorized(message: str) -> Response:
        stats["denied"] += 1
        return JSONResponse(
            {"errors": [{"code": "UNAUTHORIZED", "message": message}]},
            status_code=401,
            headers={"WWW-Authenticate": f'Basic realm="{settings.service}"'},
        )

    def service_ok(service: str | None) -> bool:
        return service in (None, "", settings.service)

    async def get_token(request: Request) -> Response:
        creds = _basic_credentials(request)
        if creds is None or not check(*creds):
            return unauthorized("invalid username or password")
        params = request.query_params
        if not service_ok(params.get("service")):
            return JSONResponse({"error": "invalid_request", "message": "unknown service"}, 400)
        access = parse_scope(" ".join(params.getlist("scope")))
        body = issuer.issue(creds[0], access, settings.service)
        if params.get("offline_token") == "true":
            refresh = secrets.token_urlsafe(32)
            refresh_tokens[refresh] = creds[0]
            body["refresh_token"] = refresh
        stats["tokens_issued"] += 1
        return JSONResponse(body)

    async def post_token(request: Request) -> Response:
        # Parsed by hand: starlette's request.form() needs python-multipart.
        form = {k: v[-1] for k, v in parse_qs((await request.body()).decode()).items()}
        grant = str(form.get("grant_type", ""))
        if not service_ok(str(form.get("service", "")) or None):
            return JSONResponse({"error": "invalid_request", "message": "unknown service"}, 400)
        refresh: str | None = None
        if grant == "password":
            user = str(form.get("username", ""))
            if not check(user, str(form.get("password", ""))):
                return unauthorized("invalid username or password")
            if form.get("access_type") == "offline":
                refresh = secrets.token_urlsafe(32)
                refresh_tokens[refresh] = user
        elif grant == "refresh_token":
            refresh = str(form.get("refresh_token", ""))
            user = refresh_tokens.get(refresh, "")
            if not user:
                return unauthorized("invalid refresh token")
        else:
            return JSONResponse({"error": "unsupported_grant_type"}, 400)
        scope = str(form.get("scope", ""))
        body = issuer.issue(user, parse_scope(scope), settings.service)
        body["scope"] = scope
        if refresh:
            body["refresh_token"] = refresh
        stats["tokens_issued"] += 1
        return JSONResponse(body)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "service": settings.service})

    async def get_stats(request: Request) -> Response:
        return JSONResponse(stats)

    return Starlette(
        routes=[
            Route("/token", get_token, methods=["GET"]),
            Route("/token", post_token, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/_sandbox/stats", get_stats, methods=["GET"]),
        ]
    )


def serve(
    settings: TokenServerSettings, host: str, port: int, certfile: Path, keyfile: Path
) -> None:
    """Run the token server with TLS until interrupted (blocking)."""
    import uvicorn

    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        ssl_certfile=str(certfile),
        ssl_keyfile=str(keyfile),
        log_level="warning",
        access_log=False,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.token_server")
    parser.add_argument("--config", type=Path, required=True, help="settings JSON (0600)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", type=Path, required=True, help="TLS server cert (PEM)")
    parser.add_argument("--key", type=Path, required=True, help="TLS server key (PEM)")
    args = parser.parse_args(argv)
    serve(TokenServerSettings.from_file(args.config), args.host, args.port, args.cert, args.key)


if __name__ == "__main__":
    main()
