"""Which faults are retried: one classification, tested on every kind of error."""

from __future__ import annotations

import errno
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from azure.core import exceptions as azure_errors

from acr_migrate.errors import (
    DigestMismatchError,
    RegistryHTTPError,
    backoff_delays,
    classify,
    is_transient,
    parse_retry_after,
    with_jitter,
)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses(status: int) -> None:
    assert is_transient(RegistryHTTPError("PUT", "/v2/x/manifests/1", status))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 412, 501])
def test_permanent_statuses(status: int) -> None:
    assert not is_transient(RegistryHTTPError("PUT", "/v2/x/manifests/1", status))


def test_retry_after_travels_with_the_error() -> None:
    verdict = classify(RegistryHTTPError("GET", "/v2/", 429, retry_after=3))
    assert verdict.transient and verdict.retry_after == 3


def test_httpx_status_error_uses_its_retry_after() -> None:
    request = httpx.Request("GET", "https://r/v2/")
    response = httpx.Response(503, headers={"Retry-After": "7"}, request=request)
    verdict = classify(httpx.HTTPStatusError("x", request=request, response=response))
    assert verdict == classify(RegistryHTTPError("GET", "/", 503, retry_after=7.0))


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("peer closed"),
        ConnectionResetError(errno.ECONNRESET, "reset"),
        OSError(errno.EPIPE, "broken pipe"),
        TimeoutError(),
    ],
)
def test_connection_faults_are_transient(exc: BaseException) -> None:
    assert is_transient(exc)


def test_wrapped_errors_classify_like_their_cause() -> None:
    try:
        try:
            raise RegistryHTTPError("GET", "/v2/", 429)
        except RegistryHTTPError as inner:
            raise RuntimeError("while importing") from inner
    except RuntimeError as outer:
        assert is_transient(outer)


@pytest.mark.parametrize("exc", [ValueError("bad input"), DigestMismatchError("x"), KeyError("k")])
def test_everything_else_fails_at_once(exc: BaseException) -> None:
    assert not is_transient(exc)


def test_error_message_names_the_problem_and_no_query_string() -> None:
    text = str(RegistryHTTPError("PUT", "/v2/a/blobs/uploads/x", 401, "UNAUTHORIZED: nope"))
    assert "authentication failed" in text and "HTTP 401" in text and "?" not in text


def test_parse_retry_after() -> None:
    assert parse_retry_after("5") == 5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Fri, 27 Nov 2026 10:00:30 GMT", now) == 30


def test_backoff_is_exponential_capped_and_jittered() -> None:
    assert backoff_delays(5, base=1, cap=10) == [1, 2, 4, 8, 10]
    import random

    rng = random.Random(1)
    values = {round(with_jitter(4, 0.5, rng), 3) for _ in range(50)}
    assert len(values) > 10 and all(2 <= v <= 6 for v in values)


def _cut_response() -> Any:
    """An azure-core HTTP 200 response whose body was cut short."""
    from azure.core.rest import HttpRequest

    class Cut:
        status_code = 200
        reason = "OK"
        headers: dict[str, str] = {}
        request = HttpRequest("GET", "https://r.example/acr/v1/_catalog")

        def text(self, encoding: str | None = None) -> str:
            return ""

    return Cut()


@pytest.mark.parametrize(
    "exc",
    [
        azure_errors.ServiceRequestError("connect failed"),
        azure_errors.ServiceResponseError("connection reset"),
        azure_errors.ServiceRequestTimeoutError("connect timed out"),
        azure_errors.ServiceResponseTimeoutError("read timed out"),
        azure_errors.IncompleteReadError(message="peer closed mid-body", response=_cut_response()),
    ],
)
def test_azure_core_transport_faults_are_transient_by_type(exc: BaseException) -> None:
    """The timeout subclasses and a cut body (whose status is the 200 that was cut) retry."""
    assert is_transient(exc)
    wrapped = RuntimeError("while polling")
    wrapped.__cause__ = exc
    assert is_transient(wrapped)


def test_other_azure_core_errors_stay_permanent() -> None:
    assert not is_transient(azure_errors.ResourceNotFoundError("gone"))
    assert not is_transient(azure_errors.ClientAuthenticationError("no"))
