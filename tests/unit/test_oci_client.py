"""``RegistryClient`` against a registry played by an ``httpx.MockTransport``: the bearer-token
challenge, throttled reads retried after ``Retry-After``, a missing manifest, tag pagination.

The fake registry only answers what the distribution spec says a registry answers; every
assertion is about what the client sent or returned.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from acr_migrate.errors import RegistryHTTPError
from acr_migrate.models import RegistryEndpoint
from acr_migrate.oci.client import RegistryClient
from acr_migrate.references import sha256_digest

REALM = "https://auth.example/token"
SERVICE = "reg.example"
USER, PASSWORD = "puller", "pull-secret"
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "x"},
        "layers": [],
    }
).encode()
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"

Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class Registry:
    """A recorded conversation with the fake registry."""

    handler: Handler
    seen: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if len(self.seen) > 20:  # a client that does not stop fails here, not at the timeout
            raise AssertionError(f"still asking after {len(self.seen) - 1} requests")
        return self.handler(request)

    def to(self, path: str) -> list[httpx.Request]:
        return [r for r in self.seen if r.url.path == path]


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> RegistryEndpoint:
    monkeypatch.setenv("H10_REGISTRY_PASSWORD", PASSWORD)
    return RegistryEndpoint(
        name="reg", url=f"https://{SERVICE}", username=USER, password_env="H10_REGISTRY_PASSWORD"
    )


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The waits the client asks for (recorded, not slept: no test waits on the clock)."""
    asked: list[float] = []
    monkeypatch.setattr("acr_migrate.oci.client.time.sleep", asked.append)
    yield asked


def client_of(
    endpoint: RegistryEndpoint, registry: Registry, read_retries: int = 0
) -> RegistryClient:
    return RegistryClient(
        endpoint, transport=httpx.MockTransport(registry), read_retries=read_retries
    )


def error(status: int, code: str, message: str, **headers: str) -> httpx.Response:
    body = {"errors": [{"code": code, "message": message}]}
    return httpx.Response(status, json=body, headers=headers)


def bearer_registry(tokens: list[str]) -> Handler:
    """A registry behind a token server: a 401 challenge without a valid token; the token
    server hands out ``tokens`` in order to the right basic credentials."""
    issued: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if str(request.url).startswith(REALM):
            basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if request.headers.get("Authorization") != basic:
                return httpx.Response(401)
            issued.append(tokens[len(issued)])
            return httpx.Response(200, json={"token": issued[-1], "expires_in": 300})
        if request.headers.get("Authorization") not in {f"Bearer {t}" for t in issued}:
            repo = request.url.path.removeprefix("/v2/").rsplit("/tags/", 1)[0]
            challenge = f'Bearer realm="{REALM}",service="{SERVICE}",scope="repository:{repo}:pull"'
            headers = {"WWW-Authenticate": challenge}
            return error(401, "UNAUTHORIZED", "authentication required", **headers)
        return httpx.Response(200, json={"name": "team/app", "tags": ["1.0"]})

    return handle


# ---------------------------------------------------------------------------- token challenge


def test_a_bearer_challenge_fetches_one_token_and_reuses_it(endpoint: RegistryEndpoint) -> None:
    registry = Registry(bearer_registry(["tok-1", "tok-2"]))
    with client_of(endpoint, registry) as client:
        assert client.tags("team/app") == ["1.0"]
        assert client.tags("team/app") == ["1.0"]
        assert client.tags("team/app") == ["1.0"]

    token_requests = [r for r in registry.seen if str(r.url).startswith(REALM)]
    assert len(token_requests) == 1
    asked = token_requests[0].url.params
    assert asked["service"] == SERVICE
    assert asked.get_list("scope") == ["repository:team/app:pull"]
    # The challenge costs one 401; after it every call carries the token up front.
    listed = registry.to("/v2/team/app/tags/list")
    assert [r.headers.get("Authorization") for r in listed] == [
        None,
        "Bearer tok-1",
        "Bearer tok-1",
        "Bearer tok-1",
    ]


def test_a_refused_token_request_is_an_authentication_error(
    monkeypatch: pytest.MonkeyPatch, endpoint: RegistryEndpoint
) -> None:
    monkeypatch.setenv("H10_REGISTRY_PASSWORD", "wrong")
    registry = Registry(bearer_registry(["tok-1"]))
    with client_of(endpoint, registry) as client, pytest.raises(RegistryHTTPError) as err:
        client.tags("team/app")
    assert err.value.status == 401
    assert not [r for r in registry.seen if r.headers.get("Authorization", "").startswith("Bearer")]


# ---------------------------------------------------------------------------- 429 + Retry-After


