"""Build the adapters of the two ports from settings.

An endpoint with an ``azure`` section is read through the ACR data plane (``acr`` inventory,
Entra identity of its tenant); any other through the OCI distribution API.
"""

from __future__ import annotations

from acr_migrate.engines.base import Engine
from acr_migrate.engines.oci_copy import OciCopyEngine
from acr_migrate.inventory.base import Inventory
from acr_migrate.inventory.oci import OciInventory
from acr_migrate.models import ConfigError, RegistryEndpoint
from acr_migrate.oci.client import RegistryClient

ENGINES = ("acr-import", "oci-copy")


def open_inventory(
    endpoint: RegistryEndpoint, *, workers: int = 8, read_retries: int = 6
) -> Inventory:
    """An inventory of ``endpoint``: ``acr`` for an Azure registry, else ``oci``."""
    if endpoint.azure is not None:
        from acr_migrate.azure.clients import data_plane_client
        from acr_migrate.azure.credentials import tenant_credential
        from acr_migrate.azure.inventory import AcrInventory

        credential = tenant_credential(endpoint.azure.identity, ca_bundle=endpoint.ca_bundle)
        acr = data_plane_client(endpoint.url, credential, ca_bundle=endpoint.ca_bundle)
        return AcrInventory(acr, endpoint.login_server, workers=workers)
    oci = RegistryClient(endpoint, max_connections=max(8, workers), read_retries=read_retries)
    return OciInventory(oci, workers=workers)


def open_engine(
    name: str, source: RegistryEndpoint, target: RegistryEndpoint, *, concurrency: int = 8
) -> Engine:
    """The engine called ``name`` between ``source`` and ``target``."""
    if name == "oci-copy":
        connections = max(8, concurrency * 2)
        return OciCopyEngine(
            RegistryClient(source, max_connections=connections),
            RegistryClient(target, max_connections=connections),
        )
    if name == "acr-import":
        if target.azure is None:
            raise ConfigError(
                f"engine acr-import needs [target.azure] (subscription, resource group, identity) "
                f"for {target.name!r}"
            )
        from acr_migrate.azure.clients import data_plane_client, management_client
        from acr_migrate.azure.credentials import tenant_credential
        from acr_migrate.azure.import_engine import AcrImportEngine, source_credentials

        credential = tenant_credential(target.azure.identity, ca_bundle=target.ca_bundle)
        username, password = source_credentials(source)
        return AcrImportEngine(
            management_client(
                target.azure, credential, ca_bundle=target.ca_bundle, surface_import_retries=True
            ),
            target.azure,
            data_plane_client(target.url, credential, ca_bundle=target.ca_bundle),
            source_registry_uri=source.login_server,
            source_username=username,
            source_password=password,
        )
    raise ConfigError(f"unknown engine {name!r} (known: {', '.join(ENGINES)})")
