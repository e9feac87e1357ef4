"""The import concurrency knob: one Prefect global concurrency limit per target registry.

Every image import holds one slot of ``acr-import-<target>`` while it copies, so an operator
can lower or raise the limit in the UI (Concurrency -> Global) while runs are in progress, and
concurrent runs into the same target share it. The limit is created on first use with the
run's ``concurrency`` option as its default; an existing limit is left as the operator set it.

Slots are taken with leases through one shared API client per process and renewed by one
background thread, instead of ``prefect.concurrency.sync.concurrency`` (about 100 ms per
acquisition and a renewal thread per holder, which dominates thousands of short imports; see
``benchmarks/bench_prefect_overhead.py``). A slot freed while another image of the same process
waits is handed straight to it (see :class:`~tasks.limits.pool.SlotPool`). A worker that dies
holding slots frees them when its leases expire (``LEASE_SECONDS``).

The package: :mod:`~tasks.limits.pool` is the slot logic (no Prefect, clock and server passed
in), :mod:`~tasks.limits.prefect_api` is Prefect's API as its server, and
:mod:`~tasks.limits.pacer` spaces the starts of the images.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from acr_migrate.models import RegistryEndpoint
from tasks.limits.pacer import Pacer
from tasks.limits.pool import (
    API_PATIENCE_SECONDS,
    HANDOVER_SECONDS,
    LEASE_SECONDS,
    LIMIT_CHECK_SECONDS,
    MAX_POLL_SECONDS,
    SlotPool,
    SlotUnavailableError,
)
from tasks.limits.prefect_api import API_TRANSIENT, PrefectLimits, ensure_limit

__all__ = [
    "API_PATIENCE_SECONDS",
    "API_TRANSIENT",
    "HANDOVER_SECONDS",
    "LEASE_SECONDS",
    "LIMIT_CHECK_SECONDS",
    "MAX_POLL_SECONDS",
    "PREFIX",
    "Pacer",
    "PrefectLimits",
    "SlotPool",
    "SlotUnavailableError",
    "ensure_limit",
    "limit_name",
    "pace",
    "slot",
]

PREFIX = "acr-import-"


def limit_name(target: RegistryEndpoint) -> str:
    """``acr-import-<target name>`` (lowercase letters, digits and dashes)."""
    text = re.sub(r"[^a-z0-9-]+", "-", target.name.lower()).strip("-")
    return (PREFIX + (text or "target"))[:100]


#: This process's slots, taken from Prefect's API, and the pacing of its images.
_slots = SlotPool(PrefectLimits())
_pacer = Pacer()


def pace(key: str, rate: float) -> None:
    """Wait for this image's turn: at most ``rate`` images per second per ``key`` (0: no cap)."""
    _pacer.wait(key, rate)


@contextmanager
def slot(name: str) -> Iterator[None]:
    """Hold one slot of the global concurrency limit ``name`` (waits until one is free)."""
    with _slots.slot(name):
        yield
