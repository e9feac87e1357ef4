"""AKS clusters through ARM (``Microsoft.ContainerService/managedClusters``, read only), with
the identity of the registry's tenant and an ARM client of the cluster's own subscription."""

from __future__ import annotations

from azure.core.rest import HttpRequest
from azure.mgmt.containerregistry import ContainerRegistryManagementClient

from acr_migrate.aks import ClusterLookup, ClusterRef, lookup_of
from acr_migrate.azure.settings import AcrRegistryRef
from acr_migrate.errors import RegistryHTTPError

#: ``ManagedClusters_Get`` (specification/containerservice/.../aks/stable/2025-10-01).
AKS_API = "2025-10-01"
#: ARM's answers that say "there is no such cluster here" (the cluster, its group, or its
#: subscription is missing).
_NOT_FOUND = {"ResourceNotFound", "ResourceGroupNotFound", "SubscriptionNotFound"}


def cluster_subscription_ref(ref: AcrRegistryRef, cluster: ClusterRef) -> AcrRegistryRef:
    """``ref`` with the cluster's subscription: what :func:`management_client` needs to build
    an ARM client of that subscription (same tenant identity, same cloud)."""
    return ref.model_copy(update={"subscription_id": cluster.subscription_id})


def read_cluster(
    arm: ContainerRegistryManagementClient, ref: AcrRegistryRef, cluster: ClusterRef
) -> ClusterLookup:
    """The kubelet identity of ``cluster``, or the reason there is none to use (not found,
    not readable by this identity, another tenant's, a service-principal cluster)."""
    url = f"{ref.resource_manager.rstrip('/')}{cluster.resource_id}?api-version={AKS_API}"
    response = arm.send_request(HttpRequest("GET", url))
    if response.status_code == 200:
        return lookup_of(cluster, response.json())
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    code = str(error.get("code") or "")
    problem = ""
    if response.status_code == 404 and (code in _NOT_FOUND or not code):
        problem = f"was not found (ARM 404 {code or 'NotFound'}): check the resource id"
    elif response.status_code == 403:
        problem = (
            f"cannot be read by the target identity (ARM 403 {code}): grant it Reader on the "
            "cluster (Microsoft.ContainerService/managedClusters/read)"
        )
    elif response.status_code == 401 and code == "InvalidAuthenticationTokenTenant":
        problem = (
            "is in a subscription of another tenant: only clusters of the target tenant can "
            "be reconnected by this identity"
        )
    if problem:
        return ClusterLookup(cluster=cluster.resource_id, problem=problem)
    raise RegistryHTTPError(
        "GET",
        cluster.resource_id,
        response.status_code,
        f"{code} {str(error.get('message') or response.text())[:300]}".strip(),
    )
