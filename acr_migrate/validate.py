"""Validation: does the target hold every manifest row with the same digest?

Referrer rows (signatures, SBOMs, attestations) are checked like images, whatever filters say
of their own tag: they are in scope when the image they travel with is. A missing one is named
with that image (``referrer of app:v1``) and listed per image.

Drift, apart from that: where the source can be read, each row is also compared with what the
source holds *now*. A tag that moved (pushed again) or is gone from the source since the
export, or an untagged manifest gone from it, is drift: reported with the exported digest and
the source's current one, never a failure (the target matching the manifest is success; the
manifest is what was exported, and the import always lands its digests)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, Field

from acr_migrate.filters import ImageFilter
from acr_migrate.models import ConfigError, ImageRow
from acr_migrate.ports import TargetState
from acr_migrate.referrers import attach


class Check(StrEnum):
    """Outcome of checking one manifest row in the target."""

    OK = "ok"
    MISSING = "missing"
    MISMATCH = "mismatch"
    EXCLUDED = "excluded"


class Drift(StrEnum):
    """How the source differs now from a manifest row (the ``drift`` column)."""

    UNCHANGED = "unchanged"  # the tag (or untagged digest) is in the source as exported
    MOVED = "moved"  # the tag now points at another digest in the source
    DELETED = "deleted"  # the tag, the untagged digest or its repository is gone from the source
    NOT_CHECKED = "not-checked"  # the source could not be read (or the check is off)


#: The drift values that mean the source changed since the export.
DRIFTED = (Drift.MOVED, Drift.DELETED)


@dataclass
class SourceNow:
    """What the source holds now of the manifest's rows (``state``), or why it could not be
    read (``note``, and no state)."""

    state: TargetState | None = None
    note: str = ""

    @classmethod
    def unread(cls, note: str) -> SourceNow:
        return cls(None, note)


class ValidationRow(BaseModel):
    """One manifest row checked against the target."""

    row: int = Field(default=0, description="1-based row of the manifest (the header is not one)")
    repository: str
    tag: str
    expected_digest: str
    found_digest: str
    check: Check
    subject: str = Field(default="", description="A referrer's: the digest it refers to")
    image: str = Field(
        default="", description="A referrer's: the image it travels with (``repo:tag``)"
    )
    source_digest: str = Field(
        default="",
        description="What the row's tag (or untagged digest) resolves to in the source now "
        "(empty: gone, or the source was not read)",
    )
    drift: Drift | None = Field(
        default=None, description="The source now against the manifest (None: excluded row)"
    )

    @property
    def ref(self) -> str:
        return (
            f"{self.repository}:{self.tag}"
            if self.tag
            else f"{self.repository}@{self.expected_digest}"
        )

    def describe(self) -> str:
        """``row 7: app/web:1.0: mismatch (expected sha256:..., found sha256:...)``."""
        found = self.found_digest or "nothing"
        expected = self.expected_digest
        of = f"referrer of {self.image}; " if self.image else ""
        return (
            f"row {self.row}: {self.ref}: {self.check.value} "
            f"({of}expected {expected}, found {found})"
        )

    def describe_drift(self) -> str:
        """``row 3: app:v1: moved in the source (exported sha256:..., source now sha256:...)``."""
        now = self.source_digest or "nothing"
        of = f"referrer of {self.image}; " if self.image else ""
        state = self.drift.value if self.drift else "unknown"
        return (
            f"row {self.row}: {self.ref}: {state} in the source "
            f"({of}exported {self.expected_digest}, source now {now})"
        )


class ValidationReport(BaseModel):
    """Every row checked; ``ok`` when nothing is missing or different."""

    rows: list[ValidationRow]
    url: str = Field(default="", description="Where the report's CSV was written, if it was")
    source_note: str = Field(
        default="", description="Why the source was not checked for drift (empty: it was)"
    )

    def counts(self) -> dict[str, int]:
        found = Counter(r.check.value for r in self.rows)
        return {c.value: found.get(c.value, 0) for c in Check}

    @property
    def ok(self) -> bool:
        counts = self.counts()
        return counts[Check.MISSING] == 0 and counts[Check.MISMATCH] == 0

    def problems(self) -> list[ValidationRow]:
        return [r for r in self.rows if r.check in (Check.MISSING, Check.MISMATCH)]

    def missing_referrers(self) -> dict[str, list[ValidationRow]]:
        """Image (``repo:tag``) -> its referrers that are missing or different in the target."""
        found: dict[str, list[ValidationRow]] = {}
        for row in self.problems():
            if row.image:
                found.setdefault(row.image, []).append(row)
        return found

    def problem_lines(self, limit: int = 20) -> list[str]:
        """One line per missing or different row, naming the manifest row and the image."""
        return [r.describe() for r in self.problems()[:limit]]

    @property
    def source_checked(self) -> bool:
        return not self.source_note

    def drift_counts(self) -> dict[str, int]:
        """Rows whose tag moved or is gone in the source since the export (not failures)."""
        found = Counter(r.drift for r in self.rows if r.drift is not None)
        return {d.value: found.get(d, 0) for d in DRIFTED}

    def drifted(self) -> list[ValidationRow]:
        return [r for r in self.rows if r.drift in DRIFTED]

    def drift_lines(self, limit: int = 20) -> list[str]:
        """One line per drifted row: ``repo:tag``, the exported and the source's digest."""
        return [r.describe_drift() for r in self.drifted()[:limit]]

    def drift_text(self) -> str:
        """``drift: moved 1, deleted 0`` or ``source not checked for drift: <why>``."""
        if not self.source_checked:
            return f"source not checked for drift: {self.source_note}"
        return "drift: " + ", ".join(f"{k} {v}" for k, v in self.drift_counts().items())


