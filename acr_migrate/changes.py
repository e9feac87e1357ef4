"""What changed in a registry between two manifests: new, moved and deleted tags.

The nightly export dry-run compares the live inventory with the latest manifest in blob
storage and reports the difference, so an operator sees at a glance whether a new export
(and import) is due.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field

from acr_migrate.models import ImageRow
from acr_migrate.references import short_digest


class TagChange(BaseModel):
    """One tag (or untagged manifest) that differs between two manifests."""

    repository: str
    tag: str
    old_digest: str = ""
    new_digest: str = ""

    @property
    def ref(self) -> str:
        if self.tag:
            return f"{self.repository}:{self.tag}"
        return f"{self.repository}@{short_digest(self.old_digest or self.new_digest)}"


class ManifestChanges(BaseModel):
    """The difference between a previous manifest and the registry now."""

    previous: str = Field(default="", description="Blob of the previous manifest, if any")
    new: list[TagChange] = Field(default_factory=list)
    moved: list[TagChange] = Field(default_factory=list)
    deleted: list[TagChange] = Field(default_factory=list)
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.new or self.moved or self.deleted)

    def counts(self) -> dict[str, int]:
        return {
            "new": len(self.new),
            "moved": len(self.moved),
            "deleted": len(self.deleted),
            "unchanged": self.unchanged,
        }

    def markdown(self, limit: int = 50) -> str:
        """A section for the export report."""
        if not self.previous:
            return (
                "## Changes since the last manifest\n\nNo previous manifest: everything is new.\n"
            )
        lines = [
            "## Changes since the last manifest",
            "",
            f"Previous manifest: `{self.previous}`",
            "",
            "| change | tags |",
            "|---|---:|",
        ]
        lines += [f"| {key} | {value} |" for key, value in self.counts().items()]
        if not self.changed:
            lines += ["", "Nothing changed: the last manifest is current."]
        for title, items in (("New", self.new), ("Moved", self.moved), ("Deleted", self.deleted)):
            if not items:
                continue
            lines += ["", f"### {title} ({len(items)})", ""]
            for change in items[:limit]:
                if title == "Moved":
                    lines.append(
                        f"- `{change.ref}`: {short_digest(change.old_digest)} -> "
                        f"{short_digest(change.new_digest)}"
                    )
                else:
                    digest = change.new_digest or change.old_digest
                    lines.append(f"- `{change.ref}` ({short_digest(digest)})")
            if len(items) > limit:
                lines.append(f"- ... and {len(items) - limit} more")
        return "\n".join(lines) + "\n"


def _keyed(rows: Iterable[ImageRow]) -> dict[tuple[str, str], str]:
    """(repository, tag) -> digest; an untagged manifest is keyed by its digest."""
    return {(r.repository, r.tag or f"@{r.digest}"): r.digest for r in rows}


def diff_manifests(
    previous: Iterable[ImageRow], current: Iterable[ImageRow], *, previous_blob: str = ""
) -> ManifestChanges:
    """New, moved (same tag, another digest) and deleted tags from ``previous`` to ``current``."""
    old, now = _keyed(previous), _keyed(current)
    changes = ManifestChanges(previous=previous_blob)

    def change(key: tuple[str, str], old_digest: str = "", new_digest: str = "") -> TagChange:
        repository, tag = key
        return TagChange(
            repository=repository,
            tag="" if tag.startswith("@") else tag,
            old_digest=old_digest,
            new_digest=new_digest,
        )

    for key in sorted(now):
        if key not in old:
            changes.new.append(change(key, new_digest=now[key]))
        elif old[key] != now[key]:
            changes.moved.append(change(key, old[key], now[key]))
        else:
            changes.unchanged += 1
    for key in sorted(old):
        if key not in now:
            changes.deleted.append(change(key, old_digest=old[key]))
    return changes
