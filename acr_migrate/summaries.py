"""What each flow returns: a summary a person (and the CLI) reads, with its one-line message."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from acr_migrate.models import ConcurrencyStats, ImageRow, ImportResult, ImportStatus
from acr_migrate.plan import Plan
from acr_migrate.storage import ManifestLocation
from acr_migrate.validate import ValidationReport


def counts_text(counts: dict[str, int]) -> str:
    """``a 1, b 2``."""
    return ", ".join(f"{key} {value}" for key, value in counts.items())


class ExportSummary(BaseModel):
    """What the export produced."""

    source: str
    rows: int
    repositories: int
    manifests: int
    location: ManifestLocation | None
    url: str
    dry_run: bool
    notes: list[str]
    changes: dict[str, int] | None = None
    referrers: int = 0  # manifests that refer to another (signatures, SBOMs, attestations)

    @classmethod
    def of(
        cls,
        source: str,
        rows: Sequence[ImageRow],
        *,
        location: ManifestLocation | None,
        url: str,
        dry_run: bool,
        notes: list[str],
        changes: dict[str, int] | None,
    ) -> ExportSummary:
        return cls(
            source=source,
            rows=len(rows),
            repositories=len({r.repository for r in rows}),
            manifests=len({(r.repository, r.digest) for r in rows}),
            location=location,
            url=url,
            dry_run=dry_run,
            notes=notes,
            changes=changes,
            referrers=len({(r.repository, r.digest) for r in rows if r.subject}),
        )

    def message(self) -> str:
        referrers = f", {self.referrers} of them referrers" if self.referrers else ""
        return (
            f"{self.rows} rows ({self.manifests} manifests{referrers}, {self.repositories} "
            f"repositories) -> {self.url or 'dry run: not written'}"
        )


class ImportSummary(BaseModel):
    """What the import did; ``ok`` is False when any image failed or validation found a gap."""

    manifest: ManifestLocation
    plan: dict[str, int]
    results: dict[str, int]
    validation: dict[str, int]
    failed: list[str]
    problems: list[str] = []
    results_url: str
    validation_url: str
    dry_run: bool
    ok: bool
    referrers: int = 0  # referrers in the target with the images that landed (or would)
    concurrency: ConcurrencyStats | None = None  # images in flight and throttles (not dry run)
    #: Rows whose tag moved or is gone in the source since the export: reported, not failures.
    drift: dict[str, int] = {}
    drift_lines: list[str] = []
    #: Why the source was not checked for drift (empty: it was, or there was no validation).
    source_note: str = ""

    @classmethod
    def of(
        cls,
        manifest: ManifestLocation,
        plan: Plan,
        results: Sequence[ImportResult],
        validation: ValidationReport | None,
        *,
        results_url: str,
        dry_run: bool,
        concurrency: ConcurrencyStats | None = None,
    ) -> ImportSummary:
        failed = [f"{r.label}: {r.error}" for r in results if r.status is ImportStatus.FAILED]
        return cls(
            manifest=manifest,
            plan=plan.counts(),
            results={s.value: sum(r.status is s for r in results) for s in ImportStatus},
            validation=validation.counts() if validation else {},
            failed=failed,
            problems=validation.problem_lines() if validation else [],
            results_url=results_url,
            validation_url=validation.url if validation else "",
            dry_run=dry_run,
            ok=not failed and (validation is None or validation.ok),
            referrers=sum(r.referrers for r in results if r.status is not ImportStatus.FAILED),
            concurrency=concurrency,
            drift=validation.drift_counts() if validation else {},
            drift_lines=validation.drift_lines() if validation else [],
            source_note=validation.source_note if validation else "",
        )

    def drift_text(self) -> str:
        """``drift: moved 1, deleted 1`` (not failures), or why the source was not checked."""
        if self.source_note:
            return f"source not checked for drift: {self.source_note}"
        return f"drift (not failures): {counts_text(self.drift)}" if self.drift else ""

    def message(self) -> str:
        if self.failed:
            return f"{len(self.failed)} image(s) failed: {self.failed[0]}"
        tail = f"; {self.drift_text()}" if self.drift_text() else ""
        if not self.ok:
            count = self.validation.get("missing", 0) + self.validation.get("mismatch", 0)
            first = f": {self.problems[0]}" if self.problems else ""
            return f"validation found {count} problem(s){first}{tail}"
        parts = [f"plan: {counts_text(self.plan)}"]
        if not self.dry_run:
            parts += [f"results: {counts_text(self.results)}"]
            parts += [f"validation: {counts_text(self.validation)}"]
            if self.drift_text():
                parts += [self.drift_text()]
        if self.referrers:
            parts += [f"referrers: {self.referrers}"]
        if self.concurrency and self.concurrency.throttled:
            parts += [self.concurrency.text()]
        return "; ".join(parts)


class CutoverSummary(BaseModel):
    """What the cutover decided and did."""

    source: str
    manifest: ManifestLocation
    validation: str
    plan: dict[str, int]
    approved: bool
    decision: str
    deleted: int = 0
    remaining: dict[str, list[str]] = {}
