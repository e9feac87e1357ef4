"""The one fault engine of the sandbox: rules that say which requests get a fault and what it
looks like, a seeded matcher that applies them, a token bucket, and the ``/_sandbox/faults``
control routes.

Both fault-injecting services speak their own vocabulary at ``/_sandbox/faults`` and translate
it into :class:`Rule` s: the registry fault proxy (:mod:`sandbox.fault_proxy`: one rule) and the
ARM stand-in (:mod:`sandbox.azure.faults`: latency, throttling, 5xx, failed import LROs).

A rule matches a request when its method is in ``methods`` (if set) and its path matches
``path_regex`` (if set). A matching request gets the rule's fault when it is one of the first
``burst`` matches, or with ``always``, or else with probability ``rate`` (drawn from the
engine's RNG, seeded: the same seed gives the same fault pattern). Rules are tried in order;
the first that fires wins. A matching request waits ``latency_ms`` (the most of its matching
rules) whether or not it gets a fault.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

CONTROL_PATH = "/_sandbox/faults"


@dataclass(frozen=True)
class Rule:
    """Which requests get a fault (match), how many (burst, rate, always), and what it looks
    like (status, ``Retry-After``, latency)."""

    name: str = "fault"
    status: int = 429
    retry_after: int = 1
    rate: float = 0.0
    burst: int = 0
    always: bool = False
    path_regex: str | None = None
    methods: frozenset[str] | None = None
    latency_ms: int = 0

    def matches(self, method: str, paths: Sequence[str], regex: re.Pattern[str] | None) -> bool:
        if self.methods is not None and method.upper() not in self.methods:
            return False
        return regex is None or any(regex.search(p) for p in paths)


@dataclass(frozen=True)
class Decision:
    """What the engine decided for one request."""

    matched: bool = False
    #: The rule whose fault the request gets (None: it passes).
    rule: Rule | None = None
    #: Seconds to wait before answering.
    latency: float = 0.0


class Rules:
    """An ordered rule list with its seeded RNG and burst budgets (not thread-safe: callers
    that share it between threads hold their own lock)."""

    def __init__(self, rules: Iterable[Rule] = (), seed: int = 0) -> None:
        self.set(rules, seed)

    def set(self, rules: Iterable[Rule], seed: int = 0) -> None:
        """Replace the rules; resets the RNG and the burst budgets."""
        self.rules = list(rules)
        self._regexes = [re.compile(r.path_regex) if r.path_regex else None for r in self.rules]
        self._burst_left = [int(r.burst) for r in self.rules]
        self._rng = random.Random(seed)

    def decide(self, method: str, path: str | Sequence[str]) -> Decision:
        """Apply the rules to a request (``path`` may be several: a rule matches any)."""
        paths = [path] if isinstance(path, str) else path
        matched, fired, latency_ms = False, None, 0
        for i, rule in enumerate(self.rules):
            if not rule.matches(method, paths, self._regexes[i]):
                continue
            matched = True
            latency_ms = max(latency_ms, rule.latency_ms)
            if fired is not None:
                continue
            if self._burst_left[i] > 0:
                self._burst_left[i] -= 1
                fired = rule
            elif rule.always or (rule.rate > 0 and self._rng.random() < rule.rate):
                fired = rule
        return Decision(matched, fired, latency_ms / 1000.0)

    def burst_remaining(self) -> int:
        """Faults still left in the burst budgets."""
        return sum(self._burst_left)


class TokenBucket:
    """``rate`` requests per second with bursts of up to ``burst`` (rate 0: unlimited)."""

    def __init__(self, rate: float = 0.0, burst: int = 1) -> None:
        self.rate, self.burst = rate, burst
        self._tokens = float(burst)
        self._stamp = time.monotonic()

    def take(self) -> bool:
        """Take a token: True if the request is within the rate."""
        if self.rate <= 0:
            return True
        now = time.monotonic()
        self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


def check_keys(config_class: type, data: Mapping[str, Any]) -> None:
    """ValueError naming the keys of ``data`` that ``config_class`` (a dataclass) lacks."""
    names = {f.name for f in dataclasses.fields(config_class)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown fault keys: {sorted(unknown)}")


class Controlled(Protocol):
    """A service's fault state, as the control routes drive it."""

    def snapshot(self) -> dict[str, Any]: ...

    def set(self, config: Any, keep_counters: bool = ...) -> None: ...


def control_routes(
    state: Controlled,
    parse: Callable[[Any], Any],
    empty: Callable[[], Any],
    *,
    keep_counters_by_default: bool,
    path: str = CONTROL_PATH,
) -> list[Route]:
    """``GET`` (the snapshot), ``PUT`` (a new config from the JSON body; 400 if ``parse``
    refuses it) and ``DELETE`` (no faults, counters kept) at ``path``.

    A ``PUT`` keeps the counters when ``keep_counters_by_default`` unless ``?reset_counters=1``;
    otherwise it resets them unless ``?keep_counters=1``.
    """
    yes = ("1", "true")

    async def get_faults(request: Request) -> Response:
        return JSONResponse(state.snapshot())

    async def put_faults(request: Request) -> Response:
        try:
            raw = await request.body()
            config = parse(json.loads(raw) if raw else {})
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        if keep_counters_by_default:
            keep = request.query_params.get("reset_counters") not in yes
        else:
            keep = request.query_params.get("keep_counters") in yes
        state.set(config, keep_counters=keep)
        return JSONResponse(state.snapshot())

    async def delete_faults(request: Request) -> Response:
        state.set(empty(), keep_counters=True)
        return JSONResponse(state.snapshot())

    return [
        Route(path, get_faults, methods=["GET"]),
        Route(path, put_faults, methods=["PUT"]),
        Route(path, delete_faults, methods=["DELETE"]),
    ]
