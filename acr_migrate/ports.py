"""The four ports every registry is used through, whatever it is (ACR or any OCI registry).

- :class:`Inventory` reads what a registry holds (``oci/inventory.py``, ``azure/inventory.py``);
- :class:`Engine` puts one image into the target (``oci/copy.py``, ``azure/import_engine.py``);
- :class:`SourceDeleter` removes the source after cutover (``oci/delete.py``, ``azure/delete.py``);
- :class:`Freezer` locks repositories against pushes while they migrate (``azure/freeze.py``;
  a plain OCI registry has no locks).

:mod:`acr_migrate.registry` chooses the adapters of an endpoint; nothing else does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from acr_migrate.deletion import DeletionPlan, DeletionResult
from acr_migrate.freeze import RepositoryLocks
from acr_migrate.models import ImageRow, ImportItem, ImportResult


@dataclass
class TargetState:
    """What the plan and validation need to know of a registry: tags and known digests."""

    tags: dict[tuple[str, str], str] = field(default_factory=dict)
    digests: set[tuple[str, str]] = field(default_factory=set)

    def has(self, repository: str, digest: str) -> bool:
        return (repository, digest) in self.digests


class Inventory(Protocol):
    """Reads a registry: its repositories and every manifest in them."""

    #: Things the adapter cannot see, for the export report (e.g. untagged manifests).
    notes: list[str]

    def repositories(self) -> list[str]:
        """Every repository name, sorted."""
        ...

    def images(self, repositories: Iterable[str] | None = None) -> Iterator[ImageRow]:
        """One row per tag (and per untagged manifest where the registry can list them)."""
        ...

    def state(
        self, repositories: Iterable[str], untagged: Iterable[tuple[str, str]] = ()
    ) -> TargetState:
        """Tags -> digests of ``repositories``, plus which ``untagged`` (repo, digest) exist."""
        ...

    def current(self, rows: Iterable[ImageRow]) -> TargetState:
        """What each row's tag (or, untagged, its digest) resolves to now, by the cheapest
        reads that tell (one HEAD per reference, or one listing per repository)."""
        ...

    def close(self) -> None:
        """Close the connections of the underlying client."""
        ...


class Engine(Protocol):
    """Copies one manifest (with everything it references) and applies its tags."""

    name: str

    def import_image(self, item: ImportItem, *, force: bool = False) -> ImportResult:
        """Make ``item.digest`` exist in the target repository under ``item.tags``.

        Raises on failure (transient errors are classified by :mod:`acr_migrate.errors`);
        returns a result whose status is ``imported`` or ``skipped`` (already there).
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class SourceDeleter(Protocol):
    """Deletes the source registry's content; knows nothing of approvals."""

    method: str

    def plan(self, repositories: Iterable[str]) -> DeletionPlan:
        """What is in ``repositories`` now (nothing is changed)."""
        ...

    def delete(self, plan: DeletionPlan) -> DeletionResult:
        """Delete what ``plan`` lists, then check nothing is left."""
        ...

    def close(self) -> None: ...


class Freezer(Protocol):
    """Reads and sets the write/delete locks of a registry's repositories."""

    def repositories(self) -> list[str]:
        """Every repository name, sorted."""
        ...

    def locks(self, repositories: Iterable[str]) -> list[RepositoryLocks]:
        """The locks of each of ``repositories`` that exists."""
        ...

    def set_locks(self, locks: RepositoryLocks) -> RepositoryLocks | None:
        """Set one repository's locks; what the registry then reports (None: it is gone)."""
        ...

    def close(self) -> None: ...
