"""Tasks that write and read the blob hand-over."""

from __future__ import annotations

import json

from prefect import task
from prefect.cache_policies import NO_CACHE

from acr_migrate.models import ImageRow
from acr_migrate.storage import REGISTRY_NAME, BlobStore, ManifestLocation, StorageSettings


@task(name="publish-manifest", cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[1, 4, 10])
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


@task(name="fetch-manifest", cache_policy=NO_CACHE)
def fetch_manifest(storage: StorageSettings, location: ManifestLocation) -> list[ImageRow]:
    """Download and verify the manifest (metadata, sha256, row count, every cell)."""
    return BlobStore(storage).read_manifest(location.blob)


@task(name="latest-manifest", cache_policy=NO_CACHE)
def latest_manifest(storage: StorageSettings, source_name: str) -> ManifestLocation:
    """The newest export of a source registry."""
    return BlobStore(storage).latest_manifest(source_name)


@task(name="upload-report", task_run_name="upload {name}", cache_policy=NO_CACHE, retries=3)
def upload_report(
    storage: StorageSettings, location: ManifestLocation, name: str, data: bytes
) -> str:
    """Write a report next to the manifest; returns its URL."""
    store = BlobStore(storage)
    blob = location.sibling(name)
    store.put(blob, data, content_type="text/csv")
    return store.url_of(blob)


@task(name="fetch-registry-document", cache_policy=NO_CACHE)
def fetch_registry_document(storage: StorageSettings, location: ManifestLocation) -> dict:
    """The ``registry.json`` written beside the manifest by the export."""
    data, _ = BlobStore(storage).get(location.sibling(REGISTRY_NAME))
    return dict(json.loads(data))


@task(name="previous-manifest", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 8])
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
