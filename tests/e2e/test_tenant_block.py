"""Tenant credentials kept in a Prefect block: the secret is a SecretStr, loaded per tenant."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from acr_migrate.azure.secrets import secret_from_env
from acr_migrate.azure.settings import TenantIdentity
from acr_migrate.settings import MigrationConfig
from tasks.credentials import TenantCredentials, block_or_env_secret
from tests.helpers import run_export, uid

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]

REPO = Path(__file__).resolve().parents[2]


def test_block_supplies_the_secret_of_its_own_tenant_only() -> None:
    TenantCredentials(tenant_id="tenant-a", client_id="app-a", client_secret="s3cret-a").save(
        "tenant-a", overwrite=True
    )
    loaded = TenantCredentials.load("tenant-a")
    assert "s3cret-a" not in repr(loaded) and "s3cret-a" not in loaded.model_dump_json()
    identity = loaded.identity("tenant-a")
    assert block_or_env_secret(identity) == "s3cret-a"
    assert secret_from_env(identity) is None  # the core knows no blocks
    wrong = TenantIdentity(tenant_id="tenant-b", client_id="app-a", block="tenant-a")
    with pytest.raises(ValueError, match="one credential per tenant"):
        block_or_env_secret(wrong)


#: A fresh process that imports nothing but the cutover flow, as a worker running
#: ``delete-source`` does: the block secret must reach the registry without any other import.
CUTOVER_ONLY = """
import json, sys
from acr_migrate.models import RegistryEndpoint
from acr_migrate.settings import CutoverOptions
from acr_migrate.storage import ManifestLocation, StorageSettings
from flows.cutover import delete_source

source = RegistryEndpoint.model_validate_json(sys.argv[1])
storage = StorageSettings.model_validate_json(sys.argv[2])
location = ManifestLocation.model_validate_json(sys.argv[3])
options = CutoverOptions(require_validation=False, dry_run=True)
state = delete_source(source, storage, location, options, return_state=True)
summary = state.result(raise_on_failure=False)
print(json.dumps({"message": state.message, "plan": getattr(summary, "plan", None)}))
"""


def test_delete_source_reads_an_acr_with_block_only_credentials_in_a_fresh_process(
    migration_config: MigrationConfig, seed_summary: Any
) -> None:
    from prefect.settings import PREFECT_API_URL

    cfg = migration_config
    assert cfg.source.azure is not None
    identity = cfg.source.azure.identity
    secret = secret_from_env(identity)
    assert identity.client_secret_env and secret
    block = f"source-{uid()}"
    TenantCredentials(
        tenant_id=identity.tenant_id,
        client_id=identity.client_id,
        client_secret=secret,
        authority_host=identity.authority_host,
    ).save(block, overwrite=True)
    only_block = identity.model_copy(update={"client_secret_env": None, "block": block})
    source = cfg.source.model_copy(
        update={"azure": cfg.source.azure.model_copy(update={"identity": only_block})}
    )
    location = run_export(cfg, include=[seed_summary.repositories[0]]).location

    env = {k: v for k, v in os.environ.items() if k != identity.client_secret_env}
    env["PREFECT_API_URL"] = str(PREFECT_API_URL.value())
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            CUTOVER_ONLY,
            source.model_dump_json(),
            cfg.storage.model_dump_json(),
            location.model_dump_json(),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert "client_secret identity needs" not in (outcome["message"] or "")
    # The deleter listed the registry through its data plane with the block's secret.
    assert outcome["plan"] and outcome["plan"]["repositories"] >= 1, outcome
    assert secret not in done.stdout + done.stderr
