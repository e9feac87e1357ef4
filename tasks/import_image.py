"""The per-image import task: one task run per unique manifest, retried only when transient."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import task_run as current_task_run

from acr_migrate.models import ImportItem, ImportResult, ImportStatus, RegistryEndpoint
from tasks.clients import engine_for
from tasks.limits import slot
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
    limit: str | None = None,
) -> ImportResult:
    """Put ``item`` into the target with its tags; raises when it cannot.

    With ``limit``, the copy holds one slot of that Prefect global concurrency limit (the
    operator's knob in the UI); waiting for a slot does not count as an attempt.
    """
    attempt = int(current_task_run.run_count or 1)
    try:
        copier = engine_for(engine, source, target, concurrency)
        if limit:
            with slot(limit):
                result = copier.import_image(item, force=force)
        else:
            result = copier.import_image(item, force=force)
    except Exception as exc:
        exc.acr_attempts = attempt  # type: ignore[attr-defined]
        raise
    if attempt > 1 and result.status is ImportStatus.SKIPPED:
        # An earlier attempt of this run landed it (and failed after, e.g. while verifying).
        result = result.model_copy(update={"status": ImportStatus.IMPORTED})
    return result.model_copy(update={"attempts": attempt})
