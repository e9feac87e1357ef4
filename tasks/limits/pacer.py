"""Spacing the starts of a run's images, so the servers keep up."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Pacer:
    """Spaces the starts of a run's images ``1 / rate`` seconds apart, across its threads."""

    def __init__(
        self,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}

    def wait(self, key: str, rate: float) -> None:
        """Wait for the next turn of ``key``: at most ``rate`` starts per second (0: no cap)."""
        if rate <= 0:
            return
        with self._lock:
            now = self._monotonic()
            at = max(now, self._next.get(key, now))
            self._next[key] = at + 1.0 / rate
        if at > now:
            self._sleep(at - now)
