"""The plan: the manifest against what the target already holds.

Rows are grouped per (repository, digest): one import per unique manifest, carrying every
tag it should have. Per tag: already there with that digest -> skip; missing -> import; there
with another digest -> conflict (joins the import only with ``force``). Filters exclude rows.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from acr_migrate.filters import ImageFilter
from acr_migrate.models import Action, ImageRow, ImportItem, PlanItem
from acr_migrate.ports import TargetState


@dataclass
class Plan:
    """Every decision, in manifest order."""

    items: list[PlanItem] = field(default_factory=list)

    def of(self, action: Action) -> list[PlanItem]:
        return [p for p in self.items if p.action is action]

    @property
    def imports(self) -> list[ImportItem]:
        return [p.item for p in self.of(Action.IMPORT)]

    def counts(self) -> dict[str, int]:
        """Images (unique manifests) per action."""
        found = Counter(p.action.value for p in self.items)
        return {a.value: found.get(a.value, 0) for a in Action}

    def tag_counts(self) -> dict[str, int]:
        """Tags per action (an untagged manifest counts as one)."""
        found: Counter[str] = Counter()
        for p in self.items:
            found[p.action.value] += max(1, len(p.item.tags))
        return {a.value: found.get(a.value, 0) for a in Action}


def make_plan(
    rows: Iterable[ImageRow],
    target: TargetState,
    image_filter: ImageFilter | None = None,
    *,
    force: bool = False,
) -> Plan:
    """Decide import / skip / conflict / excluded for every manifest row."""
    image_filter = image_filter or ImageFilter()
    groups: dict[tuple[str, str], list[ImageRow]] = defaultdict(list)
    plan = Plan()
    for row in rows:
        reason = image_filter.reason(row.repository, row.tag)
        if reason is not None:
            plan.items.append(
                PlanItem(
                    action=Action.EXCLUDED,
                    item=_item(row, (row.tag,) if row.tag else ()),
                    reason=reason,
                )
            )
            continue
        groups[(row.repository, row.digest)].append(row)

    for (repository, digest), group in groups.items():
        first = group[0]
        tags = [r.tag for r in group if r.tag]
        present = [t for t in tags if target.tags.get((repository, t)) == digest]
        conflicting = {
            t: target.tags[(repository, t)]
            for t in tags
            if (repository, t) in target.tags and target.tags[(repository, t)] != digest
        }
        missing = [t for t in tags if (repository, t) not in target.tags]
        to_import = missing + (list(conflicting) if force else [])
        if present:
            plan.items.append(
                PlanItem(
                    action=Action.SKIP,
                    item=_item(first, tuple(present)),
                    reason="already in the target with this digest",
                )
            )
        if conflicting and not force:
            plan.items.append(
                PlanItem(
                    action=Action.CONFLICT,
                    item=_item(first, tuple(conflicting)),
                    reason="tag exists in the target with another digest",
                    target_digests=conflicting,
                )
            )
        if to_import:
            reason = "overwrites tags with another digest (force)" if conflicting and force else ""
            plan.items.append(
                PlanItem(
                    action=Action.IMPORT,
                    item=_item(first, tuple(to_import)),
                    reason=reason,
                    target_digests=conflicting if force else {},
                )
            )
        elif not tags:
            if target.has(repository, digest):
                plan.items.append(
                    PlanItem(
                        action=Action.SKIP,
                        item=_item(first, ()),
                        reason="untagged manifest already in the target",
                    )
                )
            else:
                plan.items.append(PlanItem(action=Action.IMPORT, item=_item(first, ())))
    return plan


def _item(row: ImageRow, tags: tuple[str, ...]) -> ImportItem:
    return ImportItem(
        repository=row.repository,
        digest=row.digest,
        tags=tags,
        media_type=row.media_type,
        size_bytes=row.size_bytes,
        platforms=len([p for p in row.platforms.split(";") if p]),
    )
