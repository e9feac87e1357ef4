"""Freezing the source: no push (and optionally no delete) lands while the migration runs.

The locks each repository had before are recorded first, in one blob per source registry
(``<source>/freeze.json``), and unfreezing restores exactly those, repositories that were
locked before included. Freezing again keeps the first recorded values, so a second freeze
never makes "frozen" the state to restore.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from acr_migrate.storage import safe_name

SCHEMA = "acr-migrate/freeze/v1"


class RepositoryLocks(BaseModel):
    """The write and delete locks of one repository (``changeableAttributes``)."""

    model_config = ConfigDict(frozen=True)

    repository: str
    write_enabled: bool = True
    delete_enabled: bool = True


class FreezeOptions(BaseModel):
    """What to freeze (shown as a form in the Prefect UI)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    include: list[str] = Field(
        default_factory=list, description="Only these repositories (globs or /regex/); all if empty"
    )
    exclude: list[str] = Field(default_factory=list, description="Leave these repositories alone")
    delete_too: bool = Field(
        default=False, description="Also forbid deletes (deleteEnabled=false), not only pushes"
    )
    dry_run: bool = Field(default=False, description="Show what would be frozen; change nothing")


class FreezeRecord(BaseModel):
    """The locks before the freeze, and whether they were given back."""

    schema_: str = Field(default=SCHEMA, alias="schema")
    registry: str = Field(description="Login server of the frozen registry")
    frozen_at: str
    restored_at: str | None = None
    previous: list[RepositoryLocks] = Field(default_factory=list)

    model_config = ConfigDict(populate_by_name=True)

    @property
    def active(self) -> bool:
        return self.restored_at is None


def record_blob(source_name: str) -> str:
    """Where the freeze record of a source registry lives in the container."""
    return f"{safe_name(source_name)}/freeze.json"


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def frozen(locks: RepositoryLocks, delete_too: bool) -> RepositoryLocks:
    """The locks of a frozen repository (deletes stay as they were unless ``delete_too``)."""
    return locks.model_copy(
        update={"write_enabled": False, "delete_enabled": locks.delete_enabled and not delete_too}
    )


def merged_record(
    earlier: FreezeRecord | None, registry: str, current: list[RepositoryLocks]
) -> FreezeRecord:
    """The record to keep before freezing ``current``: an active earlier record's values win
    (they are the ones from before any freeze); new repositories add theirs."""
    kept = {r.repository: r for r in earlier.previous} if earlier and earlier.active else {}
    for locks in current:
        kept.setdefault(locks.repository, locks)
    return FreezeRecord(
        registry=registry,
        frozen_at=earlier.frozen_at if earlier and earlier.active else now(),
        previous=[kept[name] for name in sorted(kept)],
    )


def freeze_markdown(
    registry: str, changes: list[tuple[RepositoryLocks, RepositoryLocks]], verb: str, dry_run: bool
) -> str:
    """What the freeze (or unfreeze) changes, repository by repository."""
    changed = [(a, b) for a, b in changes if a != b]
    head = "Would " + verb.lower() if dry_run else verb
    lines = [
        f"# {head} `{registry}`",
        "",
        f"{len(changed)} of {len(changes)} repositories change "
        f"({len(changes) - len(changed)} already as wanted).",
        "",
        "| repository | write | delete |",
        "|---|---|---|",
    ]

    def flag(before: bool, after: bool) -> str:
        word = {True: "enabled", False: "disabled"}
        return word[after] if before == after else f"{word[before]} -> **{word[after]}**"

    for before, after in changes[:200]:
        lines.append(
            f"| `{before.repository}` | {flag(before.write_enabled, after.write_enabled)} "
            f"| {flag(before.delete_enabled, after.delete_enabled)} |"
        )
    if len(changes) > 200:
        lines.append(f"| ... {len(changes) - 200} more | | |")
    return "\n".join(lines) + "\n"
