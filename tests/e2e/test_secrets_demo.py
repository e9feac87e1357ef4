"""Issue 11, "Secrets": ``make demo`` on a sandbox of its own whose secrets the test chose, then
a search of everything kept for them: every record the Prefect server keeps (flow and task runs
with every state, logs, artifacts, variables, deployments, work pools, automations, blocks,
events), every blob of every container, every file under the sandbox root (the Prefect
database, result storage, the server's, workers' and services' logs), the demo's and the CLI's
terminal output. Secrets searched: the chosen ones, every secret the Azure stand-in holds at the
end (passwords it generated, webhook callback secrets...), every token it signed during the
demo, and any JWT at all; each in the forms a leak takes (see ``tests/leaks.py``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from acr_migrate.settings import MigrationConfig, load_config
from sandbox import api, prefect_server
from sandbox.demo import DemoRun, run_demo
from tests.leaks import (
    Record,
    blob_records,
    file_records,
    find_leaks,
    leak_report,
    prefect_records,
)

pytestmark = [pytest.mark.e2e]

IMAGES = 6
TAG = uuid.uuid4().hex[:6]
#: Distinctive values ('+' and '/' make their URL-encoded forms differ from them).
KNOWN = {
    api.SOURCE_PASSWORD_ENV: f"Canary-SrcAdmin-{TAG}+pw/1",
    api.TARGET_PASSWORD_ENV: f"Canary-TgtAdmin-{TAG}+pw/2",
    api.SOURCE_SECRET_ENV: f"Canary-SrcClientSecret-{TAG}+/3",
    api.TARGET_SECRET_ENV: f"Canary-TgtClientSecret-{TAG}+/4",
    api.RAW_SOURCE_PASSWORD_ENV: f"Canary-RawSrc-{TAG}+pw/5",
    api.RAW_TARGET_PASSWORD_ENV: f"Canary-RawTgt-{TAG}+pw/6",
    api.SOURCE_IDENTITY_HEADER_ENV: f"Canary-SrcMiHeader-{TAG}+7",
    api.TARGET_IDENTITY_HEADER_ENV: f"Canary-TgtMiHeader-{TAG}+8",
    api.STORAGE_KEY_NAME: base64.b64encode(f"Canary-StorageKey-{TAG}-0123456789".encode()).decode(),
}
#: The sandbox's own secret store (files the product never writes): not searched.
SECRET_STORES = (
    api.ENV_NAME,
    api.AUTH_NAME,
    "azure/state.json",
    "azure/signing-key.pem",
    "azure/federation-key.pem",
    "azure/federated-token-source.jwt",
    "azure/federated-token-target.jwt",
    "token-server/settings.json",
)


@dataclass
class SecretsDemo:
    root: Path
    config: MigrationConfig
    api_url: str
    runs: list[DemoRun]
    cli: subprocess.CompletedProcess[str]
    terminal: list[str] = field(default_factory=list)
    standin: dict[str, Any] = field(default_factory=dict)


def _standin(root: Path, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """``/_sandbox/secrets`` of the sandbox's Azure stand-in (PUT with ``body``)."""
    state = api.load_state(root)
    url = f"{state['azure']['resource_manager']}/_sandbox/secrets"
    verify = ssl.create_default_context(cafile=state["ca_bundle"])
    with httpx.Client(verify=verify, timeout=30) as client:
        response = client.put(url, json=body) if body else client.get(url)
    response.raise_for_status()
    return dict(response.json())


@pytest.fixture(scope="module")
def secrets_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecretsDemo]:
    """``make demo`` with the secrets of :data:`KNOWN`: up, seed, prefect, demo, then
    ``acr-migrate import`` from a terminal; the stand-in records every token it signs."""
    root = tmp_path_factory.mktemp("secrets-demo")
    config_path = api.up(root, secrets=KNOWN)
    try:
        assert _standin(root, {"record_tokens": True})["recording"]
        api.seed(config_path, images=IMAGES)
        url = api.prefect_up(root, port=0)
        config = load_config(config_path, load_env=False)
        terminal: list[str] = []
        runs = run_demo(url, config.source.name, say=terminal.append)
        # The terminal of `make demo`: no session settings, no secrets but the config's file.
        env = prefect_server.base_env(root / "cli-home")
        cli = subprocess.run(
            [str(Path(sys.executable).parent / "acr-migrate"), "import", "-c", str(config_path)],
            capture_output=True,
            text=True,
            env=env,
            cwd=root,
            timeout=600,
        )
        demo = SecretsDemo(root, config, url, runs, cli, terminal, _standin(root))
        yield demo
    finally:
        api.down(root)


