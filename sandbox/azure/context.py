"""What the three stand-ins share inside the one process."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
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

    def authenticate_password(
        self, slot: str, username: str, password: str
    ) -> tuple[str, set[str]] | None:
        """(subject, allowed actions) for registry credentials, or None.

        Accepted: the admin user; a service principal of the registry's tenant (client id +
        secret); ``00000000-...`` + an ACR refresh token of this registry (the docker-login
        convention: not an Entra access token); no username + an Entra access token of the
        registry's tenant (``az acr import --password <token>``, azure-cli acr/import.py).
        """
        s = self.store.data["slots"][slot]
        tenant = s["tenant"]
        scope = self.registry_scope(slot)
        if username.lower() == self.registry_name(slot).lower():
            pws = self.admin_passwords(slot) or []
            if any(hmac.compare_digest(password.encode(), p.encode()) for p in pws):
                return "admin", set(ALL_ACTIONS)
            return None
        app = self.store.data["tenants"][tenant]["apps"].get(username)
        if app is not None:
            if hmac.compare_digest(password.encode(), app["secret"].encode()):
                return app["oid"], self.data_actions(tenant, app["oid"], scope)
            return None
        if username == ZERO_GUID:
            refresh = self.verify_refresh(slot, password)
            if refresh is not None:
                return str(refresh["sub"]), set(refresh.get("actions") or [])
            return None
        if not username:
            claims, _ = verify_entra_token(self.signer, password, ACR_AUDIENCES)
            if claims is not None and claims["tid"] == tenant:
                return claims["oid"], self.data_actions(tenant, claims["oid"], scope)
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
