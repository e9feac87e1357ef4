"""What every inventory adapter offers."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from acr_migrate.models import ImageRow


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

    def close(self) -> None:
        """Close the connections of the underlying client."""
        ...
