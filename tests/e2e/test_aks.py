"""AKS clusters reconnected to the new registry: the kubelet identity of a cluster in another
subscription of the target tenant gets AcrPull once (a dry run and a rerun create nothing);
a missing cluster, a service-principal cluster, another tenant's cluster and a cluster the
identity may not read are each named in the failure with what to do, never guessed."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest

from acr_migrate.aks import ACR_PULL
from acr_migrate.azure.settings import TenantIdentity
from acr_migrate.models import RegistryEndpoint
from acr_migrate.registry import open_registry
from acr_migrate.settings import MigrationConfig
from flows.aks import reconnect_aks
from tests.helpers import uid

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]


def _aks(sandbox_state: dict[str, Any]) -> dict[str, Any]:
    return dict(sandbox_state["azure"]["tenants"]["target"]["aks"])


def _pulls(target: RegistryEndpoint) -> set[str]:
    """Who holds AcrPull on the registry (or above)."""
    return {
        a["properties"]["principalId"].lower()
        for a in open_registry(target).role_assignments()
        if a["properties"]["roleDefinitionId"].rsplit("/", 1)[-1].lower() == ACR_PULL
    }


def _revoke(target: RegistryEndpoint, principal: str) -> None:
    """Start from no access for ``principal`` (another test of the session may have granted)."""
    registry = open_registry(target)
    held = [
        a["id"]
        for a in registry.role_assignments()
        if a["properties"]["principalId"].lower() == principal
    ]
    if held:
        registry.unassign(held)


def test_the_kubelet_identity_gets_acrpull_once(
    migration_config: MigrationConfig, target_acr: RegistryEndpoint, sandbox_state: dict[str, Any]
) -> None:
    cfg = migration_config
    aks = _aks(sandbox_state)
    cluster = aks["clusters"]["aks-apps"]
    kubelet = cluster["kubelet_object_id"]
    assert cfg.target.azure is not None
    assert aks["subscription_id"] != cfg.target.azure.subscription_id  # another subscription
    _revoke(target_acr, kubelet)
    before = _pulls(target_acr)
    assert kubelet not in before

    dry = reconnect_aks(target_acr, [cluster["id"]], dry_run=True, return_state=True)
    assert dry.is_completed(), dry.message
    assert dry.message == "AcrPull to grant for 1 cluster(s), 0 already held it"
    assert _pulls(target_acr) == before

    done = reconnect_aks(target_acr, [cluster["id"]], return_state=True)
    assert done.is_completed(), done.message
    assert done.message == "AcrPull granted (1 new) for 1 cluster(s), 0 already held it"
    assert _pulls(target_acr) - before == {kubelet}
    made = [
        a
        for a in open_registry(target_acr).role_assignments()
        if a["properties"]["principalId"].lower() == kubelet
    ]
    assert len(made) == 1 and made[0]["properties"]["principalType"] == "ServicePrincipal"
    assert made[0]["properties"]["scope"].lower() == cfg.target.azure.resource_id.lower()

    # A rerun (the id spelled in another case, named twice) finds it and creates nothing.
    again = reconnect_aks(target_acr, [cluster["id"].lower(), cluster["id"]], return_state=True)
    assert again.is_completed(), again.message
    assert again.message == "AcrPull granted (0 new) for 0 cluster(s), 1 already held it"
    assert [
        a["name"]
        for a in open_registry(target_acr).role_assignments()
        if a["properties"]["principalId"].lower() == kubelet
    ] == [made[0]["name"]]


def test_clusters_it_cannot_reconnect_are_named_and_the_others_still_are(
    target_acr: RegistryEndpoint, sandbox_state: dict[str, Any]
) -> None:
    aks = _aks(sandbox_state)
    good = aks["clusters"]["aks-apps"]
    legacy = aks["clusters"]["aks-legacy"]["id"]
    group = f"/subscriptions/{aks['subscription_id']}/resourceGroups/{aks['resource_group']}"
    missing = f"{group}/providers/Microsoft.ContainerService/managedClusters/aks-gone-{uid()}"
    source_sub = sandbox_state["azure"]["tenants"]["source"]["subscription_id"]
    foreign = (
        f"/subscriptions/{source_sub}/resourceGroups/rg-acr-source/providers/"
        "Microsoft.ContainerService/managedClusters/aks-source"
    )
    _revoke(target_acr, good["kubelet_object_id"])
    before = _pulls(target_acr)

    state = reconnect_aks(target_acr, [missing, good["id"], legacy, foreign], return_state=True)
    assert state.is_failed()
    message = state.message or ""
    assert message.startswith("AcrPull granted (1 new) for 1 cluster(s), 0 already held it; ")
    assert "3 cluster(s) not reconnected: " in message
    assert f"{missing} was not found (ARM 404 ResourceNotFound): check the resource id" in message
    assert f"{legacy} has no kubelet identity (its nodes pull with service principal " in message
    assert f"{foreign} is in a subscription of another tenant" in message
    # The readable cluster was reconnected all the same; nobody else got anything.
    assert _pulls(target_acr) - before == {good["kubelet_object_id"]}


def test_a_cluster_the_identity_may_not_read_is_named_with_the_role_to_grant(
    migration_config: MigrationConfig,
    target_acr: RegistryEndpoint,
    sandbox_state: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A target identity with Reader on the registry only: the dry run plans nothing for the
    cluster and says to grant Reader on it."""
    cfg = migration_config
    aks = _aks(sandbox_state)
    azure = sandbox_state["azure"]
    context = ssl.create_default_context(cafile=str(sandbox_state["ca_bundle"]))
    with httpx.Client(verify=context) as http:
        made = http.post(
            azure["resource_manager"] + "/_sandbox/principals",
            json={"slot": "target", "role": "Reader", "scope": "registry"},
        )
    assert made.status_code == 200, made.text
    env = f"TEST_AKS_SECRET_{uid().upper()}"
    monkeypatch.setenv(env, made.json()["client_secret"])
    assert cfg.target.azure is not None
    identity = TenantIdentity(
        tenant_id=made.json()["tenant_id"],
        client_id=made.json()["client_id"],
        client_secret_env=env,
        authority_host=azure["authority_host"],
    )
    reader = target_acr.model_copy(
        update={"azure": cfg.target.azure.model_copy(update={"identity": identity})}
    )
    cluster = aks["clusters"]["aks-apps"]["id"]
    state = reconnect_aks(reader, [cluster], dry_run=True, return_state=True)
    assert state.is_failed()
    assert f"{cluster} cannot be read by the target identity (ARM 403 AuthorizationFailed): " in (
        state.message or ""
    )
    assert "grant it Reader on the cluster" in (state.message or "")
    assert "AcrPull to grant for 0 cluster(s)" in (state.message or "")


def test_what_is_not_a_cluster_resource_id_is_refused(migration_config: MigrationConfig) -> None:
    state = reconnect_aks(migration_config.target, ["aks-apps"], return_state=True)
    assert state.is_failed() and "not AKS cluster resource ids" in (state.message or "")
    assert "'aks-apps'" in (state.message or "")
    none = reconnect_aks(migration_config.target, [], return_state=True)
    assert none.is_failed() and "name the AKS clusters" in (none.message or "")
