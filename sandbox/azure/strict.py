"""How strict the stand-in is, and where it records its own failures.

:class:`Behaviour` holds the knobs tests turn at ``PUT /_sandbox/behaviour`` (ARM port): token
lifetime and clock skew, role-assignment page size, replica read lag. :class:`ErrorLog` keeps
every internal error (a handler or a background import that raised) in
``<root>/azure/errors.jsonl``; the test session reads it so an error fails the test that caused
it. Every behaviour and its authority is listed in ``sandbox/azure/AUTHORITY.md``.
"""

from __future__ import annotations

import dataclasses
import json
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ERRORS_FILE = "errors.jsonl"

#: api-versions the REST specs define (folder names under
#: specification/containerregistry/resource-manager/Microsoft.ContainerRegistry, stable and
#: preview) for ``Microsoft.ContainerRegistry/registries`` and its sub-resources.
CONTAINER_REGISTRY_API_VERSIONS = (
    "2017-03-01",
    "2017-06-01-preview",
    "2017-10-01",
    "2019-05-01",
    "2019-05-01-preview",
    "2019-12-01-preview",
    "2020-11-01-preview",
    "2021-06-01-preview",
    "2021-08-01-preview",
    "2021-09-01",
    "2021-12-01-preview",
    "2022-02-01-preview",
    "2022-12-01",
    "2023-01-01-preview",
    "2023-06-01-preview",
    "2023-07-01",
    "2023-08-01-preview",
    "2023-11-01-preview",
    "2024-11-01-preview",
    "2025-03-01-preview",
    "2025-04-01",
    "2025-05-01-preview",
    "2025-06-01-preview",
    "2025-11-01",
)
#: specification/authorization/resource-manager/Microsoft.Authorization (roleAssignments,
#: roleDefinitions).
AUTHORIZATION_API_VERSIONS = (
    "2015-07-01",
    "2018-01-01-preview",
    "2018-09-01-preview",
    "2020-03-01-preview",
    "2020-04-01-preview",
    "2020-08-01-preview",
    "2020-10-01-preview",
    "2022-01-01-preview",
    "2022-04-01",
    "2022-05-01-preview",
)

#: specification/containerservice/resource-manager/Microsoft.ContainerService/aks/stable: the
#: folders holding ``managedClusters.json`` (readme.md's tags up to 2024-01-01, then each folder
#: looked up; 2024-04/06/11/12 do not exist). Previews (``YYYY-MM-02-preview``...) are not
#: listed, so the stand-in refuses them although Azure serves them: stricter, never kinder.
MANAGED_CLUSTER_API_VERSIONS = (
    "2017-08-31",
    "2018-03-31",
    "2019-02-01",
    "2019-04-01",
    "2019-06-01",
    "2019-08-01",
    "2019-10-01",
    "2019-11-01",
    "2020-01-01",
    "2020-02-01",
    "2020-03-01",
    "2020-04-01",
    "2020-06-01",
    "2020-07-01",
    "2020-09-01",
    "2020-11-01",
    "2020-12-01",
    "2021-02-01",
    "2021-03-01",
    "2021-05-01",
    "2021-07-01",
    "2021-08-01",
    "2021-09-01",
    "2021-10-01",
    "2022-01-01",
    "2022-02-01",
    "2022-03-01",
    "2022-04-01",
    "2022-06-01",
    "2022-07-01",
    "2022-09-01",
    "2022-11-01",
    "2023-01-01",
    "2023-02-01",
    "2023-03-01",
    "2023-04-01",
    "2023-05-01",
    "2023-06-01",
    "2023-07-01",
    "2023-08-01",
    "2023-09-01",
    "2023-10-01",
    "2023-11-01",
    "2024-01-01",
    "2024-02-01",
    "2024-03-01",
    "2024-05-01",
    "2024-07-01",
    "2024-08-01",
    "2024-09-01",
    "2024-10-01",
    "2025-01-01",
    "2025-02-01",
    "2025-03-01",
    "2025-04-01",
    "2025-05-01",
    "2025-06-01",
    "2025-07-01",
    "2025-08-01",
    "2025-09-01",
    "2025-10-01",
)


def supported_api_versions(path: str) -> tuple[str, str, tuple[str, ...]] | None:
    """(namespace, resource type, versions) the path's provider defines, or None (unchecked)."""
    lowered = path.lower()
    if "/providers/microsoft.authorization/" in lowered:
        kind = "roleDefinitions" if "/roledefinitions" in lowered else "roleAssignments"
        return "Microsoft.Authorization", kind, AUTHORIZATION_API_VERSIONS
    if "/providers/microsoft.containerregistry/" in lowered:
        after = lowered.split("/providers/microsoft.containerregistry/", 1)[1].split("/")
        kind = "registries" if after[0] == "registries" else after[0]
        if len(after) > 3 and after[0] == "registries":
            kind = f"registries/{after[2]}"
        return "Microsoft.ContainerRegistry", kind, CONTAINER_REGISTRY_API_VERSIONS
    if "/providers/microsoft.containerservice/managedclusters" in lowered:
        return "Microsoft.ContainerService", "managedClusters", MANAGED_CLUSTER_API_VERSIONS
    return None


