"""The one decorator preset of the tasks that talk to registries, ARM or storage."""

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
#: Never cached and never retried (checks and steps that must not run twice).
ONCE: dict[str, Any] = {"cache_policy": NO_CACHE}
