"""The decorator presets of the tasks (the only place that says how tasks cache and retry)."""

from __future__ import annotations

from typing import Any

from prefect.cache_policies import NO_CACHE

from tasks.retry import retry_if_transient

#: Never cached (every run reads the registries afresh); retried only on transient faults.
TRANSIENT: dict[str, Any] = {
    "cache_policy": NO_CACHE,
    "retries": 3,
    "retry_delay_seconds": [2, 8, 30],
    "retry_condition_fn": retry_if_transient,
}
#: An image import: retried on transient faults with more patience (throttling lasts), and
#: jitter so the retries of many images do not land together.
IMPORT: dict[str, Any] = {
    "cache_policy": NO_CACHE,
    "retries": 6,
    "retry_delay_seconds": [1, 2, 4, 8, 16, 32],
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": retry_if_transient,
}
#: Never cached and never retried (checks and steps that must not run twice).
ONCE: dict[str, Any] = {"cache_policy": NO_CACHE}
#: Never cached; a few quick retries (blob storage reads and writes, idempotent).
STORAGE: dict[str, Any] = {"cache_policy": NO_CACHE, "retries": 2, "retry_delay_seconds": [2, 8]}
