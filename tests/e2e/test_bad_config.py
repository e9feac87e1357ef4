"""Bad configuration: each case is refused by the run's preflight, before anything is read or
written, with one line that names what to fix, and no traceback; the target is untouched."""

from __future__ import annotations

import os
import ssl
import tomllib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from acr_migrate.models import RegistryEndpoint
from acr_migrate.oci.client import RegistryClient
from acr_migrate.preflight import problems_of
from acr_migrate.settings import ExportOptions, MigrationConfig
from tests.e2e.conftest import PrefectApi
from tests.helpers import run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]


@pytest.fixture(autouse=True)
def _container(oci_config: MigrationConfig) -> None:
    """The hand-over container exists (as after any export), so each case has one problem."""
    from acr_migrate.storage import BlobStore

    BlobStore(oci_config.storage).ensure_container()


def _endpoint(endpoint: RegistryEndpoint, **update: Any) -> RegistryEndpoint:
    return endpoint.model_copy(update=update)


def _azure(endpoint: RegistryEndpoint, identity: bool = False, **update: Any) -> RegistryEndpoint:
    assert endpoint.azure is not None
    if identity:
        ident = endpoint.azure.identity.model_copy(update=update)
        return endpoint.model_copy(
            update={"azure": endpoint.azure.model_copy(update={"identity": ident})}
        )
    return endpoint.model_copy(update={"azure": endpoint.azure.model_copy(update=update)})


def _other_ca(tmp: Path) -> str:
    path = tmp / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return str(path)


def _snapshot(endpoint: RegistryEndpoint) -> dict[str, list[str]]:
    with RegistryClient(endpoint) as client:
        return {repo: sorted(client.tags(repo)) for repo in client.catalog()}


def _import(cfg: MigrationConfig) -> Any:
    from flows.target_import import target_import

    return target_import(
        cfg.source, cfg.target, cfg.storage, None, cfg.migration, return_state=True
    )


def _export(cfg: MigrationConfig) -> Any:
    from flows.source_export import source_export

    return source_export(cfg.source, cfg.storage, ExportOptions(), return_state=True)


def _provision(cfg: MigrationConfig) -> Any:
    from flows.provision import provision_registry

    return provision_registry(cfg.source, cfg.target, cfg.storage, None, True, return_state=True)


OciCase = Callable[[MigrationConfig, Path], MigrationConfig]
OCI_CASES: dict[str, tuple[OciCase, str]] = {
    "wrong secret": (
        lambda c, t: c.model_copy(
            update={"target": _endpoint(c.target, password_env="ACR_MIGRATE_TEST_WRONG_PW")}
        ),
        "target registry 'sandbox-target' at https://127.0.0.1:",
    ),
    "secret not set": (
        lambda c, t: c.model_copy(
            update={"source": _endpoint(c.source, password_env="ACR_MIGRATE_TEST_UNSET")}
        ),
        "source registry 'sandbox-source': environment variable ACR_MIGRATE_TEST_UNSET is not set",
    ),
    "unreachable endpoint": (
        lambda c, t: c.model_copy(
            update={"target": _endpoint(c.target, url="https://127.0.0.1:9")}
        ),
        "target registry 'sandbox-target' https://127.0.0.1:9 does not answer",
    ),
    "unknown CA": (
        lambda c, t: c.model_copy(update={"target": _endpoint(c.target, ca_bundle=_other_ca(t))}),
        "its TLS certificate is not trusted",
    ),
    "missing container": (
        lambda c, t: c.model_copy(
            update={"storage": c.storage.model_copy(update={"container": "no-such-container"})}
        ),
        "storage container 'no-such-container' does not exist",
    ),
}


