"""Validation: does the target hold every manifest row with the same digest?

Referrer rows (signatures, SBOMs, attestations) are checked like images, whatever filters say
of their own tag: they are in scope when the image they travel with is. A missing one is named
with that image (``referrer of app:v1``) and listed per image."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable
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


class ValidationReport(BaseModel):
    """Every row checked; ``ok`` when nothing is missing or different."""

    rows: list[ValidationRow]
    url: str = Field(default="", description="Where the report's CSV was written, if it was")

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


def validate_rows(
    rows: Iterable[ImageRow], target: TargetState, image_filter: ImageFilter | None = None
) -> ValidationReport:
    """Compare each row's digest with what the target's tag (or digest) resolves to."""
    image_filter = image_filter or ImageFilter()
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
            )
        )
    return ValidationReport(rows=checked)


class ValidationVerdict(BaseModel):
    """The newest validation report next to a manifest, summed up (for the cutover)."""

    blob: str = ""
    counts: dict[str, int] = Field(default_factory=dict)

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
        return f"{self.blob}: {counts}"


def validation_verdict(blob: str, data: bytes) -> ValidationVerdict:
    """Sum up a ``validation-<run>.csv`` (columns ``..., check``)."""
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
    if "check" not in (reader.fieldnames or []):
        raise ConfigError(f"{blob}: not a validation report (no 'check' column)")
    counts = Counter(row["check"] for row in reader)
    return ValidationVerdict(blob=blob, counts=dict(counts.most_common()))
