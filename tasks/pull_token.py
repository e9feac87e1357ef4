"""Tasks of the pull token: what is in scope, what the source holds, the grant (ARM, then the
password straight into a Secret block) and the revocation.

The password exists only inside :func:`grant_token`, between ARM's answer and the block: it
is never a task's parameter or result, never logged.
"""

from __future__ import annotations

from datetime import datetime

from prefect import task

from acr_migrate.models import RegistryEndpoint
from acr_migrate.pull_token import PullTokenGrant, PullTokenOptions, TokenState
from acr_migrate.storage import BlobStore, StorageSettings
from tasks.credentials import delete_pull_token, pull_token_from_block, save_pull_token
from tasks.presets import ONCE, TRANSIENT
from tasks.registries import registry


@task(name="pull-token-scope", task_run_name="repositories of {source.name}", **TRANSIENT)
def repositories_in_scope(
    source: RegistryEndpoint, storage: StorageSettings, options: PullTokenOptions
) -> list[str]:
    """The repositories the token may pull: the registry's (or, with ``from_manifest``, those
    of the newest export), then include/exclude."""
    if options.from_manifest:
        store = BlobStore(storage)
        rows = store.read_manifest(store.latest_manifest(source.name).blob)
        return options.select(row.repository for row in rows)
    inventory = registry(source).inventory()
    try:
        return options.select(inventory.repositories())
    finally:
        inventory.close()


@task(name="pull-token-state", task_run_name="token {token} of {source.name}", **TRANSIENT)
def token_state(source: RegistryEndpoint, token: str, scope_map: str) -> TokenState:
    """What the source holds of the token and its scope map now."""
    return registry(source).token_state(token, scope_map)


@task(name="grant-pull-token", task_run_name="grant {options.token} on {source.name}", **TRANSIENT)
def grant_token(
    source: RegistryEndpoint,
    options: PullTokenOptions,
    actions: list[str],
    repositories: list[str],
    block: str,
    expiry: datetime,
) -> PullTokenGrant:
    """Scope map, token and a new password (ARM), the password into the Secret ``block``.
    A retry generates another password, which replaces the first in the block."""
    login, before = registry(source).grant_pull_token(
        options.token, options.scope_map_name(), actions, expiry
    )
    save_pull_token(block, login)
    return PullTokenGrant(
        registry=source.login_server,
        username=login.username,
        token=options.token,
        scope_map=options.scope_map_name(),
        block=block,
        repositories=repositories,
        expires=login.expires,
        token_created=not before.token_exists,
        scope_map_changed=sorted(before.actions) != sorted(actions),
    )


@task(name="revoke-pull-token", task_run_name="revoke {token} on {source.name}", **TRANSIENT)
def revoke_token(source: RegistryEndpoint, token: str, scope_map: str, block: str) -> list[str]:
    """Delete the token, its scope map and the Secret block; what was removed."""
    removed = registry(source).revoke_pull_token(token, scope_map)
    if delete_pull_token(block):
        removed.append(f"Secret block {block}")
    return removed


@task(name="pull-token-block", task_run_name="block {block}", **ONCE)
def block_exists(block: str) -> bool:
    """Whether the Secret block holds a pull token (a dry run's view; the value stays there)."""
    from acr_migrate.models import ConfigError

    try:
        pull_token_from_block(block)
    except ConfigError:
        return False
    return True
