"""Fixtures of the operating tests: the sandbox's plain OCI registries, a real Prefect server
(``prefect server start``, SQLite, loopback), the project deployed to it with ``prefect deploy
--all``, and one process worker per tenant work pool with that tenant's secrets only.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from acr_migrate.models import RegistryEndpoint
from acr_migrate.settings import EngineName, MigrationConfig
from sandbox import api

REPO = Path(__file__).resolve().parents[2]
RAW_PASSWORD_ENV = {
    "source": "SANDBOX_RAW_SOURCE_PASSWORD",
    "target": "SANDBOX_RAW_TARGET_PASSWORD",
}
PREFECT = (sys.executable, "-m", "prefect")
USERS = {"source": api.SOURCE_USER, "target": api.TARGET_USER}


@pytest.fixture(scope="session")
def oci_config(
    migration_config: MigrationConfig, sandbox_state: dict[str, Any], sandbox_config: Path
) -> MigrationConfig:
    """The session sandbox as plain OCI registries and the oci-copy engine.

    When the sandbox config points at the Azure stand-in (registries created by the product),
    these are its backing registries with their own credentials, so the operating tests need
    no provisioning.
    """
    cfg = migration_config
    if cfg.source.azure is None and cfg.target.azure is None:
        return cfg
    env = api.read_env_file(sandbox_config.parent / api.ENV_NAME)

    def endpoint(role: str, base: RegistryEndpoint) -> RegistryEndpoint:
        os.environ.setdefault(RAW_PASSWORD_ENV[role], env[RAW_PASSWORD_ENV[role]])
        return RegistryEndpoint(
            name=base.name,
            url=sandbox_state[role]["url"],
            username=USERS[role],
            password_env=RAW_PASSWORD_ENV[role],
            ca_bundle=base.ca_bundle,
        )

    return cfg.model_copy(
        update={
            "source": endpoint("source", cfg.source),
            "target": endpoint("target", cfg.target),
            "migration": cfg.migration.model_copy(update={"engine": EngineName.OCI_COPY}),
        }
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without Prefect settings or sandbox secrets, plus ``extra``."""
    secret_names = set(RAW_PASSWORD_ENV.values()) | {
        api.SOURCE_PASSWORD_ENV,
        api.TARGET_PASSWORD_ENV,
        api.STORAGE_ENV,
    }
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PREFECT_") and k not in secret_names and "SECRET" not in k
    }
    env.update(
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_LOGGING_LEVEL="INFO",
    )
    env.update(extra)
    return env


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@dataclass
class PrefectApi:
    """A real Prefect server for this session."""

    url: str
    home: Path
    logs: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def ui(self) -> str:
        return self.url.removesuffix("/api")

    def env(self, **extra: str) -> dict[str, str]:
        return _clean_env(PREFECT_API_URL=self.url, PREFECT_HOME=str(self.home), **extra)

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> str:
        """``python -m prefect ...`` against this server; returns stdout (fails loudly)."""
        done = subprocess.run(
            [sys.executable, "-m", "prefect", *args],
            cwd=REPO,
            env=env or self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes.append(proc)
        return proc

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
    """``prefect server start`` on a free loopback port with its own PREFECT_HOME (SQLite)."""
    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    server = PrefectApi(url=f"http://127.0.0.1:{port}/api", home=home, logs=home)
    env = server.env(
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_SERVER_API_PORT=str(port),
        PREFECT_UI_API_URL=server.url,
    )
    proc = server.start(
        "server",
        [*PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (home / "server.log").read_text()[-3000:]
            try:
                if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "prefect server did not start"
            time.sleep(0.5)
        yield server
    finally:
        for process in reversed(server.processes):
            _stop(process)


POOLS = ("source-tenant", "target-tenant")


@dataclass
class Deployed:
    """The project deployed to the session's server, with a worker per tenant pool."""

    api: PrefectApi
    config: MigrationConfig
    deploy_output: str
    worker_env: dict[str, dict[str, str]]


def tenant_secrets(config: MigrationConfig, sandbox_env: dict[str, str]) -> dict[str, dict]:
    """What each tenant's worker may know: the source worker the source's secret and the
    storage; the target worker the target's, the storage, and the source's (read) secret."""
    storage = {config.storage.connection_string_env or ""}
    source = {config.source.password_env or ""}
    target = {config.target.password_env or ""}
    pick = {
        "source-tenant": source | storage,
        "target-tenant": source | target | storage,
    }
    return {pool: {k: sandbox_env[k] for k in names if k} for pool, names in pick.items()}


@pytest.fixture(scope="session")
def deployed(
    prefect_api: PrefectApi, oci_config: MigrationConfig, sandbox_config: Path
) -> Deployed:
    """Work pools, the default-endpoint variables, ``prefect deploy --all``, two workers."""
    from deployments.variables import variable_values

    api_ = prefect_api
    for pool in POOLS:
        api_.run("work-pool", "create", pool, "--type", "process", "--overwrite")
    # The variables the deployments read (the Python equivalent of the CLI helper).
    import json

    for name, value in variable_values(oci_config).items():
        api_.run("variable", "set", name, json.dumps(value), "--overwrite")
    output = api_.run(
        "--no-prompt", "deploy", "--all", env=api_.env(ACR_MIGRATE_HOME=str(REPO)), timeout=600
    )
    sandbox_env = api.read_env_file(sandbox_config.parent / api.ENV_NAME)
    secrets = tenant_secrets(oci_config, sandbox_env)
    for pool in POOLS:
        env = api_.env(
            ACR_MIGRATE_HOME=str(REPO),
            PREFECT_WORKER_QUERY_SECONDS="1",
            PREFECT_WORKER_PREFETCH_SECONDS="5",
            PREFECT_LOGGING_LEVEL="INFO",
            **secrets[pool],
        )
        api_.start(
            f"worker-{pool}",
            [*PREFECT, "worker", "start", "--pool", pool, "--type", "process"],
            env,
        )
    return Deployed(api=api_, config=oci_config, deploy_output=output, worker_env=secrets)


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
