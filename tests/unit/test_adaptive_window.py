"""The adaptive window of the import stage (tasks.limits.adaptive), driven by a fake clock."""

from __future__ import annotations

import threading

import httpx
import pytest
from azure.core.exceptions import HttpResponseError

from acr_migrate.errors import RegistryHTTPError, throttling_of
from tasks.limits import adaptive
from tasks.limits.adaptive import AdaptiveWindow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fill(window: AdaptiveWindow) -> list[int]:
    """Start images until the window refuses one; their tickets."""
    tickets = []
    while (ticket := window.try_start()) is not None:
        tickets.append(ticket)
    return tickets


def throttle(status: int = 429, retry_after: float | None = None) -> RegistryHTTPError:
    return RegistryHTTPError("POST", "/importImage", status, "slow down", retry_after)


def test_starts_small_and_doubles_per_round_up_to_the_ceiling() -> None:
    window = AdaptiveWindow(ceiling=20, start=2, clock=Clock())
    sizes = []
    for _ in range(6):
        tickets = fill(window)
        sizes.append(len(tickets))
        for ticket in tickets:
            window.landed(ticket)
    assert sizes == [2, 4, 8, 16, 20, 20]
    assert window.stats().peak == 20 and window.stats().throttled == 0


def test_a_throttle_cuts_the_window_once_per_round() -> None:
    window = AdaptiveWindow(ceiling=32, start=16, clock=Clock())
    tickets = fill(window)
    assert len(tickets) == 16
    # Three attempts of the same round are throttled: one cut, three counted.
    for ticket in tickets[:3]:
        window.throttled(ticket, None)
    stats = window.stats()
    assert (stats.current, stats.cuts, stats.throttled) == (11, 1, 3)  # 16 x 0.7
    for ticket in tickets[3:]:
        window.failed(ticket)
    # An attempt sent after the cut is throttled too: a second cut.
    later = fill(window)
    window.throttled(later[0], None)
    assert window.stats().current == 7 and window.stats().cuts == 2


def test_after_a_cut_it_grows_by_one_per_window_of_landings() -> None:
    window = AdaptiveWindow(ceiling=32, start=16, clock=Clock())
    first = fill(window)
    window.throttled(first[0], None)
    for ticket in first[1:]:
        window.failed(ticket)
    assert window.stats().current == 11
    for expected in (12, 13, 14):
        tickets = fill(window)
        for ticket in tickets:
            window.landed(ticket)
        assert window.stats().current == expected, f"after a round of {len(tickets)}"


def test_never_below_one_nor_above_the_ceiling() -> None:
    window = AdaptiveWindow(ceiling=3, start=10, clock=Clock())
    assert len(fill(window)) == 3
    window2 = AdaptiveWindow(ceiling=8, start=1, clock=Clock())
    for _ in range(5):
        (ticket,) = fill(window2)
        window2.throttled(ticket, None)
    assert window2.stats().current == 1
    assert window2.try_start() is not None


def test_retry_after_holds_every_new_start_until_it_has_passed() -> None:
    clock = Clock()
    window = AdaptiveWindow(ceiling=8, start=8, clock=clock)
    tickets = fill(window)
    window.throttled(tickets[0], 2.5)
    for ticket in tickets[1:]:
        window.landed(ticket)
    assert window.try_start() is None, "started during Retry-After"
    clock.now += 2.4
    assert window.try_start() is None, "started during Retry-After"
    clock.now += 0.2
    assert window.try_start() is not None


def test_starts_are_spread_over_one_latency_once_an_image_landed() -> None:
    clock = Clock()
    window = AdaptiveWindow(ceiling=16, start=8, clock=clock)
    (first, *others) = fill(window)
    assert len(others) == 7, "before any landing, the window starts at once"
    clock.now += 2.0
    window.landed(first)  # took 2 s; the window is now 9: a start each 2/9 s
    assert window.stats().current == 9
    assert window.try_start() is not None
    assert window.try_start() is None, "two starts within 2/9 s"
    clock.now += 0.2
    assert window.try_start() is None
    clock.now += 0.03
    assert window.try_start() is not None


