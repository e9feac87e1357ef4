"""Validation verdicts and the reports people read."""

from __future__ import annotations

import io

import pandas as pd

from acr_migrate.mediatypes import OCI_MANIFEST
from acr_migrate.models import ImageRow, ImportResult, ImportStatus
from acr_migrate.plan import make_plan
from acr_migrate.ports import TargetState
from acr_migrate.report import RESULT_COLUMNS, import_markdown, result_table, results_csv
from acr_migrate.validate import Check, validate_rows

D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def row(tag: str, digest: str, repo: str = "app") -> ImageRow:
    return ImageRow(
        source_registry="s",
        repository=repo,
        tag=tag,
        digest=digest,
        media_type=OCI_MANIFEST,
        size_bytes=1,
    )


def test_validation_finds_missing_and_mismatched_rows() -> None:
    rows = [row("ok", D1), row("moved", D1), row("gone", D1), row("", D2)]
    target = TargetState(tags={("app", "ok"): D1, ("app", "moved"): D2}, digests={("app", D1)})
    report = validate_rows(rows, target)
    assert [r.check for r in report.rows] == [
        Check.OK,
        Check.MISMATCH,
        Check.MISSING,
        Check.MISSING,
    ]
    assert not report.ok and len(report.problems()) == 3
    assert report.rows[1].found_digest == D2
    target.digests.add(("app", D2))
    target.tags[("app", "moved")] = D1
    target.tags[("app", "gone")] = D1
    assert validate_rows(rows, target).ok


def test_results_csv_and_table_and_markdown() -> None:
    results = [
        ImportResult(
            repository="app",
            digest=D1,
            tags=("1", "latest"),
            status=ImportStatus.IMPORTED,
            attempts=3,
            seconds=2.5,
            bytes_sent=10,
        ),
        ImportResult(
            repository="app",
            digest=D2,
            status=ImportStatus.FAILED,
            error="RegistryHTTPError: PUT /v2/app/manifests/x -> HTTP 403",
        ),
    ]
    frame = pd.read_csv(io.BytesIO(results_csv(results)), keep_default_na=False)
    assert tuple(frame.columns) == RESULT_COLUMNS
    assert frame.loc[0, "tags"] == "1;latest" and frame.loc[1, "status"] == "failed"
    table = result_table(results)
    assert table[0]["image"] == "app:1" and table[1]["image"] == "app@222222222222"
    plan = make_plan([row("1", D1), row("latest", D1), row("", D2)], TargetState())
    text = import_markdown(plan, results, None, manifest_url="c/m.csv", dry_run=False)
    assert "| import | 2 | 3 |" in text
    assert "## Failed" in text and "`app@222222222222`: RegistryHTTPError" in text
    assert "| `app:1` | 2.50 | 3 |" in text


# ---------------------------------------------------------------------------------- drift

D3 = "sha256:" + "3" * 64


