"""Inventory over the ACR data plane (azure-containerregistry): one paged call per repository
lists every manifest, tagged and untagged, with digest, size, timestamps and media type.

ACR listings carry no ``references`` for an index (recorded: the SDK test recordings list a
multi-arch image's platform manifests as untagged entries of their own); only the
single-manifest GET has them, so each index is read once more to group its platforms."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from acr_migrate.azure.clients import AcrDataPlaneClient
from acr_migrate.mediatypes import DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX
from acr_migrate.models import ImageRow
from acr_migrate.ports import TargetState
from acr_migrate.referrers import (
    Descriptor,
    descriptors_of,
    discover,
    is_referrers_tag,
    referrer_rows,
    referrers_tag,
    skipped_notes,
)


def _listed_media_type(manifest: Any) -> str | None:
    extra = getattr(manifest, "additional_properties", None) or {}
    media_type = extra.get("mediaType")
    return str(media_type) if media_type else None


def _may_be_index(manifest: Any) -> bool:
    """An index by its media type; or, where the registry omits it, an entry without a
    platform of its own."""
    media_type = _listed_media_type(manifest)
    if media_type is not None:
        return media_type in (OCI_INDEX, DOCKER_LIST)
    return not manifest.architecture


def _platforms(references: list[Any]) -> str:
    found: list[str] = []
    for ref in references:
        os_name, arch = ref.operating_system, ref.architecture
        if os_name and arch and str(os_name) != "unknown":
            text = f"{os_name}/{arch}"
            if text not in found:
                found.append(text)
    return ";".join(found)


#: ARM ``importImage`` takes indexes of at most this many manifests (documented limit).
IMPORT_MANIFEST_LIMIT = 50


class AcrInventory:
    """Lists an Azure Container Registry through ``/acr/v1`` (metadata, not manifests)."""

    def __init__(
        self,
        client: AcrDataPlaneClient,
        login_server: str,
        *,
        workers: int = 8,
        page_size: int = 100,
    ):
        self.client = client
        self.login_server = login_server
        self.workers = workers
        self.page_size = page_size
        self.notes: list[str] = []

    def close(self) -> None:
        self.client.close()

    def repositories(self) -> list[str]:
        return sorted(self.client.list_repository_names(results_per_page=self.page_size))

    def _manifests(self, repository: str) -> list[Any]:
        return list(
            self.client.list_manifest_properties(
                repository, results_per_page=self.page_size, cls=lambda objs: list(objs)
            )
        )

    def _references(self, repository: str, manifests: list[Any]) -> dict[str, list[Any]]:
        """digest -> references of each index, from its single-manifest GET."""
        out: dict[str, list[Any]] = {}
        for manifest in manifests:
            if manifest.related_artifacts:  # a registry that does list them
                out[manifest.digest] = list(manifest.related_artifacts)
            elif _may_be_index(manifest):
                refs = self.client.manifest_references(repository, manifest.digest)
                if refs:
                    out[manifest.digest] = refs
        return out

    def _rows(self, repository: str) -> list[ImageRow]:
        rows: list[ImageRow] = []
        manifests = self._manifests(repository)
        references = self._references(repository, manifests)
        for digest, listed in references.items():
            if len(listed) > IMPORT_MANIFEST_LIMIT:
                self.notes.append(
                    f"{repository}@{digest} is an index of {len(listed)} manifests: ACR import "
                    f"takes at most {IMPORT_MANIFEST_LIMIT}; copy it with the oci-copy engine"
                )
        # Platform manifests of an index are listed untagged; they travel with their index.
        children = {ref.digest for refs in references.values() for ref in refs}
        for manifest in manifests:
            refs = references.get(manifest.digest)
            media_type = _listed_media_type(manifest) or (DOCKER_LIST if refs else DOCKER_MANIFEST)
            common = {
                "source_registry": self.login_server,
                "repository": repository,
                "digest": manifest.digest,
                "media_type": media_type,
                "size_bytes": int(manifest.size or 0),
                "created_at": manifest.created_on,
                "updated_at": manifest.last_updated_on,
                "platforms": _platforms(refs or [])
                if media_type in (OCI_INDEX, DOCKER_LIST)
                else "",
            }
            tags = sorted(manifest.tags or [])
            if tags:
                rows.extend(ImageRow(tag=tag, **common) for tag in tags)
            elif manifest.digest not in children:
                rows.append(ImageRow(tag="", **common))
        return self._with_referrers(repository, manifests, children, rows)

    def _with_referrers(
        self, repository: str, manifests: list[Any], children: set[str], rows: list[ImageRow]
    ) -> list[ImageRow]:
        """Which rows are referrers of which manifest, through the referrers API (every
        listed manifest but an index's platforms is asked; referrers are listed untagged)."""
        lists = {
            row.tag: row.digest
            for row in rows
            if is_referrers_tag(row.tag) and row.media_type in (OCI_INDEX, DOCKER_LIST)
        }

        def tag_schema(digest: str) -> list[Descriptor]:
            held = lists.get(referrers_tag(digest))
            if held is None:
                return []
            return descriptors_of(self.client.get_manifest(repository, held).manifest or {})

        roots = [m.digest for m in manifests if m.digest not in children]
        found = discover(
            roots, lambda digest: self.client.referrers(repository, digest), tag_schema
        )
        self.notes += skipped_notes(repository, found)
        return referrer_rows(rows, found, self.login_server, repository)

    def images(self, repositories: Iterable[str] | None = None) -> Iterator[ImageRow]:
        repos = sorted(repositories) if repositories is not None else self.repositories()
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for rows in pool.map(self._rows, repos):
                yield from rows

    def state(
        self, repositories: Iterable[str], untagged: Iterable[tuple[str, str]] = ()
    ) -> TargetState:
        state = TargetState()
        repos = sorted(set(repositories))
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            listings = pool.map(self._listing_or_empty, repos)
            for repo, manifests in zip(repos, listings, strict=True):
                for manifest in manifests:
                    state.digests.add((repo, manifest.digest))
                    for tag in manifest.tags or []:
                        state.tags[(repo, tag)] = manifest.digest
        return state

    def current(self, rows: Iterable[ImageRow]) -> TargetState:
        """One listing per repository of ``rows`` (it gives every tag and digest at once)."""
        rows = list(rows)
        untagged = [(r.repository, r.digest) for r in rows if not r.tag]
        return self.state({r.repository for r in rows}, untagged)

    def _listing_or_empty(self, repository: str) -> list[Any]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._manifests(repository)
        except ResourceNotFoundError:
            return []
