"""Preflight of the identities: may each tenant's identity do what its phase needs?

Asks ARM what the caller may do at a scope (``GET {scope}/providers/Microsoft.Authorization/
permissions``) and matches the phase's actions against it, wildcards and ``notActions``
included. A missing right is one line naming the identity, the scope and the role to grant.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

from azure.core.rest import HttpRequest
from azure.mgmt.containerregistry import ContainerRegistryManagementClient

from acr_migrate.azure.settings import AcrRegistryRef
from acr_migrate.errors import MigrationError

PERMISSIONS_API = "2022-04-01"
_ACR = "Microsoft.ContainerRegistry/registries"


@dataclass(frozen=True)
class Need:
    """One action a phase performs, where, the least built-in role that grants it, and
    whether the phase can go on without it (then it is a finding, not a stop)."""

    action: str
    role: str
    scope: str = "registry"  # "registry" or "resource_group"
    optional: bool = False


#: Minimal rights per phase (the README's "Azure permissions" lists the same).
PHASES: dict[str, tuple[Need, ...]] = {
    "document": (
        Need(f"{_ACR}/read", "Reader"),
        Need("Microsoft.Authorization/roleAssignments/read", "Reader"),
        Need(f"{_ACR}/webhooks/getCallbackConfig/action", "Contributor", optional=True),
    ),
    "inventory": (Need(f"{_ACR}/pull/read", "AcrPull"),),
    "pull": (Need(f"{_ACR}/pull/read", "AcrPull"),),
    "provision": (
        Need(f"{_ACR}/write", "Contributor", scope="resource_group"),
        Need(f"{_ACR}/read", "Reader", scope="resource_group"),
    ),
    "import": (
        Need(f"{_ACR}/importImage/action", "Contributor"),
        Need(f"{_ACR}/pull/read", "AcrPull"),
    ),
    "rbac": (
        Need("Microsoft.Authorization/roleAssignments/write", "Owner"),
        Need("Microsoft.Authorization/roleAssignments/read", "Reader"),
    ),
    "pull-token": (
        Need(f"{_ACR}/scopeMaps/write", "Contributor"),
        Need(f"{_ACR}/tokens/write", "Contributor"),
        Need(f"{_ACR}/generateCredentials/action", "Contributor"),
    ),
    "pull-token-revoke": (
        Need(f"{_ACR}/tokens/delete", "Contributor"),
        Need(f"{_ACR}/scopeMaps/delete", "Contributor"),
    ),
    "cutover": (
        Need("Microsoft.Authorization/roleAssignments/write", "Owner"),
        Need(f"{_ACR}/delete", "Contributor"),
    ),
}


def allows(permissions: list[dict[str, Any]], action: str) -> bool:
    """Whether any permission entry grants ``action`` (ARM matching: case-insensitive,
    ``*`` wildcards, an entry's ``notActions`` subtracted from its own ``actions``)."""
    wanted = action.lower()

    def matches(patterns: list[str]) -> bool:
        return any(fnmatch.fnmatchcase(wanted, p.lower()) for p in patterns)

    return any(
        matches(p.get("actions") or []) and not matches(p.get("notActions") or [])
        for p in permissions
    )


def _scope(ref: AcrRegistryRef, where: str) -> str:
    if where == "resource_group":
        return f"/subscriptions/{ref.subscription_id}/resourceGroups/{ref.resource_group}"
    return ref.resource_id


def permissions_at(
    arm: ContainerRegistryManagementClient, ref: AcrRegistryRef, scope: str
) -> list[dict[str, Any]]:
    """The caller's permission entries at ``scope`` (empty where it holds no role)."""
    url = (
        f"{ref.resource_manager.rstrip('/')}{scope}/providers/Microsoft.Authorization/"
        f"permissions?api-version={PERMISSIONS_API}"
    )
    value: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        response = arm.send_request(HttpRequest("GET", next_url))
        if response.status_code == 404:
            return value
        response.raise_for_status()
        page = response.json()
        value += list(page.get("value") or [])
        next_url = page.get("nextLink")
    return value


class IdentityPreflightError(MigrationError):
    """The identity of a tenant lacks a right its phase cannot do without."""


def require_rights(
    arm: ContainerRegistryManagementClient, ref: AcrRegistryRef, phase: str
) -> list[str]:
    """Raise with every blocking line; return the optional lines (findings)."""
    blocking, optional = missing_rights(arm, ref, phase)
    if blocking:
        raise IdentityPreflightError("\n".join(blocking))
    return optional


def missing_rights(
    arm: ContainerRegistryManagementClient, ref: AcrRegistryRef, phase: str
) -> tuple[list[str], list[str]]:
    """(blocking lines, optional lines) for what ``ref``'s identity lacks for ``phase``."""
    who = ref.identity.client_id or "the managed identity"
    blocking: list[str] = []
    optional: list[str] = []
    cache: dict[str, list[dict[str, Any]]] = {}
    for need in PHASES[phase]:
        scope = _scope(ref, need.scope)
        if scope not in cache:
            cache[scope] = permissions_at(arm, ref, scope)
        if allows(cache[scope], need.action):
            continue
        line = (
            f"{phase}: identity {who} (tenant {ref.identity.tenant_id}) may not perform "
            f"{need.action} on {scope}: grant it the {need.role} role there "
            f"(az role assignment create --assignee {who} --role {need.role} --scope {scope})"
        )
        (optional if need.optional else blocking).append(line)
    return blocking, optional
