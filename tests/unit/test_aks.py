"""The AKS reconnection's core: cluster ids checked, the kubelet identity read from a
``ManagedCluster`` body (or the reason there is none), the plan against the registry's
assignments, the deterministic AcrPull assignment."""

from __future__ import annotations

import pytest

from acr_migrate.aks import (
    ACR_PULL,
    ClusterLookup,
    ClusterRef,
    aks_markdown,
    aks_message,
    lookup_of,
    parse_clusters,
    plan_grants,
)
from acr_migrate.models import ConfigError
from acr_migrate.rbac import Decision

SUB = "11111111-2222-3333-4444-555555555555"
ID = (
    f"/subscriptions/{SUB}/resourceGroups/rg-apps/providers/Microsoft.ContainerService/"
    "managedClusters/aks1"
)
KUBELET = "9a1b758e-7ba9-44ba-9435-18e8e3d7a785"


def test_cluster_ids_are_parsed_once_each_and_bad_ones_named() -> None:
    refs = parse_clusters([ID, ID.lower() + "/", ID.upper()])
    assert refs == [ClusterRef(subscription_id=SUB, resource_group="rg-apps", name="aks1")]
    assert refs[0].resource_id == ID
    with pytest.raises(ConfigError, match=r"not AKS cluster resource ids .*: 'aks1', '/sub"):
        parse_clusters([ID, "aks1", "/subscriptions/x/resourceGroups/rg"])
    with pytest.raises(ConfigError, match="name the AKS clusters"):
        parse_clusters([])


def test_the_kubelet_identity_comes_from_the_identity_profile() -> None:
    body = {
        "identity": {"type": "SystemAssigned", "principalId": "p"},
        "properties": {
            "servicePrincipalProfile": {"clientId": "msi"},
            "identityProfile": {
                "kubeletidentity": {
                    "resourceId": "/subscriptions/x/resourcegroups/MC_rg/providers/"
                    "Microsoft.ManagedIdentity/userAssignedIdentities/aks1-agentpool",
                    "clientId": "c",
                    "objectId": KUBELET.upper(),
                }
            },
        },
    }
    ref = parse_clusters([ID])[0]
    assert lookup_of(ref, body) == ClusterLookup(
        cluster=ID, kubelet_object_id=KUBELET, kubelet_client_id="c"
    )


def test_a_service_principal_cluster_has_no_kubelet_identity_and_says_what_to_do() -> None:
    # The spec's own ManagedClustersGet example: no identity, no identityProfile.
    body = {"properties": {"servicePrincipalProfile": {"clientId": "clientid"}}}
    found = lookup_of(parse_clusters([ID])[0], body)
    assert found.kubelet_object_id == ""
    assert found.problem.startswith(
        "has no kubelet identity (its nodes pull with service principal clientid): grant that "
        "principal AcrPull on the new registry by hand"
    )
    bare = lookup_of(parse_clusters([ID])[0], {"properties": {}})
    assert "(its nodes pull with no managed identity)" in bare.problem


def test_the_plan_creates_what_is_missing_and_names_the_problems() -> None:
    other = ID.replace("aks1", "aks2")
    held = "aaaaaaaa-0000-0000-0000-000000000000"
    existing = [
        {
            "properties": {
                "roleDefinitionId": f"/subscriptions/{SUB}/providers/Microsoft.Authorization/"
                f"roleDefinitions/{ACR_PULL.upper()}",
                "principalId": held,
            }
        },
        {  # another role of the kubelet identity does not count
            "properties": {
                "roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/"
                "acdd72a7-3385-48ef-bd42-f606fba81ae7",
                "principalId": KUBELET,
            }
        },
    ]
    lookups = [
        ClusterLookup(cluster=ID, kubelet_object_id=KUBELET),
        ClusterLookup(cluster=other, kubelet_object_id=held),
        ClusterLookup(cluster=ID.replace("aks1", "gone"), problem="was not found"),
    ]
    plan = plan_grants(lookups, existing)
    assert [g.decision for g in plan] == [Decision.CREATE, Decision.EXISTS, None]
    assignment = plan[0].assignment()
    assert assignment.role == ACR_PULL and assignment.target_principal == KUBELET
    scope = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/r"
    assert assignment.name(scope) == plan[0].assignment().name(scope.upper())  # deterministic
    body = assignment.body("s")["properties"]
    assert body["roleDefinitionId"].endswith(f"/roleDefinitions/{ACR_PULL}")
    assert body["principalId"] == KUBELET and body["principalType"] == "ServicePrincipal"

    assert aks_message(plan, [True], dry_run=False) == (
        "AcrPull granted (1 new) for 1 cluster(s), 1 already held it; 1 cluster(s) not "
        f"reconnected: {ID.replace('aks1', 'gone')} was not found"
    )
    assert aks_message(plan[:2], [], dry_run=True) == (
        "AcrPull to grant for 1 cluster(s), 1 already held it"
    )
    text = aks_markdown("new.azurecr.io", plan, dry_run=True)
    assert "AcrPull would be granted to 1 kubelet identity, 1 already held it, 1 cluster" in text
    assert f"| `{ID}` | `{KUBELET}` | create |" in text
    assert "**not granted**: was not found" in text