@pytest.mark.parametrize("case", sorted(OCI_CASES))
def test_bad_oci_configuration_is_refused_before_the_import(
    case: str, oci_config: MigrationConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACR_MIGRATE_TEST_WRONG_PW", "not-the-password")
    monkeypatch.delenv("ACR_MIGRATE_TEST_UNSET", raising=False)
    change, expected = OCI_CASES[case]
    bad = change(oci_config, tmp_path)
    before = _snapshot(oci_config.target)
    state = _import(bad)
    assert state.is_failed()
    problems = problems_of(state.message)
    assert len(problems) == 1, state.message
    assert expected in problems[0]
    assert _snapshot(oci_config.target) == before


def expired_principal(cfg: MigrationConfig, slot: str) -> dict[str, str]:
    """A service principal of ``slot``'s tenant whose client secret ended yesterday (Entra's
    ``endDateTime``), with a role on the registry: only the expiry is wrong with it."""
    endpoint = cfg.source if slot == "source" else cfg.target
    assert endpoint.azure is not None
    body = {
        "slot": slot,
        "role": "Contributor",
        "secret_end": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
    }
    resp = httpx.post(
        endpoint.azure.resource_manager + "/_sandbox/principals",
        json=body,
        verify=ssl.create_default_context(cafile=endpoint.ca_bundle),
    )
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def _expired(c: MigrationConfig) -> MigrationConfig:
    made = expired_principal(c, "source")
    os.environ["ACR_MIGRATE_TEST_EXPIRED_SECRET"] = made["client_secret"]
    source = _azure(
        c.source,
        identity=True,
        client_id=made["client_id"],
        client_secret_env="ACR_MIGRATE_TEST_EXPIRED_SECRET",
    )
    return c.model_copy(update={"source": source})


AZURE_CASES: dict[str, tuple[Callable[[MigrationConfig], MigrationConfig], str, str]] = {
    "unknown registry": (
        lambda c: c.model_copy(update={"source": _azure(c.source, registry="nosuchregistry42")}),
        "export",
        "source registry 'nosuchregistry42' (resource group",
    ),
    "wrong tenant": (
        lambda c: c.model_copy(
            update={
                "target": _azure(
                    c.target,
                    identity=True,
                    tenant_id=c.source.azure.identity.tenant_id,  # type: ignore[union-attr]
                )
            }
        ),
        "provision",
        "no such application in this tenant: check tenant_id and client_id (AADSTS700016)",
    ),
    "no such tenant": (
        lambda c: c.model_copy(
            update={"target": _azure(c.target, identity=True, tenant_id=str(uuid.uuid4()))}
        ),
        "provision",
        "cannot sign in",
    ),
    "wrong client secret": (
        lambda c: c.model_copy(
            update={
                "source": _azure(
                    c.source, identity=True, client_secret_env="ACR_MIGRATE_TEST_WRONG_PW"
                )
            }
        ),
        "export",
        "the client secret is wrong: check the secret (AADSTS7000215)",
    ),
    "expired client secret": (
        _expired,
        "export",
        "the client secret has expired: create a new one (AADSTS7000222)",
    ),
}


@pytest.mark.parametrize("case", sorted(AZURE_CASES))
def test_bad_azure_configuration_is_refused_first(
    case: str, migration_config: MigrationConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACR_MIGRATE_TEST_WRONG_PW", "not-the-secret")
    monkeypatch.setenv("ACR_MIGRATE_TEST_EXPIRED_SECRET", "")  # restored after the test
    change, flow, expected = AZURE_CASES[case]
    bad = change(migration_config)
    state = {"export": _export, "provision": _provision}[flow](bad)
    assert state.is_failed()
    problems = problems_of(state.message)
    assert len(problems) == 1, state.message
    assert expected in problems[0], problems[0]


def test_cli_prints_each_problem_and_exits_2(
    oci_config: MigrationConfig, prefect_api: PrefectApi, tmp_path: Path
) -> None:
    """No traceback, no secret: one line per problem."""
    config = tmp_path / "bad.toml"
    config.write_text(
        f"""
[source]
name = "sandbox-source"
url = "{oci_config.source.url}"
username = "{oci_config.source.username}"
password_env = "ACR_MIGRATE_TEST_UNSET"
ca_bundle = "{oci_config.source.ca_bundle}"

[target]
name = "sandbox-target"
url = "https://127.0.0.1:9"
ca_bundle = "{oci_config.target.ca_bundle}"

[storage]
connection_string_env = "{oci_config.storage.connection_string_env}"
container = "no-such-container"

[migration]
engine = "oci-copy"
"""
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.pop("ACR_MIGRATE_TEST_UNSET", None)
    env.update(PREFECT_API_URL=prefect_api.url, COLUMNS="250", PREFECT_HOME=str(tmp_path))
    done = run_cli("import", "-c", str(config), env=env, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert "Traceback" not in out
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip().startswith("- ")]
    assert len(lines) == 3, out
    assert any("ACR_MIGRATE_TEST_UNSET is not set" in line for line in lines)
    assert any("https://127.0.0.1:9 does not answer" in line for line in lines)
    assert any("'no-such-container' does not exist" in line for line in lines)
    secret = os.environ[oci_config.storage.connection_string_env or ""]
    assert secret not in out


def _toml(table: dict[str, Any], prefix: str = "") -> str:
    """``table`` as TOML (strings, numbers, booleans, lists of strings, sub-tables)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return str(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    plain = [f"{k} = {value(v)}" for k, v in table.items() if not isinstance(v, dict)]
    out = ([f"[{prefix}]"] if prefix and plain else []) + plain
    for key, sub in table.items():
        if isinstance(sub, dict):
            out += ["", _toml(sub, f"{prefix}.{key}" if prefix else key)]
    return "\n".join(out)


TargetCase = Callable[[dict[str, Any], MigrationConfig, Path], dict[str, str]]


def _set(raw: dict[str, Any], dotted: str, value: Any) -> None:
    *path, last = dotted.split(".")
    table = raw
    for key in path:
        table = table[key]
    table[last] = value


def _target_expired(raw: dict[str, Any], cfg: MigrationConfig, tmp: Path) -> dict[str, str]:
    made = expired_principal(cfg, "target")
    _set(raw, "target.azure.identity.client_id", made["client_id"])
    _set(raw, "target.azure.identity.client_secret_env", "ACR_MIGRATE_TEST_EXPIRED_SECRET")
    return {"ACR_MIGRATE_TEST_EXPIRED_SECRET": made["client_secret"]}


def _target_case(dotted: str, value: Callable[[MigrationConfig, Path], Any]) -> TargetCase:
    def change(raw: dict[str, Any], cfg: MigrationConfig, tmp: Path) -> dict[str, str]:
        _set(raw, dotted, value(cfg, tmp))
        return {"ACR_MIGRATE_TEST_WRONG_PW": "not-the-secret"}

    return change


#: The bullets of issue 11 (5), on the target of an Azure import: what the config changes,
#: and the fragment of the one problem the terminal must print.
TARGET_CASES: dict[str, tuple[TargetCase, str]] = {
    "unknown registry": (
        _target_case("target.azure.registry", lambda c, t: "nosuchregistry42"),
        "target registry 'nosuchregistry42' (resource group",
    ),
    "wrong tenant": (
        _target_case(
            "target.azure.identity.tenant_id",
            lambda c, t: c.source.azure.identity.tenant_id,  # type: ignore[union-attr]
        ),
        "no such application in this tenant: check tenant_id and client_id (AADSTS700016)",
    ),
    "wrong secret": (
        _target_case(
            "target.azure.identity.client_secret_env", lambda c, t: "ACR_MIGRATE_TEST_WRONG_PW"
        ),
        "the client secret is wrong: check the secret (AADSTS7000215)",
    ),
    "expired secret": (
        _target_expired,
        "the client secret has expired: create a new one (AADSTS7000222)",
    ),
    "missing container": (
        _target_case("storage.container", lambda c, t: "no-such-container"),
        "storage container 'no-such-container' does not exist",
    ),
    "unreachable endpoint": (
        _target_case("target.azure.resource_manager", lambda c, t: "https://127.0.0.1:9"),
        "target ARM https://127.0.0.1:9 does not answer",
    ),
    "unknown CA": (
        _target_case("target.ca_bundle", lambda c, t: _other_ca(t)),
        "its TLS certificate is not trusted",
    ),
}


@pytest.mark.usefixtures("target_acr")
@pytest.mark.parametrize("case", sorted(TARGET_CASES))
def test_cli_import_refuses_a_bad_azure_target_before_any_import(
    case: str, migration_config: MigrationConfig, sandbox_config: Path, tmp_path: Path
) -> None:
    """``acr-migrate import`` on the Azure config with one thing wrong: exit 2 and one line
    naming what to fix, no traceback, no secret, before anything is imported: the target's
    inventory is the same afterwards."""
    from prefect.settings import PREFECT_API_URL

    change, expected = TARGET_CASES[case]
    raw = tomllib.loads(sandbox_config.read_text())
    extra_env = change(raw, migration_config, tmp_path)
    # Beside the sandbox's own config: its relative paths (env file, CA) still resolve.
    config = sandbox_config.parent / f"bad-{uuid.uuid4().hex[:8]}.toml"
    config.write_text(_toml(raw) + "\n")
    before = _snapshot(migration_config.target)
    env = {**os.environ, **extra_env}
    env.update(PREFECT_API_URL=str(PREFECT_API_URL.value()), COLUMNS="250")
    try:
        done = run_cli("import", "-c", str(config), env=env, timeout=300)
    finally:
        config.unlink()
    out = done.stdout + done.stderr
    assert done.returncode == 2, out
    assert "import did not start" in done.stdout, out
    assert "Traceback" not in out, out
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip().startswith("- ")]
    assert len(lines) == 1 and expected in lines[0], out
    if case == "unknown CA":  # naming what to fix
        assert "set [target] ca_bundle to the CA that signed it" in lines[0], out
    for name in (
        "ACR_MIGRATE_TARGET_CLIENT_SECRET",
        "ACR_MIGRATE_TARGET_PASSWORD",
        "ACR_MIGRATE_STORAGE_CONNECTION_STRING",
        *extra_env,
    ):
        secret = env.get(name)
        assert not secret or secret not in out, f"{name} leaked"
    assert _snapshot(migration_config.target) == before
