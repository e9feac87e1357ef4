"""An Azure Container Registry behind the ports: ARM and the data plane, with the identity of
the registry's own tenant (its secret from the resolver the caller passes)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from azure.core.credentials import TokenCredential
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from pydantic import SecretStr

from acr_migrate.aks import ClusterLookup, ClusterRef
from acr_migrate.azure.aks import cluster_subscription_ref, read_cluster
from acr_migrate.azure.clients import AcrDataPlaneClient, data_plane_client, management_client
from acr_migrate.azure.compare import compare
from acr_migrate.azure.credentials import tenant_credential
from acr_migrate.azure.delete import ArmRegistryDeleter, delete_arm_registry
from acr_migrate.azure.document import document_registry, preflight_findings
from acr_migrate.azure.freeze import AcrFreezer
from acr_migrate.azure.import_engine import AcrImportEngine, PasswordSource
from acr_migrate.azure.inventory import AcrInventory
from acr_migrate.azure.permissions import require_rights
from acr_migrate.azure.provision import ProvisionReport, provision
from acr_migrate.azure.pull_token import grant, revoke, token_state
from acr_migrate.azure.rbac import assign, registry_assignments, unassign
from acr_migrate.azure.secrets import SecretResolver
from acr_migrate.azure.settings import AcrRegistryRef, arm_scope
from acr_migrate.models import RegistryEndpoint
from acr_migrate.pull_token import PullLogin, TokenState
from acr_migrate.rbac import PlannedAssignment


class AzureRegistry:
    """One ACR: its tenant credential (made once), ARM and data-plane clients, the adapters."""

    def __init__(self, endpoint: RegistryEndpoint, ref: AcrRegistryRef, secrets: SecretResolver):
        self.endpoint = endpoint
        self.ref = ref
        self.secrets = secrets
        self._credential: TokenCredential | None = None

    def credential(self) -> TokenCredential:
        """The registry tenant's credential."""
        if self._credential is None:
            self._credential = tenant_credential(
                self.ref.identity, ca_bundle=self.endpoint.ca_bundle, resolve_secret=self.secrets
            )
        return self._credential

    def management(
        self, *, surface_import_retries: bool = False
    ) -> ContainerRegistryManagementClient:
        """An ARM client of the registry's subscription (close it, or use it as a context)."""
        return management_client(
            self.ref,
            self.credential(),
            ca_bundle=self.endpoint.ca_bundle,
            surface_import_retries=surface_import_retries,
        )

    def data_plane(self) -> AcrDataPlaneClient:
        return data_plane_client(
            self.endpoint.url, self.credential(), ca_bundle=self.endpoint.ca_bundle
        )

    def inventory(self, *, workers: int = 8) -> AcrInventory:
        return AcrInventory(self.data_plane(), self.endpoint.login_server, workers=workers)

    def deleter(self) -> ArmRegistryDeleter:
        inventory = self.inventory()

        def remove() -> None:
            with self.management() as arm:
                delete_arm_registry(arm, self.ref)

        return ArmRegistryDeleter(self.endpoint, inventory.images, remove, inventory.close)

    def role_assignments(self) -> list[dict[str, Any]]:
        """The role assignments made on the registry itself."""
        with self.management() as arm:
            return registry_assignments(arm, self.ref)

    def assign(self, planned: list[PlannedAssignment]) -> list[bool]:
        """Create each planned assignment; True where it was created, False where it existed."""
        with self.management() as arm:
            return [assign(arm, self.ref, p) for p in planned]

    def unassign(self, assignment_ids: list[str]) -> list[bool]:
        """Delete role assignments by id; True where deleted, False where already gone."""
        with self.management() as arm:
            return [unassign(arm, self.ref, i) for i in assignment_ids]

    def clusters(self, clusters: list[ClusterRef]) -> list[ClusterLookup]:
        """The kubelet identity of each AKS cluster (or why there is none), read with this
        registry's tenant identity through an ARM client of each cluster's subscription."""
        found: list[ClusterLookup] = []
        for cluster in clusters:
            ref = cluster_subscription_ref(self.ref, cluster)
            with management_client(
                ref, self.credential(), ca_bundle=self.endpoint.ca_bundle
            ) as arm:
                found.append(read_cluster(arm, ref, cluster))
        return found

    def freezer(self) -> AcrFreezer:
        return AcrFreezer(self.data_plane())

    def import_engine(self, source: RegistryEndpoint, pull: PasswordPair) -> AcrImportEngine:
        """``acr-import`` into this registry from ``source``, pulling with ``pull``."""
        username, password = pull
        return AcrImportEngine(
            self.management(surface_import_retries=True),
            self.ref,
            self.data_plane(),
            source_registry_uri=source.login_server,
            source_username=username,
            source_password=password,
        )

    def pull_token(self) -> Callable[[], SecretStr]:
        """An ARM token of this registry's tenant and cloud, fetched per call, for ARM to pull
        with (``az acr import --password <token>``; Entra tokens live 60-90 minutes)."""
        credential = self.credential()
        scope = arm_scope(self.ref.resource_manager)

        def token() -> SecretStr:
            return SecretStr(credential.get_token(scope).token)

        return token

    def token_state(self, token: str, scope_map: str) -> TokenState:
        """What the registry holds of a pull token and its scope map."""
        with self.management() as arm:
            return token_state(arm, self.ref, token, scope_map)

    def grant_pull_token(
        self, token: str, scope_map: str, actions: list[str], expiry: datetime
    ) -> tuple[PullLogin, TokenState]:
        """The scope map with ``actions``, the token on it, a new password until ``expiry``."""
        with self.management() as arm:
            return grant(arm, self.ref, token, scope_map, actions, expiry)

    def revoke_pull_token(self, token: str, scope_map: str) -> list[str]:
        """Delete the token and its scope map; what was removed."""
        with self.management() as arm:
            return revoke(arm, self.ref, token, scope_map)

    def document(self) -> tuple[dict[str, Any], list[str]]:
        """The registry's configuration and role assignments, and the preflight findings."""
        with self.management() as arm:
            findings = require_rights(arm, self.ref, "document")
            document = document_registry(arm, self.ref)
        return document, findings + preflight_findings(document)

    def differences(self, source_document: dict[str, Any]) -> list[str]:
        """Where this registry differs from ``source_document`` in what provisioning mirrors."""
        with self.management() as arm:
            return compare(source_document, document_registry(arm, self.ref))

    def provision(self, document: dict[str, Any], *, dry_run: bool) -> ProvisionReport:
        """Create this registry and its sub-resources from a source's document."""
        with self.management() as arm:
            require_rights(arm, self.ref, "provision")
            return provision(arm, document, self.ref, dry_run=dry_run)


#: The source's pull credentials for ``acr-import``: a username (or None) and a password.
PasswordPair = tuple[str | None, PasswordSource]
