"""Faults of the ARM stand-in, set per run at ``PUT /_sandbox/faults`` (ARM port).

Config keys (missing keys take defaults; unknown keys are refused):

- ``throttle_rate`` (0..1): share of matching ARM calls answered 429 + ``Retry-After``
  (``retry_after`` seconds) with ARM's ``SubscriptionRequestsThrottled`` body.
- ``error_rate`` (0..1): share answered ``error_status`` (default 503) ``ServiceUnavailable``.
- ``imports_only``: the two rates above apply only to ``importImage`` POSTs.
- ``latency_ms``: added to every ARM call (before any fault).
- ``import_rate_per_second`` / ``import_burst``: token bucket on ``importImage`` POSTs; excess
  gets 429 ``TooManyRequests`` + ``Retry-After`` (0 = unlimited).
- ``fail_lro_rate`` (0..1) and/or ``fail_lro_repository_regex``: an import whose LRO ends
  ``Failed`` in its final 200 poll body (``{"status":"Failed","error":{...}}``), nothing copied.
- ``lro_retry_after`` (integer seconds >= 1, default 1) and ``lro_min_polls`` (202 polls before
  the final answer, default 1, as recorded).
- ``seed``: RNG seed (the same seed gives the same fault pattern).

Aliases (the fault-proxy vocabulary): ``rate`` + ``status`` (429 -> ``throttle_rate``, 5xx ->
``error_rate``/``error_status``), ``operations: ["importImage"]`` -> ``imports_only``,
``lro_fail_regex`` -> ``fail_lro_repository_regex``, ``lro_fail_rate`` -> ``fail_lro_rate``.

``GET /_sandbox/faults`` returns ``{"config": ..., "counters": ...}``; ``PUT`` replaces the
config and reseeds the RNG, keeping the (cumulative) counters unless ``?reset_counters=1``;
``DELETE`` clears the faults (counters kept).

The config becomes rules of the sandbox's one fault engine (:mod:`sandbox.faults`): latency,
throttle and error rules on the requests, LRO-failure rules on the imported repositories
(their own RNG, seeded ``seed + 1``) and a token bucket on the imports.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from sandbox.faults import Decision, Rule, Rules, TokenBucket, check_keys

#: What an ``importImage`` POST looks like (the dispatch strips trailing slashes).
IMPORT_PATH = r"(?i)/importimage$"


@dataclass
class ArmFaultConfig:
    throttle_rate: float = 0.0
    error_rate: float = 0.0
    error_status: int = 503
    retry_after: int = 1
    imports_only: bool = False
    latency_ms: int = 0
    import_rate_per_second: float = 0.0
    import_burst: int = 1
    fail_lro_rate: float = 0.0
    fail_lro_repository_regex: str | None = None
    lro_retry_after: int = 1
    lro_min_polls: int = 1
    seed: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArmFaultConfig:
        data = _normalise(dict(data))
        check_keys(cls, data)
        cfg = cls(**data)
        for name in ("throttle_rate", "error_rate", "fail_lro_rate"):
            if not 0.0 <= float(getattr(cfg, name)) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        if not 500 <= int(cfg.error_status) <= 599:
            raise ValueError("error_status must be a 5xx code")
        if cfg.retry_after < 0 or cfg.latency_ms < 0 or cfg.import_rate_per_second < 0:
            raise ValueError("retry_after, latency_ms and import_rate_per_second must be >= 0")
        if cfg.lro_retry_after < 1 or cfg.lro_min_polls < 0 or cfg.import_burst < 1:
            raise ValueError("lro_retry_after must be >= 1, lro_min_polls >= 0, import_burst >= 1")
        for name in ("retry_after", "lro_retry_after", "latency_ms", "lro_min_polls"):
            if not isinstance(getattr(cfg, name), int):
                raise ValueError(f"{name} must be an integer (the SDK parses Retry-After as int)")
        if cfg.fail_lro_repository_regex:
            re.compile(cfg.fail_lro_repository_regex)
        return cfg

    def request_rules(self) -> list[Rule]:
        """Latency for every call, then throttling, then 5xx (for imports only, if so set)."""
        imports = {"path_regex": IMPORT_PATH, "methods": frozenset({"POST"})}
        match: dict[str, Any] = imports if self.imports_only else {}
        return [
            Rule(name="latency", latency_ms=self.latency_ms),
            Rule(
                name="throttle",
                status=429,
                retry_after=self.retry_after,
                rate=self.throttle_rate,
                **match,
            ),
            Rule(
                name="error",
                status=self.error_status,
                retry_after=self.retry_after,
                rate=self.error_rate,
                **match,
            ),
        ]

    def lro_rules(self) -> list[Rule]:
        """An import LRO fails when a repository matches the regex, else at the rate."""
        regex = self.fail_lro_repository_regex
        matching = [Rule(name="lro", always=True, path_regex=regex)] if regex else []
        return [*matching, Rule(name="lro", rate=self.fail_lro_rate)]


def _normalise(data: dict[str, Any]) -> dict[str, Any]:
    """Map the alias keys onto the canonical ones."""
    if "rate" in data:
        rate = data.pop("rate")
        status = int(data.pop("status", 429))
        if status == 429:
            data["throttle_rate"] = rate
        else:
            data["error_rate"], data["error_status"] = rate, status
    elif "status" in data:
        status = int(data.pop("status"))
        if status != 429:
            data["error_status"] = status
    if "operations" in data:
        ops = [str(o).lower() for o in data.pop("operations") or []]
        unknown = set(ops) - {"importimage"}
        if unknown:
            raise ValueError(f"operations: only 'importImage' is supported, not {sorted(unknown)}")
        data["imports_only"] = bool(ops)
    for alias, name in (
        ("lro_fail_regex", "fail_lro_repository_regex"),
        ("lro_fail_rate", "fail_lro_rate"),
    ):
        if alias in data:
            data[name] = data.pop(alias)
    return data


@dataclass
class ArmCounters:
    arm_calls: int = 0
    throttled: int = 0
    errors_injected: int = 0
    imports_requested: int = 0
    imports_throttled: int = 0
    imports_started: int = 0
    imports_completed: int = 0
    imports_failed: int = 0
    lro_failures_injected: int = 0
    lro_polls: int = 0


@dataclass
class ArmFaults:
    config: ArmFaultConfig = field(default_factory=ArmFaultConfig)
    counters: ArmCounters = field(default_factory=ArmCounters)

    def __post_init__(self) -> None:
        self.set(self.config, keep_counters=True)

    def set(self, config: ArmFaultConfig, keep_counters: bool = False) -> None:
        self.config = config
        self._requests = Rules(config.request_rules(), config.seed)
        self._lro = Rules(config.lro_rules(), config.seed + 1)
        self._imports = TokenBucket(config.import_rate_per_second, config.import_burst)
        if not keep_counters:
            self.counters = ArmCounters()

    def decide(self, method: str, path: str) -> Decision:
        """Count an ARM call; its fault rule ("throttle" or "error") if it gets one."""
        self.counters.arm_calls += 1
        decision = self._requests.decide(method, path)
        if decision.rule is not None and decision.rule.name == "throttle":
            self.counters.throttled += 1
            if method == "POST" and re.search(IMPORT_PATH, path):
                self.counters.imports_throttled += 1
        elif decision.rule is not None:
            self.counters.errors_injected += 1
        return decision

    def import_admitted(self) -> bool:
        """Token bucket on importImage POSTs (True if within the rate)."""
        self.counters.imports_requested += 1
        if self._imports.take():
            return True
        self.counters.imports_throttled += 1
        self.counters.throttled += 1
        return False

    def lro_should_fail(self, repositories: list[str]) -> bool:
        return self._lro.decide("", repositories).rule is not None

    def snapshot(self) -> dict[str, Any]:
        return {
            "config": dataclasses.asdict(self.config),
            "counters": dataclasses.asdict(self.counters),
        }
