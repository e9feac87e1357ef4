"""Start, seed, inspect and stop the whole sandbox.

Layout of `root` (default ``<repo>/.sandbox``, or $ACR_MIGRATE_SANDBOX_ROOT):
``acr-migrate.toml`` (config for the product), ``sandbox.env`` (secrets, 0600), ``sandbox.json``
(machine-readable ports/urls/pids/dirs), ``pids.json``, ``seed.json``, ``auth.json`` (containers
auth file for skopeo, 0600), ``ca.pem`` + ``certs.d/ca.crt``, ``logs/``, and one directory per
service.

The config points the product at the Azure stand-in (:mod:`sandbox.azure`): ``[source]`` and
``[target]`` URLs are the ACR data planes (login servers) with the registries' admin users, and
``[*.azure]`` says where each registry lives in ARM and which tenant identity reaches it. The raw
backing registries stay listed in ``sandbox.json`` (``source``, ``target``) and in
``auth.json``; their own passwords are ``SANDBOX_RAW_*_PASSWORD`` in ``sandbox.env``.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import sys
import time
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sandbox import prefect_server
from sandbox._process import (
    SandboxError,
    free_port,
    http_answers,
    pid_alive,
    read_pids,
    start_service,
    stop_pid,
    write_json,
    write_pids,
    write_secret,
)
from sandbox.azure.bootstrap import bootstrap as azure_bootstrap
from sandbox.azurite import ACCOUNT_KEY, check_account_key, connection_string, start_azurite
from sandbox.certs import SandboxCerts, ensure_certs
from sandbox.oci_push import Endpoint
from sandbox.registries import (
    HOST,
    ServiceInfo,
    new_password,
    start_source_registry,
    start_target_registry,
    start_token_server,
)
from sandbox.seed import DEFAULT_IMAGES, SeedSummary, seed_registry

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_NAME = "acr-migrate.toml"
ENV_NAME = "sandbox.env"
STATE_NAME = "sandbox.json"
SEED_NAME = "seed.json"
AUTH_NAME = "auth.json"
SOURCE_USER = "source-admin"
TARGET_USER = "target-admin"
TARGET_SERVICE = "sandbox-target"
SOURCE_PASSWORD_ENV = "ACR_MIGRATE_SOURCE_PASSWORD"
TARGET_PASSWORD_ENV = "ACR_MIGRATE_TARGET_PASSWORD"
STORAGE_ENV = "ACR_MIGRATE_STORAGE_CONNECTION_STRING"
SOURCE_SECRET_ENV = "ACR_MIGRATE_SOURCE_CLIENT_SECRET"
TARGET_SECRET_ENV = "ACR_MIGRATE_TARGET_CLIENT_SECRET"
RAW_SOURCE_PASSWORD_ENV = "SANDBOX_RAW_SOURCE_PASSWORD"
RAW_TARGET_PASSWORD_ENV = "SANDBOX_RAW_TARGET_PASSWORD"
SOURCE_IDENTITY_HEADER_ENV = "SANDBOX_SOURCE_IDENTITY_HEADER"
TARGET_IDENTITY_HEADER_ENV = "SANDBOX_TARGET_IDENTITY_HEADER"
#: The Azurite account key (inside the storage connection string of ``sandbox.env``).
STORAGE_KEY_NAME = "SANDBOX_STORAGE_ACCOUNT_KEY"
#: The secrets ``up(secrets=...)`` (``python -m sandbox up --secrets-file``) may choose; each
#: one not chosen is random (the storage key: Azurite's well-known one).
CHOSEN_SECRETS = (
    SOURCE_PASSWORD_ENV,
    TARGET_PASSWORD_ENV,
    SOURCE_SECRET_ENV,
    TARGET_SECRET_ENV,
    RAW_SOURCE_PASSWORD_ENV,
    RAW_TARGET_PASSWORD_ENV,
    SOURCE_IDENTITY_HEADER_ENV,
    TARGET_IDENTITY_HEADER_ENV,
    STORAGE_KEY_NAME,
)

CONFIG_TEMPLATE = """\
# Written by `python -m sandbox up`. Points acr-migrate at the local sandbox.
env_file = "sandbox.env"          # relative to this file; secrets live there, not here

