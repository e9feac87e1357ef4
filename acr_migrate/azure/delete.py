"""The deletion port for an ACR: the whole registry goes, through ARM.

``registries.begin_delete`` with the source tenant's identity, then a GET that must answer 404.
The plan comes from the inventory port, so it lists everything the delete removes, and names
the repositories that were not migrated (``outside``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from azure.mgmt.containerregistry import ContainerRegistryManagementClient

from acr_migrate.azure.settings import AcrRegistryRef
from acr_migrate.deletion import METHOD_ARM, DeletionPlan, DeletionResult, RepositoryContent
from acr_migrate.models import ImageRow, RegistryEndpoint


def delete_arm_registry(arm: ContainerRegistryManagementClient, ref: AcrRegistryRef) -> None:
    """Delete the registry ``ref`` through ARM, then check it is gone (gone already: fine)."""
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    what = f"registry {ref.registry!r} (resource group {ref.resource_group!r})"
    try:
        arm.registries.begin_delete(ref.resource_group, ref.registry).result()
    except ResourceNotFoundError:
        return
    except HttpResponseError as exc:
        code = getattr(getattr(exc, "error", None), "code", None) or exc.status_code
        raise RuntimeError(f"ARM refused to delete the {what}: {code}: {exc.message}") from None
    try:
        arm.registries.get(ref.resource_group, ref.registry)
    except ResourceNotFoundError:
        return
    raise RuntimeError(f"ARM reported the {what} deleted, but it is still there")


class ArmRegistryDeleter:
    """Deletes the whole registry through ARM."""

    method = METHOD_ARM

    def __init__(
        self,
        endpoint: RegistryEndpoint,
        rows: Callable[[], Iterable[ImageRow]],
        remove: Callable[[], None],
        close: Callable[[], None] = lambda: None,
    ):
        self.endpoint = endpoint
        self.rows = rows
        self.remove = remove
        self._close = close

    def plan(self, repositories: Iterable[str]) -> DeletionPlan:
        """The whole registry goes, so the plan lists all of it; ``outside`` names the rest."""
        migrated = set(repositories)
        content: dict[str, RepositoryContent] = {}
        for row in self.rows():
            repo = content.setdefault(row.repository, RepositoryContent(repository=row.repository))
            if row.tag:
                repo.tags.append(row.tag)
            if row.digest not in repo.digests:
                repo.digests.append(row.digest)
        return DeletionPlan(
            source=self.endpoint.login_server,
            name=self.endpoint.name,
            method=self.method,
            repositories=[content[k] for k in sorted(content)],
            outside=sorted(set(content) - migrated),
        )

    def delete(self, plan: DeletionPlan) -> DeletionResult:
        self.remove()
        return DeletionResult(method=self.method, deleted=plan.counts()["manifests"])

    def close(self) -> None:
        self._close()