def api_version_problem(path: str, api_version: str, location: str) -> dict[str, Any] | None:
    """ARM's 400 body for an api-version the provider does not define, else None.

    Shape and wording as users report ARM's answer (``NoRegisteredProviderFound``, e.g.
    Azure/azure-cli#28496, pulumi/pulumi-azure-nextgen#170).
    """
    known = supported_api_versions(path)
    if known is None:
        return None
    _, kind, versions = known
    if api_version in versions:
        return None
    supported = ", ".join(sorted(versions, reverse=True))
    return {
        "error": {
            "code": "NoRegisteredProviderFound",
            "message": f"No registered resource provider found for location '{location}' and "
            f"API version '{api_version}' for type '{kind}'. The supported api-versions are "
            f"'{supported}'. The supported locations are 'westeurope, northeurope, westus2, "
            "eastus'.",
        }
    }


@dataclass
class Behaviour:
    """Knobs of the stand-in's strictness (``PUT /_sandbox/behaviour``; unknown keys refused)."""

    #: Lifetime of Entra access tokens in seconds (Entra: 60-90 minutes, randomised).
    token_ttl: int = 3600
    #: Leeway when checking a token's ``exp``/``nbf`` (assumed).
    clock_skew: int = 30
    #: Role assignments per page of a list; the rest is behind ``nextLink`` (assumed size).
    role_assignment_page_size: int = 3
    #: Seconds a data-plane read lags behind an import (a geo-replica that is behind).
    replica_lag_seconds: float = 0.0
    #: Descriptors per page of the referrers API; the rest is behind ``Link`` (assumed size,
    #: kept small so that paging is always exercised).
    referrers_page_size: int = 2

    def update(self, data: dict[str, Any]) -> None:
        names = {f.name for f in dataclasses.fields(self)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown behaviour keys: {sorted(unknown)}")
        for key, value in data.items():
            kind = type(getattr(self, key))
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{key} must be a number >= 0")
            setattr(self, key, kind(value))
        if self.token_ttl < 1 or self.role_assignment_page_size < 1 or self.referrers_page_size < 1:
            raise ValueError(
                "token_ttl, role_assignment_page_size and referrers_page_size must be >= 1"
            )

    def snapshot(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class ErrorLog:
    """Internal errors of the stand-in, one JSON line each (never secrets: no request bodies)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, where: str, exc: BaseException) -> None:
        entry = {
            "time": time.time(),
            "where": where,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": "".join(traceback.format_exception(exc))[-4000:],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as fh:
            fh.write(json.dumps(entry) + "\n")


def _status(value: Any) -> str:
    return str((value or {}).get("status") or "").lower() if isinstance(value, dict) else ""


#: Registry properties only the Premium tier takes (Azure docs "Azure Container Registry
#: service tiers", https://learn.microsoft.com/azure/container-registry/container-registry-skus),
#: each with the test of a value that needs it.
PREMIUM_ONLY: dict[str, Any] = {
    "networkRuleSet": lambda v: (
        isinstance(v, dict) and (v.get("defaultAction") == "Deny" or bool(v.get("ipRules")))
    ),
    "publicNetworkAccess": lambda v: v == "Disabled",
    "zoneRedundancy": lambda v: v == "Enabled",
    "dataEndpointEnabled": lambda v: v is True,
    "encryption": lambda v: _status(v) == "enabled",
    "policies.trustPolicy": lambda v: _status(v) == "enabled",
    "policies.quarantinePolicy": lambda v: _status(v) == "enabled",
    "policies.retentionPolicy": lambda v: _status(v) == "enabled",
    "policies.exportPolicy": lambda v: _status(v) == "disabled",
}


def sku_problem(sku: str, properties: dict[str, Any]) -> dict[str, Any] | None:
    """ARM's 400 body when ``properties`` use a feature ``sku`` lacks (code assumed)."""
    wanted = []
    policies = properties.get("policies") or {}
    for key, needs in PREMIUM_ONLY.items():
        value = policies.get(key.split(".", 1)[1]) if key.startswith("policies.") else None
        if not key.startswith("policies."):
            value = properties.get(key)
        if value is not None and needs(value):
            wanted.append(key)
    if sku != "Premium" and wanted:
        return {
            "error": {
                "code": "FeatureNotSupportedForSku",
                "message": f"The registry SKU '{sku}' does not support: {', '.join(wanted)}. "
                "These features require the Premium SKU.",
            }
        }
    if sku == "Basic" and properties.get("anonymousPullEnabled") is True:
        return {
            "error": {
                "code": "FeatureNotSupportedForSku",
                "message": "The registry SKU 'Basic' does not support anonymousPullEnabled.",
            }
        }
    return None