[source]
name = "sandbox-source"
url = {source_url}     # the ACR login server (data plane of the Azure stand-in)
username = "{source_user}"   # the registry's admin user
password_env = "{source_env}"
ca_bundle = "ca.pem"               # relative to this file

[source.azure]
subscription_id = "{source_sub}"
resource_group = "{source_rg}"
registry = "{source_user}"
location = "{location}"
resource_manager = "{arm}"

[source.azure.identity]
tenant_id = "{source_tenant}"
kind = "client_secret"
client_id = "{source_client}"
client_secret_env = "{source_secret_env}"
authority_host = "{authority}"

[target]
name = "sandbox-target"
url = {target_url}
username = "{target_user}"   # admin user of the registry the product creates
password_env = "{target_env}"
ca_bundle = "ca.pem"

[target.azure]
subscription_id = "{target_sub}"
resource_group = "{target_rg}"
registry = "{target_user}"
location = "{location}"
resource_manager = "{arm}"

[target.azure.identity]
tenant_id = "{target_tenant}"
kind = "client_secret"
client_id = "{target_client}"
client_secret_env = "{target_secret_env}"
authority_host = "{authority}"

[storage]
connection_string_env = "{storage_env}"
container = "acr-migrate"

[migration]
engine = "{engine}"
concurrency = 8
include = []
exclude = []
force = false
dry_run = false
"""


OCI_CONFIG_NAME = "oci.toml"
OCI_CONFIG_TEMPLATE = """\
# Written by `python -m sandbox up`: acr-migrate over the sandbox's two plain OCI registries
# (CNCF distribution), no Azure: the oci inventory and the oci-copy engine.
env_file = "sandbox.env"

[source]
name = "sandbox-source"
url = "{source_url}"
username = "{source_user}"
password_env = "{source_env}"
ca_bundle = "ca.pem"

[target]
name = "sandbox-target"
url = "{target_url}"
username = "{target_user}"
password_env = "{target_env}"
ca_bundle = "ca.pem"

[storage]
connection_string_env = "{storage_env}"
container = "acr-migrate"

