"""The slots of global concurrency limits one process holds: pure logic, no Prefect in sight.

The server that counts the slots (:class:`LimitServer`, Prefect's API in production: see
:mod:`tasks.limits.prefect_api`) and the clock (:class:`Clock`) are passed in, so the logic can
be driven by a fake server and a fake clock in unit tests.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

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
#: How long a slot request rides out an overloaded or restarting server.
API_PATIENCE_SECONDS = 300.0

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Full:
    """The server's answer when no slot of the limit is free now."""

    #: When the server says to come back, in seconds (``None``: it did not say).
    retry_after: float | None = None


@dataclass(frozen=True)
class LimitReading:
    """The state of one limit as the server counts it."""

    active: bool
    active_slots: int
    limit: int


class ServerUnavailable(Exception):
    """The server could not answer now (overloaded, restarting, unreachable): worth another try.

    Raised by a :class:`LimitServer`, with the original error as its ``__cause__``.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SlotUnavailableError(Exception):
    """No slot could be asked for: the server stayed unavailable for ``API_PATIENCE_SECONDS``.

    Its ``__cause__`` is the server's last :class:`ServerUnavailable` (and what caused that).
    """


class LimitServer(Protocol):
    """What the pool needs of the server that counts the slots of global concurrency limits."""

    def increment(self, name: str, lease_seconds: float) -> UUID | Full:
        """Take one slot of ``name`` with a lease, or say the limit is full.

        Raises :class:`ServerUnavailable` when the answer is worth asking again for."""
        ...

    def release(self, lease_id: UUID) -> None:
        """Give the lease's slot back."""
        ...

    def renew(self, lease_id: UUID, lease_seconds: float) -> None:
        """Keep the lease alive for ``lease_seconds`` more."""
        ...

    def read_limit(self, name: str) -> LimitReading:
        """The limit's size and how many of its slots are taken."""
        ...


class Clock(Protocol):
    """Time as the pool sees it."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    def wait(self, condition: threading.Condition, timeout: float) -> bool:
        """Wait on ``condition`` (held) for up to ``timeout`` seconds; True when notified."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def wait(self, condition: threading.Condition, timeout: float) -> bool:
        return condition.wait(timeout)


class SlotPool:
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

    def __init__(
        self,
        server: LimitServer,
        clock: Clock | None = None,
        jitter: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.server = server
        self._clock: Clock = clock or SystemClock()
        self._jitter = jitter  # a factor in [a, b], spreading pauses and hand-over ages
        self._lock = threading.Lock()
        self._handed = threading.Condition(self._lock)
        self._held: dict[UUID, float] = {}  # lease -> until when it may be handed over
        self._spare: dict[str, list[UUID]] = {}  # released leases waiting for a waiter
        self._waiting: dict[str, int] = {}
        self._polling: dict[str, int] = {}  # waiters of this process asking the server, per limit
        self._full_seen: set[str] = set()  # limits the server has once refused a slot of
        self._delay: dict[str, float] = {}  # current back-off of the asking, per limit
        self._room: dict[str, tuple[float, bool]] = {}  # name -> (read at, active <= limit)
        self._renewer: threading.Thread | None = None

    @contextmanager
    def slot(self, name: str) -> Iterator[None]:
        """Hold one slot of the limit ``name`` (waits until one is free)."""
        lease_id = self.acquire(name)
        try:
            yield
        finally:
            self.release(name, lease_id)

    def acquire(self, name: str) -> UUID:
        """Wait for a slot: one handed over by a thread of this process, or one from the server.

        A busy or briefly unavailable server (:class:`ServerUnavailable`) is waited out too,
        for up to ``API_PATIENCE_SECONDS``: it is no fault of the image; after that,
        :class:`SlotUnavailableError`."""
        clock = self._clock
        with self._lock:
            self._waiting[name] = self._waiting.get(name, 0) + 1
        try:
            give_up = clock.monotonic() + API_PATIENCE_SECONDS
            while True:
                with self._handed:
                    if self._spare.get(name):
                        return self._spare[name].pop()
                    ramping = name not in self._full_seen  # no refusal yet: all ask at once
                    if self._polling.get(name) and not ramping:
                        # another waiter asks the server for all of us
                        clock.wait(self._handed, MAX_POLL_SECONDS)
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
                        until = clock.monotonic() + pause * self._jitter(0.5, 1.0)
                        with self._handed:  # the full pause, unless a slot is handed over
                            while not self._spare.get(name) and clock.monotonic() < until:
                                clock.wait(self._handed, until - clock.monotonic())
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
            taken = self.server.increment(name, LEASE_SECONDS)
        except ServerUnavailable as exc:
            if self._clock.monotonic() > give_up:
                raise SlotUnavailableError(
                    f"no slot of {name}: the server was unavailable for more than "
                    f"{API_PATIENCE_SECONDS:g} s ({exc})"
                ) from exc
            return None, exc.retry_after
        if isinstance(taken, Full):
            return None, taken.retry_after
        with self._lock:
            # Staggered, so the slots of one process do not all go back at the same moment.
            age = HANDOVER_SECONDS * self._jitter(0.5, 1.0)
            self._held[taken] = self._clock.monotonic() + age
            if self._renewer is None or not self._renewer.is_alive():
                self._renewer = threading.Thread(
                    target=self._renew, name="acr-slot-leases", daemon=True
                )
                self._renewer.start()
        return taken, None

    def _has_room(self, name: str) -> bool:
        """Whether the limit still allows what is held (read at most every few seconds)."""
        now = self._clock.monotonic()
        read_at, room = self._room.get(name, (now - LIMIT_CHECK_SECONDS, True))
        if now - read_at < LIMIT_CHECK_SECONDS:
            return room
        try:
            limit = self.server.read_limit(name)
            room = limit.active and limit.active_slots <= limit.limit
        except Exception:
            room = False  # unsure: give the slot back, the server decides
        self._room[name] = (now, room)
        return room

    def release(self, name: str, lease_id: UUID) -> None:
        """Hand the slot to a waiting thread of this process, else give it back to the server."""
        with self._lock:
            wanted = self._waiting.get(name, 0) > len(self._spare.get(name, []))
            young = self._clock.monotonic() < self._held.get(lease_id, 0.0)
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
                self.server.release(lease_id)
                return
            except Exception as exc:  # after the last try the lease expires on its own
                if attempt == 4:
                    logger.warning("could not release concurrency lease %s: %s", lease_id, exc)
                else:
                    self._clock.sleep(0.2 * 2**attempt)

    def _renew(self) -> None:
        while True:
            self._clock.sleep(LEASE_SECONDS / 4)
            with self._lock:
                held = list(self._held)
            for lease_id in held:
                try:
                    self.server.renew(lease_id, LEASE_SECONDS)
                except Exception as exc:
                    logger.warning("could not renew concurrency lease %s: %s", lease_id, exc)
