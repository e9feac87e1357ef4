"""Real Azure SDK clients wired to the stand-in (the kwargs that work, in one place).

``credential_kwargs`` / ``mgmt_kwargs`` / ``acr_kwargs`` give the constructor keyword arguments;
the helpers build clients from a running sandbox root. No environment variables are needed
except for ManagedIdentityCredential (``IDENTITY_ENDPOINT``/``IDENTITY_HEADER`` are read from
the environment by msal: see :func:`managed_identity_env`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sandbox import api

ACR_AUDIENCE = "https://containerregistry.azure.net"
ARM_SCOPE = "https://management.azure.com/.default"


class Sandbox:
    """Names, secrets and URLs of a running sandbox, per tenant ("source"/"target")."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.state = api.load_state(self.root)
        self.env = api.read_env_file(self.root / api.ENV_NAME)
        self.azure = self.state["azure"]
        self.ca = str(self.state["ca_bundle"])

    def tenant(self, which: str) -> dict[str, Any]:
        return dict(self.azure["tenants"][which])

    def secret(self, which: str) -> str:
        return self.env[api.SOURCE_SECRET_ENV if which == "source" else api.TARGET_SECRET_ENV]

    def admin_password(self, which: str) -> str:
        return self.env[api.SOURCE_PASSWORD_ENV if which == "source" else api.TARGET_PASSWORD_ENV]

    def credential_kwargs(self) -> dict[str, Any]:
        return {
            "authority": self.azure["authority_host"],
            "disable_instance_discovery": True,
            "connection_verify": self.ca,
        }

    def credential(self, which: str, secret: str | None = None) -> Any:
        from azure.identity import ClientSecretCredential

        t = self.tenant(which)
        return ClientSecretCredential(
            t["tenant_id"], t["client_id"], secret or self.secret(which), **self.credential_kwargs()
        )

    def workload_credential(self, which: str) -> Any:
        from azure.identity import WorkloadIdentityCredential

        t = self.tenant(which)
        return WorkloadIdentityCredential(
            tenant_id=t["tenant_id"],
            client_id=t["client_id"],
            token_file_path=t["federated_token_file"],
            **self.credential_kwargs(),
        )

    def managed_identity_env(self, which: str) -> dict[str, str]:
        key = which.upper()
        return {
            "IDENTITY_ENDPOINT": self.env[f"SANDBOX_{key}_IDENTITY_ENDPOINT"],
            "IDENTITY_HEADER": self.env[f"SANDBOX_{key}_IDENTITY_HEADER"],
        }

    def mgmt_kwargs(self) -> dict[str, Any]:
        return {
            "base_url": self.azure["resource_manager"],
            "credential_scopes": [ARM_SCOPE],
            "connection_verify": self.ca,
        }

    def mgmt(self, which: str, credential: Any = None, subscription: str | None = None) -> Any:
        from azure.mgmt.containerregistry import ContainerRegistryManagementClient

        return ContainerRegistryManagementClient(
            credential or self.credential(which),
            subscription or self.tenant(which)["subscription_id"],
            **self.mgmt_kwargs(),
        )

    def acr(self, which: str, credential: Any = None) -> Any:
        from azure.containerregistry import ContainerRegistryClient

        return ContainerRegistryClient(
            endpoint=self.tenant(which)["data_plane_url"],
            credential=credential or self.credential(which),
            audience=ACR_AUDIENCE,
            connection_verify=self.ca,
        )