def drift_of(row: ImageRow, source: TargetState) -> tuple[Drift, str]:
    """The source now against one row, and the digest the source gives for it: a tag moved
    or gone; an untagged row drifts only when its digest is gone."""
    if row.tag:
        now = source.tags.get((row.repository, row.tag), "")
        if not now:
            return Drift.DELETED, ""
        return (Drift.UNCHANGED if now == row.digest else Drift.MOVED), now
    if source.has(row.repository, row.digest):
        return Drift.UNCHANGED, row.digest
    return Drift.DELETED, ""


def validate_rows(
    rows: Iterable[ImageRow],
    target: TargetState,
    image_filter: ImageFilter | None = None,
    source: SourceNow | None = None,
) -> ValidationReport:
    """Compare each row's digest with what the target's tag (or digest) resolves to, and
    (with ``source``'s state) with what the source holds now."""
    image_filter = image_filter or ImageFilter()
    source = source or SourceNow.unread("the source was not read")
    rows = list(rows)
    attached = attach(rows)
    kept: set[tuple[str, str]] = set()
    names: dict[tuple[str, str], str] = {}
    for row in rows:
        key = (row.repository, row.digest)
        if attached.root_of(row) is None:
            if row.tag:
                names.setdefault(key, f"{row.repository}:{row.tag}")
            if image_filter.reason(row.repository, row.tag) is None:
                kept.add(key)
    checked: list[ValidationRow] = []
    for number, row in enumerate(rows, 1):
        root = attached.root_of(row)
        image = ""
        if root is not None:
            image = names.get(root, f"{root[0]}@{root[1]}")
            out = root not in kept
        else:
            out = image_filter.reason(row.repository, row.tag) is not None
        if out:
            check, found = Check.EXCLUDED, ""
        elif row.tag:
            found = target.tags.get((row.repository, row.tag), "")
            check = Check.OK if found == row.digest else Check.MISMATCH if found else Check.MISSING
        else:
            present = target.has(row.repository, row.digest)
            found = row.digest if present else ""
            check = Check.OK if present else Check.MISSING
        drift: Drift | None = None
        source_digest = ""
        if out:
            pass
        elif source.state is None:
            drift = Drift.NOT_CHECKED
        else:
            drift, source_digest = drift_of(row, source.state)
        checked.append(
            ValidationRow(
                row=number,
                repository=row.repository,
                tag=row.tag,
                expected_digest=row.digest,
                found_digest=found,
                check=check,
                subject=row.subject,
                image=image,
                source_digest=source_digest,
                drift=drift,
            )
        )
    note = "" if source.state is not None else (source.note or "the source was not read")
    return ValidationReport(rows=checked, source_note=note)


class ValidationVerdict(BaseModel):
    """The newest validation report next to a manifest, summed up (for the cutover)."""

    blob: str = ""
    counts: dict[str, int] = Field(default_factory=dict)
    drift: dict[str, int] = Field(
        default_factory=dict, description="Drifted rows (``moved``, ``deleted``): not failures"
    )

    @property
    def ok(self) -> bool:
        return (
            bool(self.blob)
            and self.counts.get("ok", 0) > 0
            and self.counts.get("missing", 0) == 0
            and self.counts.get("mismatch", 0) == 0
        )

    def describe(self) -> str:
        if not self.blob:
            return "no validation report next to the manifest (run the import or validate flow)"
        counts = ", ".join(f"{k}: {v}" for k, v in self.counts.items())
        drift = ", ".join(f"{k}: {v}" for k, v in self.drift.items() if v)
        return f"{self.blob}: {counts}" + (f" (drift in the source: {drift})" if drift else "")


def validation_verdict(blob: str, data: bytes) -> ValidationVerdict:
    """Sum up a ``validation-<run>.csv`` (columns ``..., check``; ``drift`` where written)."""
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
    if "check" not in (reader.fieldnames or []):
        raise ConfigError(f"{blob}: not a validation report (no 'check' column)")
    rows = list(reader)
    counts = Counter(row["check"] for row in rows)
    drifted = Counter(row.get("drift") or "" for row in rows)
    drift = {d.value: drifted[d.value] for d in DRIFTED}
    return ValidationVerdict(blob=blob, counts=dict(counts.most_common()), drift=drift)
