"""Reports of a run: CSV files for the blob container and markdown for people.

Written with the standard library's ``csv`` (the same bytes pandas' ``to_csv`` wrote for these
columns): importing pandas costs 1-2 s of every flow run's start, for a few thousand lines.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from acr_migrate.changes import ManifestChanges
from acr_migrate.deletion import METHOD_ARM, DeletionPlan
from acr_migrate.models import Action, ConcurrencyStats, ImportResult, ImportStatus, PlanItem
from acr_migrate.plan import Plan
from acr_migrate.references import short_digest
from acr_migrate.summaries import ExportSummary
from acr_migrate.validate import ValidationReport

if TYPE_CHECKING:  # the Azure SDK loads only where a registry is provisioned
    from acr_migrate.azure.provision import ProvisionReport

#: ``validation-<run>.csv``: one line per manifest row. ``check`` is the verdict on the target
#: (``ok``/``missing``/``mismatch``/``excluded``); ``source_digest`` and ``drift``
#: (``unchanged``/``moved``/``deleted``/``not-checked``, empty for an excluded row) compare the
#: source now with the manifest and are never a failure.
VALIDATION_COLUMNS = (
    "row",
    "repository",
    "tag",
    "expected_digest",
    "found_digest",
    "check",
    "subject",
    "source_digest",
    "drift",
)

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
    "resumed_from",
    "referrers",
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
            "resumed_from": r.resumed_from,
            "referrers": r.referrers,
        }
        for r in results
    ]
    return _csv(records, RESULT_COLUMNS)


def validation_csv(report: ValidationReport) -> bytes:
    """One line per manifest row with the digest found in the target (and in the source now)."""
    records: list[dict[str, object]] = [r.model_dump(mode="json") for r in report.rows]
    return _csv(records, VALIDATION_COLUMNS)


def result_table(results: Iterable[ImportResult]) -> list[dict[str, object]]:
    """Rows for a Prefect table artifact."""
    return [
        {
            "image": r.label,
            "digest": short_digest(r.digest),
            "status": r.status.value,
            "attempts": r.attempts,
            "seconds": r.seconds,
            "referrers": r.referrers,
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
    concurrency: ConcurrencyStats | None = None,
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
    if concurrency:
        lines += [
            "",
            f"Images in flight: {concurrency.current} at the end, {concurrency.peak} at most, "
            f"ceiling {concurrency.ceiling} ({'adaptive' if concurrency.adaptive else 'fixed'}); "
            f"throttled attempts (429/503): {concurrency.throttled}, window cut "
            f"{concurrency.cuts} time(s).",
        ]
    lines += referrer_lines(plan, results, dry_run)
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
        verdict = "all digests match" if validation.ok else "PROBLEMS FOUND"
        lines += ["", f"## Validation: {verdict}", ""]
        lines += validation_lines(validation, limit=50)
    return "\n".join(lines) + "\n"


def referrer_lines(
    plan: Plan, results: Sequence[ImportResult], dry_run: bool, limit: int = 50
) -> list[str]:
    """Signatures, SBOMs and attestations: how many travel with the images, and per image."""
    planned = plan.referrer_counts()
    if not any(planned.values()):
        return []
    lines = ["", "## Referrers (signatures, SBOMs, attestations)", ""]
    lines.append(
        "Each travels with its image (in its task run): "
        + ", ".join(f"{action} {n}" for action, n in planned.items() if n)
        + "."
    )
    with_referrers = [r for r in results if r.referrers]
    if with_referrers and not dry_run:
        landed = [r for r in with_referrers if r.status is not ImportStatus.FAILED]
        lines += [
            "",
            f"In the target with their images: {sum(r.referrers for r in landed)} referrers "
            f"of {len(landed)} images.",
            "",
            "| image | referrers | status |",
            "|---|---:|---|",
        ]
        lines += [
            f"| `{r.label}` | {r.referrers} | {r.status.value} |" for r in with_referrers[:limit]
        ]
        if len(with_referrers) > limit:
            lines.append(f"| ... {len(with_referrers) - limit} more | | |")
    return lines


def validation_lines(report: ValidationReport, *, limit: int) -> list[str]:
    """The counts, then one line per missing or different row (at most ``limit``)."""
    lines = [", ".join(f"{k}: {v}" for k, v in report.counts().items())]
    for row in report.problems()[:limit]:
        found = row.found_digest or "nothing"
        of = f"referrer of `{row.image}`, " if row.image else ""
        lines.append(f"- row {row.row} `{row.ref}`: {row.check.value} ({of}found {found})")
    missing = report.missing_referrers()
    if missing:
        lines += ["", "Referrers missing in the target, per image:", ""]
        for image, rows in list(missing.items())[:limit]:
            digests = ", ".join(f"`{short_digest(r.expected_digest)}`" for r in rows)
            lines.append(f"- `{image}`: {len(rows)} ({digests})")
    return lines + drift_lines(report, limit=limit)


def drift_lines(report: ValidationReport, *, limit: int) -> list[str]:
    """Drift: tags moved or deleted in the source since the export (not failures), with the
    exported and the current digest; or why the source was not checked."""
    if not report.source_checked:
        return ["", f"Drift: source not checked ({report.source_note})."]
    drifted = report.drifted()
    counts = ", ".join(f"{k}: {v}" for k, v in report.drift_counts().items())
    lines = [
        "",
        f"### Drift in the source since the export ({counts})",
        "",
    ]
    if not drifted:
        return [*lines, "None: every checked tag is in the source as exported."]
    lines += [
        "Not failures: the target holds what was exported. These tags changed in the source "
        "afterwards; export and import again to bring them over.",
        "",
        "| image | drift | exported | source now |",
        "|---|---|---|---|",
    ]
    for row in drifted[:limit]:
        now = row.source_digest or "nothing"
        state = row.drift.value if row.drift else ""
        lines.append(f"| `{row.ref}` | {state} | `{row.expected_digest}` | `{now}` |")
    if len(drifted) > limit:
        lines.append(f"| ... {len(drifted) - limit} more | | | |")
    return lines


def validation_markdown(report: ValidationReport, *, target: str, manifest: str, url: str) -> str:
    """The validate flow's artifact."""
    lines = [f"# Validation of `{target}`", "", f"Manifest: `{manifest}`; report: {url}", ""]
    lines += validation_lines(report, limit=100)
    return "\n".join(lines) + "\n"


