"""What every engine offers."""

from __future__ import annotations

from typing import Protocol

from acr_migrate.models import ImportItem, ImportResult


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
