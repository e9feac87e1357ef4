"""Deleting the source after cutover: what would go, what went, and when it must not.

The adapters (``oci/delete.py``, ``azure/delete.py``) do the deleting; the approval is the
flow's (``flows/cutover.py``).
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field

from acr_migrate.filters import ImageFilter
from acr_migrate.models import ImageRow

METHOD_OCI = "oci-manifests"
METHOD_ARM = "arm-registry"


class RepositoryContent(BaseModel):
    """What one repository of the source holds now."""

    repository: str
    tags: list[str] = Field(default_factory=list)
    digests: list[str] = Field(default_factory=list)


class DeletionPlan(BaseModel):
    """What deleting the source would remove."""

    source: str = Field(description="Login server of the source registry")
    name: str = Field(description="Short name of the source registry")
    method: str = Field(description=f"{METHOD_OCI} or {METHOD_ARM}")
    repositories: list[RepositoryContent] = Field(default_factory=list)
    outside: list[str] = Field(
        default_factory=list,
        description="Repositories the delete would remove that were not migrated (ARM only)",
    )

    def counts(self) -> dict[str, int]:
        return {
            "repositories": len(self.repositories),
            "manifests": sum(len(r.digests) for r in self.repositories),
            "tags": sum(len(r.tags) for r in self.repositories),
        }

    @property
    def empty(self) -> bool:
        return self.method != METHOD_ARM and not any(r.digests for r in self.repositories)


class DeletionResult(BaseModel):
    """What the delete did."""

    method: str
    deleted: int = 0
    already_gone: int = 0
    remaining: dict[str, list[str]] = Field(
        default_factory=dict, description="Tags still there per repository (should be none)"
    )

    @property
    def ok(self) -> bool:
        return not self.remaining


def repositories_of(rows: Iterable[ImageRow], include: list[str], exclude: list[str]) -> list[str]:
    """The manifest's repositories, filtered by repository patterns."""
    image_filter = ImageFilter.from_patterns(include, exclude)
    return sorted({r.repository for r in rows if image_filter.reason(r.repository, "") is None})


def deletion_refusal(plan: DeletionPlan, validated: bool, why_not: str, required: bool) -> str:
    """Why the source must not be deleted now ("" when it may be).

    ``validated`` is the verdict of the newest validation (``why_not`` describes it);
    ``required`` is whether the run demands one.
    """
    if required and not validated:
        return f"refused: the target is not validated ({why_not})"
    if plan.outside:
        more = ", ..." if len(plan.outside) > 10 else ""
        return (
            f"refused: deleting the registry would also delete {len(plan.outside)} repositories "
            f"that were not migrated ({', '.join(plan.outside[:10])}{more}); migrate them or "
            "delete them first"
        )
    return ""
