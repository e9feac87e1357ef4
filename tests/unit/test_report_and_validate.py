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
