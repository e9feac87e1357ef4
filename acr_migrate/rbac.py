"""Role assignments reconnected on the new registry: the documented registry-scope assignments
of the source, a principal mapping (source object id -> target object id, or ``drop``), and the
plan of what to create. Unmapped principals are listed, never guessed.

The mapping is a CSV with the header ``source_principal_id,target_principal_id``; a target of
``drop`` means "this principal gets nothing in the target tenant".
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from acr_migrate.models import ConfigError

MAPPING_COLUMNS = ("source_principal_id", "target_principal_id")
DROP = "drop"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
#: Names the assignments the migration creates (uuid5 of scope, role and principal), so a
#: rerun finds its own and the revoke step knows which are the migration's.
NAMESPACE = uuid.UUID("5b0b6c7e-2f4a-4d8e-9a51-6b0f0c1d2e3f")


class Decision(StrEnum):
    CREATE = "create"
    EXISTS = "exists"
    DROPPED = "dropped"
    UNMAPPED = "unmapped"


class PlannedAssignment(BaseModel):
    """One documented assignment and what happens to it in the target."""

    model_config = ConfigDict(frozen=True)

    role: str  # role definition GUID (built-in roles share theirs across tenants)
    source_principal: str
    target_principal: str = ""
    principal_type: str = ""
    condition: str | None = None
    condition_version: str | None = None
    decision: Decision

    def name(self, scope: str) -> str:
        """The assignment's name (a GUID) in the target: the same every run."""
        key = f"{scope.lower()}|{self.role.lower()}|{self.target_principal.lower()}"
        return str(uuid.uuid5(NAMESPACE, key))

    def body(self, subscription_id: str) -> dict[str, Any]:
        """The PUT body of the assignment on the target registry."""
        props: dict[str, Any] = {
            "roleDefinitionId": f"/subscriptions/{subscription_id}/providers/"
            f"Microsoft.Authorization/roleDefinitions/{self.role}",
            "principalId": self.target_principal,
        }
        if self.principal_type:
            props["principalType"] = self.principal_type
        if self.condition:
            props["condition"] = self.condition
            props["conditionVersion"] = self.condition_version or "2.0"
        return {"properties": props}


def parse_mapping(data: bytes, where: str) -> dict[str, str]:
    """Source object id -> target object id (or ``drop``); one clear error per bad row."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != MAPPING_COLUMNS:
        raise ConfigError(
            f"{where}: the header must be {','.join(MAPPING_COLUMNS)} "
            f"(found {','.join(reader.fieldnames or ()) or 'nothing'})"
        )
    mapping: dict[str, str] = {}
    for n, row in enumerate(reader, 1):
        source = (row["source_principal_id"] or "").strip().lower()
        target = (row["target_principal_id"] or "").strip().lower()
        for column, value in (("source_principal_id", source), ("target_principal_id", target)):
            if not _GUID.match(value) and not (column == "target_principal_id" and value == DROP):
                raise ConfigError(
                    f"{where}: row {n}, column {column!r}: {value!r} is not an object id (a GUID)"
                    + (" or 'drop'" if column == "target_principal_id" else "")
                )
        if source in mapping and mapping[source] != target:
            raise ConfigError(f"{where}: row {n}: {source} is mapped twice, to different targets")
        mapping[source] = target
    return mapping


def _role_of(assignment: dict[str, Any]) -> str:
    return str(assignment["properties"]["roleDefinitionId"]).rsplit("/", 1)[-1].lower()


def plan_assignments(
    documented: list[dict[str, Any]], mapping: dict[str, str], existing: list[dict[str, Any]]
) -> list[PlannedAssignment]:
    """What to do with each documented assignment, given the mapping and what the target
    registry already has (same role and principal: nothing to create)."""
    have = {(_role_of(a), str(a["properties"]["principalId"]).lower()) for a in existing}
    plan: list[PlannedAssignment] = []
    for assignment in documented:
        props = assignment["properties"]
        source = str(props["principalId"]).lower()
        target = mapping.get(source, "")
        role = _role_of(assignment)
        if not target:
            decision = Decision.UNMAPPED
        elif target == DROP:
            decision = Decision.DROPPED
        elif (role, target) in have:
            decision = Decision.EXISTS
        else:
            decision = Decision.CREATE
        plan.append(
            PlannedAssignment(
                role=role,
                source_principal=source,
                target_principal="" if target == DROP else target,
                principal_type=str(props.get("principalType") or ""),
                condition=props.get("condition"),
                condition_version=props.get("conditionVersion"),
                decision=decision,
            )
        )
    return sorted(plan, key=lambda p: (p.decision, p.role, p.source_principal))


def rbac_markdown(registry: str, plan: list[PlannedAssignment], dry_run: bool) -> str:
    """The plan (or what was done), one line per documented assignment."""
    counts = {d: sum(1 for p in plan if p.decision is d) for d in Decision}
    verb = "would be created" if dry_run else "created"
    lines = [
        f"# Role assignments on `{registry}`",
        "",
        f"{counts[Decision.CREATE]} {verb}, {counts[Decision.EXISTS]} already there, "
        f"{counts[Decision.DROPPED]} dropped by the mapping, {counts[Decision.UNMAPPED]} unmapped.",
        "",
        "| role | source principal | target principal | decision |",
        "|---|---|---|---|",
    ]
    for p in plan:
        lines.append(
            f"| `{p.role}` | `{p.source_principal}` | `{p.target_principal or '-'}` | "
            f"{p.decision.value} |"
        )
    if counts[Decision.UNMAPPED]:
        lines += [
            "",
            "**Unmapped principals get nothing**: add them to the mapping (their object id in "
            "the target tenant, or `drop`) and run again.",
        ]
    return "\n".join(lines) + "\n"


def granted_to(assignments: list[dict[str, Any]], principals: list[str]) -> list[dict[str, Any]]:
    """The assignments held by any of ``principals`` (the migration's identities)."""
    wanted = {p.lower() for p in principals}
    return [a for a in assignments if str(a["properties"]["principalId"]).lower() in wanted]


def check_principals(principals: list[str]) -> list[str]:
    """The object ids, lowercased; one clear error for anything else, or for none at all."""
    if not principals:
        raise ConfigError(
            "name the migration's identities (their object ids) whose access to revoke"
        )
    bad = [p for p in principals if not _GUID.match(p.strip())]
    if bad:
        raise ConfigError(f"not object ids (GUIDs): {', '.join(repr(b) for b in bad)}")
    return sorted({p.strip().lower() for p in principals})


def revoke_markdown(registry: str, removed: list[dict[str, Any]], dry_run: bool) -> str:
    """What the revoke removes (or would remove), one line per assignment."""
    verb = "Would remove" if dry_run else "Removed"
    lines = [
        f"# Access revoked on `{registry}`",
        "",
        f"{verb} {len(removed)} role assignment(s).",
        "",
        "| role | principal | assignment |",
        "|---|---|---|",
    ]
    for a in removed:
        lines.append(
            f"| `{_role_of(a)}` | `{a['properties']['principalId']}` | "
            f"`{str(a.get('name') or a.get('id', '')).rsplit('/', 1)[-1]}` |"
        )
    return "\n".join(lines) + "\n"
