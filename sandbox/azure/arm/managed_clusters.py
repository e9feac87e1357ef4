"""AKS clusters (``Microsoft.ContainerService/managedClusters``): the GET of one cluster, shaped
like the ``ManagedCluster`` of the 2025-10-01 spec, with its kubelet identity (or, for a
service-principal cluster, none). The clusters are seeded by the bootstrap; the stand-in
creates none through ARM."""

from __future__ import annotations

import copy
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.azure.arm.auth import authorize
from sandbox.azure.arm.common import arm_error, clean
from sandbox.azure.arm.state import Arm
from sandbox.azure.arm.subscriptions import require_rg
from sandbox.azure.store import ARM_READ_ROLES
from sandbox.azure.tokens import new_id

PROVIDER = "Microsoft.ContainerService"
CLUSTER_TYPE = f"{PROVIDER}/managedClusters"
#: The AcrPull-relevant part of a cluster the stand-in keeps: ``state["managed_clusters"]``,
#: keyed by the lowercased resource id.
STATE_KEY = "managed_clusters"


def cluster_id(sub: str, rg: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{CLUSTER_TYPE}/{name}"


def new_cluster(
    sub: str,
    rg: str,
    name: str,
    *,
    tenant: str,
    location: str,
    kubelet: bool = True,
) -> dict[str, Any]:
    """A ``ManagedCluster`` as ``ManagedClusters_Get`` answers it.

    ``kubelet``: a managed-identity cluster (``identity`` SystemAssigned, ``identityProfile.
    kubeletidentity`` a user-assigned identity in the node resource group, and
    ``servicePrincipalProfile.clientId`` ``msi``); else a service-principal cluster (no
    ``identity``, no ``identityProfile``: the spec's own ``ManagedClustersGet`` example).
    """
    node_rg = f"MC_{rg}_{name}_{location}"
    props: dict[str, Any] = {
        "provisioningState": "Succeeded",
        "powerState": {"code": "Running"},
        "kubernetesVersion": "1.33",
        "currentKubernetesVersion": "1.33.2",
        "dnsPrefix": name,
        "fqdn": f"{name}-{secrets.token_hex(4)}.hcp.{location}.azmk8s.io",
        "azurePortalFQDN": f"{name}-{secrets.token_hex(4)}.portal.hcp.{location}.azmk8s.io",
        "enableRBAC": True,
        "maxAgentPools": 100,
        "nodeResourceGroup": node_rg,
        "agentPoolProfiles": [
            {
                "name": "nodepool1",
                "count": 3,
                "vmSize": "Standard_D4ds_v5",
                "osType": "Linux",
                "mode": "System",
                "type": "VirtualMachineScaleSets",
                "orchestratorVersion": "1.33",
                "currentOrchestratorVersion": "1.33.2",
                "provisioningState": "Succeeded",
                "powerState": {"code": "Running"},
            }
        ],
        "networkProfile": {"networkPlugin": "azure", "loadBalancerSku": "standard"},
    }
    body: dict[str, Any] = {
        "id": cluster_id(sub, rg, name),
        "name": name,
        "type": CLUSTER_TYPE,
        "location": location,
        "tags": {},
        "sku": {"name": "Base", "tier": "Free"},
        "properties": props,
    }
    if kubelet:
        body["identity"] = {"type": "SystemAssigned", "principalId": new_id(), "tenantId": tenant}
        props["servicePrincipalProfile"] = {"clientId": "msi"}
        props["identityProfile"] = {
            "kubeletidentity": {
                "resourceId": f"/subscriptions/{sub}/resourcegroups/{node_rg}/providers/"
                f"Microsoft.ManagedIdentity/userAssignedIdentities/{name}-agentpool",
                "clientId": new_id(),
                "objectId": new_id(),
            }
        }
    else:
        props["servicePrincipalProfile"] = {"clientId": new_id()}
    return body


def seed(state: dict[str, Any], tenant: str, body: dict[str, Any]) -> None:
    """Put ``body`` (from :func:`new_cluster`) into the stand-in's state."""
    state.setdefault(STATE_KEY, {})[body["id"].lower()] = {"resource": body, "tenant": tenant}


async def h_cluster(
    arm: Arm, request: Request, claims: dict[str, Any], p: dict[str, str], api: str
) -> Response:
    """``ManagedClusters_Get``: Reader (or more) at the cluster or above; 404 when missing."""
    sub, rg, name = p["sub"].lower(), p["rg"], p["cluster"]
    scope = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{CLUSTER_TYPE}/{name}"
    if request.method != "GET":
        return arm_error(
            405,
            "MethodNotAllowed",
            f"{request.method} is not supported on managed clusters by the sandbox.",
        )
    authorize(arm, claims, scope, ARM_READ_ROLES, f"{CLUSTER_TYPE}/read")
    require_rg(arm, sub, rg)
    rec = (arm.store.data.get(STATE_KEY) or {}).get(scope.lower())
    if rec is None:
        return arm_error(
            404,
            "ResourceNotFound",
            f"The Resource '{CLUSTER_TYPE}/{name}' under resource group '{rg}' was not found. "
            "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
        )
    return JSONResponse(clean(copy.deepcopy(rec["resource"])))
