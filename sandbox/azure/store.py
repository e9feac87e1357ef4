"""The stand-in's shared state: one JSON-able dict, persisted to ``<root>/azure/state.json``.

Everything runs on one asyncio loop, so handlers mutate the dict directly and call
:meth:`Store.save_soon` (debounced atomic write, mode 0600: the file holds secrets).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

STATE_FILE = "state.json"


def secret_values(data: dict[str, Any]) -> dict[str, str]:
    """Every secret the stand-in's state holds, by a label saying what it is: client secrets
    and managed-identity headers of each tenant, admin and token passwords of each registry
    and slot, webhook callback URIs and header values."""
    out: dict[str, str] = {}
    for tid, tenant in data.get("tenants", {}).items():
        for cid, app in tenant.get("apps", {}).items():
            out[f"client secret of app {app.get('name')} ({cid}) of tenant {tid}"] = app["secret"]
        for cid, mi in tenant.get("managed_identities", {}).items():
            out[f"identity header of {mi.get('name')} ({cid})"] = mi["identity_header"]
    for name, slot in data.get("slots", {}).items():
        out[f"planned admin password of slot {name}"] = slot["admin_password"]
    for reg in data.get("registries", {}).values():
        name = reg["resource"]["name"]
        for n, password in enumerate(reg.get("passwords") or [], 1):
            out[f"admin password{n} of {name}"] = password
        for token, values in (reg.get("token_passwords") or {}).items():
            for which, value in values.items():
                out[f"{which} of token {token} of {name}"] = value
        for hook, callback in (reg.get("webhook_callbacks") or {}).items():
            uri = str(callback.get("serviceUri") or "")
            query = uri.partition("?")[2]
            if query:
                out[f"query of the callback URI of webhook {hook} of {name}"] = query
            for header, value in (callback.get("customHeaders") or {}).items():
                out[f"header {header} of webhook {hook} of {name}"] = str(value)
    return out


ROLE_IDS = {
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "AcrPush": "8311e382-0749-4cb8-b61a-304f252e45ec",
    "AcrDelete": "c2f4ef07-c644-48eb-af81-4b1b4947fb11",
}
ROLE_NAMES = {v: k for k, v in ROLE_IDS.items()}
#: Control-plane permissions of the built-in roles (docs: "Azure built-in roles",
#: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles), as
#: ``roleDefinitions`` and ``permissions`` answer them. Contributor's notActions are abridged to
#: the Microsoft.Authorization ones that matter here.
ROLE_PERMISSIONS: dict[str, dict[str, list[str]]] = {
    "Owner": {"actions": ["*"], "notActions": []},
    "Contributor": {
        "actions": ["*"],
        "notActions": [
            "Microsoft.Authorization/*/Delete",
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/elevateAccess/Action",
        ],
    },
    "Reader": {"actions": ["*/read"], "notActions": []},
    "AcrPull": {"actions": ["Microsoft.ContainerRegistry/registries/pull/read"], "notActions": []},
    "AcrPush": {
        "actions": [
            "Microsoft.ContainerRegistry/registries/pull/read",
            "Microsoft.ContainerRegistry/registries/push/write",
        ],
        "notActions": [],
    },
    "AcrDelete": {
        "actions": ["Microsoft.ContainerRegistry/registries/artifacts/delete"],
        "notActions": [],
    },
}
ARM_READ_ROLES = {"Owner", "Contributor", "Reader"}
ARM_WRITE_ROLES = {"Owner", "Contributor"}
RBAC_WRITE_ROLES = {"Owner"}
# Data-plane actions per role (ACR "LegacyRegistryPermissions" mode).
DATA_ACTIONS = {
    "Owner": {"pull", "push", "delete", "metadata_read", "metadata_write", "*"},
    "Contributor": {"pull", "push", "delete", "metadata_read", "metadata_write", "*"},
    "AcrPush": {"pull", "push", "metadata_read", "metadata_write"},
    "AcrDelete": {"delete"},
    "Reader": {"pull", "metadata_read"},
    "AcrPull": {"pull", "metadata_read"},
}


def write_private_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1)
    tmp.replace(path)


def registry_key(subscription: str, resource_group: str, name: str) -> str:
    return f"{subscription.lower()}/{resource_group.lower()}/{name.lower()}"


class Store:
    """Holds the state dict and persists it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.data: dict[str, Any] = json.loads(self.path.read_text())
        self._pending: asyncio.TimerHandle | None = None

    # ---------------------------------------------------------------- persistence
    def save(self) -> None:
        self._pending = None
        write_private_json(self.path, self.data)

    def save_soon(self, delay: float = 0.3) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.save()
            return
        if self._pending is None:
            self._pending = loop.call_later(delay, self.save)

    # ---------------------------------------------------------------- lookups
    @property
    def tenants(self) -> dict[str, Any]:
        return dict(self.data["tenants"])

    def tenant_of_subscription(self, sub: str) -> str | None:
        rec = self.data["subscriptions"].get(sub.lower())
        return rec["tenant"] if rec else None

    def registries(self) -> dict[str, dict[str, Any]]:
        return dict(self.data["registries"])

    def registry(self, sub: str, rg: str, name: str) -> dict[str, Any] | None:
        return self.data["registries"].get(registry_key(sub, rg, name))

    def registry_by_name(self, name: str) -> dict[str, Any] | None:
        for rec in self.data["registries"].values():
            if rec["resource"]["name"].lower() == name.lower():
                return dict(rec)
        return None

    def registry_by_id(self, resource_id: str) -> dict[str, Any] | None:
        for rec in self.data["registries"].values():
            if rec["resource"]["id"].lower() == resource_id.rstrip("/").lower():
                return dict(rec)
        return None

    def name_taken(self, name: str) -> bool:
        """Registry names are global (DNS): taken anywhere, by any tenant, or planned."""
        return self.registry_by_name(name) is not None

    def principal_roles(self, tenant: str, oid: str, scope: str) -> set[str]:
        """Role names `oid` holds at `scope` or any parent scope (in `tenant`)."""
        scope_l = scope.rstrip("/").lower()
        out: set[str] = set()
        for ra in self.data["role_assignments"].values():
            props = ra["properties"]
            if props["principalId"] != oid or ra.get("_tenant") != tenant:
                continue
            ra_scope = props["scope"].rstrip("/").lower()
            if scope_l == ra_scope or scope_l.startswith(ra_scope + "/"):
                role_id = props["roleDefinitionId"].rsplit("/", 1)[-1].lower()
                if role_id in ROLE_NAMES:
                    out.add(ROLE_NAMES[role_id])
        return out

    def principal(self, tenant: str, oid: str) -> dict[str, Any] | None:
        ten = self.data["tenants"].get(tenant)
        if not ten:
            return None
        for kind in ("apps", "managed_identities"):
            for cid, rec in ten[kind].items():
                if rec["oid"] == oid:
                    return {"kind": kind, "client_id": cid, **rec}
        return None