[migration]
engine = "oci-copy"
concurrency = 8
"""


def _engine() -> str:
    """``acr-import`` once the product knows that engine, else ``oci-copy``."""
    try:
        from acr_migrate.settings import EngineName

        return "acr-import" if "acr-import" in {e.value for e in EngineName} else "oci-copy"
    except ImportError:
        return "acr-import"


def default_root() -> Path:
    """``$ACR_MIGRATE_SANDBOX_ROOT`` or ``<repo>/.sandbox``."""
    env = os.environ.get("ACR_MIGRATE_SANDBOX_ROOT")
    return Path(env) if env else REPO_ROOT / ".sandbox"


def _root(root: Path | str | None) -> Path:
    return Path(root).resolve() if root is not None else default_root().resolve()


def config_path(root: Path | str | None = None) -> Path:
    """Where `up` writes the acr-migrate config for `root`."""
    return _root(root) / CONFIG_NAME


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _running(root: Path) -> dict[str, bool]:
    return {
        name: pid_alive(int(rec["pid"]), rec.get("start_time"))
        for name, rec in read_pids(root).items()
    }


def read_env_file(path: Path) -> dict[str, str]:
    """The sandbox's dotenv file as a dict (the product's own parser)."""
    from acr_migrate.settings import read_env_file as parse

    return parse(Path(path))


def load_state(root: Path | str | None = None) -> dict[str, Any]:
    """The contents of ``<root>/sandbox.json`` (raises if the sandbox was never started)."""
    path = _root(root) / STATE_NAME
    if not path.exists():
        raise SandboxError(f"no sandbox state at {path}: run `python -m sandbox up` first")
    return dict(json.loads(path.read_text()))


def endpoints(config_path: Path | str) -> tuple[Endpoint, Endpoint]:
    """(source, target) registry endpoints with credentials, read from the written config."""
    config_path = Path(config_path).resolve()
    config = tomllib.loads(config_path.read_text())
    env = read_env_file(config_path.parent / config["env_file"])

    def one(section: dict[str, Any]) -> Endpoint:
        return Endpoint(
            url=section["url"],
            username=section["username"],
            password=env[section["password_env"]],
            ca_bundle=config_path.parent / section["ca_bundle"],
        )

    return one(config["source"]), one(config["target"])


def raw_endpoints(root: Path | str | None = None) -> tuple[Endpoint, Endpoint]:
    """(source, target) backing registries with their own (non-Azure) credentials."""
    root = _root(root)
    state = load_state(root)
    env = read_env_file(root / ENV_NAME)
    ca = Path(state["ca_bundle"])
    return (
        Endpoint(state["source"]["url"], SOURCE_USER, env[RAW_SOURCE_PASSWORD_ENV], ca),
        Endpoint(state["target"]["url"], TARGET_USER, env[RAW_TARGET_PASSWORD_ENV], ca),
    )


def _tls_args(certs: SandboxCerts) -> list[str]:
    """Server certificate, key and CA of a sandbox service started with ``python -m``."""
    return [
        *("--cert", str(certs.server_pem)),
        *("--key", str(certs.server_key)),
        *("--ca", str(certs.ca_pem)),
    ]


def _start_azure(root: Path, certs: SandboxCerts, ports: dict[str, int]) -> ServiceInfo:
    argv = [sys.executable, "-m", "sandbox.azure", "--root", str(root), *_tls_args(certs)]
    checks = [
        f"https://{HOST}:{ports['arm']}/_sandbox/faults",
        f"https://{HOST}:{ports['source']}/_sandbox/health",
        f"https://{HOST}:{ports['target']}/_sandbox/health",
    ]
    proc = start_service(
        "azure-standin",
        argv,
        root / "logs",
        lambda: all(http_answers(url, certs.ca_pem, ok=(200,)) for url in checks),
        what="azure stand-in",
        cwd=REPO_ROOT,
    )
    url = f"https://{HOST}:{ports['arm']}"
    return ServiceInfo(name="azure-standin", url=url, port=ports["arm"], process=proc)


def _start_proxy(root: Path, certs: SandboxCerts, backend: str) -> ServiceInfo:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "sandbox.fault_proxy",
        "--backend",
        backend,
        "--port",
        str(port),
        *_tls_args(certs),
    ]
    url = f"https://{HOST}:{port}"
    proc = start_service(
        "target-proxy",
        argv,
        root / "logs",
        lambda: http_answers(f"{url}/_sandbox/faults", certs.ca_pem, ok=(200,)),
        what="target fault proxy",
        cwd=REPO_ROOT,
    )
    extra = {"backend": backend, "faults_url": f"{url}/_sandbox/faults"}
    return ServiceInfo(name="target-proxy", url=url, port=port, process=proc, extra=extra)


def env_file_text(env: dict[str, str]) -> str:
    """``KEY='value'`` lines: the product reads them, and bash can ``source`` the file."""
    for key, value in env.items():
        if "'" in value or "\n" in value:
            raise SandboxError(f"{key}: a value with a quote or newline cannot be written safely")
    return "# Secrets of the sandbox; `set -a; source sandbox.env; set +a` in bash.\n" + "".join(
        f"{k}='{v}'\n" for k, v in env.items()
    )


def _auth_file(entries: dict[str, tuple[str, str]]) -> str:
    auths = {
        host: {"auth": base64.b64encode(f"{user}:{pw}".encode()).decode()}
        for host, (user, pw) in entries.items()
    }
    return json.dumps({"auths": auths}, indent=2) + "\n"


def check_secrets(chosen: Mapping[str, str]) -> dict[str, str]:
    """`chosen` if ``up`` can use it: names of :data:`CHOSEN_SECRETS`, values of at least 12
    characters without quotes, whitespace, ``:`` or ``;`` (they go into Basic auth, the
    connection string and ``sandbox.env``), the storage key base64."""
    unknown = sorted(set(chosen) - set(CHOSEN_SECRETS))
    if unknown:
        raise SandboxError(f"unknown secret names {unknown}: choose among {list(CHOSEN_SECRETS)}")
    for name, value in chosen.items():
        if len(value) < 12 or any(c in value for c in "'\"\\:; \t\n"):
            raise SandboxError(
                f"{name}: a chosen secret needs 12 characters or more, no quote, whitespace, "
                "':' or ';'"
            )
    if STORAGE_KEY_NAME in chosen:
        check_account_key(chosen[STORAGE_KEY_NAME])
    return dict(chosen)


def read_secrets_file(path: Path) -> dict[str, str]:
    """The secrets of ``python -m sandbox up --secrets-file``: ``NAME=value`` lines (the
    format of ``sandbox.env``), checked by :func:`check_secrets`."""
    return check_secrets(read_env_file(path))


def up(
    root: Path | str | None = None,
    *,
    azurite_https: bool = False,
    restart: bool = False,
    secrets: Mapping[str, str] | None = None,
) -> Path:
    """Start every sandbox service and write the config; returns the config path.

    If the sandbox of `root` is already fully running, returns its config path unchanged
    (``restart=True`` stops it and starts afresh). A partly running sandbox is restarted.
    The fault proxy in front of the target registry runs too (``state["target_proxy"]``).
    `secrets` chooses some of the sandbox's secrets (:data:`CHOSEN_SECRETS`; a test that
    searches for them knows them); a running sandbox with other values is an error.
    """
    root = _root(root)
    chosen = check_secrets(secrets or {})
    with _locked(root):
        os.chmod(root, 0o700)
        alive = _running(root)
        if alive and all(alive.values()) and not restart and (root / CONFIG_NAME).exists():
            if chosen and _chosen_of(root) != chosen:
                raise SandboxError(
                    f"the sandbox in {root} runs with other secrets: start it with --restart"
                )
            print(f"sandbox already running in {root}", file=sys.stderr)
            return root / CONFIG_NAME
        if alive:
            _down(root)
        try:
            return _up(root, azurite_https, chosen)
        except BaseException:
            _down(root)
            raise


def _chosen_of(root: Path) -> dict[str, str]:
    """The values the running sandbox of `root` has for each :data:`CHOSEN_SECRETS` name."""
    env = read_env_file(root / ENV_NAME)
    storage = dict(p.split("=", 1) for p in env.get(STORAGE_ENV, "").split(";") if "=" in p)
    env[STORAGE_KEY_NAME] = storage.get("AccountKey", "")
    return {k: v for k, v in env.items() if k in CHOSEN_SECRETS}


def _up(root: Path, azurite_https: bool, chosen: Mapping[str, str]) -> Path:
    def pick(name: str) -> str:
        return chosen.get(name) or new_password()

    certs = ensure_certs(root)
    source_pw, target_pw = pick(RAW_SOURCE_PASSWORD_ENV), pick(RAW_TARGET_PASSWORD_ENV)
    pids: dict[str, dict[str, Any]] = {}
    services: dict[str, ServiceInfo] = {}

    def record(key: str, service: ServiceInfo) -> ServiceInfo:
        services[key] = service
        pids[service.name] = service.process
        write_pids(root, pids)
        return service

    # Record each pid as soon as it exists, so a failed start is cleaned up by `down`.
    source = record("source", start_source_registry(root, certs, SOURCE_USER, source_pw))
    token = record(
        "token_server", start_token_server(root, certs, TARGET_SERVICE, {TARGET_USER: target_pw})
    )
    target = record("target", start_target_registry(root, certs, token, TARGET_USER))
    proxy = record("target_proxy", _start_proxy(root, certs, target.url))
    account_key = chosen.get(STORAGE_KEY_NAME) or ACCOUNT_KEY
    azurite = record(
        "azurite", start_azurite(root, certs, https=azurite_https, account_key=account_key)
    )

    ports = {"entra": free_port(), "arm": free_port(), "source": free_port(), "target": free_port()}
    source_admin_pw, target_admin_pw = pick(SOURCE_PASSWORD_ENV), pick(TARGET_PASSWORD_ENV)
    token_extra = token.extra
    azure = azure_bootstrap(
        root,
        host=HOST,
        ports=ports,
        backends={
            "source": {
                "url": source.url,
                "auth": {"kind": "basic", "username": SOURCE_USER, "password": source_pw},
            },
            "target": {
                "url": target.url,
                "auth": {
                    "kind": "token",
                    "issuer": token_extra["issuer"],
                    "service": token_extra["service"],
                    "signer_cert": str(certs.signer_pem),
                    "signer_key": str(certs.signer_key),
                },
            },
        },
        source_admin_password=source_admin_pw,
        target_admin_password=target_admin_pw,
        client_secrets={
            w: chosen[name]
            for w, name in (("source", SOURCE_SECRET_ENV), ("target", TARGET_SECRET_ENV))
            if chosen.get(name)
        },
        identity_headers={
            w: chosen[name]
            for w, name in (
                ("source", SOURCE_IDENTITY_HEADER_ENV),
                ("target", TARGET_IDENTITY_HEADER_ENV),
            )
            if chosen.get(name)
        },
    )
    standin = record("azure", _start_azure(root, certs, ports))
    src_az, tgt_az = azure["tenants"]["source"], azure["tenants"]["target"]

    target_url = tgt_az["data_plane_url"]
    env = {
        SOURCE_PASSWORD_ENV: source_admin_pw,
        TARGET_PASSWORD_ENV: target_admin_pw,
        SOURCE_SECRET_ENV: src_az.pop("client_secret"),
        TARGET_SECRET_ENV: tgt_az.pop("client_secret"),
        RAW_SOURCE_PASSWORD_ENV: source_pw,
        RAW_TARGET_PASSWORD_ENV: target_pw,
        STORAGE_ENV: connection_string(azurite.extra["blob_endpoint"], account_key),
        "SANDBOX_ROOT": str(root),
        "SANDBOX_CERT_DIR": str(certs.cert_dir),
        "SANDBOX_AUTH_FILE": str(root / AUTH_NAME),
    }
    for which, info in (("SOURCE", src_az), ("TARGET", tgt_az)):
        mi = info["managed_identity"]
        env[f"SANDBOX_{which}_IDENTITY_ENDPOINT"] = mi["identity_endpoint"]
        env[f"SANDBOX_{which}_IDENTITY_HEADER"] = mi.pop("identity_header")
        env[f"SANDBOX_{which}_FEDERATED_TOKEN_FILE"] = info["federated_token_file"]
    write_secret(root / ENV_NAME, env_file_text(env))
    write_secret(
        root / AUTH_NAME,
        _auth_file(
            {
                source.url.removeprefix("https://"): (SOURCE_USER, source_pw),
                target.url.removeprefix("https://"): (TARGET_USER, target_pw),
                proxy.url.removeprefix("https://"): (TARGET_USER, target_pw),
                src_az["login_server"]: (src_az["registry"], source_admin_pw),
                tgt_az["login_server"]: (tgt_az["registry"], target_admin_pw),
            }
        ),
    )
    config_path = root / CONFIG_NAME
    config_path.write_text(
        CONFIG_TEMPLATE.format(
            source_url=json.dumps(src_az["data_plane_url"]),
            target_url=json.dumps(target_url),
            source_user=src_az["registry"],
            target_user=tgt_az["registry"],
            source_env=SOURCE_PASSWORD_ENV,
            target_env=TARGET_PASSWORD_ENV,
            storage_env=STORAGE_ENV,
            source_sub=src_az["subscription_id"],
            target_sub=tgt_az["subscription_id"],
            source_rg=src_az["resource_group"],
            target_rg=tgt_az["resource_group"],
            location=src_az["location"],
            arm=azure["resource_manager"],
            authority=azure["authority_host"],
            source_tenant=src_az["tenant_id"],
            target_tenant=tgt_az["tenant_id"],
            source_client=src_az["client_id"],
            target_client=tgt_az["client_id"],
            source_secret_env=SOURCE_SECRET_ENV,
            target_secret_env=TARGET_SECRET_ENV,
            engine=_engine(),
        )
    )
    (root / OCI_CONFIG_NAME).write_text(
        OCI_CONFIG_TEMPLATE.format(
            source_url=source.url,
            target_url=target.url,
            source_user=SOURCE_USER,
            target_user=TARGET_USER,
            source_env=RAW_SOURCE_PASSWORD_ENV,
            target_env=RAW_TARGET_PASSWORD_ENV,
            storage_env=STORAGE_ENV,
        )
    )
    state = {
        "root": str(root),
        "oci_config": str(root / OCI_CONFIG_NAME),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": str(config_path),
        "env_file": str(root / ENV_NAME),
        "auth_file": str(root / AUTH_NAME),
        "ca_bundle": str(certs.ca_pem),
        "cert_dir": str(certs.cert_dir),
        "source": {**source.to_dict(), "username": SOURCE_USER},
        "target": {**target.to_dict(), "username": TARGET_USER},
        "token_server": token.to_dict(),
        "target_proxy": proxy.to_dict(),
        "azurite": azurite.to_dict(),
        "azure": {**standin.to_dict(), **azure},
        "pids": {name: rec["pid"] for name, rec in pids.items()},
    }
    write_json(root / STATE_NAME, state)
    return config_path


def seed(config_path: Path | str, images: int = DEFAULT_IMAGES, seed: int = 0) -> SeedSummary:
    """Push the deterministic sample catalogue into the source registry of `config_path`.

    Writes ``seed.json`` next to the config and returns the summary.
    """
    config_path = Path(config_path).resolve()
    source, _ = endpoints(config_path)
    summary = seed_registry(source, images=images, seed=seed)
    write_json(config_path.parent / SEED_NAME, summary.to_dict())
    return summary


def prefect_up(root: Path | str | None = None, port: int | None = None) -> str:
    """The sandbox's Prefect server, deployments and tenant workers; returns the API URL."""
    root = _root(root)
    state = load_state(root)
    config = Path(state["config"])
    with _locked(root):
        return prefect_server.up(
            root,
            config,
            read_env_file(root / ENV_NAME),
            port=port,
            extra_configs=(root / OCI_CONFIG_NAME,),
        )


