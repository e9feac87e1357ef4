"""Tasks of the AKS reconnection: read each cluster's kubelet identity through ARM."""

from __future__ import annotations

from prefect import task

from acr_migrate.aks import ClusterLookup, ClusterRef
from acr_migrate.models import RegistryEndpoint
from tasks.presets import TRANSIENT
from tasks.registries import registry


@task(name="read-clusters", task_run_name="clusters for {target.name}", **TRANSIENT)
def read_clusters(target: RegistryEndpoint, clusters: list[ClusterRef]) -> list[ClusterLookup]:
    """The kubelet identity of each cluster (or why there is none), read with the identity of
    ``target``'s tenant."""
    return registry(target).clusters(clusters)
