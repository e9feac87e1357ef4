"""The per-image import task: one task run per unique manifest, retried only when transient."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import task_run as current_task_run

from acr_migrate.models import ImportItem, ImportResult, ImportStatus, RegistryEndpoint
from tasks.clients import engine_for
from tasks.retry import retry_if_transient


@task(
    name="import-image",
    task_run_name="{item.label}",
    retries=6,
    retry_delay_seconds=[1, 2, 4, 8, 16, 32],
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_if_transient,
    cache_policy=NO_CACHE,
)
def import_image(
    item: ImportItem,
    source: RegistryEndpoint,
    target: RegistryEndpoint,
    engine: str,
    force: bool = False,
    concurrency: int = 8,
) -> ImportResult:
    """Put ``item`` into the target with its tags; raises when it cannot."""
    attempt = int(current_task_run.run_count or 1)
    try:
        result = engine_for(engine, source, target, concurrency).import_image(item, force=force)
    except Exception as exc:
        exc.acr_attempts = attempt  # type: ignore[attr-defined]
        raise
    if attempt > 1 and result.status is ImportStatus.SKIPPED:
        # An earlier attempt of this run landed it (and failed after, e.g. while verifying).
        result = result.model_copy(update={"status": ImportStatus.IMPORTED})
    return result.model_copy(update={"attempts": attempt})
