"""The plan: the manifest against what the target already holds.

Rows are grouped per (repository, digest): one import per unique manifest, carrying every
tag it should have. Per tag: already there with that digest -> skip; missing -> import; there
with another digest -> conflict (joins the import only with ``force``). Filters exclude rows.

A referrer row (signature, SBOM, attestation: it names a ``subject``) is no image of its own:
it travels with the image at the end of its chain, whatever the filters say of its own tag, and
is excluded only with that image. An image whose tags are all there but some of whose referrers
are not gets an import of those referrers only.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from acr_migrate.filters import ImageFilter
from acr_migrate.models import Action, ImageRow, ImportItem, PlanItem, Referrer
from acr_migrate.ports import TargetState
from acr_migrate.references import short_digest
from acr_migrate.referrers import attach


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

    def referrer_counts(self) -> dict[str, int]:
        """Referrers per action, counted with the images they travel with."""
        found: Counter[str] = Counter()
        for p in self.items:
            found[p.action.value] += len(p.item.referrers)
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
    rows = list(rows)
    attached = attach(rows)
    kept = {
        (r.repository, r.digest)
        for r in rows
        if attached.root_of(r) is None and image_filter.reason(r.repository, r.tag) is None
    }
    groups: dict[tuple[str, str], list[ImageRow]] = defaultdict(list)
    plan = Plan()
    for row in rows:
        root = attached.root_of(row)
        if root is not None:  # travels with its image
            if root not in kept:
                plan.items.append(
                    PlanItem(
                        action=Action.EXCLUDED,
                        item=_item(row, (row.tag,) if row.tag else ()),
                        reason=f"referrer of an excluded image ({root[0]}@{short_digest(root[1])})",
                    )
                )
            continue
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
        referrers = attached.referrers.get((repository, digest), ())
        missing = [r for r in referrers if not _present(target, repository, r)]
        plan.items.extend(_decide(group, target, force, referrers, bool(missing)))
    return plan


def _present(target: TargetState, repository: str, referrer: Referrer) -> bool:
    """Whether the target holds a referrer (and every tag it has, e.g. cosign's)."""
    return target.has(repository, referrer.digest) and all(
        target.tags.get((repository, tag)) == referrer.digest for tag in referrer.tags
    )


def _decide(
    group: list[ImageRow],
    target: TargetState,
    force: bool,
    referrers: tuple[Referrer, ...],
    referrers_missing: bool,
) -> list[PlanItem]:
    """The decisions for one unique manifest (its rows ``group``) and its referrers."""
    first = group[0]
    repository, digest = first.repository, first.digest
    tags = [r.tag for r in group if r.tag]
    present = [t for t in tags if target.tags.get((repository, t)) == digest]
    conflicting = {
        t: target.tags[(repository, t)]
        for t in tags
        if (repository, t) in target.tags and target.tags[(repository, t)] != digest
    }
    absent = [t for t in tags if (repository, t) not in target.tags]
    to_import = absent + (list(conflicting) if force else [])
    done = () if referrers_missing else referrers  # a skip carries what is all there
    items: list[PlanItem] = []
    if present:
        items.append(
            PlanItem(
                action=Action.SKIP,
                item=_item(first, tuple(present), done),
                reason="already in the target with this digest",
            )
        )
    if conflicting and not force:
        items.append(
            PlanItem(
                action=Action.CONFLICT,
                item=_item(first, tuple(conflicting)),
                reason="tag exists in the target with another digest",
                target_digests=conflicting,
            )
        )
    if to_import:
        reason = "overwrites tags with another digest (force)" if conflicting and force else ""
        items.append(
            PlanItem(
                action=Action.IMPORT,
                item=_item(first, tuple(to_import), referrers),
                reason=reason,
                target_digests=conflicting if force else {},
            )
        )
    elif not tags:
        there = target.has(repository, digest)
        if there:
            items.append(
                PlanItem(
                    action=Action.SKIP,
                    item=_item(first, (), done),
                    reason="untagged manifest already in the target",
                )
            )
        if not there or referrers_missing:
            reason = "" if not there else "its referrers are missing in the target"
            items.append(
                PlanItem(action=Action.IMPORT, item=_item(first, (), referrers), reason=reason)
            )
    elif present and referrers_missing:
        items.append(
            PlanItem(
                action=Action.IMPORT,
                item=_item(first, (), referrers),
                reason="its referrers are missing in the target",
            )
        )
    return items


def _item(row: ImageRow, tags: tuple[str, ...], referrers: tuple[Referrer, ...] = ()) -> ImportItem:
    return ImportItem(
        repository=row.repository,
        digest=row.digest,
        tags=tags,
        media_type=row.media_type,
        size_bytes=row.size_bytes,
        platforms=len([p for p in row.platforms.split(";") if p]),
        referrers=referrers,
    )
