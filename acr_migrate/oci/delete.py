"""The deletion port over the OCI distribution API: ``DELETE /v2/<name>/manifests/<digest>``.

The registry must allow deletes (the sandbox registries do). Index children go after their
index; a manifest already gone counts as such, so a retried delete is harmless.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from acr_migrate.deletion import (
    METHOD_OCI,
    DeletionPlan,
    DeletionResult,
    RepositoryContent,
)
from acr_migrate.mediatypes import is_index
from acr_migrate.oci.client import RegistryClient


class OciManifestDeleter:
    """Deletes every manifest of the chosen repositories."""

    method = METHOD_OCI

    def __init__(self, client: RegistryClient, *, workers: int = 8):
        self.client = client
        self.workers = workers

    def _content(self, repository: str) -> RepositoryContent:
        tags = sorted(self.client.tags(repository))
        digests: list[str] = []
        for tag in tags:
            head = self.client.head_manifest(repository, tag)
            if head is not None and head.digest not in digests:
                digests.append(head.digest)
        return RepositoryContent(repository=repository, tags=tags, digests=digests)

    def plan(self, repositories: Iterable[str]) -> DeletionPlan:
        repos = sorted(set(repositories))
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            content = list(pool.map(self._content, repos))
        endpoint = self.client.endpoint
        return DeletionPlan(
            source=endpoint.login_server,
            name=endpoint.name,
            method=self.method,
            repositories=[c for c in content if c.digests],
        )

    def _children(self, repository: str, digest: str) -> list[str]:
        try:
            manifest = self.client.get_manifest(repository, digest)
        except Exception:
            return []  # already gone, or unreadable: the index delete below says which
        if not is_index(manifest.media_type):
            return []
        return [c["digest"] for c in manifest.json().get("manifests") or [] if "digest" in c]

    def _delete_repository(self, repo: RepositoryContent) -> tuple[int, int]:
        deleted = gone = 0
        for digest in repo.digests:
            for ref in [digest, *self._children(repo.repository, digest)]:
                if self.client.delete_manifest(repo.repository, ref):
                    deleted += 1
                else:
                    gone += 1
        return deleted, gone

    def delete(self, plan: DeletionPlan) -> DeletionResult:
        result = DeletionResult(method=self.method)
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for deleted, gone in pool.map(self._delete_repository, plan.repositories):
                result.deleted += deleted
                result.already_gone += gone
            left = pool.map(self.client.tags, [r.repository for r in plan.repositories])
            for repo, tags in zip(plan.repositories, left, strict=True):
                if tags:
                    result.remaining[repo.repository] = sorted(tags)
        return result

    def close(self) -> None:
        self.client.close()
