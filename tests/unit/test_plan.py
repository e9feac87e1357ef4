"""The plan: import / skip / conflict / excluded, one import per unique manifest."""

from __future__ import annotations

from acr_migrate.filters import ImageFilter
from acr_migrate.mediatypes import OCI_MANIFEST
from acr_migrate.models import Action, ImageRow
from acr_migrate.plan import make_plan
from acr_migrate.ports import TargetState

D1, D2, D3 = ("sha256:" + c * 64 for c in "123")


def row(repo: str, tag: str, digest: str) -> ImageRow:
    return ImageRow(
        source_registry="src",
        repository=repo,
        tag=tag,
        digest=digest,
        media_type=OCI_MANIFEST,
        size_bytes=10,
    )


ROWS = [
    row("app", "1.0", D1),
    row("app", "latest", D1),
    row("app", "2.0", D2),
    row("app", "", D3),
    row("tools/x", "v1", D1),
]


def test_empty_target_imports_one_item_per_unique_manifest_with_all_tags() -> None:
    plan = make_plan(ROWS, TargetState())
    imports = {(i.repository, i.digest): i.tags for i in plan.imports}
    assert imports == {
        ("app", D1): ("1.0", "latest"),
        ("app", D2): ("2.0",),
        ("app", D3): (),
        ("tools/x", D1): ("v1",),
    }
    assert plan.counts() == {"import": 4, "skip": 0, "conflict": 0, "excluded": 0}


def test_same_digest_already_there_is_skipped_and_missing_tags_still_import() -> None:
    target = TargetState(
        tags={("app", "1.0"): D1, ("app", "2.0"): D2},
        digests={("app", D1), ("app", D2), ("app", D3)},
    )
    plan = make_plan(ROWS, target)
    assert [(p.item.digest, p.item.tags) for p in plan.of(Action.SKIP)] == [
        (D1, ("1.0",)),
        (D2, ("2.0",)),
        (D3, ()),
    ]
    assert [(i.repository, i.tags) for i in plan.imports] == [
        ("app", ("latest",)),
        ("tools/x", ("v1",)),
    ]


def test_tag_on_another_digest_is_a_conflict_unless_forced() -> None:
    target = TargetState(tags={("app", "latest"): D2}, digests={("app", D2)})
    plan = make_plan(ROWS, target)
    conflicts = plan.of(Action.CONFLICT)
    assert len(conflicts) == 1
    assert conflicts[0].item.tags == ("latest",)
    assert conflicts[0].target_digests == {"latest": D2}
    d1 = next(i for i in plan.imports if i.repository == "app" and i.digest == D1)
    assert d1.tags == ("1.0",)  # the conflicting tag is not overwritten

    forced = make_plan(ROWS, target, force=True)
    assert not forced.of(Action.CONFLICT)
    d1 = next(i for i in forced.imports if i.repository == "app" and i.digest == D1)
    assert d1.tags == ("1.0", "latest")


def test_filters_exclude_rows() -> None:
    plan = make_plan(ROWS, TargetState(), ImageFilter.from_patterns(["app"], ["*:latest"]))
    excluded = plan.of(Action.EXCLUDED)
    assert {(p.item.repository, p.item.tags) for p in excluded} == {
        ("tools/x", ("v1",)),
        ("app", ("latest",)),
    }
    assert "no include" in next(p.reason for p in excluded if p.item.repository == "tools/x")
    assert "excluded by '*:latest'" in next(
        p.reason for p in excluded if p.item.repository == "app"
    )
    assert plan.tag_counts()["excluded"] == 2
