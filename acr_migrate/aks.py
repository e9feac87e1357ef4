"""AKS clusters reconnected to the new registry: each cluster's kubelet identity (the identity
its nodes pull images with) gets ``AcrPull`` on the new registry.

Clusters are named by resource id; each is read through ARM (``ManagedClusters_Get``,
``properties.identityProfile.kubeletidentity.objectId``). A cluster that is not found, that
the identity may not read, or that pulls with a service principal instead of a kubelet
identity is reported with what to do, never guessed. The assignments are named like every
assignment the migration creates (:meth:`PlannedAssignment.name`), so a rerun creates nothing.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from acr_migrate.models import ConfigError
from acr_migrate.rbac import Decision, PlannedAssignment

#: The built-in ``AcrPull`` role (the same GUID in every tenant).
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
_CLUSTER_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"Microsoft\.ContainerService/managedClusters/(?P<name>[^/]+)$",
    re.IGNORECASE,
)


class ClusterRef(BaseModel):
    """An AKS cluster's resource id, in parts."""

    model_config = ConfigDict(frozen=True)

    subscription_id: str
    resource_group: str
    name: str

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.ContainerService/managedClusters/{self.name}"
        )


def parse_clusters(resource_ids: list[str]) -> list[ClusterRef]:
    """The clusters named by ``resource_ids`` (duplicates once); one error naming every id that
    is not an AKS cluster's resource id, or none at all."""
    if not resource_ids:
        raise ConfigError(
            "name the AKS clusters (their resource ids, /subscriptions/<id>/resourceGroups/"
            "<rg>/providers/Microsoft.ContainerService/managedClusters/<name>)"
        )
    refs: dict[str, ClusterRef] = {}
    bad: list[str] = []
    for raw in resource_ids:
        m = _CLUSTER_ID.match(raw.strip().rstrip("/"))
        if m is None:
            bad.append(raw)
            continue
        ref = ClusterRef(subscription_id=m["sub"], resource_group=m["rg"], name=m["name"])
        refs.setdefault(ref.resource_id.lower(), ref)
    if bad:
        raise ConfigError(
            "not AKS cluster resource ids (/subscriptions/<id>/resourceGroups/<rg>/providers/"
            f"Microsoft.ContainerService/managedClusters/<name>): {', '.join(map(repr, bad))}"
        )
    return list(refs.values())


class ClusterLookup(BaseModel):
    """What ARM said about one cluster: its kubelet identity, or why there is none to use."""

    model_config = ConfigDict(frozen=True)

    cluster: str  # resource id as named
    kubelet_object_id: str = ""
    kubelet_client_id: str = ""
    problem: str = ""  # set when there is nothing to assign: not found, not readable, no MSI


def lookup_of(cluster: ClusterRef, body: dict[str, Any]) -> ClusterLookup:
    """The kubelet identity of a ``ManagedCluster`` GET body; a problem when it has none."""
    props = body.get("properties") or {}
    kubelet = (props.get("identityProfile") or {}).get("kubeletidentity") or {}
    object_id = str(kubelet.get("objectId") or "")
    if object_id:
        return ClusterLookup(
            cluster=cluster.resource_id,
            kubelet_object_id=object_id.lower(),
            kubelet_client_id=str(kubelet.get("clientId") or ""),
        )
    client = str((props.get("servicePrincipalProfile") or {}).get("clientId") or "")
    how = f"service principal {client}" if client and client != "msi" else "no managed identity"
    return ClusterLookup(
        cluster=cluster.resource_id,
        problem=f"has no kubelet identity (its nodes pull with {how}): grant that principal "
        "AcrPull on the new registry by hand, or move the cluster to managed identities "
        "(az aks update --enable-managed-identity)",
    )


class ClusterGrant(BaseModel):
    """One cluster and what happens to its kubelet identity's access to the new registry."""

    model_config = ConfigDict(frozen=True)

    cluster: str
    kubelet_object_id: str = ""
    decision: Decision | None = None  # CREATE or EXISTS; None when there is a problem
    problem: str = ""

    def assignment(self) -> PlannedAssignment:
        """The ``AcrPull`` assignment of the kubelet identity (named deterministically)."""
        return PlannedAssignment(
            role=ACR_PULL,
            source_principal=self.kubelet_object_id,
            target_principal=self.kubelet_object_id,
            principal_type="ServicePrincipal",
            decision=self.decision or Decision.CREATE,
        )


def _pull_holders(existing: list[dict[str, Any]]) -> set[str]:
    return {
        str(a["properties"]["principalId"]).lower()
        for a in existing
        if str(a["properties"]["roleDefinitionId"]).rsplit("/", 1)[-1].lower() == ACR_PULL
    }


def plan_grants(lookups: list[ClusterLookup], existing: list[dict[str, Any]]) -> list[ClusterGrant]:
    """Per cluster: create ``AcrPull`` for its kubelet identity, or it already holds it (at the
    registry or above), or the problem that stops it."""
    holders = _pull_holders(existing)
    plan: list[ClusterGrant] = []
    for lookup in lookups:
        if lookup.problem or not lookup.kubelet_object_id:
            plan.append(ClusterGrant(cluster=lookup.cluster, problem=lookup.problem))
            continue
        oid = lookup.kubelet_object_id
        decision = Decision.EXISTS if oid in holders else Decision.CREATE
        plan.append(ClusterGrant(cluster=lookup.cluster, kubelet_object_id=oid, decision=decision))
    return plan


def aks_markdown(registry: str, plan: list[ClusterGrant], dry_run: bool) -> str:
    """The plan (or what was done), one line per cluster."""
    create = sum(1 for g in plan if g.decision is Decision.CREATE)
    exists = sum(1 for g in plan if g.decision is Decision.EXISTS)
    problems = [g for g in plan if g.problem]
    verb = "would be granted" if dry_run else "granted"
    lines = [
        f"# AKS clusters reconnected to `{registry}`",
        "",
        f"AcrPull {verb} to {create} kubelet identit{'y' if create == 1 else 'ies'}, "
        f"{exists} already held it, {len(problems)} cluster(s) need you.",
        "",
        "| cluster | kubelet identity (object id) | AcrPull |",
        "|---|---|---|",
    ]
    for g in plan:
        what = g.decision.value if g.decision else f"**not granted**: {g.problem}"
        lines.append(f"| `{g.cluster}` | `{g.kubelet_object_id or '-'}` | {what} |")
    return "\n".join(lines) + "\n"


def aks_message(plan: list[ClusterGrant], created: list[bool], dry_run: bool) -> str:
    """The run's one-line result: counts, then every cluster that needs the operator."""
    todo = sum(1 for g in plan if g.decision is Decision.CREATE)
    exists = sum(1 for g in plan if g.decision is Decision.EXISTS)
    verb = "to grant" if dry_run else f"granted ({sum(created)} new)"
    text = f"AcrPull {verb} for {todo} cluster(s), {exists} already held it"
    problems = [f"{g.cluster} {g.problem}" for g in plan if g.problem]
    if problems:
        text += f"; {len(problems)} cluster(s) not reconnected: " + "; ".join(problems)
    return text
