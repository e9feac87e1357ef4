"""One door to every registry: which adapters of the ports an endpoint gets is decided here.

An endpoint with an ``azure`` section is an Azure Container Registry: read through its data
plane, imported into through ARM (``acr-import``), deleted through ARM, documented and
provisioned through ARM, always with the identity of its own tenant. Any other endpoint is an
OCI registry reached through the distribution API. Callers never ask which.

Secrets are explicit: ``open_registry(endpoint, secrets=..., pull_tokens=...)`` takes the
resolver of client secrets (the environment by default; the Prefect layer passes one that reads
blocks) and the resolver of pull-token blocks (none outside Prefect).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from acr_migrate.azure.secrets import SecretResolver, secret_from_env
from acr_migrate.models import ConfigError, ImageRow, RegistryEndpoint
from acr_migrate.ports import Engine, Freezer, Inventory, SourceDeleter, TargetState
from acr_migrate.pull_token import PullLogin, PullTokenResolver, TokenState, no_pull_tokens
from acr_migrate.settings import EngineName

if TYPE_CHECKING:  # the Azure SDKs load only when an Azure registry is used
    from acr_migrate.aks import ClusterLookup, ClusterRef
    from acr_migrate.azure.provision import ProvisionReport
    from acr_migrate.azure.registry import AzureRegistry
    from acr_migrate.oci.client import RegistryClient
    from acr_migrate.rbac import PlannedAssignment


class Registry:
    """A registry as the ports see it (made by :func:`open_registry`)."""

    def __init__(
        self,
        endpoint: RegistryEndpoint,
        secrets: SecretResolver,
        pull_tokens: PullTokenResolver = no_pull_tokens,
    ):
        self.endpoint = endpoint
        self.secrets = secrets
        self.pull_tokens = pull_tokens
        self._azure: AzureRegistry | None = None

    @property
    def is_azure(self) -> bool:
        """Whether this is an ACR with an ARM side (an ``azure`` section)."""
        return self.endpoint.azure is not None

    def azure(self, needed_for: str = "this") -> AzureRegistry:
        """The ARM side of the registry; a clear error naming what needs it when there is none."""
        ref = self.endpoint.azure
        if ref is None:
            raise ConfigError(
                f"{self.endpoint.name!r} has no [azure] section (subscription, resource group, "
                f"identity), which {needed_for} needs"
            )
        if self._azure is None:
            from acr_migrate.azure.registry import AzureRegistry

            self._azure = AzureRegistry(self.endpoint, ref, self.secrets)
        return self._azure

    def inventory(self, *, workers: int = 8, read_retries: int = 6) -> Inventory:
        """The inventory adapter: the ACR data plane, else the OCI distribution API."""
        if self.is_azure:
            return self.azure().inventory(workers=workers)
        from acr_migrate.oci.client import RegistryClient
        from acr_migrate.oci.inventory import OciInventory

        client = RegistryClient(
            self.endpoint, max_connections=max(8, workers), read_retries=read_retries
        )
        return OciInventory(client, workers=workers)

    def current(self, rows: Iterable[ImageRow]) -> TargetState:
        """What each row's tag (or untagged digest) resolves to in this registry now, read as
        an import's puller may (the target tenant, after an export). An ACR is listed through
        its data plane with its tenant identity (one call per repository) when this worker
        holds it; otherwise, or when that fails, one HEAD per tag through the distribution
        API with the pull login (pull token, else the registry's own user). Few read retries:
        a registry that is gone must not hold the run up."""
        rows = list(rows)
        username, password = self.pull_login()
        if self.is_azure:
            try:
                listing = self.azure().inventory()
                try:
                    return listing.current(rows)
                finally:
                    listing.close()
            except Exception:
                if password is None:
                    raise  # no other way in
        from acr_migrate.oci.client import RegistryClient
        from acr_migrate.oci.inventory import OciInventory

        client = RegistryClient(self.endpoint, read_retries=1, credentials=(username, password))
        heads = OciInventory(client)
        try:
            return heads.current(rows)
        finally:
            heads.close()

    def oci_client(self, **options: Any) -> RegistryClient:
        """A distribution-API client with the endpoint's own user (e.g. a pull-only token):
        what an application pulling from the registry sees."""
        from acr_migrate.oci.client import RegistryClient

        return RegistryClient(self.endpoint, **options)

    def deleter(self) -> SourceDeleter:
        """The deletion adapter: the whole registry through ARM, else manifest by manifest."""
        if self.is_azure:
            return self.azure().deleter()
        from acr_migrate.oci.client import RegistryClient
        from acr_migrate.oci.delete import OciManifestDeleter

        return OciManifestDeleter(RegistryClient(self.endpoint, read_retries=6))

    def role_assignments(self) -> list[dict[str, Any]]:
        """The role assignments made on an ACR itself (a plain OCI registry has none)."""
        return self.azure("reading role assignments").role_assignments()

    def assign(self, planned: list[PlannedAssignment]) -> list[bool]:
        """Create each planned role assignment on an ACR; True where created, False where an
        equal one was already there."""
        return self.azure("creating role assignments").assign(planned)

    def unassign(self, assignment_ids: list[str]) -> list[bool]:
        """Delete role assignments of an ACR by id; True where deleted, False where gone."""
        return self.azure("removing role assignments").unassign(assignment_ids)

    def clusters(self, clusters: list[ClusterRef]) -> list[ClusterLookup]:
        """The kubelet identity of each AKS cluster, read through ARM with this ACR's tenant
        identity (the clusters may live in other subscriptions of that tenant)."""
        return self.azure("reading AKS clusters").clusters(clusters)

    def freezer(self) -> Freezer:
        """The freeze adapter: repository locks of an ACR. A plain OCI registry has none."""
        if not self.is_azure:
            raise ConfigError(
                f"{self.endpoint.name!r} is a plain OCI registry: the distribution API has no "
                "write lock, so it cannot be frozen. Stop the pipelines that push to it (or "
                "take their push rights) until the import is validated, or give it an [azure] "
                "section if it is an ACR"
            )
        return self.azure().freezer()

    def document(self) -> tuple[dict[str, Any] | None, list[str]]:
        """An ACR's configuration and role assignments with the preflight findings; nothing
        for an OCI registry (it has no configuration to document)."""
        if not self.is_azure:
            return None, []
        return self.azure().document()

    def differences(self, source_document: dict[str, Any]) -> list[str]:
        """Field by field, where this registry differs from what provisioning mirrors of the
        source's document (empty when all match)."""
        return self.azure("comparing with the source").differences(source_document)

    def provision(self, document: dict[str, Any], *, dry_run: bool) -> ProvisionReport:
        return self.azure("creating a registry").provision(document, dry_run=dry_run)

    def pull_token(self) -> PullLogin | None:
        """The pull token the endpoint's ``pull_token_block`` holds (None when it names none);
        a clear error when it has expired."""
        block = self.endpoint.pull_token_block
        if not block:
            return None
        login = self.pull_tokens(block)
        if login.expired():
            raise ConfigError(
                f"registry {self.endpoint.name!r}: the pull token in block {block!r} expired at "
                f"{login.expires:%Y-%m-%d %H:%M} UTC: run grant-pull-token again"
            )
        return login

    def pull_login(self) -> tuple[str | None, SecretStr | None]:
        """Who pulls from this registry for an import: its pull token when it names one,
        else its own user (``username`` and the secret in ``password_env``)."""
        token = self.pull_token()
        if token is not None:
            return token.username, token.password
        return self.endpoint.username, self.endpoint.password()

    def token_state(self, token: str, scope_map: str) -> TokenState:
        return self.azure("a pull token").token_state(token, scope_map)

    def grant_pull_token(
        self, token: str, scope_map: str, actions: list[str], expiry: datetime
    ) -> tuple[PullLogin, TokenState]:
        """A repository-scoped pull token on an ACR (a plain OCI registry has none)."""
        return self.azure("a pull token (scope map and token)").grant_pull_token(
            token, scope_map, actions, expiry
        )

    def revoke_pull_token(self, token: str, scope_map: str) -> list[str]:
        return self.azure("revoking a pull token").revoke_pull_token(token, scope_map)

    def pull_credentials(self) -> tuple[str | None, Any]:
        """How ARM pulls from this registry during ``acr-import``: its pull token when it names
        one, else the registry's own user when ``password_env`` is set, else an Entra token of
        its tenant with no username."""
        token = self.pull_token()
        if token is not None:
            return token.username, token.password
        password = self.endpoint.password()
        if password is not None and self.endpoint.username:
            return self.endpoint.username, password
        if not self.is_azure:
            raise ConfigError(
                f"source {self.endpoint.name!r}: no password_env and no Azure identity to pull with"
            )
        return None, self.azure().pull_token()


def open_registry(
    endpoint: RegistryEndpoint,
    *,
    secrets: SecretResolver | None = None,
    pull_tokens: PullTokenResolver | None = None,
) -> Registry:
    """The registry at ``endpoint``; client secrets come from ``secrets`` (else the
    environment), pull tokens from ``pull_tokens`` (else a named block is an error)."""
    return Registry(endpoint, secrets or secret_from_env, pull_tokens or no_pull_tokens)


def open_engine(
    name: EngineName | str, source: Registry, target: Registry, *, concurrency: int = 8
) -> Engine:
    """The engine called ``name`` from ``source`` into ``target``."""
    try:
        engine = EngineName(name)
    except ValueError:
        known = ", ".join(e.value for e in EngineName)
        raise ConfigError(f"unknown engine {name!r} (known: {known})") from None
    if engine is EngineName.OCI_COPY:
        from acr_migrate.oci.client import RegistryClient
        from acr_migrate.oci.copy import OciCopyEngine

        connections = max(8, concurrency * 2)
        return OciCopyEngine(
            RegistryClient(
                source.endpoint, max_connections=connections, credentials=source.pull_login()
            ),
            RegistryClient(target.endpoint, max_connections=connections),
        )
    azure = target.azure("engine acr-import (into [target.azure])")
    return azure.import_engine(source.endpoint, source.pull_credentials())
