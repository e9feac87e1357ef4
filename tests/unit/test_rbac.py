"""The principal mapping and the plan of role assignments (no services)."""

from __future__ import annotations

import pytest

from acr_migrate.models import ConfigError
from acr_migrate.rbac import Decision, parse_mapping, plan_assignments

PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
PUSH = "8311e382-0749-4cb8-b61a-304f252e45ec"
A, B, C, X = (f"{n}{n}{n}{n}{n}{n}{n}{n}-0000-4000-8000-000000000000" for n in "abcf")


def assignment(role: str, principal: str, sub: str = "s1") -> dict:
    return {
        "properties": {
            "roleDefinitionId": f"/subscriptions/{sub}/providers/Microsoft.Authorization/"
            f"roleDefinitions/{role}",
            "principalId": principal,
            "principalType": "ServicePrincipal",
        }
    }


def test_each_documented_assignment_gets_one_decision() -> None:
    documented = [
        assignment(PULL, A),
        assignment(PUSH, A),
        assignment(PULL, B),
        assignment(PULL, C),
    ]
    existing = [assignment(PULL, X, sub="s2")]  # already granted in the target
    plan = plan_assignments(documented, {A: X, B: "drop"}, existing)
    decisions = {(p.role, p.source_principal): p.decision for p in plan}
    assert decisions == {
        (PULL, A): Decision.EXISTS,
        (PUSH, A): Decision.CREATE,
        (PULL, B): Decision.DROPPED,
        (PULL, C): Decision.UNMAPPED,
    }
    create = next(p for p in plan if p.decision is Decision.CREATE)
    body = create.body("s2")["properties"]
    assert body["principalId"] == X and body["roleDefinitionId"].startswith("/subscriptions/s2/")
    assert create.name("/scope") == create.name("/SCOPE")  # a rerun finds its own
    assert create.name("/scope") != create.name("/other")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b\n", "the header must be source_principal_id,target_principal_id"),
        (f"source_principal_id,target_principal_id\n{A},nobody\n", "row 1, column 'target_"),
        (f"source_principal_id,target_principal_id\n{A},{X}\nzz,{X}\n", "row 2, column 'source_"),
        (f"source_principal_id,target_principal_id\n{A},{X}\n{A},drop\n", "row 2: " + A),
    ],
)
def test_a_bad_mapping_is_one_error_naming_where(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^m\.csv: ") as caught:
        parse_mapping(text.encode(), "m.csv")
    assert message in str(caught.value)


def test_a_mapping_accepts_a_bom_and_any_case() -> None:
    text = f"\ufeffsource_principal_id,target_principal_id\r\n{A.upper()},DROP\r\n{B},{X}\r\n"
    assert parse_mapping(text.encode(), "m.csv") == {A: "drop", B: X}
