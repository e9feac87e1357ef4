"""Prefect's API as the server of the slot pool: its global concurrency limits and their leases."""

from __future__ import annotations

import threading
from typing import Any
from uuid import UUID

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
from prefect.settings import PREFECT_API_URL

from tasks.limits.pool import Full, LimitReading, ServerUnavailable

#: Prefect API answers worth another try (0: no answer at all).
API_TRANSIENT = frozenset({0, 429, 500, 502, 503, 504})


def ensure_limit(name: str, default: int) -> int:
    """Create the limit with ``default`` slots unless it exists; returns its current limit."""
    with get_client(sync_client=True) as client:
        try:
            return int(client.read_global_concurrency_limit_by_name(name).limit)
        except ObjectNotFound:
            pass
        try:
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=name, limit=default, active=True)
            )
        except ObjectAlreadyExists:
            pass  # a concurrent run created it first
        return int(client.read_global_concurrency_limit_by_name(name).limit)


class PrefectLimits:
    """The :class:`~tasks.limits.pool.LimitServer` of Prefect's global concurrency limits.

    One shared sync API client per API URL (opened on first use, kept for the process), so
    thousands of slot requests do not each pay for a client.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}

    def client(self) -> Any:
        """The sync Prefect client of the current ``PREFECT_API_URL``."""
        url = str(PREFECT_API_URL.value() or "")
        with self._lock:
            if url not in self._clients:
                client = get_client(sync_client=True)
                client.__enter__()
                self._clients[url] = client
            return self._clients[url]

    def increment(self, name: str, lease_seconds: float) -> UUID | Full:
        try:
            response = self.client().increment_concurrency_slots_with_lease(
                names=[name], slots=1, mode="concurrency", lease_duration=lease_seconds
            )
        except (httpx.HTTPStatusError, httpx.TransportError) as exc:
            status = exc.response.status_code if isinstance(exc, httpx.HTTPStatusError) else 0
            if status != 423 and status not in API_TRANSIENT:
                raise
            hint = None
            if isinstance(exc, httpx.HTTPStatusError):
                try:  # 423: no slot free now; the server says when to come back
                    hint = float(exc.response.headers.get("Retry-After") or 0) or None
                except ValueError:
                    pass
            if status == 423:
                return Full(hint)
            raise ServerUnavailable(f"Prefect API: {exc}", hint) from exc
        return UUID(str(response.json()["lease_id"]))

    def release(self, lease_id: UUID) -> None:
        self.client().release_concurrency_slots_with_lease(lease_id=lease_id)

    def renew(self, lease_id: UUID, lease_seconds: float) -> None:
        self.client().renew_concurrency_lease(lease_id=lease_id, lease_duration=lease_seconds)

    def read_limit(self, name: str) -> LimitReading:
        limit = self.client().read_global_concurrency_limit_by_name(name)
        return LimitReading(
            active=bool(limit.active), active_slots=int(limit.active_slots), limit=int(limit.limit)
        )
