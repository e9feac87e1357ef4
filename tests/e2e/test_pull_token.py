"""A temporary pull credential over the Azure stand-in: ``grant-pull-token`` makes a
repository-scoped token on the source (dry run first: nothing made), its password goes only to
a Secret block, the import (acr-import, and oci-copy) pulls with it while the worker holds no
other source credential, a rerun rotates the password, the password is in no log, artifact,
parameter or result, and after ``revoke-pull-token`` it no longer authenticates."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from acr_migrate.errors import RegistryHTTPError
from acr_migrate.models import RegistryEndpoint
from acr_migrate.oci.client import RegistryClient
from acr_migrate.pull_token import PullTokenGrant, PullTokenOptions, RevokeOptions
from acr_migrate.registry import open_registry
from acr_migrate.settings import EngineName, MigrationConfig
from flows.pull_token import grant_pull_token, revoke_pull_token
from flows.target_import import target_import
from sandbox.oci_push import build_image, make_layer, push_image
from tests.helpers import push_endpoint, run_export, run_import, uid
from tests.leaks import Record, find_leaks, leak_report, prefect_records

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]


@pytest.fixture
def info_logs() -> Iterator[None]:
    """Runs log at INFO for this test (the suite keeps Prefect at WARNING), so that what the
    leak check reads is all a worker would send."""
    loggers = [logging.getLogger(n) for n in ("prefect.flow_runs", "prefect.task_runs")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.INFO)
    yield
    for lg, level in zip(loggers, levels, strict=True):
        lg.setLevel(level)


@pytest.fixture
def tokens(migration_config: MigrationConfig) -> Iterator[list[str]]:
    """Tokens a test made; whatever it leaves (a failure midway) is revoked afterwards, since
    other tests compare the source's scope maps and tokens with the seed."""
    made: list[str] = []
    yield made
    for token in made:
        open_registry(migration_config.source).revoke_pull_token(token, f"{token}-scope-map")


def _push(cfg: MigrationConfig, repository: str, tags: list[str]) -> str:
    image = build_image([make_layer({"f": f"{repository}:{uid()}".encode() * 50})])
    push_image(push_endpoint(cfg.source), repository, tags, image)
    return image.digest


def _block(name: str) -> dict[str, Any] | None:
    from prefect.blocks.system import Secret

    try:
        value = Secret.load(name, _sync=True).get()  # type: ignore[call-arg]
    except ValueError:
        return None
    assert isinstance(value, dict)
    return value


def _pulls(cfg: MigrationConfig, username: str, password: str, repository: str) -> bool:
    from pydantic import SecretStr

    with RegistryClient(cfg.source, credentials=(username, SecretStr(password))) as client:
        try:
            client.tags(repository)
        except RegistryHTTPError as exc:
            assert exc.status == 401, exc
            return False
    return True


def _without_other_source_credentials(
    cfg: MigrationConfig, monkeypatch: pytest.MonkeyPatch, block: str
) -> RegistryEndpoint:
    """The source as the target's worker sees it: the shared endpoint naming the pull-token
    block, and neither the admin password nor the source tenant's client secret set."""
    assert cfg.source.password_env and cfg.source.azure and cfg.source.azure.identity
    monkeypatch.delenv(cfg.source.password_env)
    secret_env = cfg.source.azure.identity.client_secret_env
    assert secret_env
    monkeypatch.delenv(secret_env)
    return cfg.source.model_copy(update={"pull_token_block": block})


def grant(cfg: MigrationConfig, options: PullTokenOptions) -> Any:
    return grant_pull_token(cfg.source, cfg.storage, options, return_state=True)


def _run_ids(*states: Any) -> list[Any]:
    return [s.state_details.flow_run_id for s in states]


def _everything_recorded(run_ids: list[Any]) -> list[Record]:
    """Everything the server keeps of the runs and their subflows: the runs and their states,
    task runs and their states, logs, artifacts, events."""
    from prefect.client.orchestration import get_client

    async def read() -> list[Record]:
        async with get_client() as client:
            return await prefect_records(client, run_ids)

    records = asyncio.run(read())
    assert any(r.kind == "artifact" for r in records), "the runs made no artifact"
    return records


def _no_leak(records: list[Record], *passwords: str) -> None:
    leaks = find_leaks(records, {f"pull token password #{n}": p for n, p in enumerate(passwords)})
    assert not leaks, leak_report(leaks)


