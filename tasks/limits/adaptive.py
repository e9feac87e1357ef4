"""How many images of one run copy at once: grown while the target keeps up, cut on throttling.

TCP's congestion control, applied to imports (pure logic: the clock is passed in):

- **slow start**: from ``start`` images in flight, one more per image that lands, until the first
  throttle;
- **additive increase**: after that, one more per window's worth of images that land;
- **multiplicative decrease**: a throttled attempt (HTTP 429 or 503) cuts the window to
  ``DECREASE`` of itself (at least 1), once per round: attempts that started before the last cut
  do not cut again, they were sent at the old window;
- **pacing**: once an image has landed, the window's starts are spread over one smoothed
  latency (start to landing) instead of leaving together as images land in bursts: a rate limit
  (ARM's token bucket) throttles bursts long before it throttles the average;
- **Retry-After**: a throttle that says how long to wait holds back every new start of the run
  until then (the header is the service's word for the client, not for one request).

Not adaptive (``adaptive=False``), the window is the ceiling and only counts throttles; each
throttled image still waits its own ``Retry-After`` before its retry (:mod:`tasks.retry`).

The window never exceeds ``ceiling`` (the run's ``concurrency``); the global concurrency limit of
the target is held on top of it (:func:`tasks.limits.slot`), so the operator's knob in the UI
still caps everything.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from acr_migrate.errors import throttling_of
from acr_migrate.models import ConcurrencyStats

#: The window after a throttle, as a share of the window before it (TCP CUBIC's 0.7: with
#: starts paced, 0.5 gave 0.85 of the rate where 0.7 gives 0.92 in
#: ``benchmarks/model_throttled_window.py``, R = 4 per second, 2.4 s an image).
DECREASE = 0.7
#: Images in flight at the start (or the ceiling, if lower).
START = 8
#: Longest hold of new starts a single Retry-After can cause.
MAX_HOLD_SECONDS = 120.0


class AdaptiveWindow:
    """The images one run may have in flight into one target (thread-safe)."""

    def __init__(
        self,
        ceiling: int,
        *,
        adaptive: bool = True,
        start: int = START,
        paced: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ceiling < 1:
            raise ValueError("ceiling must be >= 1")
        self.ceiling = ceiling
        self.adaptive = adaptive
        self.paced = paced and adaptive
        self._clock = clock
        self._window = min(ceiling, max(1, start)) if adaptive else ceiling
        self._threshold = ceiling  # slow start until the first cut
        self._landed = 0  # landings since the window last grew (additive increase)
        self._in_flight = 0
        self._issued = 0  # tickets handed out
        self._cut_at = 0  # tickets up to this one were sent before the last cut
        self._hold_until = 0.0
        self._started: dict[int, float] = {}  # ticket -> when it started
        self._latency = 0.0  # smoothed seconds from start to landing (0: none landed yet)
        self._next_start = 0.0  # pacing: the window's starts spread over one latency
        self._peak = self._window
        self._throttled = 0
        self._cuts = 0
        self._cond = threading.Condition()

    # -- the decisions (non-blocking; what the unit tests drive) ---------------------------

    def try_start(self) -> int | None:
        """A ticket if one more image may start now, else ``None``."""
        with self._cond:
            return self._try_start()

    def _try_start(self) -> int | None:
        now = self._clock()
        if self._in_flight >= self._window or now < max(self._hold_until, self._next_start):
            return None
        self._in_flight += 1
        self._issued += 1
        self._started[self._issued] = now
        if self.paced and self._latency:
            self._next_start = now + self._latency / self._window
        return self._issued

    def ready_at(self) -> float:
        """When a start may next be possible (0: as soon as a place is free)."""
        return max(self._hold_until, self._next_start)

    def landed(self, ticket: int) -> None:
        """The image of ``ticket`` was copied: grow the window."""
        with self._cond:
            self._in_flight -= 1
            started = self._started.pop(ticket, None)
            if started is not None:
                took = max(0.0, self._clock() - started)
                self._latency = took if not self._latency else 0.875 * self._latency + 0.125 * took
            if self.adaptive:
                self._landed += 1
                if self._window < self._threshold or self._landed >= self._window:
                    self._window = min(self.ceiling, self._window + 1)
                    self._landed = 0
                self._peak = max(self._peak, self._window)
            self._cond.notify_all()

    def throttled(self, ticket: int, retry_after: float | None) -> None:
        """The attempt of ``ticket`` was throttled: cut the window (once per round) and hold
        new starts for ``retry_after`` seconds."""
        with self._cond:
            self._in_flight -= 1
            self._started.pop(ticket, None)
            self._throttled += 1
            if self.adaptive and ticket > self._cut_at:
                self._window = max(1, int(self._window * DECREASE))
                self._landed = 0
                self._threshold = self._window
                self._cut_at = self._issued
                self._cuts += 1
            if retry_after and self.adaptive:
                hold = self._clock() + min(retry_after, MAX_HOLD_SECONDS)
                self._hold_until = max(self._hold_until, hold)
            self._cond.notify_all()

    def failed(self, ticket: int) -> None:
        """The attempt failed for another reason: the window stays as it is."""
        with self._cond:
            self._in_flight -= 1
            self._started.pop(ticket, None)
            self._cond.notify_all()

    def stats(self) -> ConcurrencyStats:
        with self._cond:
            return ConcurrencyStats(
                adaptive=self.adaptive,
                current=self._window,
                peak=self._peak,
                ceiling=self.ceiling,
                throttled=self._throttled,
                cuts=self._cuts,
            )

    # -- blocking use -----------------------------------------------------------------------

    def start(self) -> int:
        """Wait until one more image may start; its ticket."""
        with self._cond:
            while (ticket := self._try_start()) is None:
                wait = self.ready_at() - self._clock()
                self._cond.wait(timeout=wait if wait > 0 else None)
            return ticket

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Hold a place in the window while the block runs; its outcome steers the window."""
        ticket = self.start()
        try:
            yield
        except BaseException as exc:
            throttle = throttling_of(exc)
            if throttle is None:
                self.failed(ticket)
            else:
                self.throttled(ticket, throttle)
            raise
        self.landed(ticket)


_windows: dict[str, AdaptiveWindow] = {}
_lock = threading.Lock()


def window(key: str, ceiling: int, adaptive: bool = True) -> AdaptiveWindow:
    """This process's window ``key`` (one per run and target), created on first use."""
    with _lock:
        found = _windows.get(key)
        if found is None:
            found = _windows[key] = AdaptiveWindow(ceiling, adaptive=adaptive)
        return found


def close_window(key: str) -> ConcurrencyStats | None:
    """Forget window ``key``; what it did (``None`` if no image of this process used it)."""
    with _lock:
        found = _windows.pop(key, None)
    return found.stats() if found else None


def window_stats(key: str) -> ConcurrencyStats | None:
    """What window ``key`` did so far (``None`` if no image of this process used it yet)."""
    with _lock:
        found = _windows.get(key)
    return found.stats() if found else None
