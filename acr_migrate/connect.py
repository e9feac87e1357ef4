"""Build the adapters of the two ports from settings."""

from __future__ import annotations

from acr_migrate.engines.base import Engine
from acr_migrate.engines.oci_copy import OciCopyEngine
from acr_migrate.inventory.base import Inventory
from acr_migrate.inventory.oci import OciInventory
from acr_migrate.models import ConfigError, RegistryEndpoint
from acr_migrate.oci.client import RegistryClient


def open_inventory(
    endpoint: RegistryEndpoint, *, workers: int = 8, read_retries: int = 6
) -> Inventory:
    """An inventory of ``endpoint`` (OCI distribution API); reads retry throttling."""
    client = RegistryClient(endpoint, max_connections=max(8, workers), read_retries=read_retries)
    return OciInventory(client, workers=workers)


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
    raise ConfigError(f"unknown engine {name!r} (known: oci-copy)")
