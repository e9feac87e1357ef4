"""The sandbox's own Prefect: one server, the deployments of ``prefect.yaml``, a worker per tenant.

``up(root)`` starts (or reuses) ``prefect server start`` on 127.0.0.1 with its SQLite database
under ``<root>/prefect``, waits until the database is migrated and the API answers, creates the
two work pools, writes the deployments' default variables from the sandbox config, runs
``prefect deploy --all`` and (re)starts one process worker per pool holding only that tenant's
secrets. Its processes are recorded in ``<root>/prefect-pids.json`` and its address in
``<root>/prefect.json``; ``sandbox.api.down`` stops them with the rest. It also writes
``[prefect] api_url`` into the config, so the CLI's runs land on this server too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from acr_migrate.settings import PREFECT_SERVER_SETTINGS
from sandbox._process import (
    SandboxError,
    free_port,
    http_answers,
    pid_alive,
    port_free,
    read_pids,
    start_service,
    stop_pid,
    wait_for,
    write_json,
    write_pids,
)
from sandbox.registries import HOST

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PORT = 4200
PORT_ENV = "ACR_MIGRATE_PREFECT_PORT"
PIDS_NAME = "prefect-pids.json"
STATE_NAME = "prefect.json"
SERVER = "prefect-server"
POOLS = ("source-tenant", "target-tenant")
#: A first start migrates a new SQLite database: well over a minute on a slow, busy machine.
STARTUP_TIMEOUT = 600.0
PREFECT = (sys.executable, "-m", "prefect")


def _healthy(api_url: str) -> bool:
    """True when the Prefect API at ``api_url`` answers its health check."""
    return http_answers(f"{api_url.rstrip('/')}/health", ok=(200,))


def _choose_port(port: int | None) -> int:
    """``port``, else $ACR_MIGRATE_PREFECT_PORT, else 4200; a free one if that is taken."""
    if port == 0:
        return free_port()
    wanted = port or int(os.environ.get(PORT_ENV) or DEFAULT_PORT)
    if port_free(wanted, HOST):
        return wanted
    chosen = free_port()
    print(f"port {wanted} is taken: the sandbox's Prefect server uses {chosen}", file=sys.stderr)
    return chosen


def base_env(home: Path, api_url: str | None = None, **extra: str) -> dict[str, str]:
    """An environment for a Prefect process of the sandbox: this one without Prefect settings
    and without secrets, telemetry off, its own ``PREFECT_HOME``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "ACR_MIGRATE_", "SANDBOX_"))
        and not re.search(r"SECRET|PASSWORD|TOKEN|CONNECTION_STRING", k)
    }
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
    )
    if api_url:
        env["PREFECT_API_URL"] = api_url
    env.update(extra)
    return env


def read_state(root: Path) -> dict[str, Any]:
    """``<root>/prefect.json`` (empty when the sandbox's Prefect was never started)."""
    try:
        return dict(json.loads((root / STATE_NAME).read_text()))
    except (OSError, ValueError):
        return {}


def server_up(root: Path, port: int | None = None) -> str:
    """Start the server unless it already answers; returns its API URL."""
    state = read_state(root)
    pids = read_pids(root, PIDS_NAME)
    record = pids.get(SERVER)
    url = str(state.get("api_url") or "")
    if record and url and pid_alive(int(record["pid"]), record.get("start_time")):
        wait_for("prefect server", lambda: _healthy(url), timeout=STARTUP_TIMEOUT)
        return url
    chosen = _choose_port(port)
    url = f"http://{HOST}:{chosen}/api"
    home = root / "prefect"
    home.mkdir(parents=True, exist_ok=True)
    first = not (home / "prefect.db").exists()
    env = base_env(
        home,
        PREFECT_SERVER_API_HOST=HOST,
        PREFECT_SERVER_API_PORT=str(chosen),
        PREFECT_UI_API_URL=url,
        **PREFECT_SERVER_SETTINGS,
    )
    argv = [*PREFECT, "server", "start", "--host", HOST, "--port", str(chosen)]
    if first:
        print("starting Prefect (first start: preparing its database)", file=sys.stderr)
    pids[SERVER] = start_service(
        SERVER,
        argv,
        root / "logs",
        lambda: _healthy(url),
        what="prefect server",
        timeout=STARTUP_TIMEOUT,
        env=env,
        cwd=REPO_ROOT,
        inherit_env=False,
    )
    write_pids(root, pids, PIDS_NAME)
    write_json(root / STATE_NAME, {"api_url": url, "ui_url": url.removesuffix("/api")})
    return url


