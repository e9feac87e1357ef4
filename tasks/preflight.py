"""The first task of every run: is the configuration workable from this worker?"""

from __future__ import annotations

from prefect import task

from acr_migrate.preflight import Need, check_run
from acr_migrate.storage import StorageSettings
from tasks.credentials import block_or_env_secret, pull_token_from_block
from tasks.presets import ONCE


@task(name="preflight", **ONCE)
def preflight(
    storage: StorageSettings | None, needs: list[Need], container_must_exist: bool = True
) -> list[str]:
    """Every problem of the configuration, one line each (empty when the run can go ahead)."""
    return check_run(
        storage,
        needs,
        container_must_exist=container_must_exist,
        secrets=block_or_env_secret,
        pull_tokens=pull_token_from_block,
    )
