"""Tasks of the final test: pull every migrated image, compare the role assignments."""

from __future__ import annotations

from prefect import task

from acr_migrate.final_test import PullCheck, pull_checks
from acr_migrate.models import ConfigError, ImageRow, RegistryEndpoint
from acr_migrate.rbac import Decision, plan_assignments
from acr_migrate.storage import BlobStore, ManifestLocation, StorageSettings
from tasks.handover import registry_document_at
from tasks.presets import ONCE, TRANSIENT
from tasks.rbac import read_principal_mapping
from tasks.registries import registry


@task(name="pull-every-image", task_run_name="pull from {puller.name}", **ONCE)
def pull_every_image(puller: RegistryEndpoint, rows: list[ImageRow]) -> list[PullCheck]:
    """Pull each manifest by digest and one blob of it, as ``puller``."""
    with registry(puller).oci_client(read_retries=6) as client:
        return pull_checks(client, rows)


@task(name="missing-assignments", task_run_name="assignments of {target.name}", **TRANSIENT)
def missing_assignments(
    storage: StorageSettings,
    source_name: str,
    target: RegistryEndpoint,
    location: ManifestLocation,
    mapping_blob: str,
) -> list[str] | None:
    """The role assignments the mapping plans that the target lacks (None: nothing to compare,
    because the target is not an ACR, the export has no assignments, or there is no mapping)."""
    target_registry = registry(target)
    if not target_registry.is_azure:
        return None
    exported = registry_document_at(BlobStore(storage), location)
    documented = (exported.get("azure") or {}).get("role_assignments")
    if documented is None:
        return None
    try:
        _, mapping = read_principal_mapping(storage, source_name, mapping_blob)
    except ConfigError as exc:
        return [str(exc)]
    if mapping is None:
        return None
    plan = plan_assignments(documented, mapping, target_registry.role_assignments())
    return [
        f"role {p.role} for {p.target_principal} (source {p.source_principal})"
        for p in plan
        if p.decision is Decision.CREATE
    ]
