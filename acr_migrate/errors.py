"""Errors of the core and the one place that decides which of them are worth a retry."""

from __future__ import annotations

import email.utils
import errno
import random
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from azure.core.exceptions import IncompleteReadError, ServiceRequestError, ServiceResponseError

#: Statuses that mean "try again later": throttled, timed out, or a passing server fault.
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_TRANSIENT_ERRNOS = frozenset(
    {errno.ECONNRESET, errno.ECONNABORTED, errno.ECONNREFUSED, errno.EPIPE, errno.ETIMEDOUT}
)
#: azure-core transport faults (their timeout subclasses included) and a body cut short: the
#: request may not have reached the service, or its answer did not reach us.
_AZURE_TRANSIENT = (ServiceRequestError, ServiceResponseError, IncompleteReadError)
_STATUS_HINTS = {
    400: "the request was refused as malformed",
    401: "authentication failed: check the username and password (or token) for this registry",
    403: "access denied: the identity lacks permission on this registry or repository",
    404: "not found",
    409: "conflict",
}


class MigrationError(Exception):
    """Base class of the errors this tool raises on purpose."""


class RegistryHTTPError(MigrationError):
    """A registry answered with an error status. Carries no credentials or query strings."""

    def __init__(
        self,
        method: str,
        path: str,
        status: int,
        detail: str = "",
        retry_after: float | None = None,
    ):
        self.method = method
        self.path = path
        self.status = status
        self.detail = detail
        self.retry_after = retry_after
        hint = _STATUS_HINTS.get(status, "")
        text = f"{method} {path} -> HTTP {status}"
        if hint:
            text += f" ({hint})"
        if detail:
            text += f": {detail}"
        if retry_after is not None:
            text += f" [Retry-After {retry_after:g}s]"
        super().__init__(text)

    def __reduce__(self) -> tuple[object, ...]:
        # Picklable (Dask ships failed task states between processes).
        args = (self.method, self.path, self.status, self.detail, self.retry_after)
        return (type(self), args, self.__dict__)


class DigestMismatchError(MigrationError):
    """Content did not hash to the digest it was asked for."""


@dataclass(frozen=True)
class Classification:
    """Whether an error is worth a retry, and how long the server asked us to wait."""

    transient: bool
    retry_after: float | None = None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _status_of(exc: BaseException) -> int | None:
    if isinstance(exc, RegistryHTTPError):
        return exc.status
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code
    status = getattr(exc, "status_code", None)  # azure.core HttpResponseError
    return status if isinstance(status, int) else None


def _retry_after_of(exc: BaseException) -> float | None:
    if isinstance(exc, RegistryHTTPError):
        return exc.retry_after
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is not None:
        try:
            return parse_retry_after(headers.get("Retry-After"))
        except AttributeError:
            return None
    return None


def classify(exc: BaseException) -> Classification:
    """Decide whether ``exc`` (or what caused it) is transient.

    Transient: HTTP 408, 429, 500, 502, 503, 504; connection resets, refusals, timeouts and
    protocol breaks; azure-core's ``ServiceRequestError``/``ServiceResponseError`` (and their
    timeout subclasses) and ``IncompleteReadError``. Everything else (400, 401, 403, 404,
    digest mismatches, bad input) fails at once. The ``__cause__`` chain is followed so wrapped
    errors classify like their origin.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _AZURE_TRANSIENT):
            # Before the status: an IncompleteReadError carries the 200 of the cut response.
            return Classification(True)
        status = _status_of(current)
        if status is not None:
            return Classification(status in TRANSIENT_STATUSES, _retry_after_of(current))
        if isinstance(current, httpx.TransportError):
            return Classification(not isinstance(current, httpx.UnsupportedProtocol))
        if isinstance(current, ConnectionError | TimeoutError):
            return Classification(True)
        if isinstance(current, OSError) and current.errno in _TRANSIENT_ERRNOS:
            return Classification(True)
        current = current.__cause__ or current.__context__
    return Classification(False)


#: The answers that mean "slow down": too many requests, or the service is overloaded.
THROTTLE_STATUSES = frozenset({429, 503})


def throttling_of(exc: BaseException) -> float | None:
    """``None`` unless ``exc`` (or its cause) is a 429/503; then its ``Retry-After`` in seconds
    (0.0 when the service did not say)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        status = _status_of(current)
        if status is not None:
            return (_retry_after_of(current) or 0.0) if status in THROTTLE_STATUSES else None
        current = current.__cause__ or current.__context__
    return None


def is_transient(exc: BaseException) -> bool:
    """Shorthand for ``classify(exc).transient``."""
    return classify(exc).transient


def backoff_delays(
    retries: int, base: float = 1.0, cap: float = 60.0, factor: float = 2.0
) -> list[float]:
    """Exponential delays ``base * factor**n`` capped at ``cap``, one per retry."""
    return [min(cap, base * factor**n) for n in range(retries)]


def with_jitter(delay: float, spread: float = 0.5, rng: random.Random | None = None) -> float:
    """``delay`` scaled by a random factor in ``[1 - spread, 1 + spread]``."""
    r = rng or random
    return max(0.0, delay * (1 + r.uniform(-spread, spread)))