def test_an_acr_import_pulls_with_the_token_alone_and_revoke_ends_it(
    migration_config: MigrationConfig,
    target_acr: Any,
    monkeypatch: pytest.MonkeyPatch,
    info_logs: None,
    tokens: list[str],
) -> None:
    cfg = migration_config
    prefix = f"pulltoken-{uid()}"
    _push(cfg, f"{prefix}/app", ["1.0", "stable"])
    _push(cfg, f"{prefix}/tools", ["2.0"])
    # (not "{prefix}-outside": the registry lists "a/x" before "a-b/x", Python sorts after)
    _push(cfg, f"outside-{prefix}/app", ["1.0"])
    location = run_export(cfg, include=[f"{prefix}/*"]).location
    token, block = f"mig-{uid()}", f"pull-{uid()}"
    tokens.append(token)
    options = PullTokenOptions(token=token, block=block, include=[f"{prefix}/*"])
    source_side = open_registry(cfg.source)

    dry = grant(cfg, options.model_copy(update={"dry_run": True}))
    assert dry.is_completed(), dry.message
    assert "dry run: would grant token" in (dry.message or "")
    assert not source_side.token_state(token, options.scope_map_name()).token_exists
    assert _block(block) is None

    granted = grant(cfg, options)
    assert granted.is_completed(), granted.message
    made = granted.result()
    assert isinstance(made, PullTokenGrant) and made.username == token and made.token_created
    assert made.repositories == [f"{prefix}/app", f"{prefix}/tools"]
    assert made.expires and made.expires > datetime.now(UTC) + timedelta(days=6)
    first = _block(block)
    assert first and first["username"] == token
    state = source_side.token_state(token, options.scope_map_name())
    assert state.token_exists and sorted(state.actions) == [
        f"repositories/{prefix}/{repo}/{action}"
        for repo in ("app", "tools")
        for action in ("content/read", "metadata/read")
    ]

    again = grant(cfg, options)  # rotates, reuses the rest
    assert again.is_completed(), again.message
    assert not again.result().token_created and not again.result().scope_map_changed
    second = _block(block)
    assert second and second["password"] != first["password"]
    assert not _pulls(cfg, token, first["password"], f"{prefix}/app")
    assert _pulls(cfg, token, second["password"], f"{prefix}/app")
    assert not _pulls(cfg, token, second["password"], f"outside-{prefix}/app")

    with monkeypatch.context() as env:
        source = _without_other_source_credentials(cfg, env, block)
        imported, summary = run_import(cfg, location, source=source, engine=EngineName.ACR_IMPORT)
        assert imported.is_completed(), (imported.message, summary.failed)
        assert summary.results["imported"] == 2

    recorded = _everything_recorded(_run_ids(dry, granted, again, imported))
    _no_leak(recorded, first["password"], second["password"])
    for value in (first["password"], second["password"]):
        assert value not in granted.result().model_dump_json() + again.result().model_dump_json()
    text = b"".join(r.data for r in recorded)
    assert token.encode() in text  # the runs do say which token they made
    assert b"Finished in state Completed" in text  # INFO lines were recorded too

    dry_revoke = RevokeOptions(token=token, block=block, dry_run=True)
    would = revoke_pull_token(cfg.source, dry_revoke, return_state=True)
    assert (would.message or "").startswith(
        f"would remove token {token}, scope map {token}-scope-map, Secret block {block}"
    ), would
    assert _block(block) and source_side.token_state(token, options.scope_map_name()).token_exists
    revoked = revoke_pull_token(
        cfg.source, RevokeOptions(token=token, block=block), return_state=True
    )
    assert revoked.is_completed(), revoked.message
    assert revoked.message == (
        f"removed token {token}, scope map {token}-scope-map, Secret block {block} "
        f"of {cfg.source.login_server}"
    )
    assert not _pulls(cfg, token, second["password"], f"{prefix}/app")
    assert _block(block) is None
    twice = revoke_pull_token(
        cfg.source, RevokeOptions(token=token, block=block), return_state=True
    )
    assert twice.is_completed() and (twice.message or "").startswith("removed nothing"), twice

    with monkeypatch.context() as env:
        source = _without_other_source_credentials(cfg, env, block)
        refused = target_import(
            source, cfg.target, cfg.storage, location, cfg.migration, return_state=True
        )
    assert refused.is_failed() and f"no Secret block {block!r}" in (refused.message or "")


def test_an_oci_copy_pulls_the_newest_manifest_with_the_token_alone(
    migration_config: MigrationConfig,
    target_acr: Any,
    monkeypatch: pytest.MonkeyPatch,
    tokens: list[str],
) -> None:
    cfg = migration_config
    prefix = f"pulltoken-oci-{uid()}"
    _push(cfg, f"{prefix}/web", ["1.0"])
    location = run_export(cfg, include=[f"{prefix}/*"]).location
    token, block = f"mig-{uid()}", f"pull-{uid()}"
    tokens.append(token)
    options = PullTokenOptions(token=token, block=block, from_manifest=True, valid_days=1)
    granted = grant(cfg, options)
    assert granted.is_completed(), granted.message
    assert granted.result().repositories == [f"{prefix}/web"]  # what the newest export holds
    try:
        with monkeypatch.context() as env:
            source = _without_other_source_credentials(cfg, env, block)
            imported, summary = run_import(cfg, location, source=source, engine=EngineName.OCI_COPY)
            assert imported.is_completed(), (imported.message, summary.failed)
            assert summary.results["imported"] == 1
        stored = _block(block)
        assert stored
        _no_leak(_everything_recorded(_run_ids(granted, imported)), stored["password"])
    finally:
        revoke_pull_token(cfg.source, RevokeOptions(token=token, block=block), return_state=True)


def test_a_plain_oci_registry_gets_no_pull_token(oci_config: MigrationConfig) -> None:
    state = grant(oci_config, PullTokenOptions())
    assert state.is_failed() and "[azure] section" in (state.message or "")
