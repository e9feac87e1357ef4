"""Fixtures of the operating tests: the sandbox's plain OCI registries, a real Prefect server
(``prefect server start``, SQLite, loopback), the project deployed to it with ``prefect deploy
--all``, and one process worker per tenant work pool with that tenant's secrets only.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from acr_migrate.models import RegistryEndpoint
from acr_migrate.settings import MigrationConfig, load_config
from sandbox import api, prefect_server
from sandbox.certs import cert_paths
from sandbox.fault_proxy import FaultConfig, FaultProxy, FaultState, create_app

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def oci_config(sandbox_config: Path) -> MigrationConfig:
    """The session sandbox as plain OCI registries and the oci-copy engine: the ``oci.toml``
    that ``sandbox up`` writes beside the Azure config (the backing registries with their own
    users), so the operating tests need no provisioning."""
    return load_config(sandbox_config.parent / api.OCI_CONFIG_NAME)


@pytest.fixture
def target_acr(migration_config: MigrationConfig) -> RegistryEndpoint:
    """The config's target ACR exists in ARM, as after ``provision`` (created, with its admin
    user, when a test before deleted it or none created it yet): Azure serves no data plane
    for a registry that does not exist, and the runs' preflight says so."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.mgmt.containerregistry.models import Registry, RegistryUpdateParameters, Sku

    from acr_migrate.registry import open_registry

    target = migration_config.target
    assert target.azure is not None
    ref = target.azure
    client = open_registry(target).azure().management()
    with client:
        try:
            found = client.registries.get(ref.resource_group, ref.registry)
        except ResourceNotFoundError:
            body = Registry(
                location=ref.location, sku=Sku(name="Standard"), admin_user_enabled=True
            )
            client.registries.begin_create(ref.resource_group, ref.registry, body).result()
        else:
            if not found.admin_user_enabled:  # another test's PUT replaced it without one
                update = RegistryUpdateParameters(admin_user_enabled=True)
                client.registries.begin_update(ref.resource_group, ref.registry, update).result()
    return target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PrefectApi:
    """A real Prefect server for this session (the sandbox's own, on a free port)."""

    url: str
    root: Path

    @property
    def ui(self) -> str:
        return self.url.removesuffix("/api")

    def client(self) -> Any:
        """An async Prefect client of this server (whatever the test session's settings are)."""
        from prefect.client.orchestration import PrefectClient

        return PrefectClient(api=self.url)

    def call(self, fn: Any) -> Any:
        """Run ``await fn(client)`` with a client of this server."""

        async def go() -> Any:
            async with self.client() as client:
                return await fn(client)

        return asyncio.run(go())


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectApi]:
    """``prefect server start`` on a free loopback port with its own PREFECT_HOME (SQLite),
    started the way the sandbox starts its own."""
    root = tmp_path_factory.mktemp("prefect-server")
    try:
        yield PrefectApi(url=prefect_server.server_up(root, port=0), root=root)
    finally:
        prefect_server.down(root)


@dataclass
class Deployed:
    """The project deployed to the session's server, with a worker per tenant pool."""

    api: PrefectApi
    config: MigrationConfig
    deploy_output: str
    worker_env: dict[str, dict[str, str]]


@pytest.fixture(scope="session")
def deployed(
    prefect_api: PrefectApi, oci_config: MigrationConfig, sandbox_config: Path
) -> Deployed:
    """Work pools, the default-endpoint variables, ``prefect deploy --all``, two workers."""
    root, url = prefect_api.root, prefect_api.url
    output = prefect_server.deploy(root, url, oci_config)
    sandbox_env = api.read_env_file(sandbox_config.parent / api.ENV_NAME)
    secrets = prefect_server.tenant_secrets(oci_config, sandbox_env)
    prefect_server.workers_up(root, url, secrets)
    return Deployed(api=prefect_api, config=oci_config, deploy_output=output, worker_env=secrets)


FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def wait_final(api_: PrefectApi, run_id: Any, timeout: float = 300) -> Any:
    """The flow run once it reached a final state."""
    deadline = time.monotonic() + timeout
    while True:
        run = api_.call(lambda c: c.read_flow_run(run_id))
        if run.state and run.state.type.value in FINAL:
            return run
        assert time.monotonic() < deadline, f"flow run {run.name} still {run.state_name}"
        time.sleep(1)


