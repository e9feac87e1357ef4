"""Issue 11, "Secrets": ``make demo`` (the ``demo_sandbox`` fixture: a sandbox of its own, its
secrets chosen by the test), then a search of everything kept for them: every record the Prefect
server keeps (flow and task runs with every state, logs, artifacts, variables, deployments, work
pools, automations, blocks, events), every blob of every container, every file under the
sandbox root but its own secret store (the Prefect database, result storage if any, the
server's, workers' and services' logs), the demo's and the CLI's terminal output. Secrets
searched: the chosen ones, every secret the Azure stand-in holds at the end (passwords it
generated, webhook callback secrets...), every token it signed during the demo, and any JWT at
all; each in the forms a leak takes (see ``tests/leaks.py``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid

import pytest

from acr_migrate.settings import load_config
from sandbox import api
from tests.e2e.conftest import DEMO_SECRETS, DemoSandbox
from tests.leaks import (
    MASK,
    Record,
    blob_records,
    file_records,
    find_leaks,
    leak_report,
    prefect_records,
)

pytestmark = [pytest.mark.e2e]

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
SECRET_BLOCK = "leak-test-secret"


def _everything(demo: DemoSandbox) -> list[Record]:
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


def _secrets(demo: DemoSandbox) -> dict[str, str]:
    """The chosen secrets, the storage key decoded, and every secret the stand-in holds."""
    secrets = dict(DEMO_SECRETS)
    decoded = base64.b64decode(DEMO_SECRETS[api.STORAGE_KEY_NAME]).decode()
    secrets["storage account key (decoded)"] = decoded
    for label, value in demo.standin["secrets"].items():
        if value not in secrets.values():
            secrets[f"stand-in: {label}"] = value
    return secrets


def test_the_demo_runs_with_the_chosen_secrets(demo_sandbox: DemoSandbox) -> None:
    runs = demo_sandbox.runs
    # The steps themselves are test_demo's; here: every one ran, with the chosen secrets.
    assert len(runs) == 5 and all(r.ok for r in runs), [(r.step, r.state, r.message) for r in runs]
    assert demo_sandbox.cli.returncode == 0, demo_sandbox.cli.stdout + demo_sandbox.cli.stderr
    env = api.read_env_file(demo_sandbox.root / api.ENV_NAME)
    assert {k: env[k] for k in DEMO_SECRETS if k in env} == {
        k: v for k, v in DEMO_SECRETS.items() if k != api.STORAGE_KEY_NAME
    }
    assert f"AccountKey={DEMO_SECRETS[api.STORAGE_KEY_NAME]};" in env[api.STORAGE_ENV]
    held = set(demo_sandbox.standin["secrets"].values())
    chosen_in_standin = (
        api.SOURCE_PASSWORD_ENV,
        api.TARGET_PASSWORD_ENV,
        api.SOURCE_SECRET_ENV,
        api.TARGET_SECRET_ENV,
        api.SOURCE_IDENTITY_HEADER_ENV,
        api.TARGET_IDENTITY_HEADER_ENV,
    )
    assert {DEMO_SECRETS[name] for name in chosen_in_standin} <= held
    # The demo signed in (Entra, ACR refresh and access tokens): the stand-in recorded them.
    assert len(demo_sandbox.standin["tokens"]) >= 3


def _secret_block(api_url: str, value: str) -> None:
    """A Secret block on the demo's server, as ``grant-pull-token`` keeps its password: the one
    place a secret may be, read back masked (``prefect_records`` asserts it)."""
    from prefect.blocks.system import Secret
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}):
        Secret(value=value).save(SECRET_BLOCK, overwrite=True, _sync=True)  # type: ignore[call-arg]


def test_nothing_kept_holds_a_secret(demo_sandbox: DemoSandbox) -> None:
    in_block = f"Canary-SecretBlock-{uuid.uuid4().hex[:8]}+/0"
    _secret_block(demo_sandbox.api_url, in_block)
    records = _everything(demo_sandbox)
    kinds = {r.kind for r in records}
    blocks = [r for r in records if r.kind == "block document" and SECRET_BLOCK.encode() in r.data]
    assert blocks and MASK.encode() in blocks[0].data
    # The search reads real content of each kind (else it proves nothing).
    assert {"flow run", "task run", "log", "artifact", "event", "blob", "file"} <= kinds, kinds
    assert {"variable", "deployment", "terminal"} <= kinds, kinds
    text = b"\n".join(r.data for r in records)
    config = load_config(demo_sandbox.config, load_env=False)
    for shown in (config.source.username, config.target.username, "Finished in state Completed"):
        assert str(shown).encode() in text, shown
    assert any(r.kind == "blob" and r.where.endswith(".csv") for r in records)
    assert any(r.where.endswith("prefect.db") for r in records)

    secrets = {**_secrets(demo_sandbox), f"value of the Secret block {SECRET_BLOCK}": in_block}
    leaks = find_leaks(records, secrets, demo_sandbox.standin["tokens"])
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