def test_drift_is_classified_per_row_and_never_a_failure() -> None:
    from acr_migrate.filters import ImageFilter
    from acr_migrate.report import VALIDATION_COLUMNS, validation_csv, validation_markdown
    from acr_migrate.storage import ManifestLocation
    from acr_migrate.summaries import ImportSummary
    from acr_migrate.validate import Drift, SourceNow, validation_verdict

    rows = [
        row("same", D1),
        row("moved", D1),
        row("gone", D2),
        row("", D2),  # untagged, still in the source (its tag moved away: no drift)
        row("", D3, repo="lib"),  # untagged, gone from the source
        row("skip", D1, repo="other"),  # excluded by the filter
    ]
    target = TargetState(
        tags={("app", "same"): D1, ("app", "moved"): D1, ("app", "gone"): D2},
        digests={("app", D1), ("app", D2), ("lib", D3)},
    )
    source = TargetState(
        tags={("app", "same"): D1, ("app", "moved"): D3}, digests={("app", D1), ("app", D2)}
    )
    keep = ImageFilter.from_patterns([], ["other"])
    report = validate_rows(rows, target, keep, SourceNow(source))
    assert [r.check for r in report.rows] == [Check.OK] * 5 + [Check.EXCLUDED]
    assert [r.drift for r in report.rows] == [
        Drift.UNCHANGED,
        Drift.MOVED,
        Drift.DELETED,
        Drift.UNCHANGED,
        Drift.DELETED,
        None,
    ]
    assert [r.source_digest for r in report.rows] == [D1, D3, "", D2, "", ""]
    # drift is reported, and the target matching the manifest is still success
    assert report.ok and report.problems() == [] and report.source_checked
    assert report.drift_counts() == {"moved": 1, "deleted": 2}
    assert report.drift_lines() == [
        f"row 2: app:moved: moved in the source (exported {D1}, source now {D3})",
        f"row 3: app:gone: deleted in the source (exported {D2}, source now nothing)",
        f"row 5: lib@{D3}: deleted in the source (exported {D3}, source now nothing)",
    ]

    data = validation_csv(report)
    frame = pd.read_csv(io.BytesIO(data), keep_default_na=False, dtype=str)
    assert tuple(frame.columns) == VALIDATION_COLUMNS
    assert list(frame["drift"]) == ["unchanged", "moved", "deleted", "unchanged", "deleted", ""]
    assert frame.loc[1, "source_digest"] == D3
    verdict = validation_verdict("v.csv", data)
    assert verdict.ok and verdict.drift == {"moved": 1, "deleted": 2}
    assert "drift in the source: moved: 1, deleted: 2" in verdict.describe()

    text = validation_markdown(report, target="t", manifest="m", url="u")
    assert "### Drift in the source since the export (moved: 1, deleted: 2)" in text
    assert f"| `app:moved` | moved | `{D1}` | `{D3}` |" in text
    assert f"| `app:gone` | deleted | `{D2}` | `nothing` |" in text

    plan = make_plan(rows, target, keep)
    summary = ImportSummary.of(
        ManifestLocation(container="c", blob="s/1/manifest.csv"),
        plan,
        [],
        report,
        results_url="",
        dry_run=False,
    )
    assert summary.ok and summary.drift == {"moved": 1, "deleted": 2}
    assert "drift (not failures): moved 1, deleted 2" in summary.message()
    assert summary.drift_lines[0].startswith("row 2: app:moved: moved in the source")

    # a target that lacks a drifted row still fails, for the target, with the drift listed
    del target.tags[("app", "moved")]
    failing = validate_rows(rows, target, keep, SourceNow(source))
    assert not failing.ok and [r.ref for r in failing.problems()] == ["app:moved"]
    assert failing.drift_counts() == {"moved": 1, "deleted": 2}


def test_a_source_that_cannot_be_read_is_not_checked_not_failed() -> None:
    from acr_migrate.report import validation_csv, validation_markdown
    from acr_migrate.validate import Drift, SourceNow, validation_verdict

    rows = [row("a", D1), row("", D2)]
    target = TargetState(tags={("app", "a"): D1}, digests={("app", D1), ("app", D2)})
    report = validate_rows(rows, target, source=SourceNow.unread("src could not be read: gone"))
    assert report.ok and not report.source_checked
    assert {r.drift for r in report.rows} == {Drift.NOT_CHECKED}
    assert report.drift_counts() == {"moved": 0, "deleted": 0} and report.drifted() == []
    assert report.drift_text() == "source not checked for drift: src could not be read: gone"
    text = validation_markdown(report, target="t", manifest="m", url="u")
    assert "Drift: source not checked (src could not be read: gone)." in text
    verdict = validation_verdict("v.csv", validation_csv(report))
    assert verdict.ok and verdict.drift == {"moved": 0, "deleted": 0}
    # without a source at all, the same (never "unchanged" by default)
    assert {r.drift for r in validate_rows(rows, target).rows} == {Drift.NOT_CHECKED}
