"""Tasks of the cutover: read the validation verdict, plan and run the source deletion."""

from __future__ import annotations

from prefect import task

from acr_migrate.deletion import DeletionPlan, DeletionResult
from acr_migrate.models import RegistryEndpoint
from acr_migrate.storage import BlobStore, ManifestLocation, StorageSettings
from acr_migrate.validate import ValidationVerdict, validation_verdict
from tasks.presets import STORAGE, TRANSIENT
from tasks.registries import registry


@task(name="latest-validation", **STORAGE)
def latest_validation(storage: StorageSettings, location: ManifestLocation) -> ValidationVerdict:
    """The newest ``validation-*.csv`` next to the manifest, summed up (empty if none)."""
    store = BlobStore(storage)
    newest = store.newest(location.sibling("validation-"), ".csv")
    if newest is None:
        return ValidationVerdict()
    data, _ = store.get(newest)
    return validation_verdict(newest, data)


@task(name="plan-source-deletion", task_run_name="plan deletion of {source.name}", **TRANSIENT)
def plan_deletion(source: RegistryEndpoint, repositories: list[str]) -> DeletionPlan:
    """What the source holds now in ``repositories`` (changes nothing)."""
    deleter = registry(source).deleter()
    try:
        return deleter.plan(repositories)
    finally:
        deleter.close()


@task(name="delete-source-content", task_run_name="delete {plan.name}", **TRANSIENT)
def delete_source_content(source: RegistryEndpoint, plan: DeletionPlan) -> DeletionResult:
    """Delete what the approved plan lists (a retry finds deleted manifests already gone)."""
    deleter = registry(source).deleter()
    try:
        return deleter.delete(plan)
    finally:
        deleter.close()
