"""The runbook flow end to end on the sandbox (steps as subflows, approvals answered through
the API as the UI does): it asks before freezing, runs every step in order, and ends with the
source deleted only after delete-source's own approval."""

from __future__ import annotations

import pytest

from acr_migrate.oci.client import RegistryClient
from acr_migrate.runbook import RunbookMode, RunbookOptions
from acr_migrate.settings import EngineName, MigrationConfig
from flows.runbook import migrate_registry
from tests.e2e.test_operations import answer, form_description, in_thread, paused_run, push_set
from tests.helpers import uid

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]


def _options(prefix: str, **update: object) -> RunbookOptions:
    return RunbookOptions(
        mode=RunbookMode.SUBFLOWS,
        include=[f"{prefix}/*"],
        engine=EngineName.OCI_COPY,
        freeze=False,  # a plain OCI registry has no locks
        provision=False,  # nor an ARM side to create
        approval_timeout_seconds=300,
    ).model_copy(update=update)


def test_the_runbook_migrates_tests_and_deletes_the_source_after_its_approval(
    oci_config: MigrationConfig,
) -> None:
    cfg = oci_config
    prefix = f"runbook-{uid()}"
    pushed = push_set(cfg, prefix, 3, salt=prefix)
    options = _options(prefix, delete_source=True)
    join = in_thread(
        lambda: migrate_registry(cfg.source, cfg.target, cfg.storage, options, return_state=True)
    )
    run = paused_run("delete-source", timeout=600)
    assert f"`{prefix}/app0`" in form_description(run)
    answer(run, approve=True, confirm_registry=cfg.source.name, comment="runbook test")
    state = join()
    assert state.is_completed() and state.name == "Completed", state.message
    steps = state.result()
    assert [s.step for s in steps] == [
        "document",
        "migrate images",
        "final test",
        "delete the source",
    ]
    assert all(s.state == "Completed" for s in steps), steps
    with RegistryClient(cfg.target) as target, RegistryClient(cfg.source) as source:
        for ref, digest in pushed.items():
            repo, tag = ref.split(":")
            head = target.head_manifest(repo, tag)
            assert head is not None and head.digest == digest
            assert source.tags(repo) == []


def test_the_runbook_asks_before_freezing_and_a_no_changes_nothing(
    oci_config: MigrationConfig,
) -> None:
    cfg = oci_config
    prefix = f"runbook-no-{uid()}"
    push_set(cfg, prefix, 1, salt=prefix)
    options = _options(prefix, freeze=True)
    join = in_thread(
        lambda: migrate_registry(cfg.source, cfg.target, cfg.storage, options, return_state=True)
    )
    run = paused_run("migrate-registry", timeout=300)
    assert f"Freeze `{cfg.source.name}`" in form_description(run)
    answer(run, approve=False, comment="not today")
    state = join()
    assert state.is_completed() and state.name == "Stopped", state.message
    assert state.result() == [] and "not approved" in (state.message or "")
    with RegistryClient(cfg.target) as target:
        assert target.tags(f"{prefix}/app0") == []
