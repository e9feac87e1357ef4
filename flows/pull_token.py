"""Source tenant: a temporary pull credential for the import, and its revocation at cutover.

``grant-pull-token`` creates on the source ACR (through ARM) a scope map that may only pull
the repositories in scope, a token on it and a password that expires; the password goes only
into a Prefect Secret block, which the source endpoint's ``pull_token_block`` names for the
target's worker. A rerun reuses token and scope map and rotates the password.
``revoke-pull-token`` deletes token, scope map and block; a rerun removes nothing.
"""

from __future__ import annotations

from prefect import flow
from prefect.states import Completed, Failed, State

from acr_migrate.models import ConfigError, RegistryEndpoint
from acr_migrate.preflight import Need, refusal
from acr_migrate.pull_token import (
    PullTokenGrant,
    PullTokenOptions,
    PullTokenRevocation,
    RevokeOptions,
    grant_markdown,
    grant_plan,
    revoke_markdown,
    scope_map_actions,
)
from acr_migrate.storage import StorageSettings
from flows.artifacts import artifact_key, markdown
from tasks.preflight import preflight
from tasks.pull_token import block_exists, grant_token, repositories_in_scope, revoke_token
from tasks.pull_token import token_state as read_token_state


@flow(name="grant-pull-token", log_prints=False)
def grant_pull_token(
    source: RegistryEndpoint,
    storage: StorageSettings,
    options: PullTokenOptions = PullTokenOptions(),  # noqa: B008 - pydantic defaults are immutable
) -> State:
    """A token that may only pull the repositories in scope, its password (with an expiry) in
    a Prefect Secret block; the run's result names the token (the username) and the block."""
    problems = preflight(
        storage if options.from_manifest else None,
        [Need(source, "source", reach=False, phase=None if options.dry_run else "pull-token")],
    )
    if problems:
        return Failed(message=refusal(problems))
    try:  # a plain OCI registry has no tokens: the first task says so
        state = read_token_state(source, options.token, options.scope_map_name())
        repositories = repositories_in_scope(source, storage, options)
    except ConfigError as exc:
        return Failed(message=str(exc))
    if not repositories:
        return Failed(message=f"no repository of {source.name} is in scope: nothing to grant")
    actions, block = scope_map_actions(repositories), options.block_name(source.name)
    expiry = options.expiry()
    rows = grant_plan(state, options, actions)
    text = grant_markdown(source.login_server, rows, repositories, block, expiry, options.dry_run)
    markdown(artifact_key("pull-token", source.name), text, f"Pull token on {source.name}")
    if options.dry_run:
        grant = PullTokenGrant(
            registry=source.login_server, username=options.token, token=options.token,
            scope_map=options.scope_map_name(), block=block, repositories=repositories,
            expires=expiry, dry_run=True,
        )  # fmt: skip
        return Completed(message=grant.message(), data=grant)
    grant = grant_token(source, options, actions, repositories, block, expiry)
    return Completed(message=grant.message(), data=grant)


@flow(name="revoke-pull-token", log_prints=False)
def revoke_pull_token(
    source: RegistryEndpoint,
    options: RevokeOptions = RevokeOptions(),  # noqa: B008 - pydantic defaults are immutable
) -> State:
    """Cutover: delete the pull token, its scope map and the Secret block with its password."""
    phase = None if options.dry_run else "pull-token-revoke"
    problems = preflight(None, [Need(source, "source", reach=False, phase=phase)])
    if problems:
        return Failed(message=refusal(problems))
    token, scope_map = options.token, options.scope_map_name()
    block = options.block_name(source.name)
    if options.dry_run:
        state = read_token_state(source, token, scope_map)
        found = [f"token {token}"] if state.token_exists else []
        found += [f"scope map {scope_map}"] if state.scope_map_exists else []
        found += [f"Secret block {block}"] if block_exists(block) else []
    else:
        found = revoke_token(source, token, scope_map, block)
    login_server, dry_run = source.login_server, options.dry_run
    result = PullTokenRevocation(registry=login_server, removed=found, dry_run=dry_run)
    text = revoke_markdown(login_server, found, dry_run)
    markdown(artifact_key("pull-token-revoked", source.name), text, f"Pull token of {source.name}")
    return Completed(message=result.message(), data=result)
