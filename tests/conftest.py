"""Fixtures shared by every test folder: Prefect, the sandbox, and the migration config."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from acr_migrate.settings import MigrationConfig, load_config
from sandbox import api
from sandbox.certs import cert_paths
from sandbox.fault_proxy import FaultConfig, FaultProxy
from sandbox.seed import SeededImage, SeedSummary

# Prefect reads its settings at import: keep its database and results out of ~/.prefect.
_PREFECT_HOME = tempfile.mkdtemp(prefix="acr-migrate-prefect-")
os.environ.setdefault("PREFECT_HOME", _PREFECT_HOME)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

OUTPUT = Path(__file__).resolve().parents[1] / "test-output"


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """Where tests leave files for people to look at (screenshots, reports)."""
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """Prefect's own API server (temporary, SQLite) for flows run in this session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def sandbox_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Start the sandbox in a temp root, seed the source registry, yield the config path."""
    root = tmp_path_factory.mktemp("sandbox")
    config = api.up(root)
    try:
        api.seed(config)
        yield config
    finally:
        api.down(root)


@pytest.fixture(scope="session")
def sandbox_state(sandbox_config: Path) -> dict[str, Any]:
    """The machine-readable ``sandbox.json`` of the running session sandbox."""
    return api.load_state(sandbox_config.parent)


@pytest.fixture(scope="session")
def seed_summary(sandbox_config: Path) -> SeedSummary:
    """What the session fixture seeded (read back from ``seed.json``)."""
    data = json.loads((sandbox_config.parent / api.SEED_NAME).read_text())
    images = [SeededImage(**row) for row in data["images"]]
    return SeedSummary(registry=data["registry"], images=images)


FaultProxyFactory = Callable[..., FaultProxy]


@pytest.fixture
def fault_proxy(sandbox_state: dict[str, Any]) -> Iterator[FaultProxyFactory]:
    """Factory: ``fault_proxy(backend="target"|"source"|url, **FaultConfig fields)``.

    Returns a started in-process :class:`FaultProxy`; all are stopped after the test.
    """
    certs = cert_paths(Path(sandbox_state["root"]))
    started: list[FaultProxy] = []

    def make(backend: str = "target", **faults: Any) -> FaultProxy:
        url = sandbox_state[backend]["url"] if backend in ("source", "target") else backend
        proxy = FaultProxy(
            url,
            certfile=certs.server_pem,
            keyfile=certs.server_key,
            ca_bundle=certs.ca_pem,
            faults=FaultConfig(**faults),
        ).start()
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.stop()


@pytest.fixture(scope="session")
def sandbox_certs(sandbox_state: dict[str, Any]) -> dict[str, Path]:
    """TLS files of the session sandbox: ``{"ca": ca.pem, "cert": server.pem, "key": ...}``."""
    certs = cert_paths(Path(sandbox_state["root"]))
    return {"ca": certs.ca_pem, "cert": certs.server_pem, "key": certs.server_key}


@pytest.fixture(scope="session")
def migration_config(sandbox_config: Path) -> MigrationConfig:
    """The config the sandbox wrote, loaded as the CLI loads it (env file included)."""
    return load_config(sandbox_config)


@pytest.fixture(autouse=True)
def _azure_standin_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test during which the Azure stand-in logged an internal error fails (at teardown)."""
    if "sandbox_config" not in request.fixturenames:
        yield
        return
    log = Path(request.getfixturevalue("sandbox_config")).parent / "azure" / "errors.jsonl"
    before = log.stat().st_size if log.exists() else 0
    yield
    if log.exists() and log.stat().st_size > before:
        with log.open() as fh:
            fh.seek(before)
            new = [json.loads(line) for line in fh if line.strip()]
        new = [e for e in new if not e["where"].endswith("/_sandbox/raise")]
        lines = "\n".join(f"{e['where']}: {e['error']}\n{e['traceback']}" for e in new)
        if new:
            pytest.fail(f"the Azure stand-in logged {len(new)} internal error(s):\n{lines}")
