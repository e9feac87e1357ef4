"""Inventory over the OCI distribution API: catalog, tags, manifests."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

from acr_migrate.mediatypes import is_index
from acr_migrate.models import ImageRow
from acr_migrate.oci.client import RegistryClient
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

UNTAGGED_NOTE = (
    "untagged manifests are not listed: the OCI distribution API has no call that lists "
    "them (only tags); use the acr inventory for an Azure Container Registry"
)


def platforms_of(index: dict) -> str:
    """``os/arch[/variant]`` of an index's children, joined by ``;`` (attestations left out)."""
    found: list[str] = []
    for child in index.get("manifests") or []:
        platform = child.get("platform") or {}
        os_name, arch = platform.get("os"), platform.get("architecture")
        if not os_name or not arch or os_name == "unknown":
            continue
        text = f"{os_name}/{arch}" + (f"/{platform['variant']}" if platform.get("variant") else "")
        if text not in found:
            found.append(text)
    return ";".join(found)


class OciInventory:
    """Lists a registry through ``/v2/_catalog``, ``tags/list`` and manifest GET/HEAD."""

    def __init__(self, client: RegistryClient, *, workers: int = 8, page_size: int = 100):
        self.client = client
        self.workers = workers
        self.page_size = page_size
        self.notes: list[str] = [UNTAGGED_NOTE]

    def close(self) -> None:
        self.client.close()

    def repositories(self) -> list[str]:
        return sorted(set(self.client.catalog(self.page_size)))

    def _row(self, repository: str, tag: str) -> ImageRow:
        manifest = self.client.get_manifest(repository, tag)
        platforms = platforms_of(manifest.json()) if is_index(manifest.media_type) else ""
        return ImageRow(
            source_registry=self.client.endpoint.login_server,
            repository=repository,
            tag=tag,
            digest=manifest.digest,
            media_type=manifest.media_type,
            size_bytes=len(manifest.body),
            platforms=platforms,
        )

    def images(self, repositories: Iterable[str] | None = None) -> Iterator[ImageRow]:
        """A row per tag, then per repository the referrers of its manifests (untagged ones
        get rows of their own; cosign's tags name their subject; the ``sha256-<hex>``
        referrers lists of the tag schema are read, not listed)."""
        repos = sorted(repositories) if repositories is not None else self.repositories()
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            pairs = [
                (repo, tag)
                for repo, tags in zip(repos, pool.map(self.client.tags, repos), strict=True)
                for tag in sorted(tags)
            ]
            by_repo: dict[str, list[ImageRow]] = {}
            for row in pool.map(lambda pair: self._row(*pair), pairs):
                by_repo.setdefault(row.repository, []).append(row)
            for rows in pool.map(lambda item: self._with_referrers(*item), by_repo.items()):
                yield from rows

    def _with_referrers(self, repository: str, rows: list[ImageRow]) -> list[ImageRow]:
        lists = {
            r.tag: r.digest for r in rows if is_referrers_tag(r.tag) and is_index(r.media_type)
        }
        roots = [r.digest for r in rows if r.tag not in lists]

        def tag_schema(digest: str) -> list[Descriptor]:
            held = lists.get(referrers_tag(digest))
            if held is None:
                return []
            return descriptors_of(self.client.get_manifest(repository, held).json())

        found = discover(
            roots, lambda digest: self.client.referrers(repository, digest), tag_schema
        )
        self.notes += skipped_notes(repository, found)
        return referrer_rows(rows, found, self.client.endpoint.login_server, repository)

    def state(
        self, repositories: Iterable[str], untagged: Iterable[tuple[str, str]] = ()
    ) -> TargetState:
        repos = sorted(set(repositories))
        state = TargetState()
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            pairs = [
                (repo, tag)
                for repo, tags in zip(repos, pool.map(self.client.tags, repos), strict=True)
                for tag in tags
            ]
            heads = pool.map(lambda pair: self.client.head_manifest(*pair), pairs)
            for (repo, tag), head in zip(pairs, heads, strict=True):
                if head is not None:
                    state.tags[(repo, tag)] = head.digest
                    state.digests.add((repo, head.digest))
            wanted = [pair for pair in set(untagged) if pair not in state.digests]
            found = pool.map(lambda pair: self.client.head_manifest(*pair), wanted)
            for pair, head in zip(wanted, found, strict=True):
                if head is not None:
                    state.digests.add(pair)
        return state

    def current(self, rows: Iterable[ImageRow]) -> TargetState:
        """One HEAD per tag of ``rows`` (per digest for an untagged row), nothing listed."""
        refs = sorted({(r.repository, r.tag or r.digest) for r in rows})
        state = TargetState()
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            heads = pool.map(lambda ref: self.client.head_manifest(*ref), refs)
            for (repo, reference), head in zip(refs, heads, strict=True):
                if head is None:
                    continue
                state.digests.add((repo, head.digest))
                if not reference.startswith("sha256:"):
                    state.tags[(repo, reference)] = head.digest
        return state
