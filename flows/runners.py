"""Which task runner executes the per-image imports: threads here, or a Dask cluster.

Chosen per run by the ``runner`` parameter, or per deployment by job variables (environment
of the worker's flow-run process): ``ACR_MIGRATE_TASK_RUNNER=dask`` and
``ACR_MIGRATE_DASK_ADDRESS=tcp://scheduler:8786`` (without an address a local cluster of
``dask_workers`` processes is started for the run).
"""

from __future__ import annotations

import math
import os
from enum import StrEnum
from typing import Any

from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import BaseModel, ConfigDict, Field

RUNNER_ENV = "ACR_MIGRATE_TASK_RUNNER"
DASK_ADDRESS_ENV = "ACR_MIGRATE_DASK_ADDRESS"
#: Most threads one run uses, whatever the concurrency: the global limit is the real knob.
MAX_THREADS = 256
#: Images started per second by one run (``benchmarks/bench_prefect_overhead.py``, 2 CPUs): at
#: this rate PostgreSQL recorded everything; SQLite recorded every task run but, loaded, lost
#: part of the event feed; at ~100 per second it lost more.
DEFAULT_IMAGES_PER_SECOND = 40.0


class RunnerKind(StrEnum):
    THREADS = "threads"
    DASK = "dask"


class TaskRunnerSettings(BaseModel):
    """Where the image imports run (the global concurrency limit bounds them either way)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: RunnerKind | None = Field(
        default=None,
        description=f"threads or dask; unset: ${RUNNER_ENV} of the worker, else threads",
    )
    dask_address: str | None = Field(
        default=None,
        description=f"Dask scheduler (tcp://host:8786); unset: ${DASK_ADDRESS_ENV} or a local "
        "cluster",
    )
    dask_workers: int = Field(default=2, ge=1, le=64, description="Local cluster: processes")
    headroom: float = Field(
        default=2.0,
        ge=1.0,
        le=8.0,
        description="Task runs started at once per run = concurrency x headroom; the images "
        "copying at once stay within concurrency, the adaptive window and the global limit",
    )

    max_images_per_second: float = Field(
        default=DEFAULT_IMAGES_PER_SECOND,
        ge=0.0,
        le=10_000.0,
        description="Most images one run starts per second (0: no cap). Each image is three "
        "task-run events for the Prefect server; above what the server records, its in-memory "
        "broker drops them and the UI never shows those task runs. Real imports take seconds "
        "each and stay far below the cap",
    )

    def resolved_kind(self) -> RunnerKind:
        if self.kind is not None:
            return self.kind
        return RunnerKind(os.environ.get(RUNNER_ENV, RunnerKind.THREADS.value).strip().lower())

    def address(self) -> str | None:
        return self.dask_address or os.environ.get(DASK_ADDRESS_ENV) or None

    def in_flight(self, concurrency: int) -> int:
        return max(1, min(MAX_THREADS, math.ceil(concurrency * self.headroom)))


def make_task_runner(settings: TaskRunnerSettings, concurrency: int) -> Any:
    """A task runner to use as a context manager inside the flow (always bounded)."""
    slots = settings.in_flight(concurrency)
    if settings.resolved_kind() is RunnerKind.DASK:
        from prefect_dask import DaskTaskRunner

        address = settings.address()
        if address:
            return DaskTaskRunner(address=address)
        return DaskTaskRunner(
            cluster_kwargs={
                "n_workers": settings.dask_workers,
                "threads_per_worker": max(1, math.ceil(slots / settings.dask_workers)),
                "processes": True,
                "dashboard_address": None,
            }
        )
    return ThreadPoolTaskRunner(max_workers=slots)
