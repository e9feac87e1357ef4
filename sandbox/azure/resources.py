"""ARM resource bodies of Microsoft.ContainerRegistry, shaped like the 2025-11-01 spec."""

from __future__ import annotations

import copy
from typing import Any

from sandbox.azure.tokens import iso, new_id

PROVIDER = "Microsoft.ContainerRegistry"
REGISTRY_TYPE = f"{PROVIDER}/registries"
SKU_TIERS = {"basic": "Basic", "standard": "Standard", "premium": "Premium"}

# child collection name (lower case) -> (canonical name, ARM type, has location)
CHILD_TYPES: dict[str, tuple[str, str, bool]] = {
    "replications": ("replications", f"{REGISTRY_TYPE}/replications", True),
    "webhooks": ("webhooks", f"{REGISTRY_TYPE}/webhooks", True),
    "scopemaps": ("scopeMaps", f"{REGISTRY_TYPE}/scopeMaps", False),
    "tokens": ("tokens", f"{REGISTRY_TYPE}/tokens", False),
    "cacherules": ("cacheRules", f"{REGISTRY_TYPE}/cacheRules", False),
    "credentialsets": ("credentialSets", f"{REGISTRY_TYPE}/credentialSets", False),
    "privateendpointconnections": (
        "privateEndpointConnections",
        f"{REGISTRY_TYPE}/privateEndpointConnections",
        False,
    ),
}


