"""Tasks of the cutover: read the validation verdict, plan and run the source deletion."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from acr_migrate.cutover import (
    DeletionPlan,
    DeletionResult,
    ValidationVerdict,
    open_deleter,
    validation_verdict,
)
from acr_migrate.models import RegistryEndpoint
from acr_migrate.storage import BlobStore, ManifestLocation, StorageSettings
from tasks.retry import retry_if_transient


@task(name="latest-validation", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 8])
def latest_validation(storage: StorageSettings, location: ManifestLocation) -> ValidationVerdict:
    """The newest ``validation-*.csv`` next to the manifest, summed up (empty if none)."""
    store = BlobStore(storage)
    prefix = location.sibling("validation-")
    blobs = [
        b for b in store.container.list_blobs(name_starts_with=prefix) if b.name.endswith(".csv")
    ]
    if not blobs:
        return ValidationVerdict()
    newest = max(blobs, key=lambda b: (b.last_modified, b.name))
    data, _ = store.get(newest.name)
    return validation_verdict(newest.name, data)


@task(
    name="plan-source-deletion",
    task_run_name="plan deletion of {source.name}",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 8, 30],
    retry_condition_fn=retry_if_transient,
)
def plan_deletion(source: RegistryEndpoint, repositories: list[str]) -> DeletionPlan:
    """What the source holds now in ``repositories`` (changes nothing)."""
    deleter = open_deleter(source)
    try:
        return deleter.plan(repositories)
    finally:
        deleter.close()


@task(
    name="delete-source",
    task_run_name="delete {plan.name}",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 8, 30],
    retry_condition_fn=retry_if_transient,
)
def delete_source_content(source: RegistryEndpoint, plan: DeletionPlan) -> DeletionResult:
    """Delete what the approved plan lists (a retry finds deleted manifests already gone)."""
    deleter = open_deleter(source)
    try:
        return deleter.delete(plan)
    finally:
        deleter.close()
