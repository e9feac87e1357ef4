"""The import concurrency knob: one Prefect global concurrency limit per target registry.

Every image import holds one slot of ``acr-import-<target>`` while it copies, so an operator
can lower or raise the limit in the UI (Concurrency -> Global) while runs are in progress, and
concurrent runs into the same target share it. The limit is created on first use with the
run's ``concurrency`` option as its default; an existing limit is left as the operator set it.

Slots are taken with leases through one shared API client per process and renewed by one
background thread, instead of ``prefect.concurrency.sync.concurrency`` (about 100 ms per
acquisition and a renewal thread per holder, which dominates thousands of short imports; see
``benchmarks/bench_prefect_overhead.py``). A slot freed while another image of the same process
waits is handed straight to it (see :class:`_Slots`). A worker that dies holding slots frees
them when its leases expire (``LEASE_SECONDS``).
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.settings import PREFECT_API_URL

from acr_migrate.models import RegistryEndpoint

PREFIX = "acr-import-"
#: How long a held slot survives without renewal (a crashed worker frees it after this).
LEASE_SECONDS = 300.0
#: Longest wait between two tries for a slot, so raising the limit takes effect quickly.
MAX_POLL_SECONDS = 2.0
#: How long a read of the limit's size is trusted when handing a slot on within the process.
LIMIT_CHECK_SECONDS = 1.0
#: A slot goes back to the server after this long, so other runs into the target get a turn.
#: Each give-back leaves the slot idle until a waiter's next ask (up to ``MAX_POLL_SECONDS``):
#: at 5 s that cost a run of 50 images (~0.6 s copies each) about a third of its slot time.
HANDOVER_SECONDS = 15.0
#: How long a slot request rides out an overloaded or restarting Prefect API.
API_PATIENCE_SECONDS = 300.0
#: Prefect API answers worth another try (0: no answer at all).
API_TRANSIENT = frozenset({0, 429, 500, 502, 503, 504})

logger = logging.getLogger(__name__)


def limit_name(target: RegistryEndpoint) -> str:
    """``acr-import-<target name>`` (lowercase letters, digits and dashes)."""
    text = re.sub(r"[^a-z0-9-]+", "-", target.name.lower()).strip("-")
    return (PREFIX + (text or "target"))[:100]


def ensure_limit(name: str, default: int) -> int:
    """Create the limit with ``default`` slots unless it exists; returns its current limit."""
    with get_client(sync_client=True) as client:
        try:
            return int(client.read_global_concurrency_limit_by_name(name).limit)
        except ObjectNotFound:
            pass
        try:
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=name, limit=default, active=True)
            )
        except ObjectAlreadyExists:
            pass  # a concurrent run created it first
        return int(client.read_global_concurrency_limit_by_name(name).limit)


class _Slots:
    """Slots of global concurrency limits for this process, and the thread renewing their leases.

    One waiting thread per limit asks the server at a time; the others wait for it or for a
    hand-over: a slot released while another thread of this process waits for the same limit is
    handed to that thread instead of going back to the server (two API calls saved per image and no
    polling delay), unless the limit was lowered below what is held (the size of the limit is
    read at most every ``LIMIT_CHECK_SECONDS``, so lowering the knob takes effect within that),
    or the slot was taken from the server more than ``HANDOVER_SECONDS`` ago (so concurrent
    runs, in other processes, share the limit instead of waiting for this one to finish).

    Until the server first says a limit is full, every waiter asks at once: the first slots of
    a run are taken in one round of parallel requests instead of one request after another
    (16 slots cost 16 round trips before the 16th image could start).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handed = threading.Condition(self._lock)
        self._clients: dict[str, Any] = {}
        self._held: dict[UUID, float] = {}  # lease -> until when it may be handed over
        self._spare: dict[str, list[UUID]] = {}  # released leases waiting for a waiter
        self._waiting: dict[str, int] = {}
        self._polling: dict[str, int] = {}  # waiters of this process asking the server, per limit
        self._full_seen: set[str] = set()  # limits the server has once refused a slot of
        self._delay: dict[str, float] = {}  # current back-off of the asking, per limit
        self._room: dict[str, tuple[float, bool]] = {}  # name -> (read at, active <= limit)
        self._renewer: threading.Thread | None = None

    def client(self) -> Any:
        url = str(PREFECT_API_URL.value() or "")
        with self._lock:
            if url not in self._clients:
                client = get_client(sync_client=True)
                client.__enter__()
                self._clients[url] = client
            return self._clients[url]

    def acquire(self, name: str) -> UUID:
        """Wait for a slot: one handed over by a thread of this process, or one from the server.

        A busy or briefly unavailable Prefect API (5xx, connection errors) is waited out too,
        for up to ``API_PATIENCE_SECONDS``: it is no fault of the image."""
        with self._lock:
            self._waiting[name] = self._waiting.get(name, 0) + 1
        try:
            give_up = time.monotonic() + API_PATIENCE_SECONDS
            while True:
                with self._handed:
                    if self._spare.get(name):
                        return self._spare[name].pop()
                    ramping = name not in self._full_seen  # no refusal yet: all ask at once
                    if self._polling.get(name) and not ramping:
                        # another waiter asks the server for all of us
                        self._handed.wait(MAX_POLL_SECONDS)
                        continue
                    self._polling[name] = self._polling.get(name, 0) + 1
                lease_id: UUID | None = None
                try:
                    lease_id, hint = self._increment(name, give_up)
                    if lease_id is None:
                        with self._lock:
                            self._full_seen.add(name)
                    # The back-off belongs to the limit, not the thread: the asking rotates.
                    delay = self._delay.get(name, 0.05)
                    self._delay[name] = 0.05 if lease_id else min(MAX_POLL_SECONDS, delay * 2)
                    if lease_id is None:
                        pause = min(MAX_POLL_SECONDS, max(0.05, hint or delay))
                        until = time.monotonic() + pause * random.uniform(0.5, 1.0)
                        with self._handed:  # the full pause, unless a slot is handed over
                            while not self._spare.get(name) and time.monotonic() < until:
                                self._handed.wait(until - time.monotonic())
                finally:
                    with self._handed:
                        self._polling[name] -= 1
                        self._handed.notify_all()  # the next waiter takes over the asking
                if lease_id is not None:
                    return lease_id
        finally:
            with self._lock:
                self._waiting[name] -= 1
                unclaimed = self._spare.pop(name, []) if not self._waiting[name] else []
            for lease_id in unclaimed:
                self._give_back(lease_id)

    def _increment(self, name: str, give_up: float) -> tuple[UUID | None, float | None]:
        """One try at the server: ``(lease, None)``, or ``(None, seconds to wait)``."""
        try:
            response = self.client().increment_concurrency_slots_with_lease(
                names=[name], slots=1, mode="concurrency", lease_duration=LEASE_SECONDS
            )
        except (httpx.HTTPStatusError, httpx.TransportError) as exc:
            status = exc.response.status_code if isinstance(exc, httpx.HTTPStatusError) else 0
            if status != 423 and (status not in API_TRANSIENT or time.monotonic() > give_up):
                raise
            hint = None
            if isinstance(exc, httpx.HTTPStatusError):
                try:  # 423: no slot free now; the server says when to come back
                    hint = float(exc.response.headers.get("Retry-After") or 0) or None
                except ValueError:
                    pass
            return None, hint
        lease_id = UUID(str(response.json()["lease_id"]))
        with self._lock:
            # Staggered, so the slots of one process do not all go back at the same moment.
            self._held[lease_id] = time.monotonic() + HANDOVER_SECONDS * random.uniform(0.5, 1.0)
            if self._renewer is None or not self._renewer.is_alive():
                self._renewer = threading.Thread(
                    target=self._renew, name="acr-slot-leases", daemon=True
                )
                self._renewer.start()
        return lease_id, None

    def _has_room(self, name: str) -> bool:
        """Whether the limit still allows what is held (read at most every few seconds)."""
        now = time.monotonic()
        read_at, room = self._room.get(name, (-LIMIT_CHECK_SECONDS, True))
        if now - read_at < LIMIT_CHECK_SECONDS:
            return room
        try:
            limit = self.client().read_global_concurrency_limit_by_name(name)
            room = bool(limit.active) and int(limit.active_slots) <= int(limit.limit)
        except Exception:
            room = False  # unsure: give the slot back, the server decides
        self._room[name] = (now, room)
        return room

    def release(self, name: str, lease_id: UUID) -> None:
        """Hand the slot to a waiting thread of this process, else give it back to the server."""
        with self._lock:
            wanted = self._waiting.get(name, 0) > len(self._spare.get(name, []))
            young = time.monotonic() < self._held.get(lease_id, 0.0)
        if wanted and young and self._has_room(name):
            with self._lock:
                if self._waiting.get(name, 0) > len(self._spare.get(name, [])):
                    self._spare.setdefault(name, []).append(lease_id)
                    self._handed.notify()
                    return
        # An aged slot goes back even with waiters here: they ask for it again on their usual
        # schedule, like the waiters of any other run, which is what gives those a turn.
        self._give_back(lease_id)

    def _give_back(self, lease_id: UUID) -> None:
        with self._lock:
            self._held.pop(lease_id, None)
        for attempt in range(5):
            try:
                self.client().release_concurrency_slots_with_lease(lease_id=lease_id)
                return
            except Exception as exc:  # after the last try the lease expires on its own
                if attempt == 4:
                    logger.warning("could not release concurrency lease %s: %s", lease_id, exc)
                else:
                    time.sleep(0.2 * 2**attempt)

    def _renew(self) -> None:
        while True:
            time.sleep(LEASE_SECONDS / 4)
            with self._lock:
                held = list(self._held)
            for lease_id in held:
                try:
                    self.client().renew_concurrency_lease(
                        lease_id=lease_id, lease_duration=LEASE_SECONDS
                    )
                except Exception as exc:
                    logger.warning("could not renew concurrency lease %s: %s", lease_id, exc)


_slots = _Slots()


class _Pacer:
    """Spaces the starts of a run's images ``1 / rate`` seconds apart, across its threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}

    def wait(self, key: str, rate: float) -> None:
        if rate <= 0:
            return
        with self._lock:
            now = time.monotonic()
            at = max(now, self._next.get(key, now))
            self._next[key] = at + 1.0 / rate
        if at > now:
            time.sleep(at - now)


_pacer = _Pacer()


def pace(key: str, rate: float) -> None:
    """Wait for this image's turn: at most ``rate`` images per second per ``key`` (0: no cap)."""
    _pacer.wait(key, rate)


@contextmanager
def slot(name: str) -> Iterator[None]:
    """Hold one slot of the global concurrency limit ``name`` (waits until one is free)."""
    lease_id = _slots.acquire(name)
    try:
        yield
    finally:
        _slots.release(name, lease_id)
