"""The slot pool's logic over a fake in-memory server and a fake clock (time moves when told).

Threads are real: the pool is about threads of one process sharing slots. The fake clock
only moves when a test advances it, so nothing here depends on how fast the machine is; the
real-time bound in ``eventually`` only stops a hung test.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from uuid import UUID, uuid4

import httpx
import pytest

from acr_migrate.errors import classify
from tasks.limits.pool import (
    API_PATIENCE_SECONDS,
    HANDOVER_SECONDS,
    LEASE_SECONDS,
    MAX_POLL_SECONDS,
    Full,
    LimitReading,
    ServerUnavailable,
    SlotPool,
    SlotUnavailableError,
)
from tasks.limits.prefect_api import PrefectLimits

NAME = "acr-import-target"
#: Real seconds before a test that waits for something gives up (a hang guard, not a timing).
GUARD = 30.0


def eventually(condition: Callable[[], bool], what: str) -> None:
    stop = time.monotonic() + GUARD
    while not condition():
        assert time.monotonic() < stop, f"never happened: {what}"
        time.sleep(0.002)


def longest(a: float, b: float) -> float:
    """The pool's jitter, pinned to the top of its range."""
    return b


class FakeClock:
    """Time that moves only in :meth:`advance`; sleepers and timed waits block until then."""

    def __init__(self) -> None:
        self._now = 1000.0
        self._cond = threading.Condition()
        self.sleepers: dict[int, float] = {}  # thread -> until when it sleeps
        self.waiters: dict[int, float] = {}  # thread -> until when it waits on the pool

    def monotonic(self) -> float:
        with self._cond:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._cond:
            self._now += seconds
            self._cond.notify_all()

    def sleep(self, seconds: float) -> None:
        with self._cond:
            until = self._now + seconds
            self.sleepers[threading.get_ident()] = until
            try:
                while self._now < until:
                    self._cond.wait()
            finally:
                del self.sleepers[threading.get_ident()]

    def wait(self, condition: threading.Condition, timeout: float) -> bool:
        """Wait on the pool's condition until notified or until fake ``timeout`` has passed."""
        until = self.monotonic() + timeout
        with self._cond:
            self.waiters[threading.get_ident()] = until
        try:
            while True:
                if condition.wait(0.002):
                    return True
                if self.monotonic() >= until:
                    return False
        finally:
            with self._cond:
                del self.waiters[threading.get_ident()]

    def waiting(self) -> int:
        """Threads waiting on the pool whose wait has not run out."""
        with self._cond:
            return sum(until > self._now for until in self.waiters.values())

    def renewer_asleep(self) -> bool:
        """The lease renewer sleeps until a time still to come (it has done its round)."""
        with self._cond:
            return len(self.sleepers) == 1 and min(self.sleepers.values()) > self._now


class FakeServer:
    """One global concurrency limit kept in memory, with leases that expire on the fake clock."""

    def __init__(self, clock: FakeClock, limit: int) -> None:
        self.clock = clock
        self.limit = limit
        self.down = 0  # how many of the next increments find the server unavailable
        self.leases: dict[UUID, float] = {}  # lease -> when it expires
        self.increments: list[float] = []  # when each increment was asked for
        self.refused = 0
        self.released: list[UUID] = []
        self.renewed: list[UUID] = []
        self.reads = 0
        self._lock = threading.Lock()

    def _expire(self) -> None:
        now = self.clock.monotonic()
        for lease_id, until in list(self.leases.items()):
            if until <= now:
                del self.leases[lease_id]

    def increment(self, name: str, lease_seconds: float) -> UUID | Full:
        assert name == NAME
        with self._lock:
            self.increments.append(self.clock.monotonic())
            if self.down:
                self.down -= 1
                raise ServerUnavailable("503 Service Unavailable")
            self._expire()
            if len(self.leases) >= self.limit:
                self.refused += 1
                return Full()
            lease_id = uuid4()
            self.leases[lease_id] = self.clock.monotonic() + lease_seconds
            return lease_id

    def release(self, lease_id: UUID) -> None:
        with self._lock:
            self.released.append(lease_id)
            self.leases.pop(lease_id, None)

    def renew(self, lease_id: UUID, lease_seconds: float) -> None:
        with self._lock:
            self._expire()
            if lease_id not in self.leases:
                raise KeyError(f"lease {lease_id} expired")
            self.renewed.append(lease_id)
            self.leases[lease_id] = self.clock.monotonic() + lease_seconds

    def read_limit(self, name: str) -> LimitReading:
        with self._lock:
            self.reads += 1
            self._expire()
            return LimitReading(active=True, active_slots=len(self.leases), limit=self.limit)


