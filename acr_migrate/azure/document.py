"""Document a registry through ARM: its configuration, sub-resources and role assignments.

Works on the ARM wire format (``as_dict()``), so what is documented, what is sent and what is
compared are the same JSON. Secrets are never documented: admin passwords are not read, token
passwords and webhook header values are dropped, and a webhook's service URI is kept without
its user info, query and fragment (where receivers keep their keys, e.g. an Azure Function's
``?code=``; ARM itself never answers the URI on a GET).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.mgmt.containerregistry import ContainerRegistryManagementClient

from acr_migrate.azure.settings import AcrRegistryRef
from acr_migrate.errors import MigrationError

SCHEMA = "acr-migrate/registry-config/v1"
ROLE_API = "2022-04-01"


def public_uri(uri: str) -> tuple[str, list[str]]:
    """``uri`` without the parts that hold credentials, and the names of those it had."""
    parts = urlsplit(uri)
    removed = [
        name
        for name, present in (
            ("user info", parts.username is not None or parts.password is not None),
            ("query", bool(parts.query)),
            ("fragment", bool(parts.fragment)),
        )
        if present
    ]
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")), removed


class PreflightError(MigrationError):
    """The source cannot be migrated as it is (e.g. content trust is on)."""


def _dicts(items: Any) -> list[dict[str, Any]]:
    return [item.as_dict() for item in items]


def _optional_list(call: Any, *args: Any) -> list[dict[str, Any]] | None:
    """A sub-resource listing, or None where the API or SKU does not offer it."""
    try:
        return _dicts(call(*args))
    except ResourceNotFoundError:
        return None
    except HttpResponseError as exc:
        if exc.status_code in (400, 404, 405):
            return None
        raise


def at_registry_scope(assignments: list[dict[str, Any]], scope: str) -> list[dict[str, Any]]:
    """The assignments made on the registry itself.

    ``atScope()`` also returns those inherited from the resource group, the subscription and the
    management groups above; they are not the registry's to re-create.
    """
    wanted = scope.rstrip("/").lower()
    return [
        ra
        for ra in assignments
        if str((ra.get("properties") or {}).get("scope") or "").rstrip("/").lower() == wanted
    ]


def role_assignments(
    arm: ContainerRegistryManagementClient, ref: AcrRegistryRef, gaps: list[dict[str, Any]]
) -> list[dict[str, Any]] | None:
    """The role assignments made on the registry itself (None, with a gap, when the identity
    may not read them)."""
    url: str | None = (
        f"{ref.resource_manager.rstrip('/')}{ref.resource_id}"
        f"/providers/Microsoft.Authorization/roleAssignments?api-version={ROLE_API}"
        "&$filter=atScope()"
    )
    found: list[dict[str, Any]] = []
    while url:
        response = arm.send_request(HttpRequest("GET", url))
        if response.status_code in (403, 404):
            if response.status_code == 403:
                gaps.append(
                    _permission_gap(
                        "role assignments",
                        "Microsoft.Authorization/roleAssignments/read",
                        response.text(),
                    )
                )
            return None
        response.raise_for_status()
        page = response.json()
        found += list(page.get("value", []))
        url = page.get("nextLink")
    return at_registry_scope(found, ref.resource_id)


def _permission_gap(what: str, action: str, detail: str) -> dict[str, Any]:
    """A part of the registry the documenting identity may not read."""
    return {"what": what, "action": action, "detail": detail[:500]}


def document_registry(
    arm: ContainerRegistryManagementClient, ref: AcrRegistryRef
) -> dict[str, Any]:
    """The registry, its sub-resources and role assignments, as JSON (no secrets)."""
    rg, name = ref.resource_group, ref.registry
    try:
        registry = arm.registries.get(rg, name).as_dict()
    except ResourceNotFoundError:
        raise MigrationError(f"registry {name} not found in resource group {rg}") from None
    permission_gaps: list[dict[str, Any]] = []
    webhooks = _optional_list(arm.webhooks.list, rg, name) or []
    for hook in webhooks:
        try:
            config = arm.webhooks.get_callback_config(rg, name, hook["name"]).as_dict()
        except HttpResponseError as exc:
            if exc.status_code != 403:
                raise
            # A POST action: Reader may list webhooks but not read where they call.
            permission_gaps.append(
                _permission_gap(
                    f"callback of webhook {hook['name']}",
                    "Microsoft.ContainerRegistry/registries/webhooks/getCallbackConfig/action",
                    str(exc.message or exc),
                )
            )
            continue
        uri, withheld = public_uri(str(config.get("serviceUri") or ""))
        hook["callback"] = {
            "serviceUri": uri,
            # Header values are often credentials: keep only their names.
            "customHeaderNames": sorted((config.get("customHeaders") or {}).keys()),
        }
        if withheld:
            hook["callback"]["serviceUriWithheld"] = withheld
    tokens = _optional_list(arm.tokens.list, rg, name) or []
    for token in tokens:
        credentials = token.get("properties", {}).get("credentials") or {}
        for password in credentials.get("passwords") or []:
            password.pop("value", None)
    return {
        "schema": SCHEMA,
        "documented_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "resource_id": ref.resource_id,
        "registry": registry,
        "replications": _optional_list(arm.replications.list, rg, name),
        "webhooks": webhooks,
        "scope_maps": _optional_list(arm.scope_maps.list, rg, name),
        "tokens": tokens,
        "cache_rules": _optional_list(arm.cache_rules.list, rg, name),
        "credential_sets": _optional_list(arm.credential_sets.list, rg, name),
        "private_endpoint_connections": _optional_list(
            arm.private_endpoint_connections.list, rg, name
        ),
        "role_assignments": role_assignments(arm, ref, permission_gaps),
        "permission_gaps": permission_gaps,
    }


def preflight_findings(document: dict[str, Any]) -> list[str]:
    """Findings that import cannot cross; raises when the migration cannot start at all."""
    props = document["registry"].get("properties", {})
    policies = props.get("policies") or {}
    if (policies.get("trustPolicy") or {}).get("status", "").lower() == "enabled":
        raise PreflightError(
            f"content trust (Docker Content Trust) is enabled on {document['registry']['name']}: "
            "signed images cannot be imported; disable the trust policy first"
        )
    findings = []
    if (props.get("networkRuleSet") or {}).get("defaultAction") == "Deny":
        findings.append("network rules deny by default: the importing side must be allowed in")
    if props.get("publicNetworkAccess") == "Disabled":
        findings.append("public network access is disabled: use oci-copy from a peered worker")
    if document.get("private_endpoint_connections"):
        findings.append("private endpoints exist: ARM import cannot reach them from outside")
    return findings