def throttled_once(retry_after: str) -> Handler:
    answered: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if not answered:
            answered.append(429)
            return error(429, "TOOMANYREQUESTS", "slow down", **{"Retry-After": retry_after})
        headers = {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": sha256_digest(MANIFEST)}
        return httpx.Response(200, content=MANIFEST, headers=headers)

    return handle


def test_a_throttled_read_waits_for_retry_after_then_succeeds(
    endpoint: RegistryEndpoint, sleeps: list[float]
) -> None:
    registry = Registry(throttled_once("7"))
    with client_of(endpoint, registry, read_retries=2) as client:
        manifest = client.get_manifest("team/app", "1.0")
        assert client.read_retried == 1
    assert manifest.body == MANIFEST and manifest.digest == sha256_digest(MANIFEST)
    assert len(registry.to("/v2/team/app/manifests/1.0")) == 2
    assert len(sleeps) == 1 and sleeps[0] >= 7  # the server's wait, not only our backoff


def test_without_read_retries_the_throttle_reaches_the_caller_with_its_wait(
    endpoint: RegistryEndpoint, sleeps: list[float]
) -> None:
    registry = Registry(throttled_once("7"))
    with client_of(endpoint, registry) as client, pytest.raises(RegistryHTTPError) as err:
        client.get_manifest("team/app", "1.0")
    assert err.value.status == 429 and err.value.retry_after == 7
    assert len(registry.seen) == 1 and sleeps == []


def test_a_throttled_write_is_not_retried_by_the_client(
    endpoint: RegistryEndpoint, sleeps: list[float]
) -> None:
    """Writes are retried by the per-image task (the whole image), never in the client."""
    from acr_migrate.oci.client import Manifest

    registry = Registry(throttled_once("1"))
    manifest = Manifest(MANIFEST, OCI_MANIFEST, sha256_digest(MANIFEST))
    with client_of(endpoint, registry, read_retries=3) as client:
        with pytest.raises(RegistryHTTPError) as err:
            client.put_manifest("team/app", "1.0", manifest)
        assert client.read_retried == 0
    assert err.value.status == 429 and len(registry.seen) == 1 and sleeps == []


# ---------------------------------------------------------------------------- 404 manifest


def missing_manifest(request: httpx.Request) -> httpx.Response:
    if request.method == "HEAD":
        return httpx.Response(404)
    if request.url.path.endswith("/tags/list"):
        return error(404, "NAME_UNKNOWN", "repository name not known to registry")
    return error(404, "MANIFEST_UNKNOWN", "manifest unknown")


def test_a_missing_manifest_is_a_clear_not_found_error_and_not_retried(
    endpoint: RegistryEndpoint, sleeps: list[float]
) -> None:
    registry = Registry(missing_manifest)
    with client_of(endpoint, registry, read_retries=3) as client:
        with pytest.raises(RegistryHTTPError) as err:
            client.get_manifest("team/app", "2.0")
        assert client.read_retried == 0
    assert err.value.status == 404 and err.value.path == "/v2/team/app/manifests/2.0"
    assert str(err.value) == (
        "GET /v2/team/app/manifests/2.0 -> HTTP 404 (not found): MANIFEST_UNKNOWN: manifest unknown"
    )
    assert len(registry.seen) == 1 and sleeps == []


def test_absence_is_an_answer_where_the_client_asks_whether_something_exists(
    endpoint: RegistryEndpoint,
) -> None:
    registry = Registry(missing_manifest)
    with client_of(endpoint, registry) as client:
        assert client.head_manifest("team/app", "2.0") is None
        assert client.tags("team/gone") == []
        assert client.blob_size("team/app", "sha256:" + "0" * 64) is None


# ---------------------------------------------------------------------------- pagination


def paged_tags(pages: dict[str | None, tuple[list[str], str | None]]) -> Handler:
    """Tags by ``last``: each page names the next one with a ``Link`` header (relative)."""

    def handle(request: httpx.Request) -> httpx.Response:
        tags, following = pages[request.url.params.get("last")]
        headers = {}
        if following is not None:
            headers["Link"] = f'</v2/team/app/tags/list?n=2&last={following}>; rel="next"'
        return httpx.Response(200, json={"name": "team/app", "tags": tags}, headers=headers)

    return handle


def test_tag_listing_follows_link_headers_to_the_last_page(endpoint: RegistryEndpoint) -> None:
    registry = Registry(
        paged_tags(
            {
                None: (["1.0", "1.1"], "1.1"),
                "1.1": (["2.0", "2.1"], "2.1"),
                "2.1": (["latest"], None),
            }
        )
    )
    with client_of(endpoint, registry) as client:
        assert client.tags("team/app", page_size=2) == ["1.0", "1.1", "2.0", "2.1", "latest"]
    asked = [dict(r.url.params) for r in registry.seen]
    # The first page asks for the page size; the next ones follow the Link URL as given.
    assert asked == [{"n": "2"}, {"n": "2", "last": "1.1"}, {"n": "2", "last": "2.1"}]


def test_a_link_that_points_back_ends_the_listing(endpoint: RegistryEndpoint) -> None:
    """A registry whose last page links to itself must not make the client loop forever."""
    registry = Registry(paged_tags({None: (["1.0"], "1.0"), "1.0": (["2.0"], "1.0")}))
    with client_of(endpoint, registry) as client:
        assert client.tags("team/app", page_size=1) == ["1.0", "2.0"]
    assert len(registry.seen) == 2
