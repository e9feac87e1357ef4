"""The import journal's merge: one final status per image of the plan, in manifest order."""

from __future__ import annotations

from acr_migrate.journal import final_results
from acr_migrate.mediatypes import OCI_MANIFEST
from acr_migrate.models import ImageRow, ImportResult, ImportStatus
from acr_migrate.plan import make_plan
from acr_migrate.ports import TargetState

D1, D2, D3, D4 = ("sha256:" + c * 64 for c in "1234")


def row(tag: str, digest: str) -> ImageRow:
    return ImageRow(
        source_registry="src.example",
        repository="app",
        tag=tag,
        digest=digest,
        media_type=OCI_MANIFEST,
        size_bytes=1,
    )


def test_every_planned_image_gets_one_final_status() -> None:
    rows = [row("1", D1), row("2", D2), row("3", D3), row("4", D4)]
    # D1, D2 and D3 are in the target: the dead run landed D1 and D2 (journaled D2 only).
    target = TargetState(
        tags={("app", "1"): D1, ("app", "2"): D2, ("app", "3"): D3},
        digests={("app", D1), ("app", D2), ("app", D3)},
    )
    plan = make_plan(rows, target)
    assert plan.counts()["import"] == 1 and plan.counts()["skip"] == 3
    now = [ImportResult(repository="app", digest=D4, tags=("4",), status=ImportStatus.IMPORTED)]
    earlier = {
        ("app", D2): ImportResult(
            repository="app",
            digest=D2,
            tags=("2",),
            status=ImportStatus.IMPORTED,
            resumed_from="deadbeef",
        )
    }
    merged = final_results(plan, now, earlier)
    assert [(r.digest, r.status, r.resumed_from) for r in merged] == [
        (D1, ImportStatus.SKIPPED, ""),
        (D2, ImportStatus.IMPORTED, "deadbeef"),
        (D3, ImportStatus.SKIPPED, ""),
        (D4, ImportStatus.IMPORTED, ""),
    ]
    assert all(r.attempts == 0 for r in merged if r.status is ImportStatus.SKIPPED)


def test_an_image_imported_now_is_never_reported_twice() -> None:
    rows = [row("1", D1), row("2", D1)]
    plan = make_plan(rows, TargetState(tags={("app", "1"): D1}, digests={("app", D1)}))
    now = [ImportResult(repository="app", digest=D1, tags=("2",), status=ImportStatus.IMPORTED)]
    merged = final_results(plan, now, {})
    assert [(r.digest, r.status) for r in merged] == [(D1, ImportStatus.IMPORTED)]
