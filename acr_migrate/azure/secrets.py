"""Where a tenant identity's client secret comes from, passed explicitly to whoever needs it.

The core knows the environment (``client_secret_env``); an outer layer may supply another
resolver (the Prefect layer's ``tasks.credentials.block_or_env_secret`` reads blocks). Nothing
is registered globally: a resolver is an argument, so no import order can lose it.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from acr_migrate.azure.settings import TenantIdentity
from acr_migrate.models import ConfigError

#: Returns the client secret of an identity, or None when it names none.
SecretResolver = Callable[[TenantIdentity], str | None]


def secret_from_env(identity: TenantIdentity) -> str | None:
    """The client secret from ``client_secret_env``; a clear error when that is unset."""
    if not identity.client_secret_env:
        return None
    value = os.environ.get(identity.client_secret_env)
    if not value:
        raise ConfigError(
            f"tenant {identity.tenant_id}: environment variable "
            f"{identity.client_secret_env} is not set"
        )
    return value
