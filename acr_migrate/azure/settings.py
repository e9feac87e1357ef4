"""Where an ACR lives in Azure and which tenant identity reaches it."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

PUBLIC_AUTHORITY = "https://login.microsoftonline.com"
PUBLIC_RESOURCE_MANAGER = "https://management.azure.com"
ACR_AUDIENCE = "https://containerregistry.azure.net"
#: ARM endpoints of the sovereign clouds, each its own token audience.
SOVEREIGN_RESOURCE_MANAGERS = (
    "https://management.usgovcloudapi.net",
    "https://management.chinacloudapi.cn",
)


def arm_scope(resource_manager: str) -> str:
    """The token scope for an ARM endpoint: its own for the public and sovereign clouds; the
    public one for any other host (a local stand-in accepts public-cloud audiences)."""
    base = resource_manager.rstrip("/").lower()
    if base in SOVEREIGN_RESOURCE_MANAGERS:
        return f"{base}/.default"
    return f"{PUBLIC_RESOURCE_MANAGER}/.default"


class IdentityKind(StrEnum):
    """How a worker proves who it is in one tenant."""

    CLIENT_SECRET = "client_secret"
    MANAGED_IDENTITY = "managed_identity"
    WORKLOAD_IDENTITY = "workload_identity"
    AZURE_CLI = "azure_cli"


class TenantIdentity(BaseModel):
    """One Entra tenant and the identity used in it. Secrets are named, never held."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: str = Field(description="Entra tenant (directory) id")
    kind: IdentityKind = Field(default=IdentityKind.CLIENT_SECRET)
    client_id: str | None = Field(default=None, description="App (client) id, or MI client id")
    client_secret_env: str | None = Field(
        default=None, description="Environment variable holding the client secret"
    )
    block: str | None = Field(
        default=None, description="Name of a TenantCredentials Prefect block holding the secret"
    )
    token_file_env: str | None = Field(
        default=None, description="Workload identity: variable naming the federated token file"
    )
    authority_host: str = Field(default=PUBLIC_AUTHORITY, description="Entra authority")


class AcrRegistryRef(BaseModel):
    """An Azure Container Registry as ARM knows it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subscription_id: str
    resource_group: str
    registry: str = Field(description="Registry resource name (e.g. contosoprod)")
    location: str = Field(default="westeurope", description="Region for a registry we create")
    resource_manager: str = Field(default=PUBLIC_RESOURCE_MANAGER, description="ARM endpoint")
    identity: TenantIdentity

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.ContainerRegistry/registries/{self.registry}"
        )