def tenant_secrets(config: Any, sandbox_env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """What each tenant's worker may know, from the names the config gives its secrets.

    The source worker: the source's registry password and client secret, and the storage. The
    target worker: the target's, the storage, and the source registry's pull password (the
    import needs it); never the source tenant's identity.
    """

    def identity_secret(endpoint: Any) -> set[str]:
        identity = endpoint.azure.identity if endpoint.azure is not None else None
        return {identity.client_secret_env} if identity and identity.client_secret_env else set()

    storage = {config.storage.connection_string_env or ""}
    source = {config.source.password_env or ""} | identity_secret(config.source)
    target = {config.target.password_env or ""} | identity_secret(config.target)
    pick = {
        "source-tenant": source | storage,
        "target-tenant": target | storage | {config.source.password_env or ""},
    }
    return {
        pool: {k: sandbox_env[k] for k in sorted(names) if k and k in sandbox_env}
        for pool, names in pick.items()
    }


async def _pools_and_variables(api_url: str, variables: Mapping[str, Any]) -> None:
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.actions import (
        VariableCreate,
        VariableUpdate,
        WorkPoolCreate,
    )
    from prefect.exceptions import ObjectNotFound

    async with PrefectClient(api=api_url) as client:
        for pool in POOLS:
            try:
                await client.read_work_pool(pool)
            except ObjectNotFound:
                await client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
        for name, value in variables.items():
            existing = await client.read_variable_by_name(name)
            if existing is None:
                await client.create_variable(VariableCreate(name=name, value=value))
            else:
                await client.update_variable(VariableUpdate(name=name, value=value))


def deploy(root: Path, api_url: str, config: Any) -> str:
    """Work pools, the deployments' default variables (from ``config``, a
    ``MigrationConfig``), then ``prefect deploy --all``; returns what deploy printed."""
    from deployments.variables import variable_values

    asyncio.run(_pools_and_variables(api_url, variable_values(config)))
    env = base_env(root / "prefect", api_url, ACR_MIGRATE_HOME=str(REPO_ROOT))
    done = subprocess.run(
        [*PREFECT, "--no-prompt", "deploy", "--all"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT,
    )
    if done.returncode != 0:
        raise SandboxError(
            f"prefect deploy --all failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return done.stdout


def workers_up(root: Path, api_url: str, secrets: Mapping[str, Mapping[str, str]]) -> None:
    """(Re)start one process worker per pool, each with its own tenant's secrets only."""
    pids = read_pids(root, PIDS_NAME)
    for pool in POOLS:
        name = f"worker-{pool}"
        old = pids.pop(name, None)
        if old:
            stop_pid(int(old["pid"]), old.get("start_time"))
        env = base_env(
            root / "prefect" / name,
            api_url,
            ACR_MIGRATE_HOME=str(REPO_ROOT),
            PREFECT_WORKER_QUERY_SECONDS="2",
            PREFECT_WORKER_PREFETCH_SECONDS="5",
            **secrets[pool],
        )
        argv = [*PREFECT, "worker", "start", "--pool", pool, "--type", "process"]
        # A worker serves no port: it is only started (it polls the server).
        pids[name] = start_service(
            name, argv, root / "logs", None, env=env, cwd=REPO_ROOT, inherit_env=False
        )
        write_pids(root, pids, PIDS_NAME)


def set_config_api_url(config_path: Path, api_url: str | None) -> None:
    """Write (or drop, with None) the ``[prefect]`` section of the sandbox config."""
    kept: list[str] = []
    inside = False
    for line in config_path.read_text().splitlines():
        if line.startswith("["):
            inside = line.split("#")[0].strip() == "[prefect]"
        if not inside:
            kept.append(line)
    text = "\n".join(kept).rstrip("\n") + "\n"
    if api_url:
        text += (
            "\n# The sandbox's Prefect server: the CLI's runs go there (PREFECT_API_URL wins).\n"
            f'[prefect]\napi_url = "{api_url}"\n'
        )
    config_path.write_text(text)


def up(
    root: Path,
    config_path: Path,
    sandbox_env: Mapping[str, str],
    port: int | None = None,
    extra_configs: tuple[Path, ...] = (),
) -> str:
    """Server, pools, variables and deployments (from ``config_path``) and workers; points
    ``config_path`` and ``extra_configs`` at the server. Returns the API URL."""
    from acr_migrate.settings import load_config

    # The secrets go to the workers explicitly; this process's environment stays as it is.
    config = load_config(config_path, load_env=False)
    url = server_up(root, port)
    deploy(root, url, config)
    workers_up(root, url, tenant_secrets(config, sandbox_env))
    for path in (config_path, *extra_configs):
        if path.exists():
            set_config_api_url(path, url)
    return url


def down(root: Path) -> list[str]:
    """Stop the workers, then the server; returns the names stopped."""
    stopped = []
    for name, rec in reversed(list(read_pids(root, PIDS_NAME).items())):
        if stop_pid(int(rec["pid"]), rec.get("start_time")):
            stopped.append(name)
    with contextlib.suppress(FileNotFoundError):
        (root / PIDS_NAME).unlink()
    return stopped


def running(root: Path) -> dict[str, bool]:
    """Liveness of the sandbox's Prefect processes."""
    return {
        name: pid_alive(int(rec["pid"]), rec.get("start_time"))
        for name, rec in read_pids(root, PIDS_NAME).items()
    }
