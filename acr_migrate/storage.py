"""Blob hand-over between the tenants: the manifest CSV, its metadata and the reports.

Layout: ``<container>/<source-name>/<export-id>/manifest.csv`` with ``registry.json`` beside
it, and ``results-<run>.csv`` / ``validation-<run>.csv`` written next to them by the target.
"""

from __future__ import annotations

import contextlib
import os
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from acr_migrate.manifest import METADATA_KEYS, is_export_timestamp, read_manifest
from acr_migrate.models import ConfigError, ImageRow

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

# The blob SDK is imported where it is used: a second of start-up that a run which never
# touches blobs (or only later) should not pay up front.

MANIFEST_NAME = "manifest.csv"
REGISTRY_NAME = "registry.json"
_SAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")


class StorageSettings(BaseModel):
    """Where manifests are handed over. Names the secret's variable, never the secret."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    container: str = Field(default="acr-migrate", description="Blob container")
    connection_string_env: str | None = Field(
        default=None, description="Environment variable holding a storage connection string"
    )
    account_url: str | None = Field(
        default=None, description="https://<account>.blob.core.windows.net (identity auth)"
    )


class ManifestLocation(BaseModel):
    """Where one export's manifest lives in blob storage."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    container: str
    blob: str = Field(description="e.g. myregistry/20261127T101500Z-1a2b3c/manifest.csv")

    @property
    def folder(self) -> str:
        return self.blob.rsplit("/", 1)[0]

    def sibling(self, name: str) -> str:
        """A blob name next to the manifest."""
        return f"{self.folder}/{name}"


def safe_name(text: str) -> str:
    """A blob-path-safe form of a registry name."""
    return _SAFE_RE.sub("_", text).strip("_") or "registry"


