"""Registry authentication: HTTP Basic, or the distribution bearer-token flow.

The registry says which in its ``WWW-Authenticate`` challenge. For ``Bearer`` we ask the
``realm`` for a token for the challenged scope (sending our basic credentials) and cache it
per scope until shortly before it expires.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from dataclasses import dataclass

import httpx
from pydantic import SecretStr

_PARAM_RE = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` header."""

    scheme: str
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge:
    """Parse ``Bearer realm="...",service="...",scope="..."`` (or ``Basic realm=...``)."""
    scheme, _, rest = header.strip().partition(" ")
    return Challenge(scheme.lower(), dict(_PARAM_RE.findall(rest)))


class TokenAuth:
    """Credentials of one registry and the tokens obtained with them (thread-safe)."""

    def __init__(self, username: str | None, password: SecretStr | None):
        self._username = username
        self._password = password
        self._tokens: dict[str, tuple[str, float]] = {}
        self._basic_only = False
        self._realm: tuple[str, str] | None = None
        self._lock = threading.Lock()
        self.token_requests = 0

    @property
    def has_credentials(self) -> bool:
        return self._username is not None and self._password is not None

    def basic_header(self) -> str | None:
        if not self.has_credentials:
            return None
        assert self._password is not None
        raw = f"{self._username}:{self._password.get_secret_value()}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def header_for(self, scope: str) -> str | None:
        """An ``Authorization`` value for ``scope`` if we already know what to send."""
        if self._basic_only:
            return self.basic_header()
        with self._lock:
            cached = self._tokens.get(scope)
        if cached and cached[1] > time.monotonic():
            return f"Bearer {cached[0]}"
        if self._realm is not None:
            return None  # bearer registry, token not fetched yet for this scope
        return None

    def knows_realm(self) -> bool:
        return self._realm is not None

    def handle_challenge(self, client: httpx.Client, header: str, scope: str) -> str | None:
        """React to a 401 challenge; return the header to retry with, or None to give up."""
        challenge = parse_challenge(header)
        if challenge.scheme == "basic":
            self._basic_only = True
            return self.basic_header()
        if challenge.scheme != "bearer" or "realm" not in challenge.params:
            return None
        self._realm = (challenge.params["realm"], challenge.params.get("service", ""))
        scopes = {s for s in (scope, challenge.params.get("scope", "")) if s}
        return self.fetch_token(client, " ".join(sorted(scopes)), cache_key=scope)

    def fetch_token(self, client: httpx.Client, scope: str, cache_key: str) -> str:
        """GET a token from the realm for ``scope`` (space-separated scopes allowed)."""
        if self._realm is None:
            raise RuntimeError("no bearer realm known yet")
        realm, service = self._realm
        params: list[tuple[str, str | int | float | bool | None]] = (
            [("service", service)] if service else []
        )
        params += [("scope", s) for s in scope.split(" ") if s]
        headers = {}
        basic = self.basic_header()
        if basic:
            headers["Authorization"] = basic
        self.token_requests += 1
        response = client.get(realm, params=params, headers=headers)
        if response.status_code != 200:
            from acr_migrate.errors import RegistryHTTPError

            raise RegistryHTTPError(
                "GET", httpx.URL(realm).path or "/", response.status_code, "token request refused"
            )
        body = response.json()
        token = body.get("token") or body.get("access_token")
        if not token:
            raise ValueError("token endpoint answered without a token")
        lifetime = float(body.get("expires_in") or 60)
        with self._lock:
            self._tokens[cache_key] = (token, time.monotonic() + max(10.0, lifetime - 30))
        return f"Bearer {token}"

    def ensure(self, client: httpx.Client, scope: str) -> str | None:
        """A header for ``scope``, fetching a token up front when the realm is known."""
        header = self.header_for(scope)
        if header is None and self._realm is not None and not self._basic_only:
            header = self.fetch_token(client, scope, cache_key=scope)
        return header
