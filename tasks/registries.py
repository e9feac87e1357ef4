"""The registries of a flow run, opened with the Prefect layer's secrets (blocks, else env).

Engines are cached per process so the images of a run share connections and tokens;
inventories and deleters are used once per task and closed by it.
"""

from __future__ import annotations

import threading

from acr_migrate.models import RegistryEndpoint
from acr_migrate.ports import Engine
from acr_migrate.registry import Registry, open_engine, open_registry
from tasks.credentials import block_or_env_secret, pull_token_from_block


def registry(endpoint: RegistryEndpoint) -> Registry:
    """``endpoint`` behind the ports, its tenant secret from a block or the environment, its
    pull token (``pull_token_block``) from a Secret block."""
    return open_registry(endpoint, secrets=block_or_env_secret, pull_tokens=pull_token_from_block)


_lock = threading.Lock()
_engines: dict[tuple[str, RegistryEndpoint, RegistryEndpoint], Engine] = {}


def engine_for(
    name: str, source: RegistryEndpoint, target: RegistryEndpoint, concurrency: int
) -> Engine:
    """The engine for this pair of registries, created once per process."""
    key = (name, source, target)
    with _lock:
        if key not in _engines:
            _engines[key] = open_engine(
                name, registry(source), registry(target), concurrency=concurrency
            )
        return _engines[key]


def close_all() -> None:
    """Close every cached engine (end of a flow run)."""
    with _lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.close()