def run_deployment(api_: PrefectApi, name: str, parameters: dict[str, Any]) -> Any:
    """Start a run of deployment ``flow/deployment`` as the UI's Run button does; wait for it."""

    async def create(client: Any) -> Any:
        deployment = await client.read_deployment_by_name(name)
        return await client.create_flow_run_from_deployment(deployment.id, parameters=parameters)

    run = api_.call(create)
    return wait_final(api_, run.id)


def task_runs(api_: PrefectApi, flow_run_id: Any) -> list[Any]:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    return list(
        api_.call(
            lambda c: c.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
        )
    )


@dataclass
class FinishedImport:
    """An export and an import run through the deployments and workers, both finished."""

    api: PrefectApi
    config: MigrationConfig
    prefix: str
    pushed: dict[str, str]
    export_run: Any
    location: Any
    triggered_run: Any
    import_run: Any
    image_runs: dict[str, Any]


@pytest.fixture(scope="session")
def finished_import(deployed: Deployed) -> FinishedImport:
    """Push a few images, export and import them through the deployments (as from the UI)."""
    from acr_migrate.storage import BlobStore
    from sandbox.oci_push import build_image, make_layer, push_image
    from tests.helpers import push_endpoint, uid

    api_, cfg = deployed.api, deployed.config
    prefix = f"ui-{uid()}"
    pushed: dict[str, str] = {}
    for n in range(5):
        image = build_image([make_layer({f"f{n}": f"{prefix}-{n}".encode() * 300})])
        repo = f"{prefix}/app{n % 2}"
        tags = [f"1.{n}"] + (["stable"] if n == 4 else [])
        push_image(push_endpoint(cfg.source), repo, tags, image)
        pushed.update({f"{repo}:{tag}": image.digest for tag in tags})

    export_run = run_deployment(
        api_, "source-export/source-export", {"options": {"include": [f"{prefix}/*"]}}
    )
    assert export_run.state.is_completed(), export_run.state.message
    location = BlobStore(cfg.storage).latest_manifest(cfg.source.name)
    assert location.blob.startswith(f"{cfg.source.name}/")

    blob = location.blob

    # The export's event starts a dry run of the import with this manifest (trigger).
    async def triggered(client: Any) -> Any:
        deployment = await client.read_deployment_by_name("target-import/target-import")
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

        runs = await client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id]))
        )
        return [r for r in runs if (r.parameters.get("manifest") or {}).get("blob") == blob]

    deadline = time.monotonic() + 120
    while not (found := api_.call(triggered)):
        assert time.monotonic() < deadline, "the export event did not start an import dry run"
        time.sleep(1)
    triggered_run = wait_final(api_, found[0].id)

    import_run = run_deployment(
        api_,
        "target-import/target-import",
        {"manifest": location.model_dump(mode="json"), "options": {"concurrency": 4}},
    )
    assert import_run.state.is_completed(), import_run.state.message
    # The server records task runs from events: wait until every image's run is final.
    deadline = time.monotonic() + 120
    while True:
        runs = [r for r in task_runs(api_, import_run.id) if r.task_key.startswith("import_image")]
        if runs and all(r.state_name == "Completed" for r in runs):
            break
        assert time.monotonic() < deadline, [(r.name, r.state_name) for r in runs]
        time.sleep(1)
    # Leave the shared source as seeded (other tests compare a full export with the seed).
    from acr_migrate.oci.client import RegistryClient

    with RegistryClient(cfg.source) as source:
        for ref, digest in pushed.items():
            source.delete_manifest(ref.split(":")[0], digest)
    return FinishedImport(
        api=api_,
        config=cfg,
        prefix=prefix,
        pushed=pushed,
        export_run=export_run,
        location=location,
        triggered_run=triggered_run,
        import_run=import_run,
        image_runs={r.name: r for r in runs},
    )


