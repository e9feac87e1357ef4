"""Tasks of the Azure path: document the source registry, provision the target."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from acr_migrate.azure.clients import registry_management_client
from acr_migrate.azure.permissions import require_rights
from acr_migrate.azure.registry_config import (
    ProvisionReport,
    document_registry,
    preflight,
    provision,
)
from acr_migrate.models import RegistryEndpoint
from tasks import credentials as _credentials  # noqa: F401 - registers the block secret source
from tasks.retry import retry_if_transient


@task(
    name="document-registry",
    task_run_name="document {endpoint.name}",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 8, 30],
    retry_condition_fn=retry_if_transient,
)
def document_source(endpoint: RegistryEndpoint) -> tuple[dict[str, Any], list[str]]:
    """The registry's configuration and role assignments, and the preflight findings.

    Raises :class:`~acr_migrate.azure.registry_config.PreflightError` when content trust is on.
    """
    if endpoint.azure is None:
        raise ValueError(f"{endpoint.name}: no [azure] section; nothing to document through ARM")
    with registry_management_client(endpoint) as arm:
        findings = require_rights(arm, endpoint.azure, "document")
        document = document_registry(arm, endpoint.azure)
    return document, findings + preflight(document)


@task(name="provision-registry", task_run_name="provision {target.name}", cache_policy=NO_CACHE)
def provision_target(
    target: RegistryEndpoint, document: dict[str, Any], dry_run: bool
) -> ProvisionReport:
    """Create the target registry (and its sub-resources) from the source's document."""
    if target.azure is None:
        raise ValueError(f"{target.name}: no [azure] section; cannot create a registry")
    with registry_management_client(target) as arm:
        require_rights(arm, target.azure, "provision")
        return provision(arm, document, target.azure, dry_run=dry_run)


@task(name="document-target", task_run_name="document {endpoint.name}", cache_policy=NO_CACHE)
def document_target(endpoint: RegistryEndpoint) -> dict[str, Any]:
    """The target registry's configuration, to compare with the source."""
    assert endpoint.azure is not None
    with registry_management_client(endpoint) as arm:
        return document_registry(arm, endpoint.azure)
