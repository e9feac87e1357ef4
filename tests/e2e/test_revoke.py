"""Revoking the migration's access: every role assignment of the named identities on the
registry goes, nobody else's, a dry run and a rerun remove nothing, bad ids are refused."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from acr_migrate.rbac import Decision, PlannedAssignment
from acr_migrate.registry import open_registry
from acr_migrate.settings import MigrationConfig
from flows.revoke import revoke_access

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]

CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"


def _held(cfg: MigrationConfig) -> set[tuple[str, str]]:
    return {
        (
            a["properties"]["principalId"],
            a["properties"]["roleDefinitionId"].rsplit("/", 1)[-1].lower(),
        )
        for a in open_registry(cfg.target).role_assignments()
    }


def test_only_the_migration_identities_lose_their_access(
    migration_config: MigrationConfig, target_acr: Any
) -> None:
    cfg = migration_config
    migration, bystander = str(uuid.uuid4()), str(uuid.uuid4())
    grants = [(migration, CONTRIBUTOR), (migration, ACR_PULL), (bystander, ACR_PULL)]
    open_registry(cfg.target).assign(
        [
            PlannedAssignment(
                role=role, source_principal=p, target_principal=p, decision=Decision.CREATE
            )
            for p, role in grants
        ]
    )
    assert set(grants) <= _held(cfg)

    dry = revoke_access(cfg.target, [migration], dry_run=True, return_state=True)
    assert dry.is_completed() and "would remove 2 role assignment(s)" in (dry.message or "")
    assert set(grants) <= _held(cfg)

    done = revoke_access(cfg.target, [migration.upper()], return_state=True)
    assert done.is_completed() and "removed 2 role assignment(s)" in (done.message or ""), done
    held = _held(cfg)
    assert not {g for g in held if g[0] == migration}
    assert (bystander, ACR_PULL) in held
    again = revoke_access(cfg.target, [migration], return_state=True)
    assert again.is_completed() and "removed 0 role assignment(s)" in (again.message or "")


def test_revoke_refuses_what_is_not_an_object_id(migration_config: MigrationConfig) -> None:
    state = revoke_access(migration_config.target, ["migration-app"], return_state=True)
    assert state.is_failed() and "not object ids (GUIDs): 'migration-app'" in (state.message or "")
    none = revoke_access(migration_config.target, [], return_state=True)
    assert none.is_failed() and "name the migration's identities" in (none.message or "")