def new_export_id(now: datetime | None = None, suffix: str = "") -> str:
    """Sortable export id: ``20261127T101500Z`` plus an optional short suffix."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{suffix}" if suffix else stamp


class BlobStore:
    """The container of one storage account, through azure-storage-blob."""

    def __init__(self, settings: StorageSettings, credential: TokenCredential | None = None):
        from azure.storage.blob import BlobServiceClient

        self.settings = settings
        if settings.connection_string_env:
            value = os.environ.get(settings.connection_string_env)
            if not value:
                raise ConfigError(
                    f"storage: environment variable {settings.connection_string_env} is not set"
                )
            self.service = BlobServiceClient.from_connection_string(value)
        elif settings.account_url:
            if credential is None:
                raise ConfigError("storage: account_url needs a credential (tenant identity)")
            self.service = BlobServiceClient(settings.account_url, credential=credential)
        else:
            raise ConfigError("storage: set connection_string_env or account_url")
        self.container = self.service.get_container_client(settings.container)

    def url_of(self, blob: str) -> str:
        """The blob's URL, for people to read (no SAS, no key)."""
        return f"{self.container.url}/{blob}"

    def ensure_container(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):
            self.container.create_container()

    def put(
        self,
        blob: str,
        data: bytes,
        *,
        content_type: str,
        metadata: dict[str, str] | None = None,
    ) -> None:
        from azure.storage.blob import ContentSettings

        self.container.upload_blob(
            blob,
            data,
            overwrite=True,
            metadata=metadata,
            content_settings=ContentSettings(content_type=content_type),
        )

    def append(self, blob: str, data: bytes) -> None:
        """Append ``data`` to an append blob, created on first use."""
        from azure.core.exceptions import ResourceNotFoundError

        client = self.container.get_blob_client(blob)
        try:
            client.append_block(data)
        except ResourceNotFoundError:
            client.create_append_blob(content_settings=None)
            client.append_block(data)

    def names(self, prefix: str) -> list[str]:
        """The names of the blobs that start with ``prefix`` (none in a missing container)."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return [b.name for b in self.container.list_blobs(name_starts_with=prefix)]
        except ResourceNotFoundError:
            return []

    def newest(self, prefix: str, suffix: str = "") -> str | None:
        """The most recently written blob whose name starts with ``prefix`` and ends with
        ``suffix`` (ties go to the later name), or None."""
        blobs = [
            b for b in self.container.list_blobs(name_starts_with=prefix) if b.name.endswith(suffix)
        ]
        if not blobs:
            return None
        return str(max(blobs, key=lambda b: (b.last_modified, b.name)).name)

    def get(self, blob: str) -> tuple[bytes, dict[str, str]]:
        """Bytes and metadata of a blob; a clear error when it is missing."""
        from azure.core.exceptions import ResourceNotFoundError

        client = self.container.get_blob_client(blob)
        try:
            downloader = client.download_blob()
        except ResourceNotFoundError:
            raise ConfigError(
                f"storage: blob {self.settings.container}/{blob} does not exist"
            ) from None
        data = downloader.readall()
        return data, dict(downloader.properties.metadata or {})

    def read_manifest(self, blob: str) -> list[ImageRow]:
        """The verified rows of a manifest blob: metadata, sha256, row count and every cell.

        A problem is one :class:`~acr_migrate.manifest.ManifestError` naming
        ``<container>/<blob>``, the row and the column.
        """
        data, metadata = self.get(blob)
        return read_manifest(data, metadata, blob=f"{self.settings.container}/{blob}")

    def upload_export(
        self,
        source_name: str,
        export_id: str,
        manifest: bytes,
        metadata: dict[str, str],
        registry_json: bytes,
    ) -> ManifestLocation:
        """Write registry.json first, then the manifest (its arrival marks the export done)."""
        self.ensure_container()
        folder = f"{safe_name(source_name)}/{export_id}"
        self.put(f"{folder}/{REGISTRY_NAME}", registry_json, content_type="application/json")
        self.put(f"{folder}/{MANIFEST_NAME}", manifest, content_type="text/csv", metadata=metadata)
        return ManifestLocation(container=self.settings.container, blob=f"{folder}/{MANIFEST_NAME}")

    def latest_manifest(self, source_name: str) -> ManifestLocation:
        """The newest export of ``source_name`` by its own ``exported_at`` metadata.

        Only ``manifest.csv`` blobs carrying the export's metadata count: a folder copied or
        renamed by hand (``corrupt-...``) never becomes the latest because of its name.
        Ties fall to the blob name.
        """
        from azure.core.exceptions import ResourceNotFoundError

        prefix = f"{safe_name(source_name)}/"
        where = f"{self.settings.container}/{prefix}"
        try:
            blobs = [
                b
                for b in self.container.list_blobs(name_starts_with=prefix, include=["metadata"])
                if b.name.endswith(f"/{MANIFEST_NAME}")
            ]
        except ResourceNotFoundError:  # the container itself: nothing was ever exported
            blobs = []
        if not blobs:
            raise ConfigError(f"storage: no manifest under {where} (run the export)")
        dated: list[tuple[datetime, str]] = []
        for blob in blobs:
            stamp = export_time(blob.metadata or {})
            if stamp is not None:
                dated.append((stamp, blob.name))
        if not dated:
            names = ", ".join(sorted(b.name for b in blobs)[:5])
            raise ConfigError(
                f"storage: no manifest under {where} carries export metadata "
                f"({', '.join(METADATA_KEYS)}); found only {names}. Run the export, or name "
                "the manifest blob explicitly"
            )
        return ManifestLocation(container=self.settings.container, blob=max(dated)[1])


def export_time(metadata: dict[str, str]) -> datetime | None:
    """``exported_at`` of blob metadata written by the export; None when it is not one."""
    lowered = {k.lower(): v for k, v in metadata.items()}
    if any(k not in lowered for k in METADATA_KEYS):
        return None
    stamp = lowered["exported_at"]
    if not is_export_timestamp(stamp):
        return None
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
