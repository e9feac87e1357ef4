"""A repository-scoped pull token on an ACR, through ARM (scope maps, tokens,
``registries/generateCredentials``), with the identity of the registry's own tenant.

ARM spec 2025-11-01: ``ScopeMaps_Create``/``_Get``/``_Delete``, ``Tokens_Create``/``_Update``/
``_Get``/``_Delete``, ``Registries_GenerateCredentials`` (``tokenId``, ``expiry``, ``name``:
password1 or password2; the answer carries the username and the new password's value, which
no later read returns).
"""

from __future__ import annotations

from datetime import datetime

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.containerregistry.models import (
    GenerateCredentialsParameters,
    ScopeMap,
    ScopeMapProperties,
    Token,
    TokenProperties,
    TokenUpdateParameters,
    TokenUpdateProperties,
)
from pydantic import SecretStr

from acr_migrate.azure.settings import AcrRegistryRef
from acr_migrate.errors import MigrationError
from acr_migrate.pull_token import DESCRIPTION, PullLogin, TokenState

#: The password a grant (re)generates; the other one is never made, so one password exists.
PASSWORD = "password1"


def scope_map_id(ref: AcrRegistryRef, name: str) -> str:
    return f"{ref.resource_id}/scopeMaps/{name}"


def token_id(ref: AcrRegistryRef, name: str) -> str:
    return f"{ref.resource_id}/tokens/{name}"


def _refused(what: str, exc: HttpResponseError) -> MigrationError:
    code = getattr(getattr(exc, "error", None), "code", None) or exc.status_code
    return MigrationError(f"ARM refused to {what}: {code}: {str(exc.message)[:300]}")


def token_state(
    arm: ContainerRegistryManagementClient, ref: AcrRegistryRef, token: str, scope_map: str
) -> TokenState:
    """Whether the token and the scope map exist, which map the token uses, the map's actions."""
    rg, name = ref.resource_group, ref.registry
    try:
        found = arm.tokens.get(rg, name, token)
        props = found.properties
        token_exists, token_map = True, ((props.scope_map_id if props else None) or "")
    except ResourceNotFoundError:
        token_exists, token_map = False, ""
    try:
        sm = arm.scope_maps.get(rg, name, scope_map)
        map_exists, actions = True, tuple((sm.properties.actions if sm.properties else None) or ())
    except ResourceNotFoundError:
        map_exists, actions = False, ()
    return TokenState(token_exists, token_map, map_exists, actions)


def grant(
    arm: ContainerRegistryManagementClient,
    ref: AcrRegistryRef,
    token: str,
    scope_map: str,
    actions: list[str],
    expiry: datetime,
) -> tuple[PullLogin, TokenState]:
    """Make the scope map hold exactly ``actions``, the token use it (enabled), and generate
    a new ``password1`` expiring at ``expiry`` (a rerun rotates it). Returns the login and
    what was there before."""
    rg, name = ref.resource_group, ref.registry
    before = token_state(arm, ref, token, scope_map)
    map_id = scope_map_id(ref, scope_map)
    try:
        if not before.scope_map_exists or sorted(before.actions) != sorted(actions):
            body = ScopeMap(properties=ScopeMapProperties(description=DESCRIPTION, actions=actions))
            arm.scope_maps.begin_create(rg, name, scope_map, body).result()
        if not before.token_exists:
            props = TokenProperties(scope_map_id=map_id, status="enabled")
            arm.tokens.begin_create(rg, name, token, Token(properties=props)).result()
        elif before.token_scope_map.lower() != map_id.lower():
            update = TokenUpdateParameters(
                properties=TokenUpdateProperties(scope_map_id=map_id, status="enabled")
            )
            arm.tokens.begin_update(rg, name, token, update).result()
        params = GenerateCredentialsParameters(
            token_id=token_id(ref, token), expiry=expiry, name=PASSWORD
        )
        result = arm.registries.begin_generate_credentials(rg, name, params).result()
    except HttpResponseError as exc:
        raise _refused(f"grant token {token!r} on registry {name!r}", exc) from None
    password = next((p for p in result.passwords or [] if p.name == PASSWORD), None)
    if password is None or not password.value:
        raise MigrationError(f"ARM generated no {PASSWORD} for token {token!r} on {name!r}")
    login = PullLogin(
        username=result.username or token,
        password=SecretStr(password.value),
        expires=password.expiry or expiry,
    )
    return login, before


def revoke(
    arm: ContainerRegistryManagementClient, ref: AcrRegistryRef, token: str, scope_map: str
) -> list[str]:
    """Delete the token, then its scope map (a scope map in use cannot go first); the names
    of what was there and is now gone."""
    rg, name = ref.resource_group, ref.registry
    state = token_state(arm, ref, token, scope_map)
    removed = []
    try:
        if state.token_exists:
            arm.tokens.begin_delete(rg, name, token).result()
            removed.append(f"token {token}")
        if state.scope_map_exists:
            arm.scope_maps.begin_delete(rg, name, scope_map).result()
            removed.append(f"scope map {scope_map}")
    except HttpResponseError as exc:
        raise _refused(f"revoke token {token!r} on registry {name!r}", exc) from None
    after = token_state(arm, ref, token, scope_map)
    if after.token_exists or after.scope_map_exists:
        raise MigrationError(f"ARM reported token {token!r} deleted, but it is still there")
    return removed
