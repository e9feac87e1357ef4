"""The per-image import task: one task run per unique manifest, retried only when transient."""

from __future__ import annotations

import time
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import task_run as current_task_run

from acr_migrate.errors import classify
from acr_migrate.models import ImportItem, ImportResult, RegistryEndpoint
from tasks.clients import engine_for

#: The longest ``Retry-After`` we honour before the next attempt.
MAX_RETRY_AFTER = 120.0


def retry_if_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect retry condition: retry throttling and passing faults, nothing else.

    When the server sent ``Retry-After``, wait that long first; the task's own backoff delay
    (exponential, with jitter) comes on top, so we never come back early.
    """
    exc = state.data if isinstance(state.data, BaseException) else None
    if exc is None:
        return False
    verdict = classify(exc)
    if verdict.transient and verdict.retry_after:
        time.sleep(min(verdict.retry_after, MAX_RETRY_AFTER))
    return verdict.transient


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
    return result.model_copy(update={"attempts": attempt})
