"""Tasks that read registries."""

from __future__ import annotations

from collections.abc import Iterable

from prefect import task
from prefect.cache_policies import NO_CACHE

from acr_migrate.filters import ImageFilter
from acr_migrate.inventory.base import TargetState
from acr_migrate.models import ImageRow, RegistryEndpoint
from tasks.clients import inventory_for
from tasks.retry import retry_if_transient


@task(
    name="inventory-registry",
    task_run_name="inventory {endpoint.name}",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 8, 30],
    retry_condition_fn=retry_if_transient,
)
def inventory_registry(
    endpoint: RegistryEndpoint, include: list[str], exclude: list[str]
) -> tuple[list[ImageRow], list[str]]:
    """Every row of the registry (filtered by repository), and what the adapter cannot see."""
    inventory = inventory_for(endpoint)
    try:
        image_filter = ImageFilter.from_patterns(include, exclude)
        repositories = [r for r in inventory.repositories() if image_filter.reason(r, "") is None]
        rows = list(inventory.images(repositories))
        return rows, list(inventory.notes)
    finally:
        inventory.close()


@task(
    name="read-target",
    task_run_name="read {endpoint.name}",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 8, 30],
    retry_condition_fn=retry_if_transient,
)
def read_target(endpoint: RegistryEndpoint, rows: Iterable[ImageRow]) -> TargetState:
    """Tags and digests the target holds in the manifest's repositories."""
    rows = list(rows)
    inventory = inventory_for(endpoint)
    try:
        untagged = [(r.repository, r.digest) for r in rows if not r.tag]
        return inventory.state({r.repository for r in rows}, untagged)
    finally:
        inventory.close()