def prefect_urls(root: Path | str | None = None) -> dict[str, str]:
    """``api_url`` and ``ui_url`` of the sandbox's Prefect server (empty if never started)."""
    return {k: str(v) for k, v in prefect_server.read_state(_root(root)).items()}


def _down(root: Path) -> list[str]:
    stopped = prefect_server.down(root)
    for name, rec in reversed(list(read_pids(root).items())):
        if stop_pid(int(rec["pid"]), rec.get("start_time")):
            stopped.append(name)
    with contextlib.suppress(FileNotFoundError):
        (root / "pids.json").unlink()
    return stopped


def down(root: Path | str | None = None) -> list[str]:
    """Stop exactly the processes recorded in ``<root>/pids.json``; returns the names stopped.

    Already-dead pids are skipped. Data, certs and config stay on disk.
    """
    root = _root(root)
    if not root.exists():
        return []
    with _locked(root):
        return _down(root)


def status(root: Path | str | None = None) -> dict[str, Any]:
    """Running state per service plus URLs (no secrets)."""
    root = _root(root)
    alive = _running(root) if root.exists() else {}
    state: dict[str, Any] = {}
    with contextlib.suppress(SandboxError, ValueError):
        state = load_state(root)
    services = {}
    for key in ("source", "token_server", "target", "target_proxy", "azurite", "azure"):
        svc = state.get(key)
        if not svc:
            continue
        services[svc["name"]] = {
            "url": svc["url"],
            "pid": svc["process"]["pid"],
            "running": alive.get(svc["name"], False),
        }
    prefect = prefect_server.read_state(root)
    for name, alive_now in prefect_server.running(root).items():
        url = prefect.get("ui_url", "") if name == prefect_server.SERVER else ""
        services[name] = {"url": url, "pid": "", "running": alive_now}
    return {
        "root": str(root),
        "running": bool(alive) and all(alive.values()),
        "config": state.get("config") if alive else None,
        "services": services,
    }
