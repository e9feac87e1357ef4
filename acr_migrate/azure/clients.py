"""SDK clients for one registry: ARM (management) and the data plane, with token caching.

azure-containerregistry 1.2 sends every call unauthenticated, takes the 401 challenge, exchanges
the Entra token for an ACR refresh token (again each time: its freshness test is inverted) and
that for an access token, then resends: four requests per call. :class:`TokenCachingPolicy`
keeps the refresh token until it nears expiry and the access token per call shape, so a warm
client sends one request per call.
"""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import quote

from azure.containerregistry import ContainerRegistryClient
from azure.containerregistry._authentication_policy import ContainerRegistryChallengePolicy
from azure.containerregistry._exchange_client import ACRExchangeClient
from azure.containerregistry._helpers import _parse_exp_time
from azure.core.credentials import TokenCredential
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import RetryPolicy
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest
from azure.mgmt.containerregistry import ContainerRegistryManagementClient

from acr_migrate.azure.credentials import transport_options
from acr_migrate.azure.settings import ACR_AUDIENCE, AcrRegistryRef, arm_scope
from acr_migrate.mediatypes import OCI_INDEX
from acr_migrate.referrers import Descriptor, descriptors_of

ARM_SCOPE = arm_scope("https://management.azure.com")
_EARLY = 300.0  # renew tokens five minutes before they expire


class RequestCounter(RequestsTransport):
    """A transport that counts every HTTP request it sends, by kind (for measurements).

    It sits under the whole pipeline, so it sees the 401 challenge, the token exchanges and the
    re-sent request, not just the calls the application makes. Build it with the transport
    keywords of the client (``RequestCounter(**transport_options(ca_bundle))``).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def send(self, request: Any, **kwargs: Any) -> Any:
        path = request.url.split("?", 1)[0]
        kind = "exchange" if "/oauth2/" in path else "api"
        with self._lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            self.counts["total"] = self.counts.get("total", 0) + 1
        return super().send(request, **kwargs)


class CachingExchangeClient(ACRExchangeClient):
    """Keeps the ACR refresh token until it is about to expire."""

    def get_refresh_token(self, service: str, **kwargs: Any) -> str:
        if not self._refresh_token or self._expiration_time - time.time() < _EARLY:
            self._refresh_token = self.exchange_aad_token_for_refresh_token(service, **kwargs)
            self._expiration_time = _parse_exp_time(self._refresh_token)
        return self._refresh_token


def _call_shape(request: PipelineRequest) -> str:
    """Requests of one shape need the same token scope: method + path up to the resource kind."""
    path = request.http_request.url.split("?", 1)[0].split("://", 1)[-1].split("/", 1)[-1]
    parts = path.split("/")
    for n, part in enumerate(parts):
        if part.startswith("_") or part in ("manifests", "blobs", "tags", "referrers"):
            parts = parts[: n + 1]
            break
    return f"{request.http_request.method} /{'/'.join(parts)}"


class TokenCachingPolicy(ContainerRegistryChallengePolicy):
    """Sends a cached access token up front; falls back to the challenge flow on a 401."""

    _tokens: dict[str, tuple[str, float]]
    _lock: threading.Lock

    def __init__(self, credential: TokenCredential | None, endpoint: str, **kwargs: Any) -> None:
        super().__init__(credential, endpoint, **kwargs)
        self._setup()

    @classmethod
    def adopt(cls, policy: ContainerRegistryChallengePolicy) -> None:
        """Turn the SDK's policy (built inside the client) into this one, in place."""
        policy.__class__ = cls
        policy._setup()  # type: ignore[attr-defined]

    def _setup(self) -> None:
        if isinstance(self._exchange_client, ACRExchangeClient):
            self._exchange_client.__class__ = CachingExchangeClient
        self._tokens = {}
        self._lock = threading.Lock()

    def on_request(self, request: PipelineRequest) -> None:
        with self._lock:
            cached = self._tokens.get(_call_shape(request))
        if cached and cached[1] - time.time() > _EARLY:
            request.http_request.headers["Authorization"] = "Bearer " + cached[0]

    def on_challenge(
        self, request: PipelineRequest, response: PipelineResponse, challenge: str
    ) -> bool:
        with self._lock:  # one exchange at a time keeps the refresh token coherent
            token = self._exchange_client.get_acr_access_token(challenge)
            if token is None:
                return False
            self._tokens[_call_shape(request)] = (token, _parse_exp_time(token))
        request.http_request.headers["Authorization"] = "Bearer " + token
        return True


