"""Tasks that write and read the blob hand-over."""

from __future__ import annotations

import json

from prefect import task

from acr_migrate.journal import unfinished_results
from acr_migrate.models import ImageRow, ImportResult
from acr_migrate.storage import REGISTRY_NAME, BlobStore, ManifestLocation, StorageSettings
from tasks.presets import ONCE, STORAGE


@task(name="publish-manifest", **ONCE, retries=3, retry_delay_seconds=[1, 4, 10])
def publish_manifest(
    storage: StorageSettings,
    source_name: str,
    export_id: str,
    manifest: bytes,
    metadata: dict[str, str],
    registry_json: bytes,
) -> tuple[ManifestLocation, str]:
    """Upload the export; returns its location and a readable URL (no secrets)."""
    store = BlobStore(storage)
    location = store.upload_export(source_name, export_id, manifest, metadata, registry_json)
    return location, store.url_of(location.blob)


@task(name="resolve-manifest", **ONCE)
def resolve_manifest(
    storage: StorageSettings, source_name: str, location: ManifestLocation | None = None
) -> tuple[ManifestLocation, list[ImageRow]]:
    """The manifest at ``location`` (the source's newest export if unset), downloaded and
    verified: metadata, sha256, row count, every cell."""
    store = BlobStore(storage)
    location = location or store.latest_manifest(source_name)
    return location, store.read_manifest(location.blob)


@task(name="latest-manifest", **ONCE)
def latest_manifest(storage: StorageSettings, source_name: str) -> ManifestLocation:
    """The newest export of a source registry."""
    return BlobStore(storage).latest_manifest(source_name)


@task(name="upload-report", task_run_name="upload {name}", **ONCE, retries=3)
def upload_report(
    storage: StorageSettings, location: ManifestLocation, name: str, data: bytes
) -> str:
    """Write a report next to the manifest; returns its URL."""
    store = BlobStore(storage)
    blob = location.sibling(name)
    store.put(blob, data, content_type="text/csv")
    return store.url_of(blob)


@task(name="fetch-registry-document", **ONCE)
def fetch_registry_document(
    storage: StorageSettings, source_name: str, location: ManifestLocation | None = None
) -> tuple[str, dict]:
    """The ``registry.json`` written beside the manifest at ``location`` (the source's newest
    export if unset): its blob name and content."""
    store = BlobStore(storage)
    location = location or store.latest_manifest(source_name)
    return location.sibling(REGISTRY_NAME), registry_document_at(store, location)


def registry_document_at(store: BlobStore, location: ManifestLocation) -> dict:
    """The ``registry.json`` written beside the manifest at ``location``."""
    data, _ = store.get(location.sibling(REGISTRY_NAME))
    return dict(json.loads(data))


@task(name="previous-manifest", **STORAGE)
def previous_manifest(
    storage: StorageSettings, source_name: str
) -> tuple[ManifestLocation | None, list[ImageRow]]:
    """The latest export of a source and its rows; ``(None, [])`` when there is none yet."""
    from acr_migrate.models import ConfigError

    store = BlobStore(storage)
    try:
        location = store.latest_manifest(source_name)
    except ConfigError:
        return None, []
    return location, store.read_manifest(location.blob)


@task(name="unfinished-imports", **ONCE)
def unfinished_imports(
    storage: StorageSettings, location: ManifestLocation
) -> dict[tuple[str, str], ImportResult]:
    """The images that earlier, unfinished runs over this manifest imported (their journals)."""
    return unfinished_results(BlobStore(storage), location)
