"""Tasks that read registries."""

from __future__ import annotations

from collections.abc import Iterable

from prefect import task

from acr_migrate.filters import ImageFilter
from acr_migrate.models import ImageRow, RegistryEndpoint
from acr_migrate.ports import TargetState
from acr_migrate.validate import SourceNow
from tasks.presets import ONCE, TRANSIENT
from tasks.registries import registry


@task(
    name="inventory-registry",
    task_run_name="inventory {endpoint.name}",
    **TRANSIENT,
)
def inventory_registry(
    endpoint: RegistryEndpoint, include: list[str], exclude: list[str]
) -> tuple[list[ImageRow], list[str]]:
    """Every row of the registry (filtered by repository), and what the adapter cannot see."""
    inventory = registry(endpoint).inventory()
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
    **TRANSIENT,
)
def read_target(endpoint: RegistryEndpoint, rows: Iterable[ImageRow]) -> TargetState:
    """Tags and digests the target holds in the manifest's repositories."""
    rows = list(rows)
    inventory = registry(endpoint).inventory()
    try:
        untagged = [(r.repository, r.digest) for r in rows if not r.tag]
        return inventory.state({r.repository for r in rows}, untagged)
    finally:
        inventory.close()


@task(
    name="read-source-now",
    task_run_name="read {endpoint.name} now",
    **ONCE,
)
def read_source_now(endpoint: RegistryEndpoint, rows: Iterable[ImageRow]) -> SourceNow:
    """What the source holds now of the manifest's rows (one listing per repository of an ACR
    whose identity this worker holds, else one HEAD per tag with the import's pull login);
    never fails the run: a source that cannot be read (gone after the cutover, unreachable
    from this worker, no credential here) gives the reason instead, and validation says
    "source not checked"."""
    try:
        return SourceNow(registry(endpoint).current(rows))
    except Exception as exc:  # whatever it is, drift is a report, not a verdict
        return SourceNow.unread(f"{endpoint.name} could not be read: {type(exc).__name__}: {exc}")
