"""oci-copy: stream an image through this worker from the source to the target registry.

For each manifest: children first (an index's manifests), then blobs (HEAD-skip, a
cross-repository mount from a target repository that already holds the blob, or from the
source repository when both sides are one registry, else a streamed upload), then the
manifest by digest and under every tag, then a check that every tag resolves to the digest.

Then the image's referrers (signatures, SBOMs, attestations), each after its subject, copied
the same way with their exact bytes, so their ``subject`` field is kept and a target with the
referrers API lists them (checked). A target without it (404) gets the referrers tag schema
instead: the ``sha256-<hex>`` index of each subject, merged with what it holds already.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from acr_migrate.errors import DigestMismatchError, MigrationError, RegistryHTTPError
from acr_migrate.mediatypes import OCI_INDEX, is_index
from acr_migrate.models import ImportItem, ImportResult, ImportStatus, Referrer
from acr_migrate.oci.client import CHUNK_SIZE, Manifest, RegistryClient
from acr_migrate.references import sha256_digest
from acr_migrate.referrers import (
    cosign_subject,
    descriptor_of,
    descriptors_of,
    referrers_index,
    referrers_tag,
    subject_of,
)


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
        copied = self._copy_one(item.repository, repo, item.digest, item.tags, force, stats)
        if item.referrers:
            copied = self._copy_referrers(item, repo, force, stats) or copied
        status = ImportStatus.IMPORTED if copied else ImportStatus.SKIPPED
        return self._result(item, status, stats, started)

    def _copy_one(
        self,
        source_repo: str,
        repo: str,
        digest: str,
        tags: tuple[str, ...],
        force: bool,
        stats: CopyStats,
    ) -> bool:
        """Copy one manifest (with what it references), put its tags and check they resolve to
        it; False when the target held it with every tag already."""
        pending = self._tags_to_set(repo, tags, digest, force)
        already = self.target.head_manifest(repo, digest) is not None
        if already and not pending:
            return False
        manifest = self.source.get_manifest(source_repo, digest)
        if not already:
            self._copy_manifest(source_repo, repo, manifest, stats)
        for tag in pending:
            self.target.put_manifest(repo, tag, manifest)
            stats.manifests_put += 1
        self._verify(repo, digest, tags)
        return True

    def _tags_to_set(self, repo: str, tags: tuple[str, ...], digest: str, force: bool) -> list[str]:
        pending = []
        for tag in tags:
            head = self.target.head_manifest(repo, tag)
            if head is None:
                pending.append(tag)
            elif head.digest != digest:
                if not force:
                    raise TagConflictError(
                        f"{repo}:{tag} exists in the target with {head.digest}, "
                        f"not {digest}; use force to overwrite"
                    )
                pending.append(tag)
        return pending

    # -- referrers ------------------------------------------------------------------------------

    def _copy_referrers(self, item: ImportItem, repo: str, force: bool, stats: CopyStats) -> bool:
        """Copy the referrers the target lacks, each after its subject; then make the target
        list them: its referrers API must (checked), else the tag schema's index is kept."""
        copied = False
        for referrer in item.referrers:
            if self._copy_one(item.repository, repo, referrer.digest, referrer.tags, force, stats):
                copied = True
        by_subject: dict[str, list[Referrer]] = {}
        for referrer in item.referrers:
            if not any(cosign_subject(tag) == referrer.subject for tag in referrer.tags):
                by_subject.setdefault(referrer.subject, []).append(referrer)
        for subject, referrers in by_subject.items():
            listed = self.target.referrers(repo, subject)
            if listed is None:  # no referrers API: the tag schema
                copied = self._keep_referrers_tag(repo, subject, referrers, stats) or copied
                continue
            missing = {r.digest for r in referrers} - {d["digest"] for d in listed}
            if missing:
                raise DigestMismatchError(
                    f"{repo}: the target's referrers API does not list "
                    f"{', '.join(sorted(missing))} for {subject}"
                )
        return copied

    def _keep_referrers_tag(
        self, repo: str, subject: str, referrers: list[Referrer], stats: CopyStats
    ) -> bool:
        """Add the referrers of ``subject`` that carry a ``subject`` field to the index under
        its referrers tag (distribution spec v1.1 "Pushing Manifests with Subject", for a
        registry without the referrers API); True when the index was written."""
        tag = referrers_tag(subject)
        try:
            held = self.target.get_manifest(repo, tag)
        except RegistryHTTPError as exc:
            if exc.status != 404:
                raise
            held = None
        if held is not None and held.media_type != OCI_INDEX:
            raise MigrationError(
                f"{repo}:{tag} is a {held.media_type}, not the referrers index of {subject}: "
                "the target's tag schema cannot be kept"
            )
        descriptors = descriptors_of(held.json()) if held is not None else []
        listed = {d["digest"] for d in descriptors}
        for referrer in referrers:
            if referrer.digest in listed:
                continue
            manifest = self.target.get_manifest(repo, referrer.digest)
            if subject_of(manifest.body) == subject:
                descriptors.append(descriptor_of(manifest.body, manifest.media_type))
        if len(descriptors) == len(listed):
            return False
        body = referrers_index(descriptors)
        index = Manifest(body, OCI_INDEX, sha256_digest(body))
        self.target.put_manifest(repo, tag, index)
        stats.manifests_put += 1
        return True

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

    def _verify(self, repo: str, digest: str, tags: tuple[str, ...]) -> None:
        for reference in list(tags) or [digest]:
            head = self.target.head_manifest(repo, reference)
            if head is None or head.digest != digest:
                found = head.digest if head else "nothing"
                raise DigestMismatchError(
                    f"{repo}:{reference} resolves to {found} in the target, expected {digest}"
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
            referrers=len(item.referrers),
        )
