"""Target tenant, cutover: the applications on AKS pull from the new registry.

Each AKS cluster named by its resource id gets ``AcrPull`` on the new registry for its kubelet
identity, read from the cluster through ARM with the target tenant's identity (the cluster may
live in another subscription of that tenant). A cluster that is missing, unreadable or on a
service principal is reported with what to do, never guessed; a rerun creates nothing.
"""

from __future__ import annotations

from prefect import flow
from prefect.states import Completed, Failed, State

from acr_migrate.aks import aks_markdown, aks_message, parse_clusters, plan_grants
from acr_migrate.models import ConfigError, RegistryEndpoint
from acr_migrate.preflight import Need, refusal
from acr_migrate.rbac import Decision
from flows.artifacts import artifact_key, markdown
from tasks.aks import read_clusters
from tasks.preflight import preflight
from tasks.rbac import create_assignments, target_assignments


@flow(name="reconnect-aks", log_prints=False)
def reconnect_aks(target: RegistryEndpoint, clusters: list[str], dry_run: bool = False) -> State:
    """Grant ``AcrPull`` on ``target`` to the kubelet identity of each AKS cluster in
    ``clusters`` (resource ids)."""
    try:
        refs = parse_clusters(clusters)
    except ConfigError as exc:
        return Failed(message=str(exc))
    phase = None if dry_run else "rbac"
    problems = preflight(None, [Need(target, "target", reach=False, phase=phase)])
    if problems:
        return Failed(message=refusal(problems))
    plan = plan_grants(read_clusters(target, refs), target_assignments(target))
    todo = [g.assignment() for g in plan if g.decision is Decision.CREATE]
    created = [] if dry_run or not todo else create_assignments(target, todo)
    text = aks_markdown(target.login_server, plan, dry_run)
    markdown(artifact_key("aks", target.name), text, f"AKS clusters on {target.name}")
    message = aks_message(plan, created, dry_run)
    return Failed(message=message) if any(g.problem for g in plan) else Completed(message=message)