def registry_id(sub: str, rg: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{REGISTRY_TYPE}/{name}"


def deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """JSON merge-patch style: dicts merge recursively, everything else replaces."""
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def system_data(principal: str) -> dict[str, Any]:
    t = iso()
    return {
        "createdBy": principal,
        "createdByType": "Application",
        "createdAt": t,
        "lastModifiedBy": principal,
        "lastModifiedByType": "Application",
        "lastModifiedAt": t,
    }


def new_registry(
    sub: str, rg: str, name: str, body: dict[str, Any], login_server: str
) -> dict[str, Any]:
    """A registry resource from a create (PUT) body, with the service's defaults."""
    props_in = dict(body.get("properties") or {})
    sku_name = str((body.get("sku") or {}).get("name") or "Standard")
    sku = SKU_TIERS.get(sku_name.lower(), sku_name)
    t = iso()
    props: dict[str, Any] = {
        "loginServer": login_server,
        "creationDate": t,
        "provisioningState": "Succeeded",
        "adminUserEnabled": False,
        "networkRuleSet": {"defaultAction": "Allow", "ipRules": []},
        "policies": {
            "quarantinePolicy": {"status": "disabled"},
            "trustPolicy": {"type": "Notary", "status": "disabled"},
            "retentionPolicy": {"days": 7, "lastUpdatedTime": t, "status": "disabled"},
            "exportPolicy": {"status": "enabled"},
            "azureADAuthenticationAsArmPolicy": {"status": "enabled"},
        },
        "encryption": {"status": "disabled"},
        "status": None,
        "dataEndpointEnabled": False,
        "dataEndpointHostNames": [],
        "privateEndpointConnections": [],
        "publicNetworkAccess": "Enabled",
        "networkRuleBypassOptions": "AzureServices",
        "networkRuleBypassAllowedForTasks": False,
        "zoneRedundancy": "Disabled",
        "anonymousPullEnabled": False,
        "roleAssignmentMode": "LegacyRegistryPermissions",
    }
    for key in ("loginServer", "creationDate", "provisioningState", "status"):
        props_in.pop(key, None)
    props = deep_merge(props, props_in)
    resource: dict[str, Any] = {
        "id": registry_id(sub, rg, name),
        "name": name,
        "type": REGISTRY_TYPE,
        "location": str(body.get("location") or "westeurope").replace(" ", "").lower(),
        "tags": dict(body.get("tags") or {}),
        "sku": {"name": sku, "tier": sku},
        "properties": props,
    }
    if body.get("identity"):
        resource["identity"] = _identity(body["identity"])
    return resource


def _identity(identity: dict[str, Any]) -> dict[str, Any]:
    out = dict(identity)
    kind = str(out.get("type", "None"))
    if "SystemAssigned" in kind:
        out.setdefault("principalId", new_id())
        out.setdefault("tenantId", new_id())
    uais = out.get("userAssignedIdentities") or {}
    out["userAssignedIdentities"] = (
        {
            rid: {
                "principalId": (v or {}).get("principalId") or new_id(),
                "clientId": (v or {}).get("clientId") or new_id(),
            }
            for rid, v in uais.items()
        }
        if uais
        else None
    )
    if out["userAssignedIdentities"] is None:
        out.pop("userAssignedIdentities")
    return out


def update_registry(resource: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Apply a PATCH (RegistryUpdateParameters) body."""
    out = copy.deepcopy(resource)
    if "tags" in patch and patch["tags"] is not None:
        out["tags"] = dict(patch["tags"])
    if patch.get("sku"):
        sku = SKU_TIERS.get(str(patch["sku"]["name"]).lower(), patch["sku"]["name"])
        out["sku"] = {"name": sku, "tier": sku}
    if patch.get("identity"):
        out["identity"] = _identity(patch["identity"])
    props = dict(patch.get("properties") or {})
    for key in ("loginServer", "creationDate", "provisioningState", "status"):
        props.pop(key, None)
    out["properties"] = deep_merge(out["properties"], props)
    return out


def new_child(
    kind: str, parent: dict[str, Any], name: str, body: dict[str, Any], existing: dict | None
) -> dict[str, Any]:
    """A sub-resource (replication, webhook, scope map, token, cache rule, ...) from PUT/PATCH."""
    canonical, arm_type, has_location = CHILD_TYPES[kind]
    props_in = dict(body.get("properties") or {})
    t = iso()
    if existing is not None:
        updated = copy.deepcopy(existing)
        for secret in ("serviceUri", "customHeaders"):
            props_in.pop(secret, None)
        updated["properties"] = deep_merge(updated["properties"], props_in)
        if body.get("tags") is not None and "tags" in updated:
            updated["tags"] = dict(body["tags"])
        return updated
    out: dict[str, Any] = {
        "id": f"{parent['id']}/{canonical}/{name}",
        "name": name,
        "type": arm_type,
    }
    if has_location:
        out["location"] = str(body.get("location") or parent["location"]).lower()
        out["tags"] = dict(body.get("tags") or {})
    props: dict[str, Any]
    if kind == "replications":
        props = {
            "provisioningState": "Succeeded",
            "status": {"displayStatus": "Ready", "message": None, "timestamp": t},
            "regionEndpointEnabled": True,
            "zoneRedundancy": "Disabled",
        }
    elif kind == "webhooks":
        props = {"status": "enabled", "scope": "", "actions": [], "provisioningState": "Succeeded"}
        props_in.pop("serviceUri", None)  # write-only: served by getCallbackConfig
        props_in.pop("customHeaders", None)
    elif kind == "scopemaps":
        props = {
            "description": None,
            "type": "UserDefined",
            "creationDate": t,
            "provisioningState": "Succeeded",
            "actions": [],
        }
    elif kind == "tokens":
        props = {
            "creationDate": t,
            "provisioningState": "Succeeded",
            "scopeMapId": None,
            "credentials": {"certificates": [], "passwords": []},
            "status": "enabled",
        }
    elif kind == "cacherules":
        props = {
            "credentialSetResourceId": None,
            "sourceRepository": None,
            "targetRepository": None,
            "creationDate": t,
            "provisioningState": "Succeeded",
        }
    elif kind == "privateendpointconnections":
        props = {
            "privateEndpoint": None,
            "privateLinkServiceConnectionState": {
                "status": "Approved",
                "description": "",
                "actionsRequired": "None",
            },
            "provisioningState": "Succeeded",
        }
    else:
        props = {"creationDate": t, "provisioningState": "Succeeded"}
    out["properties"] = deep_merge(props, props_in)
    if kind in ("scopemaps", "tokens", "cacherules", "credentialsets"):
        out["systemData"] = system_data("sandbox")
    return out
