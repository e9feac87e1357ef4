"""Tenant credentials as a Prefect block: one per tenant, the secret kept as ``SecretStr``.

Register the block type once (``prefect block register -m tasks.credentials``), create one
block per tenant in the UI, and name it in the registry's ``azure.identity.block``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from prefect.blocks.core import Block
from prefect.blocks.system import Secret
from pydantic import Field, SecretStr, ValidationError

from acr_migrate.azure.secrets import secret_from_env
from acr_migrate.azure.settings import PUBLIC_AUTHORITY, IdentityKind, TenantIdentity
from acr_migrate.models import ConfigError
from acr_migrate.pull_token import PullLogin


class TenantCredentials(Block):
    """An Entra identity of one tenant (client secret, managed or workload identity)."""

    _block_type_name = "ACR Migrate Tenant Credentials"
    _block_type_slug = "acr-migrate-tenant-credentials"
    _description = "The identity acr-migrate uses in one Entra tenant."

    tenant_id: str = Field(description="Entra tenant (directory) id")
    kind: IdentityKind = Field(default=IdentityKind.CLIENT_SECRET)
    client_id: str | None = Field(default=None, description="App (client) id")
    client_secret: SecretStr | None = Field(default=None, description="Client secret")
    authority_host: str = Field(default=PUBLIC_AUTHORITY)

    def identity(self, block_name: str) -> TenantIdentity:
        """The :class:`TenantIdentity` this block stands for."""
        return TenantIdentity(
            tenant_id=self.tenant_id,
            kind=self.kind,
            client_id=self.client_id,
            authority_host=self.authority_host,
            block=block_name,
        )


def secret_from_block(identity: TenantIdentity) -> str | None:
    """The client secret of the block the identity names; checks it is the same tenant."""
    if not identity.block:
        return None
    block = cast(TenantCredentials, TenantCredentials.load(identity.block, _sync=True))  # type: ignore[call-arg]
    if block.tenant_id != identity.tenant_id:
        raise ValueError(
            f"block {identity.block!r} is for tenant {block.tenant_id}, "
            f"not {identity.tenant_id}: one credential per tenant"
        )
    return block.client_secret.get_secret_value() if block.client_secret else None


def block_or_env_secret(identity: TenantIdentity) -> str | None:
    """The secret resolver of the Prefect layer: the identity's block when it names one, else
    its ``client_secret_env``. Every task that opens a registry passes it explicitly."""
    return secret_from_block(identity) or secret_from_env(identity)


def pull_token_from_block(block_name: str) -> PullLogin:
    """The pull token kept in the Secret block ``block_name`` (``grant-pull-token`` writes it:
    ``{"username", "password", "expires"}``). The resolver of ``pull_token_block``."""
    try:
        block = cast(Secret[Any], Secret.load(block_name, _sync=True))  # type: ignore[call-arg]
    except ValueError:
        raise ConfigError(
            f"no Secret block {block_name!r}: run grant-pull-token in the source tenant (or "
            "fix pull_token_block)"
        ) from None
    value = block.get()
    if not isinstance(value, dict):
        raise ConfigError(
            f"Secret block {block_name!r} holds no pull token (expected username, password and "
            "expires, as grant-pull-token writes them)"
        )
    try:
        return PullLogin.model_validate(value)
    except ValidationError:
        raise ConfigError(
            f"Secret block {block_name!r} holds no pull token (expected username, password and "
            "expires, as grant-pull-token writes them)"
        ) from None


def save_pull_token(block_name: str, login: PullLogin) -> None:
    """Keep ``login`` in the Secret block ``block_name`` (replacing what it held)."""
    expires: datetime | None = login.expires
    value = {
        "username": login.username,
        "password": login.password.get_secret_value(),
        "expires": expires.isoformat() if expires else None,
    }
    secret: Secret[Any] = Secret(value=value)  # type: ignore[arg-type]
    secret.save(block_name, overwrite=True, _sync=True)  # type: ignore[call-arg]


def delete_pull_token(block_name: str) -> bool:
    """Delete the Secret block ``block_name``; False when there was none."""
    try:
        Secret.delete(block_name, _sync=True)  # type: ignore[call-arg]
    except ValueError:
        return False
    return True
