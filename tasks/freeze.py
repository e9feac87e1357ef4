"""Tasks of the freeze: read and set repository locks, keep the record of the locks before."""

from __future__ import annotations

import json

from prefect import task

from acr_migrate.filters import ImageFilter
from acr_migrate.freeze import FreezeRecord, RepositoryLocks, record_blob
from acr_migrate.models import RegistryEndpoint
from acr_migrate.storage import BlobStore, StorageSettings
from tasks.presets import STORAGE, TRANSIENT
from tasks.registries import registry


@task(name="read-locks", task_run_name="read locks of {source.name}", **TRANSIENT)
def read_locks(
    source: RegistryEndpoint, include: list[str], exclude: list[str]
) -> list[RepositoryLocks]:
    """The write/delete locks of every repository in scope (raises for a registry that has
    none: a plain OCI registry cannot be frozen)."""
    freezer = registry(source).freezer()
    try:
        image_filter = ImageFilter.from_patterns(include, exclude)
        names = [r for r in freezer.repositories() if image_filter.reason(r, "") is None]
        return freezer.locks(names)
    finally:
        freezer.close()


@task(name="set-locks", task_run_name="set locks of {source.name}", **TRANSIENT)
def set_locks(source: RegistryEndpoint, wanted: list[RepositoryLocks]) -> list[RepositoryLocks]:
    """Set each repository's locks (a rerun sets the same values); returns what the registry
    reports afterwards (a repository deleted meanwhile is left out)."""
    freezer = registry(source).freezer()
    try:
        return [got for locks in wanted if (got := freezer.set_locks(locks)) is not None]
    finally:
        freezer.close()


@task(name="load-freeze-record", **STORAGE)
def load_freeze_record(storage: StorageSettings, source_name: str) -> FreezeRecord | None:
    """The freeze record of the source registry, or None when it was never frozen."""
    store = BlobStore(storage)
    if not store.names(record_blob(source_name)):
        return None
    data, _ = store.get(record_blob(source_name))
    return FreezeRecord.model_validate_json(data)


@task(name="save-freeze-record", **STORAGE)
def save_freeze_record(storage: StorageSettings, source_name: str, record: FreezeRecord) -> str:
    """Write the record (before any lock changes); returns its URL."""
    store = BlobStore(storage)
    store.ensure_container()
    blob = record_blob(source_name)
    body = json.dumps(record.model_dump(by_alias=True), indent=2).encode()
    store.put(blob, body, content_type="application/json")
    return store.url_of(blob)
