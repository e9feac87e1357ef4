"""Freeze and unfreeze the source over the Azure stand-in: a push to a frozen repository is
refused, unfreezing gives back exactly the locks from before (a repository that was already
locked stays locked), a second freeze or unfreeze changes nothing, and a plain OCI registry is
refused with what to do instead."""

from __future__ import annotations

import json

import pytest

from acr_migrate.freeze import FreezeOptions, RepositoryLocks, record_blob
from acr_migrate.settings import MigrationConfig
from acr_migrate.storage import BlobStore
from flows.freeze import freeze_source, unfreeze_source
from sandbox.oci_push import RegistryError, build_image, make_layer, push_image
from tests.helpers import push_endpoint, run_export, uid

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]


def _locks(cfg: MigrationConfig, repositories: list[str]) -> dict[str, RepositoryLocks]:
    from acr_migrate.registry import open_registry

    freezer = open_registry(cfg.source).freezer()
    try:
        return {locks.repository: locks for locks in freezer.locks(repositories)}
    finally:
        freezer.close()


def _push(cfg: MigrationConfig, repository: str, tag: str) -> None:
    image = build_image([make_layer({"f": f"{repository}:{tag}".encode() * 100})])
    push_image(push_endpoint(cfg.source), repository, [tag], image)


def test_a_frozen_source_refuses_pushes_and_unfreezing_restores_the_locks_exactly(
    migration_config: MigrationConfig,
) -> None:
    from acr_migrate.registry import open_registry

    cfg = migration_config
    prefix = f"freeze-{uid()}"
    app, kept = f"{prefix}/app", f"{prefix}/kept"
    _push(cfg, app, "v1")
    _push(cfg, kept, "v1")
    freezer = open_registry(cfg.source).freezer()
    try:  # a repository someone locked against deletes before the migration
        freezer.set_locks(RepositoryLocks(repository=kept, delete_enabled=False))
    finally:
        freezer.close()
    before = _locks(cfg, [app, kept])
    options = FreezeOptions(include=[f"{prefix}/*"], delete_too=True)

    dry = freeze_source(
        cfg.source, cfg.storage, options.model_copy(update={"dry_run": True}), return_state=True
    )
    assert dry.is_completed() and "2 repositories would be frozen" in (dry.message or "")
    assert _locks(cfg, [app, kept]) == before

    state = freeze_source(cfg.source, cfg.storage, options, return_state=True)
    assert state.is_completed(), state.message
    frozen = _locks(cfg, [app, kept])
    assert not frozen[app].write_enabled and not frozen[app].delete_enabled
    assert not frozen[kept].write_enabled
    with pytest.raises(RegistryError):
        _push(cfg, app, "v2")

    again = freeze_source(cfg.source, cfg.storage, options, return_state=True)
    assert again.is_completed(), again.message
    data, _ = BlobStore(cfg.storage).get(record_blob(cfg.source.name))
    recorded = {r["repository"]: r for r in json.loads(data)["previous"]}
    assert recorded[app] == before[app].model_dump() and recorded[kept] == before[kept].model_dump()

    thawed = unfreeze_source(cfg.source, cfg.storage, return_state=True)
    assert thawed.is_completed(), thawed.message
    assert _locks(cfg, [app, kept]) == before  # "kept" still refuses deletes
    _push(cfg, app, "v2")
    twice = unfreeze_source(cfg.source, cfg.storage, return_state=True)
    assert twice.is_completed() and "nothing to unfreeze" in (twice.message or "")


def test_a_plain_oci_registry_cannot_be_frozen_and_nothing_is_written(
    oci_config: MigrationConfig,
) -> None:
    cfg = oci_config
    store = BlobStore(cfg.storage)

    def record() -> bytes | None:  # the Azure config's source may share the name
        return (
            store.get(record_blob(cfg.source.name))[0]
            if store.names(record_blob(cfg.source.name))
            else None
        )

    before = record()
    state = freeze_source(cfg.source, cfg.storage, FreezeOptions(), return_state=True)
    assert state.is_failed()
    assert "plain OCI registry" in (state.message or "")
    assert "Stop the pipelines that push to it" in (state.message or "")
    assert record() == before


def test_an_export_can_freeze_its_repositories_before_the_inventory(
    migration_config: MigrationConfig,
) -> None:
    cfg = migration_config
    prefix = f"freeze-export-{uid()}"
    app = f"{prefix}/app"
    _push(cfg, app, "v1")
    summary = run_export(cfg, include=[f"{prefix}/*"], freeze=True)
    assert summary.location is not None
    assert not _locks(cfg, [app])[app].write_enabled
    with pytest.raises(RegistryError):
        _push(cfg, app, "v2")
    thawed = unfreeze_source(cfg.source, cfg.storage, return_state=True)
    assert thawed.is_completed(), thawed.message
    assert _locks(cfg, [app])[app].write_enabled
