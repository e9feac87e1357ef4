"""Tenant credentials kept in a Prefect block: the secret is a SecretStr, loaded per tenant."""

from __future__ import annotations

import pytest

from acr_migrate.azure.credentials import secret_from_env
from acr_migrate.azure.settings import TenantIdentity
from tasks.credentials import TenantCredentials

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]


def test_block_supplies_the_secret_of_its_own_tenant_only() -> None:
    TenantCredentials(tenant_id="tenant-a", client_id="app-a", client_secret="s3cret-a").save(
        "tenant-a", overwrite=True
    )
    loaded = TenantCredentials.load("tenant-a")
    assert "s3cret-a" not in repr(loaded) and "s3cret-a" not in loaded.model_dump_json()
    identity = loaded.identity("tenant-a")
    assert secret_from_env(identity) == "s3cret-a"
    wrong = TenantIdentity(tenant_id="tenant-b", client_id="app-a", block="tenant-a")
    with pytest.raises(ValueError, match="one credential per tenant"):
        secret_from_env(wrong)
