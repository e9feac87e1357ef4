"""Tasks of the Azure path: document the source registry, provision the target."""

from __future__ import annotations

from typing import Any

from prefect import task

from acr_migrate.azure.provision import ProvisionReport
from acr_migrate.models import RegistryEndpoint
from tasks.presets import ONCE, TRANSIENT
from tasks.registries import registry


@task(name="document-registry", task_run_name="document {endpoint.name}", **TRANSIENT)
def document_source(endpoint: RegistryEndpoint) -> tuple[dict[str, Any] | None, list[str]]:
    """An ACR's configuration and role assignments with the preflight findings (nothing for
    an OCI registry).

    Raises :class:`~acr_migrate.azure.document.PreflightError` when content trust is on.
    """
    return registry(endpoint).document()


@task(name="provision-registry", task_run_name="provision {target.name}", **ONCE)
def provision_target(
    target: RegistryEndpoint, document: dict[str, Any], dry_run: bool
) -> ProvisionReport:
    """Create the target registry (and its sub-resources) from the source's document."""
    return registry(target).provision(document, dry_run=dry_run)


@task(name="compare-target", task_run_name="compare {target.name}", **TRANSIENT)
def compare_target(target: RegistryEndpoint, document: dict[str, Any]) -> list[str]:
    """Where the provisioned target differs from the source's ``document`` (empty: none)."""
    return registry(target).differences(document)