def _everything(demo: SecretsDemo) -> list[Record]:
    """Every record of the Prefect server, every blob, every file of the sandbox root but its
    secret store, and the terminal output."""
    from azure.storage.blob import BlobServiceClient
    from prefect.client.orchestration import PrefectClient

    async def read() -> list[Record]:
        async with PrefectClient(api=demo.api_url) as client:
            return await prefect_records(client)

    records = asyncio.run(read())
    env = api.read_env_file(demo.root / api.ENV_NAME)
    service = BlobServiceClient.from_connection_string(env[api.STORAGE_ENV])
    records += blob_records(service)
    skipped = {demo.root / name for name in SECRET_STORES}
    files = [p for p in sorted(demo.root.rglob("*")) if p not in skipped]
    records += file_records("file", files, demo.root)
    terminal = "\n".join(demo.terminal) + demo.cli.stdout + demo.cli.stderr
    records.append(Record("terminal", "make demo output", terminal.encode()))
    return records


def _secrets(demo: SecretsDemo) -> dict[str, str]:
    """The chosen secrets, the storage key decoded, and every secret the stand-in holds."""
    secrets = {name: value for name, value in KNOWN.items()}
    decoded = base64.b64decode(KNOWN[api.STORAGE_KEY_NAME]).decode()
    secrets["storage account key (decoded)"] = decoded
    for label, value in demo.standin["secrets"].items():
        if value not in secrets.values():
            secrets[f"stand-in: {label}"] = value
    return secrets


def test_the_demo_runs_with_the_chosen_secrets(secrets_demo: SecretsDemo) -> None:
    runs = secrets_demo.runs
    assert [r.step for r in runs] == [
        "export (source)",
        "dry-run import (event)",
        "provision (target)",
        "import (target)",
        "validate (target)",
    ]
    assert all(r.ok for r in runs), [(r.step, r.state, r.message) for r in runs]
    assert secrets_demo.cli.returncode == 0, secrets_demo.cli.stdout + secrets_demo.cli.stderr
    env = api.read_env_file(secrets_demo.root / api.ENV_NAME)
    assert {k: env[k] for k in KNOWN if k in env} == {
        k: v for k, v in KNOWN.items() if k != api.STORAGE_KEY_NAME
    }
    assert f"AccountKey={KNOWN[api.STORAGE_KEY_NAME]};" in env[api.STORAGE_ENV]
    held = set(secrets_demo.standin["secrets"].values())
    chosen_in_standin = (
        api.SOURCE_PASSWORD_ENV,
        api.TARGET_PASSWORD_ENV,
        api.SOURCE_SECRET_ENV,
        api.TARGET_SECRET_ENV,
        api.SOURCE_IDENTITY_HEADER_ENV,
        api.TARGET_IDENTITY_HEADER_ENV,
    )
    assert {KNOWN[name] for name in chosen_in_standin} <= held
    # The demo signed in (Entra, ACR refresh and access tokens): the stand-in recorded them.
    assert len(secrets_demo.standin["tokens"]) >= 3


def test_nothing_kept_holds_a_secret(secrets_demo: SecretsDemo) -> None:
    records = _everything(secrets_demo)
    kinds = {r.kind for r in records}
    # The search reads real content of each kind (else it proves nothing).
    assert {"flow run", "task run", "log", "artifact", "event", "blob", "file"} <= kinds, kinds
    assert {"variable", "deployment", "terminal"} <= kinds, kinds
    text = b"\n".join(r.data for r in records)
    config = secrets_demo.config
    for shown in (config.source.username, config.target.username, "Finished in state Completed"):
        assert str(shown).encode() in text, shown
    assert any(r.kind == "blob" and r.where.endswith(".csv") for r in records)
    assert any(r.where.endswith("prefect.db") for r in records)

    leaks = find_leaks(records, _secrets(secrets_demo), secrets_demo.standin["tokens"])
    assert not leaks, leak_report(leaks)


def test_the_search_finds_each_form_of_a_secret() -> None:
    """The forms a leak takes: as is, URL-encoded, in a Basic header, base64 at any alignment,
    an issued token whole or in part, any JWT; nothing else."""
    secret = "Canary-Example+pw/9"
    basic = base64.b64encode(f"someone:{secret}".encode())
    payload = base64.urlsafe_b64encode(b'{"sub":"someone","jti":"0123456789abcdef"}').decode()
    token = f"eyJhbGciOiJSUzI1NiJ9.{payload.rstrip('=')}.{'c2lnbmF0dXJl' * 5}"
    cases = {
        "plain": f"password={secret}".encode(),
        "url": b"p=Canary-Example%2Bpw%2F9&x=1",
        "basic": b"Authorization: Basic " + basic,
        "nested": base64.b64encode(json.dumps({"k": secret}).encode()),
        "token": f"Bearer {token}".encode(),
        "signature": b"sig " + token.split(".")[2].encode(),
        "clean": b"Canary-Example password withheld",
    }
    records = [Record("case", name, data) for name, data in cases.items()]
    leaks = find_leaks(records, {"pw": secret}, [token], jwt_anywhere=False)
    assert {leak.where for leak in leaks} == set(cases) - {"clean"}, leak_report(leaks)
    assert all(secret not in leak.excerpt for leak in leaks)
    anywhere = find_leaks([Record("case", "other jwt", token.encode())], {}, [])
    assert [leak.form for leak in anywhere] == ["JWT"]
