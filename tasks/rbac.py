"""Tasks of the RBAC reconnection: the mapping, the target's assignments, the creation."""

from __future__ import annotations

from typing import Any

from prefect import task

from acr_migrate.models import ConfigError, RegistryEndpoint
from acr_migrate.rbac import PlannedAssignment, parse_mapping
from acr_migrate.storage import BlobStore, StorageSettings, safe_name
from tasks.presets import ONCE, STORAGE, TRANSIENT
from tasks.registries import registry

#: The mapping's default blob, in the source's folder of the container.
MAPPING_NAME = "principal-mapping.csv"


def read_principal_mapping(
    storage: StorageSettings, source_name: str, blob: str
) -> tuple[str, dict[str, str] | None]:
    """Where the mapping CSV is (``blob``, else ``<source>/principal-mapping.csv``) and its
    rows checked one by one (None when there is no such blob)."""
    name = blob or f"{safe_name(source_name)}/{MAPPING_NAME}"
    where = f"{storage.container}/{name}"
    store = BlobStore(storage)
    if not store.names(name):
        return where, None
    data, _ = store.get(name)
    return where, parse_mapping(data, where)


@task(name="principal-mapping", **STORAGE)
def principal_mapping(storage: StorageSettings, source_name: str, blob: str) -> dict[str, str]:
    """The mapping CSV (``blob``, else ``<source>/principal-mapping.csv``), checked row by row."""
    where, mapping = read_principal_mapping(storage, source_name, blob)
    if mapping is None:
        raise ConfigError(
            f"no principal mapping at {where}: upload a CSV with the header "
            "source_principal_id,target_principal_id (a target of 'drop' gives nothing)"
        )
    return mapping


@task(name="role-assignments", task_run_name="assignments of {target.name}", **TRANSIENT)
def target_assignments(target: RegistryEndpoint) -> list[dict[str, Any]]:
    """The role assignments on the registry ``target`` now."""
    return registry(target).role_assignments()


@task(name="create-assignments", task_run_name="assign on {target.name}", **ONCE)
def create_assignments(target: RegistryEndpoint, planned: list[PlannedAssignment]) -> list[bool]:
    """Create the planned assignments (named deterministically: a rerun finds them)."""
    return registry(target).assign(planned)


@task(name="remove-assignments", task_run_name="revoke on {endpoint.name}", **TRANSIENT)
def remove_assignments(endpoint: RegistryEndpoint, assignment_ids: list[str]) -> list[bool]:
    """Delete the role assignments (a retry finds the deleted ones gone)."""
    return registry(endpoint).unassign(assignment_ids)