class AcrDataPlaneClient(ContainerRegistryClient):
    """``ContainerRegistryClient`` with :class:`TokenCachingPolicy` in place of the SDK's."""

    def __init__(
        self,
        endpoint: str,
        credential: TokenCredential,
        *,
        audience: str = ACR_AUDIENCE,
        cache_tokens: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(endpoint, credential, audience=audience, **kwargs)
        if cache_tokens:
            TokenCachingPolicy.adopt(self._auth_policy)

    def manifest_references(self, repository: str, digest: str) -> list[Any]:
        """The ``references`` (platform manifests) of one manifest, from its single GET.

        The SDK's public ``get_manifest_properties`` drops them, and listings never carry them.
        """
        generated = self._client.container_registry.get_manifest_properties(repository, digest)
        manifest = generated.manifest
        return list((manifest.related_artifacts if manifest is not None else None) or [])

    def referrers(self, repository: str, digest: str) -> list[Descriptor] | None:
        """The descriptors of the manifests whose ``subject`` is ``digest``, through the OCI
        referrers API ACR serves (``az acr manifest list-referrers`` asks the same path and
        follows ``Link``); None if the registry answers 404 (it has no such API)."""
        url = f"/v2/{quote(repository, safe='/')}/referrers/{digest}"
        found: list[Descriptor] = []
        seen: set[str] = set()
        while True:
            response = self._client.send_request(
                HttpRequest("GET", url, headers={"Accept": OCI_INDEX})
            )
            if response.status_code == 404 and not seen:
                return None
            if response.status_code != 200:
                raise HttpResponseError(response=response)
            found += descriptors_of(response.json())
            link = response.headers.get("Link", "")
            if "<" not in link or ">" not in link:
                return found
            url = link[link.index("<") + 1 : link.index(">")]
            if url in seen:
                return found
            seen.add(url)


def data_plane_client(
    endpoint: str,
    credential: TokenCredential,
    *,
    ca_bundle: str | None = None,
    cache_tokens: bool = True,
    counter: RequestCounter | None = None,
) -> AcrDataPlaneClient:
    """A data-plane client of the registry at ``endpoint`` (``https://<login server>``)."""
    extra: dict[str, Any] = dict(transport_options(ca_bundle))
    if counter is not None:
        extra["transport"] = counter
    return AcrDataPlaneClient(endpoint, credential, cache_tokens=cache_tokens, **extra)


class ImportSurfacingRetryPolicy(RetryPolicy):
    """The SDK's retries, except on the ``importImage`` POST itself.

    A throttled or failed import start is handed back to the caller, so the Prefect task retries
    it (honouring ``Retry-After``) and the retry shows in the task run's states; polls and every
    other call keep the SDK's own retries.
    """

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse) -> bool:
        request = response.http_request
        if request.method == "POST" and request.url.split("?", 1)[0].endswith("/importImage"):
            return False
        return bool(super().is_retry(settings, response))


def management_client(
    ref: AcrRegistryRef,
    credential: TokenCredential,
    *,
    ca_bundle: str | None = None,
    surface_import_retries: bool = False,
) -> ContainerRegistryManagementClient:
    """ARM client of the registry's subscription (``resource_manager`` may be a stand-in).

    ``surface_import_retries`` leaves a throttled ``importImage`` start to the caller's retries
    (see :class:`ImportSurfacingRetryPolicy`).
    """
    extra: dict[str, Any] = {}
    if surface_import_retries:
        extra["retry_policy"] = ImportSurfacingRetryPolicy()
    return ContainerRegistryManagementClient(
        credential,
        ref.subscription_id,
        base_url=ref.resource_manager,
        credential_scopes=[arm_scope(ref.resource_manager)],
        **transport_options(ca_bundle),
        **extra,
    )