def test_a_throttle_without_retry_after_holds_nothing() -> None:
    window = AdaptiveWindow(ceiling=8, start=4, clock=Clock())
    tickets = fill(window)
    window.throttled(tickets[0], None)
    for ticket in tickets[1:]:
        window.landed(ticket)
    assert window.try_start() is not None


def test_fixed_window_counts_throttles_but_keeps_its_size() -> None:
    window = AdaptiveWindow(ceiling=8, adaptive=False, clock=Clock())
    tickets = fill(window)
    assert len(tickets) == 8
    for ticket in tickets:
        window.throttled(ticket, 30.0)
    stats = window.stats()
    assert (stats.current, stats.cuts, stats.throttled, stats.adaptive) == (8, 0, 8, False)
    assert window.try_start() is not None, "a fixed window holds nothing back"
    assert stats.text().startswith("fixed concurrency 8")


def test_admit_steers_the_window_by_the_outcome() -> None:
    clock = Clock()
    window = AdaptiveWindow(ceiling=16, start=8, clock=clock)
    with window.admit():
        pass
    assert window.stats().current == 9
    with pytest.raises(RegistryHTTPError), window.admit():
        raise RegistryHTTPError("GET", "/v2/x/manifests/y", 404, "not found")
    assert window.stats().current == 9 and window.stats().throttled == 0
    with pytest.raises(RegistryHTTPError), window.admit():
        raise throttle(503, retry_after=3)
    assert window.stats().current == 6 and window.stats().throttled == 1  # 9 x 0.7
    assert window.try_start() is None
    clock.now += 3
    assert window.try_start() is not None


def test_throttling_of_reads_status_and_retry_after_through_causes() -> None:
    assert throttling_of(throttle(429, 7)) == 7
    assert throttling_of(throttle(503)) == 0.0
    assert throttling_of(throttle(500)) is None
    assert throttling_of(ValueError("x")) is None
    try:
        try:
            raise throttle(429, 2)
        except RegistryHTTPError as inner:
            raise RuntimeError("import failed") from inner
    except RuntimeError as outer:
        assert throttling_of(outer) == 2
    response = httpx.Response(429, headers={"Retry-After": "4"}, request=httpx.Request("GET", "/"))
    error = httpx.HTTPStatusError("429", request=response.request, response=response)
    assert throttling_of(error) == 4


def test_throttling_of_an_azure_sdk_error() -> None:
    class Response:
        status_code = 429
        headers = {"Retry-After": "6"}
        reason = "Too Many Requests"

        def text(self) -> str:
            return ""

    error = HttpResponseError(message="throttled", response=Response())  # type: ignore[arg-type]
    assert throttling_of(error) == 6


def test_threads_never_exceed_the_window() -> None:
    window = AdaptiveWindow(ceiling=4, start=2)
    inside = 0
    most = 0
    lock = threading.Lock()
    gate = threading.Barrier(6)

    def worker() -> None:
        nonlocal inside, most
        gate.wait()
        for _ in range(20):
            with window.admit():
                with lock:
                    inside += 1
                    most = max(most, inside)
                with lock:
                    inside -= 1

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 1 <= most <= 4
    assert window.stats().peak == 4


def test_windows_are_per_key_and_forgotten_when_closed() -> None:
    one = adaptive.window("unit-a", 16)
    assert adaptive.window("unit-a", 16) is one
    assert adaptive.window("unit-b", 8) is not one
    with one.admit():
        pass
    closed = adaptive.close_window("unit-a")
    assert closed is not None and closed.current == adaptive.START + 1
    assert adaptive.window_stats("unit-a") is None
    adaptive.close_window("unit-b")
