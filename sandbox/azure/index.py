"""What the ACR data plane knows about a registry's content (ACR keeps this metadata itself).

Manifests pushed through the data plane or imported are recorded when written, so untagged
ones are listable. Content written straight into the backing registry is picked up by a sync
from the backing registry's catalog and tag lists (tags only: it cannot list untagged
manifests; a tag moved directly in the backing registry is not noticed).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from sandbox.azure.backend import INDEX_TYPES, Backend
from sandbox.azure.store import Store
from sandbox.azure.tokens import iso


def default_attrs() -> dict[str, bool]:
    return {"deleteEnabled": True, "writeEnabled": True, "readEnabled": True, "listEnabled": True}


def _record_subject(entry: dict[str, Any], doc: dict[str, Any], media: str) -> None:
    """What the referrers API lists of a manifest with a ``subject``: its artifactType (the
    manifest's, else an image manifest's config media type; an index may have none) and its
    annotations."""
    subject = doc.get("subject") if isinstance(doc.get("subject"), dict) else None
    for key in ("subject", "artifactType", "annotations"):
        entry.pop(key, None)
    if not subject or not subject.get("digest"):
        return
    entry["subject"] = str(subject["digest"])
    artifact_type = doc.get("artifactType")
    if not artifact_type and media not in INDEX_TYPES and "manifests" not in doc:
        artifact_type = (doc.get("config") or {}).get("mediaType")
    if artifact_type:
        entry["artifactType"] = str(artifact_type)
    if isinstance(doc.get("annotations"), dict) and doc["annotations"]:
        entry["annotations"] = dict(doc["annotations"])


def visible(entry: dict[str, Any]) -> bool:
    """False while a write is still "replicating" (see :class:`Index` ``lag``)."""
    return float(entry.get("visibleAfter") or 0.0) <= time.time()


class Index:
    """``lag()``: seconds a new manifest or tag stays invisible to reads (replica lag)."""

    def __init__(self, store: Store, slot: str, lag: Callable[[], float] = lambda: 0.0) -> None:
        self.store = store
        self.slot = slot
        self.lag = lag

    def _stamp(self, entry: dict[str, Any]) -> None:
        lag = self.lag()
        if lag > 0:
            entry["visibleAfter"] = time.time() + lag

    @property
    def repos(self) -> dict[str, Any]:
        return dict(self.store.data["dataplane"].setdefault(self.slot, {"repos": {}})["repos"])

    def _repos(self) -> dict[str, Any]:
        result: dict[str, Any] = self.store.data["dataplane"].setdefault(self.slot, {"repos": {}})[
            "repos"
        ]
        return result

    def repo(self, name: str, create: bool = False) -> dict[str, Any] | None:
        repos = self._repos()
        if name not in repos and create:
            t = iso()
            repos[name] = {
                "createdTime": t,
                "lastUpdateTime": t,
                "attrs": default_attrs(),
                "manifests": {},
                "tags": {},
            }
            self.store.save_soon()
        return repos.get(name)

    def record_manifest(self, repo: str, data: bytes, media: str, digest: str) -> dict[str, Any]:
        rec = self.repo(repo, create=True)
        assert rec is not None
        t = iso()
        doc: dict[str, Any] = {}
        try:
            doc = json.loads(data)
        except ValueError:
            pass
        media = media or str(doc.get("mediaType") or "")
        entry = rec["manifests"].get(digest)
        if entry is None:
            entry = {
                "digest": digest,
                "createdTime": t,
                "attrs": default_attrs(),
            }
            rec["manifests"][digest] = entry
            self._stamp(entry)
        entry["lastUpdateTime"] = t
        entry["mediaType"] = media
        entry["manifestSize"] = len(data)
        _record_subject(entry, doc, media)
        if media in INDEX_TYPES or "manifests" in doc:
            children = doc.get("manifests") or []
            entry["imageSize"] = len(data) + sum(int(c.get("size", 0)) for c in children)
            entry["references"] = [
                {
                    "digest": c["digest"],
                    "architecture": (c.get("platform") or {}).get("architecture"),
                    "os": (c.get("platform") or {}).get("os"),
                }
                for c in children
            ]
        else:
            config = doc.get("config") or {}
            layers = doc.get("layers") or []
            entry["imageSize"] = int(config.get("size", 0)) + sum(
                int(x.get("size", 0)) for x in layers
            )
            entry["configMediaType"] = config.get("mediaType")
            entry["config_digest"] = config.get("digest")
        rec["lastUpdateTime"] = t
        self.store.save_soon()
        return dict(entry)

    def record_tag(self, repo: str, tag: str, digest: str) -> None:
        rec = self.repo(repo, create=True)
        assert rec is not None
        t = iso()
        old = rec["tags"].get(tag)
        if old is None:
            rec["tags"][tag] = {
                "digest": digest,
                "createdTime": t,
                "lastUpdateTime": t,
                "attrs": default_attrs(),
            }
            self._stamp(rec["tags"][tag])
        elif old["digest"] != digest:
            old["digest"] = digest
            old["lastUpdateTime"] = t
            self._stamp(old)
        rec["lastUpdateTime"] = t
        self.store.save_soon()

    def remove_manifest(self, repo: str, digest: str) -> None:
        rec = self.repo(repo)
        if rec is None:
            return
        rec["manifests"].pop(digest, None)
        for tag in [t for t, v in rec["tags"].items() if v["digest"] == digest]:
            rec["tags"].pop(tag)
        if not rec["manifests"] and not rec["tags"]:
            self._repos().pop(repo, None)
        self.store.save_soon()

    def referrers(self, repo: str, digest: str) -> list[dict[str, Any]]:
        """Descriptors of the manifests of ``repo`` whose ``subject`` is ``digest``, by digest
        (distribution spec v1.1 "Listing Referrers": artifactType, annotations)."""
        rec = self.repo(repo) or {"manifests": {}}
        found = []
        for digest_, entry in sorted(rec["manifests"].items()):
            if entry.get("subject") != digest or not visible(entry):
                continue
            descriptor: dict[str, Any] = {
                "mediaType": entry.get("mediaType"),
                "digest": digest_,
                "size": int(entry.get("manifestSize") or 0),
            }
            if entry.get("artifactType"):
                descriptor["artifactType"] = entry["artifactType"]
            if entry.get("annotations"):
                descriptor["annotations"] = dict(entry["annotations"])
            found.append(descriptor)
        return found

    def tags_of(self, repo: str, digest: str) -> list[str]:
        rec = self.repo(repo) or {"tags": {}}
        return sorted(t for t, v in rec["tags"].items() if v["digest"] == digest)

    # ------------------------------------------------------------------ sync from backing
    async def sync_catalog(self, backend: Backend) -> None:
        # A BackendError propagates: an internal error is a logged 500, never an empty answer.
        names = await backend.catalog()
        for name in names:
            if name not in self._repos():
                await self.sync_repo(backend, name)

    async def sync_repo(self, backend: Backend, repo: str) -> None:
        tags = await backend.tags(repo)
        rec = self.repo(repo)
        known = set(rec["tags"]) if rec else set()
        for tag in tags:
            if tag in known:
                continue
            got = await backend.manifest(repo, tag)
            if got is None:
                continue
            data, media, digest = got
            await self._record_tree(backend, repo, data, media, digest)
            self.record_tag(repo, tag, digest)

    async def _record_tree(
        self, backend: Backend, repo: str, data: bytes, media: str, digest: str
    ) -> None:
        rec = self.repo(repo)
        if rec and digest in rec["manifests"]:
            return
        entry = self.record_manifest(repo, data, media, digest)
        for ref in entry.get("references") or []:
            child = await backend.manifest(repo, ref["digest"])
            if child is not None:
                await self._record_tree(backend, repo, *child)

    async def fill_platform(self, backend: Backend, repo: str, entry: dict[str, Any]) -> None:
        """architecture/os of a single-platform image, from its config blob (once)."""
        if "architecture" in entry or not entry.get("config_digest"):
            return
        config = await backend.blob_json(repo, entry["config_digest"])
        entry["architecture"] = (config or {}).get("architecture")
        entry["os"] = (config or {}).get("os")
        self.store.save_soon()