def setup(limit: int) -> tuple[FakeClock, FakeServer, SlotPool]:
    clock = FakeClock()
    server = FakeServer(clock, limit)
    return clock, server, SlotPool(server, clock=clock, jitter=longest)


class Acquirer:
    """A thread of the process waiting for a slot."""

    def __init__(self, pool: SlotPool) -> None:
        self.lease: UUID | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self._pool = pool
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        try:
            self.lease = self._pool.acquire(NAME)
        except BaseException as exc:
            self.error = exc
        finally:
            self.done.set()


def test_the_slots_held_never_exceed_the_limit() -> None:
    clock, server, pool = setup(limit=2)
    lock = threading.Lock()
    inside: list[int] = [0]
    most = [0]
    in_use: set[UUID] = set()
    shared: list[UUID] = []

    def work() -> None:
        for _ in range(25):
            lease = pool.acquire(NAME)
            with lock:
                if lease in in_use:
                    shared.append(lease)
                in_use.add(lease)
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.0005)
            with lock:
                inside[0] -= 1
                in_use.discard(lease)
            pool.release(NAME, lease)

    stop = threading.Event()

    def tick() -> None:  # time passes: hand-overs age, waiters ask again, leases are renewed
        while not stop.is_set():
            clock.advance(0.05)
            time.sleep(0.001)

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    threads = [threading.Thread(target=work, daemon=True) for _ in range(6)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(GUARD * 4)
        assert not any(t.is_alive() for t in threads), "the work never finished"
    finally:
        stop.set()
        ticker.join(GUARD)
    assert shared == []  # no lease in two hands at once
    assert most[0] == 2  # the whole limit was used, and never more
    assert server.leases == {}  # every slot went back in the end


def test_a_slot_released_while_a_thread_waits_is_handed_straight_over() -> None:
    clock, server, pool = setup(limit=1)
    first = pool.acquire(NAME)
    waiter = Acquirer(pool)
    eventually(lambda: server.refused == 1 and clock.waiting() == 1, "the waiter is refused")

    pool.release(NAME, first)  # no time passes: only a hand-over can let the waiter in

    assert waiter.done.wait(GUARD), "the slot was not handed over"
    assert waiter.lease == first
    assert server.released == []  # never went back to the server...
    assert len(server.increments) == 2  # ...nor was asked for again
    pool.release(NAME, first)  # nobody waits now: back to the server
    assert server.released == [first] and server.leases == {}


def test_after_handover_seconds_a_slot_goes_back_to_the_server() -> None:
    clock, server, pool = setup(limit=1)
    first = pool.acquire(NAME)
    clock.advance(HANDOVER_SECONDS)  # held that long: other runs get a turn at it
    waiter = Acquirer(pool)
    eventually(lambda: server.refused == 1 and clock.waiting() == 1, "the waiter is refused")

    pool.release(NAME, first)

    assert server.released == [first]
    assert not waiter.done.is_set()  # it asks the server again on its schedule
    clock.advance(MAX_POLL_SECONDS)
    assert waiter.done.wait(GUARD), "the waiter never got the slot from the server"
    assert waiter.lease is not None and waiter.lease != first
    assert list(server.leases) == [waiter.lease]


def test_a_lowered_limit_stops_the_hand_over() -> None:
    clock, server, pool = setup(limit=2)
    first, second = pool.acquire(NAME), pool.acquire(NAME)
    server.limit = 1  # the operator lowers the knob: two held, one allowed
    waiter = Acquirer(pool)
    eventually(lambda: server.refused == 1 and clock.waiting() == 1, "the waiter is refused")

    pool.release(NAME, first)

    assert server.released == [first]  # back to the server, not to the waiter
    assert not waiter.done.is_set()
    pool.release(NAME, second)
    clock.advance(MAX_POLL_SECONDS)
    assert waiter.done.wait(GUARD), "the waiter never got a slot"
    assert waiter.lease not in (first, second)


def test_raising_the_limit_lets_the_waiters_in() -> None:
    clock, server, pool = setup(limit=1)
    first = pool.acquire(NAME)
    waiters = [Acquirer(pool), Acquirer(pool)]
    eventually(lambda: server.refused >= 1 and clock.waiting() == 2, "the waiters are refused")

    server.limit = 3  # the operator raises the knob
    clock.advance(MAX_POLL_SECONDS)

    for waiter in waiters:
        assert waiter.done.wait(GUARD), "a waiter never got in"
    leases = {first} | {w.lease for w in waiters}
    assert len(leases) == 3 and set(server.leases) == leases


def test_leases_are_renewed_before_they_expire() -> None:
    clock, server, pool = setup(limit=1)
    lease = pool.acquire(NAME)
    eventually(clock.renewer_asleep, "the renewer starts")
    step = 10.0
    for _ in range(int(3 * LEASE_SECONDS / step)):  # held three leases long
        clock.advance(step)
        eventually(clock.renewer_asleep, "the renewer finishes its round")
        assert server.leases.get(lease, 0.0) > clock.monotonic(), "the lease expired"
    assert server.renewed.count(lease) >= 3


def drive(clock: FakeClock, server: FakeServer, waiter: Acquirer) -> None:
    """Let each pause of the waiter run out, one ask at a time, until it is done."""

    def paused_after(asked: int) -> Callable[[], bool]:
        return lambda: (
            waiter.done.is_set() or (len(server.increments) > asked and clock.waiting() == 1)
        )

    asked = 0
    for _ in range(int(2 * API_PATIENCE_SECONDS / MAX_POLL_SECONDS)):
        eventually(paused_after(asked), "the waiter pauses after an ask")
        if waiter.done.is_set():
            return
        asked = len(server.increments)
        clock.advance(MAX_POLL_SECONDS)
    raise AssertionError(f"the waiter was still waiting after {asked} asks")


def test_an_unavailable_server_is_waited_out() -> None:
    clock, server, pool = setup(limit=1)
    server.down = 3
    waiter = Acquirer(pool)
    drive(clock, server, waiter)
    assert waiter.error is None
    assert waiter.lease is not None and list(server.leases) == [waiter.lease]
    assert len(server.increments) == 4


def test_a_server_unavailable_for_longer_than_the_patience_is_a_clear_error() -> None:
    clock, server, pool = setup(limit=1)
    server.down = 10**6
    start = clock.monotonic()
    waiter = Acquirer(pool)
    drive(clock, server, waiter)
    assert isinstance(waiter.error, SlotUnavailableError), waiter.error
    assert NAME in str(waiter.error) and "unavailable" in str(waiter.error)
    assert isinstance(waiter.error.__cause__, ServerUnavailable)
    *before, last = server.increments
    assert len(before) > 1  # asked again and again, until the patience ran out
    assert before[-1] - start <= API_PATIENCE_SECONDS < last - start
    assert server.leases == {}


class _RefusingClient:
    """A Prefect client whose every slot request gets the HTTP ``status``."""

    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.headers = headers or {}

    def increment_concurrency_slots_with_lease(self, **kwargs: object) -> httpx.Response:
        request = httpx.Request("POST", "http://prefect.invalid/api/v2/concurrency_limits/x")
        response = httpx.Response(self.status, headers=self.headers, request=request)
        raise httpx.HTTPStatusError(f"HTTP {self.status}", request=request, response=response)


def _prefect_limits(client: _RefusingClient) -> PrefectLimits:
    limits = PrefectLimits()
    limits.client = lambda: client  # type: ignore[method-assign]
    return limits


def test_prefect_answers_are_full_unavailable_or_an_error() -> None:
    full = _prefect_limits(_RefusingClient(423, {"Retry-After": "1.5"})).increment(NAME, 300)
    assert full == Full(1.5)
    with pytest.raises(ServerUnavailable) as busy:
        _prefect_limits(_RefusingClient(503, {"Retry-After": "4"})).increment(NAME, 300)
    assert busy.value.retry_after == 4.0
    with pytest.raises(httpx.HTTPStatusError):  # not worth another try: raised as it is
        _prefect_limits(_RefusingClient(404)).increment(NAME, 300)


def test_running_out_of_patience_is_still_a_transient_failure_of_the_image() -> None:
    """The task retries it, as it retried the API's own error before the pool gave it a name."""
    clock = FakeClock()
    pool = SlotPool(_prefect_limits(_RefusingClient(503)), clock=clock, jitter=longest)
    waiter = Acquirer(pool)
    eventually(lambda: clock.waiting() == 1, "the waiter pauses after its first ask")
    clock.advance(API_PATIENCE_SECONDS + MAX_POLL_SECONDS)
    assert waiter.done.wait(GUARD), "the waiter never gave up"
    assert isinstance(waiter.error, SlotUnavailableError)
    assert classify(waiter.error).transient
