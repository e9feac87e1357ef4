"""One credential per tenant, built from :class:`TenantIdentity`.

Never ``DefaultAzureCredential``: it reads one tenant from the environment, and a migration
process talks to two. The authority host and the CA bundle are settings, which is all a local
stand-in for Entra ID needs.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from azure.core.credentials import AccessToken, TokenCredential
from azure.identity import (
    AzureCliCredential,
    ClientSecretCredential,
    ManagedIdentityCredential,
    WorkloadIdentityCredential,
)

from acr_migrate.azure.secrets import SecretResolver, secret_from_env
from acr_migrate.azure.settings import PUBLIC_AUTHORITY, IdentityKind, TenantIdentity
from acr_migrate.models import ConfigError


def transport_options(ca_bundle: str | None) -> dict[str, Any]:
    """azure-core transport keywords: trust ``ca_bundle`` when given."""
    return {"connection_verify": ca_bundle} if ca_bundle else {}


def token_tenant(token: str) -> str | None:
    """The ``tid`` claim of an Entra access token (read, not verified: the service verifies)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    tid = claims.get("tid") if isinstance(claims, dict) else None
    return str(tid) if tid else None


class TenantPinned:
    """A credential whose tokens must come from ``tenant_id``.

    A managed identity belongs to the tenant of its resource, whatever the settings say; a
    token from another tenant is refused here, with both tenants named, instead of at ARM.
    """

    def __init__(self, inner: Any, tenant_id: str) -> None:
        self.inner = inner
        self.tenant_id = tenant_id

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        token = self.inner.get_token(*scopes, **kwargs)
        got = token_tenant(token.token)
        if got is not None and got.lower() != self.tenant_id.lower():
            raise ConfigError(
                f"the managed identity's token is from tenant {got}, but its settings name "
                f"tenant {self.tenant_id}: run this worker in the tenant it migrates"
            )
        return token

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> TenantPinned:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def tenant_credential(
    identity: TenantIdentity,
    *,
    ca_bundle: str | None = None,
    resolve_secret: SecretResolver = secret_from_env,
) -> TokenCredential:
    """The credential of one tenant, pinned to that tenant; ``resolve_secret`` supplies a
    client secret (the environment by default)."""
    common: dict[str, Any] = {"authority": identity.authority_host, **transport_options(ca_bundle)}
    if identity.authority_host.rstrip("/") != PUBLIC_AUTHORITY:
        # A sovereign cloud or a stand-in: do not ask the public cloud for instance metadata.
        common["disable_instance_discovery"] = True
    kind = identity.kind
    if kind is IdentityKind.CLIENT_SECRET:
        secret = resolve_secret(identity)
        if not identity.client_id or not secret:
            raise ConfigError(
                f"tenant {identity.tenant_id}: client_secret identity needs client_id and a secret"
            )
        return ClientSecretCredential(identity.tenant_id, identity.client_id, secret, **common)
    if kind is IdentityKind.WORKLOAD_IDENTITY:
        token_file = os.environ.get(identity.token_file_env or "AZURE_FEDERATED_TOKEN_FILE")
        if not identity.client_id or not token_file:
            raise ConfigError(
                f"tenant {identity.tenant_id}: workload identity needs client_id and a token file"
            )
        return WorkloadIdentityCredential(
            tenant_id=identity.tenant_id,
            client_id=identity.client_id,
            token_file_path=token_file,
            **common,
        )
    if kind is IdentityKind.MANAGED_IDENTITY:
        return TenantPinned(
            ManagedIdentityCredential(client_id=identity.client_id, **transport_options(ca_bundle)),
            identity.tenant_id,
        )
    if kind is IdentityKind.AZURE_CLI:
        return AzureCliCredential(tenant_id=identity.tenant_id)
    raise ConfigError(f"unknown identity kind {kind!r}")
