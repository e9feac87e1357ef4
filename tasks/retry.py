"""The retry rule of every task: only faults the core classifies as transient."""

from __future__ import annotations

import time
from typing import Any

from acr_migrate.errors import classify

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
