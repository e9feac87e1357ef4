"""Each image's task run does not log a line that only repeats its Completed state."""

from __future__ import annotations

import logging

import pytest

from tasks import import_image


def _record(level: int, msg: str, task_name: str) -> logging.LogRecord:
    record = logging.LogRecord("prefect.task_runs", level, __file__, 1, msg, None, None)
    record.task_name = task_name
    return record


def test_the_completed_line_of_an_image_is_dropped_and_everything_else_kept() -> None:
    logger = logging.getLogger("test-perf-task-logs")
    import_image.quiet_completed_images(logger)
    import_image.quiet_completed_images(logger)  # installing twice adds one filter
    assert len(logger.filters) == 1
    keep = logger.filters[0].filter  # type: ignore[union-attr]
    image = import_image.TASK_NAME
    assert not keep(_record(logging.INFO, "Finished in state Completed()", image))
    assert keep(_record(logging.ERROR, "Finished in state Failed('boom')", image))
    assert keep(_record(logging.INFO, "Finished in state Completed()", "read-target"))
    assert keep(_record(logging.INFO, "copied 3 blobs", image))
    assert keep(_record(logging.WARNING, "Finished in state Completed()", image))


def test_prefect_task_run_logger_has_the_filter_and_the_environment_can_keep_the_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    task_runs = logging.getLogger("prefect.task_runs")
    assert any(isinstance(f, import_image._QuietCompletedImages) for f in task_runs.filters)
    monkeypatch.setenv(import_image.LOG_COMPLETED_ENV, "1")
    other = logging.getLogger("test-perf-task-logs-kept")
    import_image.quiet_completed_images(other)
    assert other.filters == []
