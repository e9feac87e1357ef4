"""Reports of a run: CSV files for the blob container and markdown for people.

Written with the standard library's ``csv`` (the same bytes pandas' ``to_csv`` wrote for these
columns): importing pandas costs 1-2 s of every flow run's start, for a few thousand lines.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Sequence

from acr_migrate.models import Action, ImportResult, ImportStatus
from acr_migrate.plan import Plan
from acr_migrate.references import short_digest
from acr_migrate.validate import ValidationReport

RESULT_COLUMNS = (
    "repository",
    "tags",
    "digest",
    "status",
    "attempts",
    "seconds",
    "bytes_sent",
    "blobs_sent",
    "blobs_skipped",
    "blobs_mounted",
    "error",
)


def _csv(records: list[dict[str, object]], columns: Sequence[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore"
    )
    writer.writeheader()
    writer.writerows(records)  # None is written as an empty cell, as pandas did
    return buffer.getvalue().encode()


def results_csv(results: Iterable[ImportResult]) -> bytes:
    """One line per image: what happened, how long, how many bytes."""
    records: list[dict[str, object]] = [
        {
            "repository": r.repository,
            "tags": ";".join(r.tags),
            "digest": r.digest,
            "status": r.status.value,
            "attempts": r.attempts,
            "seconds": r.seconds,
            "bytes_sent": r.bytes_sent,
            "blobs_sent": r.blobs_sent,
            "blobs_skipped": r.blobs_skipped,
            "blobs_mounted": r.blobs_mounted,
            "error": r.error,
        }
        for r in results
    ]
    return _csv(records, RESULT_COLUMNS)


def validation_csv(report: ValidationReport) -> bytes:
    """One line per manifest row with the digest found in the target."""
    records: list[dict[str, object]] = [r.model_dump(mode="json") for r in report.rows]
    return _csv(records, ("repository", "tag", "expected_digest", "found_digest", "check"))


def result_table(results: Iterable[ImportResult]) -> list[dict[str, object]]:
    """Rows for a Prefect table artifact."""
    return [
        {
            "image": r.label,
            "digest": short_digest(r.digest),
            "status": r.status.value,
            "attempts": r.attempts,
            "seconds": r.seconds,
            "error": r.error,
        }
        for r in results
    ]


def import_markdown(
    plan: Plan,
    results: Sequence[ImportResult],
    validation: ValidationReport | None,
    *,
    manifest_url: str,
    dry_run: bool,
    slowest: int = 5,
) -> str:
    """A summary a person can read at a glance."""
    counts = Counter(r.status.value for r in results)
    lines = [
        f"# Import {'dry run' if dry_run else 'report'}",
        "",
        f"Manifest: `{manifest_url}`",
        "",
        "| plan | images | tags |",
        "|---|---:|---:|",
    ]
    tag_counts = plan.tag_counts()
    for action, number in plan.counts().items():
        lines.append(f"| {action} | {number} | {tag_counts[action]} |")
    if results:
        lines += ["", "| result | images |", "|---|---:|"]
        lines += [f"| {s.value} | {counts.get(s.value, 0)} |" for s in ImportStatus]
    if dry_run and plan.imports:
        lines += ["", f"## Would import ({len(plan.imports)})", ""]
        for item in plan.imports[:50]:
            more = f" (+{len(item.tags) - 1} tags)" if len(item.tags) > 1 else ""
            lines.append(f"- `{item.label}`{more} {short_digest(item.digest)}")
        if len(plan.imports) > 50:
            lines.append(f"- ... and {len(plan.imports) - 50} more")
    failed = [r for r in results if r.status is ImportStatus.FAILED]
    if failed:
        lines += ["", "## Failed", ""]
        lines += [f"- `{r.label}`: {r.error}" for r in failed]
    conflicts = plan.of(Action.CONFLICT)
    if conflicts:
        lines += ["", "## Conflicts (not overwritten; re-run with force to overwrite)", ""]
        for p in conflicts:
            for tag, digest in p.target_digests.items():
                lines.append(
                    f"- `{p.item.repository}:{tag}`: source {short_digest(p.item.digest)}, "
                    f"target {short_digest(digest)}"
                )
    done = sorted(
        (r for r in results if r.status is ImportStatus.IMPORTED),
        key=lambda r: r.seconds,
        reverse=True,
    )[:slowest]
    if done:
        lines += ["", "## Slowest images", "", "| image | seconds | attempts |", "|---|---:|---:|"]
        lines += [f"| `{r.label}` | {r.seconds:.2f} | {r.attempts} |" for r in done]
    if validation is not None:
        vc = validation.counts()
        verdict = "all digests match" if validation.ok else "PROBLEMS FOUND"
        lines += ["", f"## Validation: {verdict}", ""]
        lines += [", ".join(f"{k}: {v}" for k, v in vc.items())]
        for row in validation.problems()[:50]:
            ref = (
                f"{row.repository}:{row.tag}"
                if row.tag
                else f"{row.repository}@{row.expected_digest}"
            )
            lines.append(f"- `{ref}`: {row.check.value} (found {row.found_digest or 'nothing'})")
    return "\n".join(lines) + "\n"
