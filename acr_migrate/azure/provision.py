"""Provision: create the target registry and its sub-resources from a source's document.

Safe to run again: what exists is kept, only what is missing is created. What cannot be
mirrored is listed as gaps (``gaps.py``), each with what the operator must do.
"""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from pydantic import BaseModel

from acr_migrate.azure.gaps import Gap, gaps_of
from acr_migrate.azure.settings import AcrRegistryRef
from acr_migrate.errors import MigrationError
from acr_migrate.pull_token import DESCRIPTION as PULL_TOKEN_DESCRIPTION

#: Registry properties that a new registry can take over as they are.
MIRRORED_PROPERTIES = (
    "adminUserEnabled",
    "policies",
    "networkRuleSet",
    "networkRuleBypassOptions",
    "publicNetworkAccess",
    "zoneRedundancy",
    "anonymousPullEnabled",
    "dataEndpointEnabled",
    # LegacyRegistryPermissions or AbacRepositoryPermissions: which roles the data plane honours.
    "roleAssignmentMode",
)
_READ_ONLY_POLICY_KEYS = ("lastUpdatedTime",)
CHILDREN = ("replications", "webhooks", "scope_maps", "tokens", "cache_rules")


class ProvisionReport(BaseModel):
    """What provisioning did (or would do, in a dry run)."""

    registry: str
    created: bool
    existed: bool
    name_available: bool
    children_created: list[str]
    children_existing: list[str]
    gaps: list[Gap]
    dry_run: bool

    def message(self) -> str:
        """One line: the registry, what was (or would be) created, what needs the operator."""
        done = "exists" if self.existed else ("would be created" if self.dry_run else "created")
        verb = "to create" if self.dry_run else "created"
        return (
            f"{self.registry} {done}, {len(self.children_created)} sub-resource(s) {verb}; "
            f"{len(self.gaps)} item(s) need the operator"
        )


def clean_policies(policies: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in policies.items():
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in _READ_ONLY_POLICY_KEYS}
        out[key] = value
    return out


def registry_body(document: dict[str, Any], target: AcrRegistryRef) -> dict[str, Any]:
    """The PUT body of the new registry, mirroring what can be mirrored."""
    source = document["registry"]
    props = source.get("properties", {})
    mirrored = {k: props[k] for k in MIRRORED_PROPERTIES if k in props and props[k] is not None}
    if "policies" in mirrored:
        mirrored["policies"] = clean_policies(mirrored["policies"])
    location = target.location if "location" in target.model_fields_set else source["location"]
    body: dict[str, Any] = {
        "location": location,
        "sku": {"name": source["sku"]["name"]},
        "properties": mirrored,
    }
    if source.get("tags"):
        body["tags"] = dict(source["tags"])
    return body


def child_bodies(document: dict[str, Any], target_id: str) -> list[tuple[str, str, dict]]:
    """(kind, name, PUT body) of each sub-resource to create, in dependency order."""
    out: list[tuple[str, str, dict]] = []
    for rep in document.get("replications") or []:
        if rep.get("location") == document["registry"].get("location"):
            continue  # the home region's replication exists by itself
        props = rep.get("properties", {})
        body = {
            "location": rep["location"],
            "properties": {
                k: props[k] for k in ("regionEndpointEnabled", "zoneRedundancy") if k in props
            },
        }
        if rep.get("tags"):
            body["tags"] = rep["tags"]
        out.append(("replications", rep["name"], body))
    # The migration's own pull token (grant-pull-token) is not the source's configuration.
    ours = {
        sm["name"].lower()
        for sm in document.get("scope_maps") or []
        if (sm.get("properties") or {}).get("description") == PULL_TOKEN_DESCRIPTION
    }
    for sm in document.get("scope_maps") or []:
        props = sm.get("properties", {})
        if props.get("type") == "SystemDefined" or sm["name"].lower() in ours:
            continue
        body = {"properties": {k: props[k] for k in ("actions", "description") if k in props}}
        out.append(("scope_maps", sm["name"], body))
    for token in document.get("tokens") or []:
        props = token.get("properties", {})
        scope_map = (props.get("scopeMapId") or "").rsplit("/", 1)[-1]
        if scope_map.lower() in ours:
            continue
        body = {
            "properties": {
                "scopeMapId": f"{target_id}/scopeMaps/{scope_map}",
                "status": props.get("status", "enabled"),
            }
        }
        out.append(("tokens", token["name"], body))
    for hook in document.get("webhooks") or []:
        props = hook.get("properties", {})
        uri = (hook.get("callback") or {}).get("serviceUri")
        if not uri:
            continue
        body = {
            "location": hook.get("location") or document["registry"]["location"],
            "properties": {
                "serviceUri": uri,
                **{k: props[k] for k in ("actions", "scope", "status") if k in props},
            },
        }
        if (hook.get("callback") or {}).get("serviceUriWithheld"):
            # Its URI lacks the receiver's key (never documented): it waits, disabled, for the
            # operator to set the whole URI (a gap says so).
            body["properties"]["status"] = "disabled"
        if hook.get("tags"):
            body["tags"] = hook["tags"]
        out.append(("webhooks", hook["name"], body))
    for rule in document.get("cache_rules") or []:
        props = rule.get("properties", {})
        if props.get("credentialSetResourceId"):
            continue
        body = {
            "properties": {
                k: props[k] for k in ("sourceRepository", "targetRepository") if k in props
            }
        }
        out.append(("cache_rules", rule["name"], body))
    return out


def provision(
    arm: ContainerRegistryManagementClient,
    document: dict[str, Any],
    target: AcrRegistryRef,
    *,
    dry_run: bool = False,
) -> ProvisionReport:
    """Create the target registry and its sub-resources from a source ``document``.

    Safe to run again: an existing registry is kept (not overwritten) and existing
    sub-resources are left alone; only what is missing is created.
    """
    rg, name = target.resource_group, target.registry
    existed = True
    try:
        arm.registries.get(rg, name)
    except ResourceNotFoundError:
        existed = False
    name_available = True
    if not existed:
        check = arm.registries.check_name_availability(
            {"name": name, "type": "Microsoft.ContainerRegistry/registries"}
        )
        name_available = bool(check.name_available)
        if not name_available:
            raise MigrationError(
                f"registry name {name} is not available ({check.reason}: {check.message}); "
                "ACR names are global across tenants: choose another target name"
            )
        if not dry_run:
            arm.registries.begin_create(rg, name, registry_body(document, target)).result()
    created_children: list[str] = []
    existing_children: list[str] = []
    for kind, child, body in child_bodies(document, target.resource_id):
        operations = getattr(arm, kind)
        label = f"{kind}/{child}"
        if existed:
            try:
                operations.get(rg, name, child)
                existing_children.append(label)
                continue
            except ResourceNotFoundError:
                pass
        if not dry_run:
            operations.begin_create(rg, name, child, body).result()
        created_children.append(label)
    return ProvisionReport(
        registry=name,
        created=not existed and not dry_run,
        existed=existed,
        name_available=name_available,
        children_created=created_children,
        children_existing=existing_children,
        gaps=gaps_of(document),
        dry_run=dry_run,
    )