class RecordingState(FaultState):
    """Fault decisions as usual, plus when each request arrived and whether it was refused."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.seen: list[tuple[float, str, str, bool]] = []
        self._seen_lock = threading.Lock()

    def decide(self, method: str, path: str) -> tuple[bool, float]:
        fault, latency = super().decide(method, path)
        with self._seen_lock:
            self.seen.append((time.monotonic(), method, path, fault))
        return fault, latency


@pytest.fixture
def recording_proxy(sandbox_state: dict[str, Any]) -> Iterator[Any]:
    """``make(backend_url, **faults)``: a fault proxy in front of a registry that records when
    each request arrived and whether it was refused (``state.seen``)."""
    certs = cert_paths(Path(sandbox_state["root"]))
    started: list[FaultProxy] = []

    def make(backend_url: str, **faults: Any) -> tuple[FaultProxy, RecordingState]:
        proxy = FaultProxy(
            backend_url, certfile=certs.server_pem, keyfile=certs.server_key, ca_bundle=certs.ca_pem
        )
        state = RecordingState(FaultConfig(**faults))
        verify = ssl.create_default_context(cafile=str(certs.ca_pem))
        proxy.state = state
        proxy._app = create_app(backend_url, state, verify)
        started.append(proxy.start())
        return proxy, state

    yield make
    for proxy in started:
        proxy.stop()


DEMO_IMAGES = 6
_TAG = uuid.uuid4().hex[:6]
#: The secrets the demo's sandbox is started with: distinctive, so that a search finds them
#: ('+' and '/' make their URL-encoded forms differ from them).
DEMO_SECRETS = {
    api.SOURCE_PASSWORD_ENV: f"Canary-SrcAdmin-{_TAG}+pw/1",
    api.TARGET_PASSWORD_ENV: f"Canary-TgtAdmin-{_TAG}+pw/2",
    api.SOURCE_SECRET_ENV: f"Canary-SrcClientSecret-{_TAG}+/3",
    api.TARGET_SECRET_ENV: f"Canary-TgtClientSecret-{_TAG}+/4",
    api.RAW_SOURCE_PASSWORD_ENV: f"Canary-RawSrc-{_TAG}+pw/5",
    api.RAW_TARGET_PASSWORD_ENV: f"Canary-RawTgt-{_TAG}+pw/6",
    api.SOURCE_IDENTITY_HEADER_ENV: f"Canary-SrcMiHeader-{_TAG}+7",
    api.TARGET_IDENTITY_HEADER_ENV: f"Canary-TgtMiHeader-{_TAG}+8",
    api.STORAGE_KEY_NAME: base64.b64encode(
        f"Canary-StorageKey-{_TAG}-0123456789".encode()
    ).decode(),
}


@dataclass
class DemoSandbox:
    """What ``make demo`` leaves: a sandbox of its own (secrets :data:`DEMO_SECRETS`), its
    Prefect server, the demo's five runs, then ``acr-migrate import`` from a terminal."""

    root: Path
    config: Path
    api_url: str
    seeded: dict[str, Any]
    runs: list[Any]
    terminal: list[str]
    cli: subprocess.CompletedProcess[str]
    #: ``/_sandbox/secrets`` after the demo: every secret the stand-in holds, and the tokens
    #: it signed from ``up`` on.
    standin: dict[str, Any]


def standin_secrets(root: Path, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """``/_sandbox/secrets`` of the Azure stand-in of the sandbox at ``root`` (PUT ``body``)."""
    state = api.load_state(root)
    url = f"{state['azure']['resource_manager']}/_sandbox/secrets"
    verify = ssl.create_default_context(cafile=state["ca_bundle"])
    with httpx.Client(verify=verify, timeout=30) as client:
        response = client.put(url, json=body) if body else client.get(url)
    response.raise_for_status()
    return dict(response.json())


@pytest.fixture(scope="session")
def demo_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoSandbox]:
    """``make demo`` on a sandbox of its own: ``up`` (with :data:`DEMO_SECRETS`), ``seed``,
    ``prefect``, ``demo``, then ``acr-migrate import`` from a terminal (no setting or secret of
    this session: only the config's env file). The stand-in records every token it signs."""
    from sandbox.demo import run_demo

    root = tmp_path_factory.mktemp("demo-sandbox")
    config = api.up(root, secrets=DEMO_SECRETS)
    try:
        assert standin_secrets(root, {"record_tokens": True})["recording"]
        api.seed(config, images=DEMO_IMAGES)
        url = api.prefect_up(root, port=0)
        seeded = json.loads((root / api.SEED_NAME).read_text())
        source_name = load_config(config, load_env=False).source.name
        terminal: list[str] = []
        runs = run_demo(url, source_name, say=terminal.append)
        cli = subprocess.run(
            [str(Path(sys.executable).parent / "acr-migrate"), "import", "-c", str(config)],
            capture_output=True,
            text=True,
            env=prefect_server.base_env(root / "cli-home"),
            cwd=root,
            timeout=900,
        )
        yield DemoSandbox(
            root=root,
            config=config,
            api_url=url,
            seeded=seeded,
            runs=runs,
            terminal=terminal,
            cli=cli,
            standin=standin_secrets(root),
        )
    finally:
        api.down(root)
