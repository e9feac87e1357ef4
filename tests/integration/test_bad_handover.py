"""The blob hand-over on Azurite: "latest" by the export's own metadata; errors name the blob."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from acr_migrate.manifest import ManifestError, manifest_metadata
from acr_migrate.models import ConfigError
from acr_migrate.settings import MigrationConfig
from acr_migrate.storage import MANIFEST_NAME, BlobStore
from tests.data.manifests.corpus import HERE
from tests.helpers import uid

pytestmark = pytest.mark.integration

GOOD = (HERE / "good.csv").read_bytes()


def _export(store: BlobStore, source: str, export_id: str, when: datetime) -> str:
    metadata = manifest_metadata(GOOD, "myreg.azurecr.io", row_count=4, exported_at=when)
    return store.upload_export(source, export_id, GOOD, metadata, b"{}").blob


def test_latest_manifest_goes_by_exported_at_not_by_blob_name(
    migration_config: MigrationConfig,
) -> None:
    store = BlobStore(migration_config.storage)
    source = f"latest-{uid()}"
    # The folder names sort the other way round from the export times.
    newest = _export(store, source, "20260101T000000Z-b", datetime(2026, 11, 30, tzinfo=UTC))
    _export(store, source, "20261129T000000Z-a", datetime(2026, 11, 29, tzinfo=UTC))
    # Folders made by hand next to the exports: no export metadata, or a broken timestamp.
    corrupt = f"{source}/corrupt-20261201/{MANIFEST_NAME}"
    store.put(corrupt, b"garbage", content_type="text/csv")
    broken = f"{source}/zz-copy/{MANIFEST_NAME}"
    bad_stamp = manifest_metadata(
        GOOD, "myreg.azurecr.io", row_count=4, exported_at=datetime(2026, 12, 1, tzinfo=UTC)
    )
    store.put(broken, GOOD, content_type="text/csv", metadata={**bad_stamp, "exported_at": "x"})
    names = [b.name for b in store.container.list_blobs(name_starts_with=f"{source}/")]
    assert max(n for n in names if n.endswith(MANIFEST_NAME)) == broken  # what sorting picks
    location = store.latest_manifest(source)
    assert location.blob == newest
    assert len(store.read_manifest(location.blob)) == 4


def test_no_export_metadata_anywhere_is_one_clear_error(migration_config: MigrationConfig) -> None:
    store = BlobStore(migration_config.storage)
    source = f"nometa-{uid()}"
    store.ensure_container()
    store.put(f"{source}/corrupt-1/{MANIFEST_NAME}", GOOD, content_type="text/csv")
    with pytest.raises(ConfigError) as info:
        store.latest_manifest(source)
    text = str(info.value)
    assert "carries export metadata" in text and f"{source}/corrupt-1/{MANIFEST_NAME}" in text


def test_a_tampered_blob_is_named_in_the_sha256_error(migration_config: MigrationConfig) -> None:
    cfg = migration_config
    store = BlobStore(cfg.storage)
    source = f"tamper-{uid()}"
    blob = _export(store, source, "20261130T000000Z", datetime(2026, 11, 30, tzinfo=UTC))
    _, metadata = store.get(blob)
    store.put(blob, GOOD.replace(b"1234", b"1235"), content_type="text/csv", metadata=metadata)
    with pytest.raises(ManifestError) as info:
        store.read_manifest(blob)
    assert info.value.blob == f"{cfg.storage.container}/{blob}"
    assert str(info.value).startswith(f"manifest {cfg.storage.container}/{blob}: ")
    assert "sha256 of the CSV is" in str(info.value)
