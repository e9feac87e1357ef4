"""Role assignments reconnected on the target ACR from the documented source and a principal
mapping: mapped ones created, dropped and unmapped ones not (unmapped ones listed), a dry run
and a rerun change nothing, a bad mapping is one clear error."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from acr_migrate.registry import open_registry
from acr_migrate.settings import MigrationConfig
from acr_migrate.storage import REGISTRY_NAME, BlobStore
from flows.rbac import reconnect_rbac
from tasks.final_test import missing_assignments
from tests.helpers import run_export, uid

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]


def _pairs(assignments: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {
        (
            a["properties"]["roleDefinitionId"].rsplit("/", 1)[-1].lower(),
            a["properties"]["principalId"].lower(),
        )
        for a in assignments
    }


def test_mapped_assignments_are_created_once_and_unmapped_ones_listed(
    migration_config: MigrationConfig, target_acr: Any, seed_summary: Any
) -> None:
    cfg = migration_config
    location = run_export(cfg, include=[seed_summary.repositories[0]]).location
    store = BlobStore(cfg.storage)
    exported = json.loads(store.get(location.sibling(REGISTRY_NAME))[0])
    documented = _pairs(exported["azure"]["role_assignments"])
    principals = sorted({principal for _, principal in documented})
    assert len(principals) >= 2, documented
    mapped, dropped = principals[0], principals[1]
    unmapped = set(principals[2:])
    new_id = str(uuid.uuid4())
    folder = location.blob.split("/", 1)[0]
    mapping_blob = f"{folder}/mapping-{uid()}.csv"
    rows = ["source_principal_id,target_principal_id", f"{mapped},{new_id}", f"{dropped},drop"]
    store.put(mapping_blob, "\n".join(rows).encode(), content_type="text/csv")
    wanted = {(role, new_id) for role, principal in documented if principal == mapped}

    def run(**kwargs: Any) -> Any:
        return reconnect_rbac(
            cfg.source, cfg.target, cfg.storage, location, mapping_blob, return_state=True, **kwargs
        )

    target = open_registry(cfg.target)
    before = _pairs(target.role_assignments())
    dry = run(dry_run=True)
    assert dry.is_completed(), dry.message
    assert f"{len(wanted)} assignment(s) to create" in (dry.message or "")
    assert _pairs(target.role_assignments()) == before
    # The final test's comparison sees what the mapping planned and the target lacks.
    missing = missing_assignments.fn(
        cfg.storage, cfg.source.name, cfg.target, location, mapping_blob
    )
    assert missing is not None and len(missing) == len(wanted) and new_id in missing[0]

    done = run()
    assert done.is_completed(), done.message
    assert f"{len(unmapped)} unmapped principal(s)" in (done.message or "")
    after = _pairs(target.role_assignments())
    assert after - before == wanted  # the mapped principal only: not the dropped, not unmapped
    assert (
        missing_assignments.fn(cfg.storage, cfg.source.name, cfg.target, location, mapping_blob)
        == []
    )
    again = run()
    assert again.is_completed() and "0 assignment(s) created" in (again.message or "")
    assert _pairs(target.role_assignments()) == after


def test_a_bad_mapping_names_the_row_and_column_and_creates_nothing(
    migration_config: MigrationConfig, target_acr: Any, seed_summary: Any
) -> None:
    cfg = migration_config
    location = run_export(cfg, include=[seed_summary.repositories[0]]).location
    store = BlobStore(cfg.storage)
    blob = f"{location.blob.split('/', 1)[0]}/bad-mapping-{uid()}.csv"
    good = str(uuid.uuid4())
    text = f"source_principal_id,target_principal_id\n{good},{good}\nnot-a-guid,drop\n"
    store.put(blob, text.encode(), content_type="text/csv")
    before = _pairs(open_registry(cfg.target).role_assignments())
    state = reconnect_rbac(cfg.source, cfg.target, cfg.storage, location, blob, return_state=True)
    assert state.is_failed()
    assert "row 2, column 'source_principal_id': 'not-a-guid'" in (state.message or "")
    assert blob in (state.message or "")
    assert _pairs(open_registry(cfg.target).role_assignments()) == before
