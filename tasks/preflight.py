"""The first task of every run: is the configuration workable from this worker?"""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from acr_migrate.preflight import Need, check_run
from acr_migrate.storage import StorageSettings
from tasks import credentials as _credentials  # noqa: F401 - registers the block secret source


@task(name="preflight", cache_policy=NO_CACHE)
def preflight(
    storage: StorageSettings | None, needs: list[Need], container_must_exist: bool = True
) -> list[str]:
    """Every problem of the configuration, one line each (empty when the run can go ahead)."""
    return check_run(storage, needs, container_must_exist=container_must_exist)
