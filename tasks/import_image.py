"""The per-image import task: one task run per unique manifest, retried only when transient."""

from __future__ import annotations

import logging
import os
from contextlib import ExitStack

from prefect import task
from prefect.runtime import task_run as current_task_run

from acr_migrate.models import ImportItem, ImportResult, ImportStatus, RegistryEndpoint
from tasks.limits import pace, slot
from tasks.limits.adaptive import window
from tasks.presets import IMPORT
from tasks.registries import engine_for

TASK_NAME = "import-image"
#: Set to 1 to keep Prefect's "Finished in state Completed()" line of every image's task run.
LOG_COMPLETED_ENV = "ACR_MIGRATE_LOG_COMPLETED_IMAGES"


class _QuietCompletedImages(logging.Filter):
    """Drop the "Finished in state Completed()" INFO line of each image's task run.

    It says what the task run's state already shows, and at thousands of images those lines
    are a log write per image on the server (and a console line per image). Anything else an
    image logs, and its failures and retries (logged at WARNING/ERROR), are kept.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.levelno == logging.INFO
            and getattr(record, "task_name", None) == TASK_NAME
            and isinstance(record.msg, str)
            and record.msg.startswith("Finished in state Completed(")
        )


def quiet_completed_images(logger: logging.Logger | None = None) -> None:
    """Install the filter on Prefect's task-run logger (once; unless $LOG_COMPLETED_ENV=1)."""
    logger = logger or logging.getLogger("prefect.task_runs")
    if os.environ.get(LOG_COMPLETED_ENV, "").strip() in ("1", "true", "yes"):
        return
    if not any(isinstance(f, _QuietCompletedImages) for f in logger.filters):
        logger.addFilter(_QuietCompletedImages())


quiet_completed_images()


@task(
    name=TASK_NAME,
    task_run_name="{item.label}",
    **IMPORT,
)
def import_image(
    item: ImportItem,
    source: RegistryEndpoint,
    target: RegistryEndpoint,
    engine: str,
    force: bool = False,
    concurrency: int = 8,
    limit: str | None = None,
    max_per_second: float = 0.0,
    window_key: str | None = None,
    adaptive: bool = True,
) -> ImportResult:
    """Put ``item`` into the target with its tags; raises when it cannot.

    With ``limit``, the copy holds one slot of that Prefect global concurrency limit (the
    operator's knob in the UI); waiting for a slot does not count as an attempt. With
    ``max_per_second``, the images of this process into this target start at most that often
    (see ``TaskRunnerSettings.max_images_per_second``). With ``window_key``, the copy also holds
    a place in the run's adaptive window (:mod:`tasks.limits.adaptive`): at most ``concurrency``
    images, fewer while the target throttles (``adaptive``; else always ``concurrency``).
    """
    attempt = int(current_task_run.run_count or 1)
    pace(limit or target.name, max_per_second)
    try:
        copier = engine_for(engine, source, target, concurrency)
        with ExitStack() as held:
            if window_key:
                held.enter_context(window(window_key, concurrency, adaptive).admit())
            if limit:
                held.enter_context(slot(limit))
            result = copier.import_image(item, force=force)
    except Exception as exc:
        exc.acr_attempts = attempt  # type: ignore[attr-defined]
        raise
    if attempt > 1 and result.status is ImportStatus.SKIPPED:
        # An earlier attempt of this run landed it (and failed after, e.g. while verifying).
        result = result.model_copy(update={"status": ImportStatus.IMPORTED})
    return result.model_copy(update={"attempts": attempt})
