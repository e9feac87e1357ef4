"""The freeze port for an ACR: repository ``changeableAttributes`` through the data plane
(``writeEnabled``/``deleteEnabled``; ACR then refuses a push with 403 DENIED)."""

from __future__ import annotations

from collections.abc import Iterable

from azure.core.exceptions import ResourceNotFoundError

from acr_migrate.azure.clients import AcrDataPlaneClient
from acr_migrate.freeze import RepositoryLocks


class AcrFreezer:
    """Reads and sets the write/delete locks of repositories."""

    def __init__(self, client: AcrDataPlaneClient):
        self.client = client

    def repositories(self) -> list[str]:
        return sorted(self.client.list_repository_names())

    def locks(self, repositories: Iterable[str]) -> list[RepositoryLocks]:
        """The locks of each repository that exists."""
        out = []
        for name in repositories:
            try:
                props = self.client.get_repository_properties(name)
            except ResourceNotFoundError:
                continue
            out.append(
                RepositoryLocks(
                    repository=name,
                    write_enabled=bool(props.can_write),
                    delete_enabled=bool(props.can_delete),
                )
            )
        return out

    def set_locks(self, locks: RepositoryLocks) -> RepositoryLocks | None:
        """Set one repository's locks; returns what the registry then reports (None: the
        repository is gone)."""
        try:
            props = self.client.update_repository_properties(
                locks.repository, can_write=locks.write_enabled, can_delete=locks.delete_enabled
            )
        except ResourceNotFoundError:
            return None
        return RepositoryLocks(
            repository=locks.repository,
            write_enabled=bool(props.can_write),
            delete_enabled=bool(props.can_delete),
        )

    def close(self) -> None:
        self.client.close()
