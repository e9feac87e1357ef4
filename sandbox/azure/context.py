"""What the three stand-ins share inside the one process."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt

from sandbox.azure.backend import Backend
from sandbox.azure.entra import verify_entra_token
from sandbox.azure.faults import ArmFaults
from sandbox.azure.index import Index
from sandbox.azure.resources import registry_id
from sandbox.azure.store import DATA_ACTIONS, Store
from sandbox.azure.strict import Behaviour, ErrorLog
from sandbox.azure.tokens import Signer

ZERO_GUID = "00000000-0000-0000-0000-000000000000"
ACR_AUDIENCES = {
    "https://containerregistry.azure.net",
    "https://management.azure.com",
    "https://management.core.windows.net",
}
ALL_ACTIONS = frozenset({"pull", "push", "delete", "metadata_read", "metadata_write", "*"})
#: Scope-map actions -> the data-plane (docker) actions they allow on their repository (docs:
#: "Create a token with repository-scoped permissions": content/read pulls, content/write
#: pushes, content/delete deletes, metadata/read lists tags or manifests, metadata/write
#: changes attributes).
SCOPE_MAP_ACTIONS = {
    "content/read": "pull",
    "content/write": "push",
    "content/delete": "delete",
    "metadata/read": "metadata_read",
    "metadata/write": "metadata_write",
}


@dataclass(frozen=True)
class Grant:
    """Who signed in and what they may do: registry-wide ``actions`` (admin user, roles), or,
    for a repository-scoped token, only the ``repositories`` its scope map names."""

    subject: str
    actions: frozenset[str] = frozenset()
    repositories: Mapping[str, frozenset[str]] | None = None

    def allows(self, repository: str, action: str) -> bool:
        if self.repositories is not None:
            return action in self.repositories.get(repository, frozenset())
        return action in self.actions or "*" in self.actions

    def granted(self, rtype: str, name: str, requested: set[str]) -> set[str]:
        """Which of ``requested`` actions on ``rtype:name`` a token for this grant carries.
        A token's scope map cannot list the catalog (docs: repository-scoped permissions do
        not support listing the catalog)."""
        if rtype == "registry":
            if self.repositories is not None:
                return set()
            return {"*"} if self.actions & {"*", "pull", "metadata_read"} else set()
        if self.repositories is not None:
            return requested & set(self.repositories.get(name, frozenset()))
        return set(requested) if "*" in self.actions else requested & set(self.actions)


def scope_map_grants(actions: list[str]) -> dict[str, frozenset[str]]:
    """Repository -> data-plane actions of a scope map's ``repositories/<repo>/<action>``
    entries (a wildcard repository is taken literally: not modelled)."""
    out: dict[str, set[str]] = {}
    for entry in actions:
        body = entry.removeprefix("repositories/")
        if body == entry:
            continue
        for suffix, docker in SCOPE_MAP_ACTIONS.items():
            if body.endswith("/" + suffix):
                out.setdefault(body.removesuffix("/" + suffix), set()).add(docker)
    return {repo: frozenset(acts) for repo, acts in out.items()}


def parse_time(text: str | None) -> datetime | None:
    """An ISO 8601 / RFC 3339 time (``Z`` or an offset); None for none."""
    if not text:
        return None
    value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class Context:
    store: Store
    signer: Signer
    client: httpx.AsyncClient
    faults: ArmFaults = field(default_factory=ArmFaults)
    backends: dict[str, Backend] = field(default_factory=dict)
    indexes: dict[str, Index] = field(default_factory=dict)
    behaviour: Behaviour = field(default_factory=Behaviour)
    errors: ErrorLog | None = None

    @property
    def host(self) -> str:
        return str(self.store.data["host"])

    def port(self, name: str) -> int:
        return int(self.store.data["ports"][name])

    def url(self, name: str) -> str:
        return f"https://{self.host}:{self.port(name)}"

    # ---------------------------------------------------------------- slots <-> registries
    def slot(self, slot: str) -> dict[str, Any]:
        return dict(self.store.data["slots"][slot])

    def slot_registry(self, slot: str) -> dict[str, Any] | None:
        key = self.store.data["slots"][slot]["registry_key"]
        return self.store.data["registries"].get(key) if key else None

    def slot_of_login_server(self, login: str) -> str | None:
        login = login.lower().removeprefix("https://").rstrip("/")
        for name, slot in self.store.data["slots"].items():
            if login == f"{self.host}:{slot['port']}".lower():
                return str(name)
        return None

    def registry_name(self, slot: str) -> str:
        reg = self.slot_registry(slot)
        return str(
            reg["resource"]["name"] if reg else self.store.data["slots"][slot]["planned_name"]
        )

    def registry_scope(self, slot: str) -> str:
        reg = self.slot_registry(slot)
        if reg:
            return str(reg["resource"]["id"])
        s = self.store.data["slots"][slot]
        rg = next(iter(self.store.data["subscriptions"][s["subscription"]]["resource_groups"]))
        return registry_id(s["subscription"], rg, s["planned_name"])

    def admin_passwords(self, slot: str) -> list[str] | None:
        """Valid admin passwords, or None if the admin user is disabled."""
        reg = self.slot_registry(slot)
        if reg is None:  # not created in ARM yet: the planned admin login works (see README)
            return [self.store.data["slots"][slot]["admin_password"]]
        if not reg["resource"]["properties"].get("adminUserEnabled"):
            return None
        return list(reg["passwords"])

    def data_actions(self, tenant: str, oid: str, scope: str) -> set[str]:
        out: set[str] = set()
        for role in self.store.principal_roles(tenant, oid, scope):
            out |= DATA_ACTIONS.get(role, set())
        return out

    # ---------------------------------------------------------------- data-plane credentials
    def service(self, slot: str) -> str:
        return f"{self.host}:{self.store.data['slots'][slot]['port']}"

    def authenticate_password(self, slot: str, username: str, password: str) -> Grant | None:
        """What registry credentials may do, or None.

        Accepted: the admin user; a repository-scoped token of the registry (its name and a
        generated password that has not expired, while the token exists and is enabled); a
        service principal of the registry's tenant (client id + secret); ``00000000-...`` +
        an ACR refresh token of this registry (the docker-login convention: not an Entra
        access token); no username + an Entra access token of the registry's tenant
        (``az acr import --password <token>``, azure-cli acr/import.py).
        """
        s = self.store.data["slots"][slot]
        tenant = s["tenant"]
        scope = self.registry_scope(slot)
        if username.lower() == self.registry_name(slot).lower():
            pws = self.admin_passwords(slot) or []
            if any(hmac.compare_digest(password.encode(), p.encode()) for p in pws):
                return Grant("admin", ALL_ACTIONS)
            return None
        reg = self.slot_registry(slot)
        if username and reg is not None and username.lower() in reg["children"].get("tokens", {}):
            return self.token_grant(reg, username, password)
        app = self.store.data["tenants"][tenant]["apps"].get(username)
        if app is not None:
            if hmac.compare_digest(password.encode(), app["secret"].encode()):
                return Grant(app["oid"], frozenset(self.data_actions(tenant, app["oid"], scope)))
            return None
        if username == ZERO_GUID:
            refresh = self.verify_refresh(slot, password)
            if refresh is not None:
                return Grant(str(refresh["sub"]), frozenset(refresh.get("actions") or []))
            return None
        if not username:
            claims, _ = verify_entra_token(self.signer, password, ACR_AUDIENCES)
            if claims is not None and claims["tid"] == tenant:
                actions = self.data_actions(tenant, claims["oid"], scope)
                return Grant(claims["oid"], frozenset(actions))
        return None

    def token_grant(self, reg: dict[str, Any], username: str, password: str) -> Grant | None:
        """A repository-scoped token signing in: one of its generated passwords, not expired,
        the token enabled; it may do what its scope map lists, on those repositories only."""
        token = reg["children"]["tokens"][username.lower()]
        props = token["properties"]
        if str(props.get("status", "enabled")).lower() != "enabled":
            return None
        secrets = reg.get("token_passwords", {}).get(username.lower(), {})
        now = datetime.now(UTC)
        for entry in props.get("credentials", {}).get("passwords") or []:
            value = secrets.get(entry.get("name"))
            expiry = parse_time(entry.get("expiry"))
            if value is None or (expiry is not None and expiry <= now):
                continue
            if hmac.compare_digest(password.encode(), value.encode()):
                map_name = str(props.get("scopeMapId") or "").rsplit("/", 1)[-1].lower()
                scope_map = reg["children"].get("scopemaps", {}).get(map_name)
                actions = (scope_map or {}).get("properties", {}).get("actions") or []
                return Grant(f"token:{token['name']}", repositories=scope_map_grants(actions))
        return None

    def record_error(self, where: str, exc: BaseException) -> None:
        """Log an internal error where the test session will find it."""
        if self.errors is not None:
            self.errors.record(where, exc)

    def verify_refresh(self, slot: str, token: str) -> dict[str, Any] | None:
        try:
            claims = self.signer.verify(token, audience=self.service(slot))
        except jwt.InvalidTokenError:
            return None
        return claims if claims.get("grant_type") == "refresh_token" else None
