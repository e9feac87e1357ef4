"""A run starts its images at most ``max_images_per_second`` apart, so the server keeps up."""

from __future__ import annotations

import pytest

from flows.runners import DEFAULT_IMAGES_PER_SECOND, TaskRunnerSettings
from tasks.limits import Pacer


def test_images_are_spaced_per_key_and_zero_means_no_cap() -> None:
    clock = {"now": 100.0}
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))

    pacer = Pacer(monotonic=lambda: clock["now"], sleep=sleep)
    for _ in range(3):
        pacer.wait("acr-import-a", 10.0)  # three starts at once: 0, 0.1 and 0.2 s late
    pacer.wait("acr-import-b", 10.0)  # another target has its own turns
    pacer.wait("acr-import-a", 0.0)  # no cap
    assert slept == [0.1, 0.2]
    clock["now"] += 5.0  # long after: no wait
    pacer.wait("acr-import-a", 10.0)
    assert slept == [0.1, 0.2]


def test_the_cap_is_a_runner_setting_with_a_default() -> None:
    assert TaskRunnerSettings().max_images_per_second == DEFAULT_IMAGES_PER_SECOND
    assert TaskRunnerSettings(max_images_per_second=0).max_images_per_second == 0
    with pytest.raises(ValueError):
        TaskRunnerSettings(max_images_per_second=-1)
