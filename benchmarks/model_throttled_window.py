"""The adaptive window against a model of ARM's import token bucket, in simulated time.

    uv run python benchmarks/model_throttled_window.py

The real :class:`tasks.limits.adaptive.AdaptiveWindow`, driven by a simulated clock: images
start when the window admits them; a start takes a token of a bucket of R per second (burst R)
or is answered 429 with ``Retry-After: 1``; an admitted import lands after a fixed latency; a
throttled image comes back after its ``Retry-After`` plus the task's backoff (1, 2, 4 ... s,
jitter 0.5-1.5, at most 6 retries). Prints the rate achieved over R (first start to last
landing) for a few variants of the window, so a change to the window can be judged before the
slow, noisy ``bench_throttled_import.py``. Deterministic (seeded); no servers.
"""

from __future__ import annotations

import heapq
import random
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tasks.limits import adaptive
from tasks.limits.adaptive import AdaptiveWindow

BACKOFF = [1, 2, 4, 8, 16, 32]


@dataclass
class Outcome:
    rate_over_r: float
    landed: int
    failed: int
    throttled: int


def run(
    rate: float,
    latency: float,
    images: int = 500,
    ceiling: int = 32,
    adaptive_window: bool = True,
    paced: bool = True,
    seed: int = 1,
) -> Outcome:
    """One import of ``images`` through the window against the modelled bucket."""
    rnd = random.Random(seed)
    now = [0.0]
    window = AdaptiveWindow(ceiling, adaptive=adaptive_window, paced=paced, clock=lambda: now[0])
    tokens, refilled = rate, 0.0
    waiting = list(range(images))
    events: list[tuple[float, int, int, int]] = []  # (time, landed?, image, ticket)
    attempts: dict[int, int] = {}
    landed = failed = throttled = 0
    first: float | None = None
    last = 0.0
    while landed + failed < images:
        while waiting and (ticket := window.try_start()) is not None:
            image = waiting.pop(0)
            first = now[0] if first is None else first
            attempts[image] = attempts.get(image, 0) + 1
            tokens = min(rate, tokens + (now[0] - refilled) * rate)
            refilled = now[0]
            if tokens >= 1:
                tokens -= 1
                heapq.heappush(events, (now[0] + latency, 1, image, ticket))
                continue
            throttled += 1
            window.throttled(ticket, 1.0)
            if attempts[image] > len(BACKOFF):
                failed += 1
            else:
                delay = 1.0 + BACKOFF[attempts[image] - 1] * rnd.uniform(0.5, 1.5)
                heapq.heappush(events, (now[0] + delay, 0, image, 0))
        ready_at = window.ready_at()
        if waiting and ready_at > now[0] and (not events or ready_at < events[0][0]):
            now[0] = ready_at
            continue
        if not events:
            break
        now[0], is_landing, image, ticket = heapq.heappop(events)
        if is_landing:
            window.landed(ticket)
            landed += 1
            last = now[0]
        else:
            waiting.append(image)
    seconds = last - (first or 0.0)
    return Outcome(round(landed / seconds / rate, 3), landed, failed, throttled)


def main() -> None:
    print("R/s latency variant                       rate/R  failed  429s")
    for rate, latency in ((4, 2.4), (10, 2.2), (5, 2.2), (10, 1.2)):
        variants = {
            "adaptive (as shipped)": {},
            "adaptive, cut to 0.5": {"decrease": 0.5},
            "adaptive, not paced": {"paced": False},
            "fixed 8": {"adaptive_window": False, "ceiling": 8},
            "fixed 32": {"adaptive_window": False, "ceiling": 32},
        }
        for name, variant in variants.items():
            decrease = variant.pop("decrease", adaptive.DECREASE)
            saved = adaptive.DECREASE
            adaptive.DECREASE = decrease  # type: ignore[misc]
            try:
                out = run(rate, latency, **variant)  # type: ignore[arg-type]
            finally:
                adaptive.DECREASE = saved  # type: ignore[misc]
            print(
                f"{rate:>3} {latency:>7} {name:<29} {out.rate_over_r:>6}  {out.failed:>6}"
                f"  {out.throttled:>4}"
            )


if __name__ == "__main__":
    main()