def force_markdown(target: str, overwrites: Sequence[PlanItem], limit: int = 50) -> str:
    """The approval form's text before overwriting target tags that hold another digest."""
    tags = [(p.item, tag, digest) for p in overwrites for tag, digest in p.target_digests.items()]
    lines = [
        f"# Overwrite {len(tags)} tag(s) in `{target}`?",
        "",
        "`force` is set and these tags of the target hold another digest. Approve to make them "
        "point at the source's digest; refuse (or let the time run out) to import everything "
        "else and leave them as they are.",
        "",
        "| tag | target now | source |",
        "|---|---|---|",
    ]
    for item, tag, digest in tags[:limit]:
        lines.append(
            f"| `{item.repository}:{tag}` | {short_digest(digest)} | {short_digest(item.digest)} |"
        )
    if len(tags) > limit:
        lines.append(f"| ... {len(tags) - limit} more | | |")
    return "\n".join(lines) + "\n"


def export_markdown(summary: ExportSummary, changes: ManifestChanges | None) -> str:
    """The export's report (or dry-run report), with the changes since the last manifest."""
    lines = [
        f"# Export {'dry run' if summary.dry_run else 'report'}: `{summary.source}`",
        "",
        f"- repositories: {summary.repositories}",
        f"- rows (tags and untagged manifests): {summary.rows}",
        f"- unique manifests: {summary.manifests}",
        f"- of them referrers (signatures, SBOMs, attestations; what each refers to is in "
        f"the `subject` column): {summary.referrers}",
        f"- manifest: {summary.url or '(dry run: not written)'}",
    ]
    if summary.notes:
        lines += ["", "## What this inventory cannot see", ""]
        lines += [f"- {note}" for note in summary.notes]
    text = "\n".join(lines) + "\n"
    return text + ("\n" + changes.markdown() if changes else "")


def provision_markdown(report: ProvisionReport, diffs: Sequence[str]) -> str:
    """What provisioning created, what differs after it, and what the operator must do."""
    head = "Provisioning plan (dry run)" if report.dry_run else "Provisioning"
    state = "already existed" if report.existed else ("created" if report.created else "to create")
    lines = [f"# {head}: `{report.registry}`", "", f"- registry: {state}"]
    lines += [f"- created: `{c}`" for c in report.children_created]
    lines += [f"- already there: `{c}`" for c in report.children_existing]
    if diffs:
        lines += ["", "## Differences after provisioning", ""] + [f"- {d}" for d in diffs]
    if report.gaps:
        lines += ["", "## Not mirrored: what you must do", "", "| what | why | action |"]
        lines += ["|---|---|---|"]
        lines += [f"| {g.what} | {g.why} | {g.action} |" for g in report.gaps]
    return "\n".join(lines) + "\n"


def cutover_markdown(plan_text: str, manifest: str, validation: str, excluded: int) -> str:
    """The deletion plan with the manifest and validation it rests on (approval form, plan)."""
    text = plan_text + f"\nManifest: `{manifest}`\n\nValidation: {validation}\n"
    if excluded:
        text += (
            f"\n**{excluded} manifest row(s) were excluded from the migration by filters and "
            "will be lost.**\n"
        )
    return text


def deleted_markdown(
    method: str, deleted: int, already_gone: int, remaining: dict[str, list[str]]
) -> str:
    """What the delete did, and what is still there."""
    lines = [
        "",
        "## Deleted",
        "",
        f"- method: {method}",
        f"- manifests deleted: {deleted} (already gone: {already_gone})",
    ]
    if remaining:
        lines += ["", "## Still there (not deleted)", ""]
        lines += [f"- `{repo}`: {', '.join(tags)}" for repo, tags in remaining.items()]
    return "\n".join(lines) + "\n"


def deletion_markdown(plan: DeletionPlan, limit: int = 50) -> str:
    """What deleting the source will do, for the approval form and the plan artifact."""
    counts = plan.counts()
    what = (
        f"the whole registry `{plan.source}` (ARM delete) with"
        if plan.method == METHOD_ARM
        else f"every manifest of these repositories of `{plan.source}`:"
    )
    lines = [
        f"# Delete the source `{plan.name}`",
        "",
        f"This deletes {what} {counts['repositories']} repositories, "
        f"{counts['manifests']} manifests, {counts['tags']} tags. It cannot be undone.",
        "",
        "| repository | tags | manifests |",
        "|---|---:|---:|",
    ]
    for repo in plan.repositories[:limit]:
        lines.append(f"| `{repo.repository}` | {len(repo.tags)} | {len(repo.digests)} |")
    if len(plan.repositories) > limit:
        lines.append(f"| ... {len(plan.repositories) - limit} more | | |")
    if plan.outside:
        lines += [
            "",
            f"**{len(plan.outside)} of these repositories were not migrated** "
            "(not in the manifest, or filtered out): "
            + ", ".join(f"`{r}`" for r in plan.outside[:limit]),
        ]
    return "\n".join(lines) + "\n"
