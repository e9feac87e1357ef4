"""oci-copy: stream an image through this worker from the source to the target registry.

For each manifest: children first (an index's manifests), then blobs (HEAD-skip, a
cross-repository mount from a target repository that already holds the blob, or from the
source repository when both sides are one registry, else a streamed upload), then the
manifest by digest and under every tag, then a check that every tag resolves to the digest.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from acr_migrate.errors import DigestMismatchError, MigrationError
from acr_migrate.mediatypes import is_index
from acr_migrate.models import ImportItem, ImportResult, ImportStatus
from acr_migrate.oci.client import CHUNK_SIZE, Manifest, RegistryClient


@dataclass
class CopyStats:
    """Counters of one copy."""

    bytes_sent: int = 0
    blobs_sent: int = 0
    blobs_skipped: int = 0
    blobs_mounted: int = 0
    manifests_put: int = 0


class TagConflictError(MigrationError):
    """A target tag points at another digest and ``force`` was not given."""


class OciCopyEngine:
    """Copies through this process, never holding a whole layer in memory."""

    name = "oci-copy"

    def __init__(self, source: RegistryClient, target: RegistryClient):
        self.source = source
        self.target = target
        self.same_registry = source.endpoint.login_server == target.endpoint.login_server
        # digest -> a target repository that holds it, to mount instead of sending it again
        self._landed: dict[str, str] = {}

    def close(self) -> None:
        self.source.close()
        if self.target is not self.source:
            self.target.close()

    def import_image(self, item: ImportItem, *, force: bool = False) -> ImportResult:
        started = time.monotonic()
        repo = item.destination
        stats = CopyStats()
        pending = self._tags_to_set(repo, item, force)
        already = self.target.head_manifest(repo, item.digest) is not None
        if already and not pending:
            return self._result(item, ImportStatus.SKIPPED, stats, started)
        manifest = self.source.get_manifest(item.repository, item.digest)
        if not already:
            self._copy_manifest(item.repository, repo, manifest, stats)
        for tag in pending:
            self.target.put_manifest(repo, tag, manifest)
            stats.manifests_put += 1
        self._verify(repo, item)
        return self._result(item, ImportStatus.IMPORTED, stats, started)

    def _tags_to_set(self, repo: str, item: ImportItem, force: bool) -> list[str]:
        pending = []
        for tag in item.tags:
            head = self.target.head_manifest(repo, tag)
            if head is None:
                pending.append(tag)
            elif head.digest != item.digest:
                if not force:
                    raise TagConflictError(
                        f"{repo}:{tag} exists in the target with {head.digest}, "
                        f"not {item.digest}; use force to overwrite"
                    )
                pending.append(tag)
        return pending

    def _copy_manifest(
        self, source_repo: str, target_repo: str, manifest: Manifest, stats: CopyStats
    ) -> None:
        document = manifest.json()
        if is_index(manifest.media_type):
            for child in document.get("manifests") or []:
                digest = child["digest"]
                if self.target.head_manifest(target_repo, digest) is not None:
                    continue
                child_manifest = self.source.get_manifest(source_repo, digest)
                self._copy_manifest(source_repo, target_repo, child_manifest, stats)
        else:
            blobs = [document["config"], *(document.get("layers") or [])]
            for descriptor in blobs:
                self._copy_blob(source_repo, target_repo, descriptor, stats)
        self.target.put_manifest(target_repo, manifest.digest, manifest)
        stats.manifests_put += 1

    def _copy_blob(
        self, source_repo: str, target_repo: str, descriptor: dict, stats: CopyStats
    ) -> None:
        digest = descriptor["digest"]
        size = descriptor.get("size")
        if self.target.blob_size(target_repo, digest) is not None:
            stats.blobs_skipped += 1
            self._landed.setdefault(digest, target_repo)
            return
        sibling = self._landed.get(digest)
        if (
            sibling
            and sibling != target_repo
            and self.target.mount_blob(target_repo, digest, sibling)
        ):
            stats.blobs_mounted += 1
            return
        if self.same_registry and self.target.mount_blob(target_repo, digest, source_repo):
            stats.blobs_mounted += 1
            return

        def chunks() -> Iterator[bytes]:
            with self.source.open_blob(source_repo, digest) as response:
                yield from response.iter_bytes(CHUNK_SIZE)

        stats.bytes_sent += self.target.upload_blob(target_repo, digest, chunks, size)
        stats.blobs_sent += 1
        self._landed[digest] = target_repo

    def _verify(self, repo: str, item: ImportItem) -> None:
        references = list(item.tags) or [item.digest]
        for reference in references:
            head = self.target.head_manifest(repo, reference)
            if head is None or head.digest != item.digest:
                found = head.digest if head else "nothing"
                raise DigestMismatchError(
                    f"{repo}:{reference} resolves to {found} in the target, expected {item.digest}"
                )

    @staticmethod
    def _result(
        item: ImportItem, status: ImportStatus, stats: CopyStats, started: float
    ) -> ImportResult:
        return ImportResult(
            repository=item.repository,
            digest=item.digest,
            tags=item.tags,
            status=status,
            seconds=round(time.monotonic() - started, 3),
            bytes_sent=stats.bytes_sent,
            blobs_sent=stats.blobs_sent,
            blobs_skipped=stats.blobs_skipped,
            blobs_mounted=stats.blobs_mounted,
        )
