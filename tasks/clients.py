"""Per-process cache of registry clients, so images share connections and tokens."""

from __future__ import annotations

import threading

from acr_migrate.connect import open_engine, open_inventory
from acr_migrate.engines.base import Engine
from acr_migrate.inventory.base import Inventory
from acr_migrate.models import RegistryEndpoint


def _azure_identities(*endpoints: RegistryEndpoint) -> None:
    """Register the block secret source before an Azure identity is used.

    Imported only then: it loads the Azure identity SDK (~0.5 s), which a run between plain
    OCI registries never needs.
    """
    if any(e.azure is not None for e in endpoints):
        from tasks import credentials as _credentials  # noqa: F401 - registers the source


_lock = threading.Lock()
_engines: dict[tuple[str, RegistryEndpoint, RegistryEndpoint], Engine] = {}


def engine_for(
    name: str, source: RegistryEndpoint, target: RegistryEndpoint, concurrency: int
) -> Engine:
    """The engine for this pair of registries, created once per process."""
    key = (name, source, target)
    with _lock:
        if key not in _engines:
            _azure_identities(source, target)
            _engines[key] = open_engine(name, source, target, concurrency=concurrency)
        return _engines[key]


def inventory_for(endpoint: RegistryEndpoint) -> Inventory:
    """A fresh inventory (inventories are used once per flow run)."""
    _azure_identities(endpoint)
    return open_inventory(endpoint)


def close_all() -> None:
    """Close every cached engine (end of a flow run)."""
    with _lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.close()
