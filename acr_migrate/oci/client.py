"""A client of the OCI distribution API for one registry.

One ``RegistryClient`` per registry endpoint; it is safe to share between threads. Every call
names the repository it works on so the bearer token can be scoped to it.
"""

from __future__ import annotations

import hashlib
import json
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from acr_migrate.errors import (
    DigestMismatchError,
    RegistryHTTPError,
    backoff_delays,
    classify,
    parse_retry_after,
    with_jitter,
)
from acr_migrate.mediatypes import ACCEPT, OCI_INDEX
from acr_migrate.models import RegistryEndpoint
from acr_migrate.oci.auth import TokenAuth
from acr_migrate.references import sha256_digest
from acr_migrate.referrers import Descriptor, descriptors_of

CHUNK_SIZE = 1024 * 1024

BodyFactory = Callable[[], Iterable[bytes]]


@dataclass(frozen=True)
class Manifest:
    """A manifest as the registry stores it: exact bytes, media type and digest."""

    body: bytes
    media_type: str
    digest: str

    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass(frozen=True)
class ManifestHead:
    """What a manifest HEAD tells: digest, media type and size."""

    digest: str
    media_type: str
    size: int


def ssl_context(verify: str | bool) -> ssl.SSLContext | bool:
    """An SSL context trusting ``verify`` (a CA bundle path), or the boolean as is."""
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return verify


class RegistryClient:
    """Talks ``/v2`` to one registry, with basic or bearer-token auth."""

    def __init__(
        self,
        endpoint: RegistryEndpoint,
        *,
        timeout: float = 60.0,
        max_connections: int = 32,
        transport: httpx.BaseTransport | None = None,
        read_retries: int = 0,
        credentials: tuple[str | None, SecretStr | None] | None = None,
    ):
        """``credentials`` (username, password) replace the endpoint's own user (e.g. a pull
        token for the source of an import)."""
        self.endpoint = endpoint
        self.read_retries = read_retries
        self.read_retried = 0
        username, password = credentials or (endpoint.username, endpoint.password())
        self.auth = TokenAuth(username, password)
        self.requests = 0
        #: Whether the registry serves the referrers API (None: not asked yet). A registry that
        #: has it never answers 404, so the first 404 settles it for this client.
        self.referrers_api: bool | None = None
        self.http = httpx.Client(
            base_url=endpoint.url,
            verify=ssl_context(endpoint.verify()),
            timeout=httpx.Timeout(timeout, connect=10.0),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            follow_redirects=False,
            transport=transport,
            headers={"User-Agent": "acr-migrate"},
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------

    def _request(
        self, method: str, url: str | httpx.URL, scope: str, **kwargs: Any
    ) -> httpx.Response:
        """Send; reads (GET/HEAD) are retried on transient faults up to ``read_retries`` times.

        Writes are never retried here: the caller (the per-image task) retries the whole image.
        """
        attempt = 0
        while True:
            try:
                return self._send(method, url, scope, **kwargs)
            except Exception as exc:
                verdict = classify(exc)
                if method not in ("GET", "HEAD") or attempt >= self.read_retries:
                    raise
                if not verdict.transient:
                    raise
                delay = max(
                    verdict.retry_after or 0.0, with_jitter(backoff_delays(attempt + 1, 0.5)[-1])
                )
                time.sleep(min(delay, 60.0))
                attempt += 1
                self.read_retried += 1

    def _send(
        self,
        method: str,
        url: str | httpx.URL,
        scope: str,
        *,
        stream: bool = False,
        body: bytes | BodyFactory | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        follow: bool = True,
        ok: Iterable[int] = (200,),
    ) -> httpx.Response:
        """Send with auth; on a 401 challenge authenticate once and resend."""
        allowed = set(ok)
        send_headers = dict(headers or {})
        auth_header = self.auth.ensure(self.http, scope)
        for attempt in range(2):
            if auth_header:
                send_headers["Authorization"] = auth_header
            content = body() if callable(body) else body
            request = self.http.build_request(
                method, url, headers=send_headers, params=params, content=content
            )
            self.requests += 1
            response = self.http.send(request, stream=True)
            if follow and response.status_code in (301, 302, 303, 307, 308):
                # Blob GETs may redirect to storage; never forward our credentials there.
                location = response.headers["Location"]
                response.close()
                target = request.url.join(location)
                response = self.http.send(self.http.build_request(method, target), stream=True)
            if response.status_code == 401 and attempt == 0:
                challenge = response.headers.get("WWW-Authenticate", "")
                response.close()
                if not challenge or not self.auth.has_credentials:
                    raise self._error(method, request.url, response)
                auth_header = self.auth.handle_challenge(self.http, challenge, scope)
                if auth_header is None:
                    raise self._error(method, request.url, response)
                continue
            if response.status_code not in allowed:
                if not stream:
                    response.read()
                raise self._error(method, request.url, response)
            if not stream:
                response.read()
            return response
        raise AssertionError("unreachable")

    @staticmethod
    def _error(method: str, url: httpx.URL, response: httpx.Response) -> RegistryHTTPError:
        detail = ""
        try:
            if not response.is_closed:
                response.read()
            errors = response.json().get("errors") or []
            detail = "; ".join(
                f"{e.get('code', '')}: {e.get('message', '')}".strip(": ") for e in errors
            )
        except Exception:
            detail = ""
        finally:
            response.close()
        return RegistryHTTPError(
            method,
            url.path,
            response.status_code,
            detail,
            parse_retry_after(response.headers.get("Retry-After")),
        )

    @staticmethod
    def _repo_path(repository: str) -> str:
        return quote(repository, safe="/")

    @staticmethod
    def _scope(repository: str, actions: str = "pull") -> str:
        return f"repository:{repository}:{actions}"

    def _paged(self, path: str, key: str, scope: str, page_size: int) -> Iterator[str]:
        url: httpx.URL | str = path
        params: dict[str, str] | None = {"n": str(page_size)}
        seen_urls: set[str] = set()
        while True:
            response = self._request("GET", url, scope, params=params)
            yield from response.json().get(key) or []
            link = response.links.get("next", {}).get("url")
            if not link:
                return
            url = response.request.url.join(link)
            if str(url) in seen_urls:
                return
            seen_urls.add(str(url))
            params = None  # the Link URL carries its own query

    # -- reading ------------------------------------------------------------------------------

    def ping(self) -> None:
        """Check that ``/v2/`` answers and our credentials are accepted."""
        self._request("GET", "/v2/", "registry:catalog:*")

    def catalog(self, page_size: int = 100) -> Iterator[str]:
        """Every repository name, following ``Link`` pagination."""
        return self._paged("/v2/_catalog", "repositories", "registry:catalog:*", page_size)

    def tags(self, repository: str, page_size: int = 1000) -> list[str]:
        """Every tag of ``repository`` (empty when the repository has none or is unknown)."""
        path = f"/v2/{self._repo_path(repository)}/tags/list"
        try:
            return list(self._paged(path, "tags", self._scope(repository), page_size))
        except RegistryHTTPError as exc:
            if exc.status == 404:
                return []
            raise

    def head_manifest(self, repository: str, reference: str) -> ManifestHead | None:
        """Digest, media type and size of a manifest, or None when it does not exist."""
        path = f"/v2/{self._repo_path(repository)}/manifests/{reference}"
        try:
            response = self._request(
                "HEAD", path, self._scope(repository), headers={"Accept": ACCEPT}
            )
        except RegistryHTTPError as exc:
            if exc.status == 404:
                return None
            raise
        digest = response.headers.get("Docker-Content-Digest", "")
        if not digest:
            # Some registries omit the header on HEAD; fall back to the body.
            manifest = self.get_manifest(repository, reference)
            return ManifestHead(manifest.digest, manifest.media_type, len(manifest.body))
        return ManifestHead(
            digest,
            response.headers.get("Content-Type", "").split(";")[0],
            int(response.headers.get("Content-Length") or 0),
        )

    def get_manifest(self, repository: str, reference: str) -> Manifest:
        """The manifest's exact bytes; a digest reference is verified against the bytes."""
        path = f"/v2/{self._repo_path(repository)}/manifests/{reference}"
        response = self._request("GET", path, self._scope(repository), headers={"Accept": ACCEPT})
        body = response.content
        digest = sha256_digest(body)
        if reference.startswith("sha256:") and digest != reference:
            raise DigestMismatchError(
                f"{repository}@{reference}: registry returned a manifest hashing to {digest}"
            )
        media_type = response.headers.get("Content-Type", "").split(";")[0]
        if not media_type or media_type in ("application/json", "text/plain"):
            media_type = json.loads(body).get("mediaType", media_type)
        return Manifest(body, media_type, digest)

    def referrers(
        self, repository: str, digest: str, artifact_type: str | None = None
    ) -> list[Descriptor] | None:
        """The descriptors of the manifests whose ``subject`` is ``digest`` (OCI distribution
        spec v1.1 "Listing Referrers"), following ``Link`` pages; only ``artifact_type`` ones if
        given (filtered here when the registry did not say ``OCI-Filters-Applied``). None when
        the registry has no referrers API (it answers 404): use the tag schema instead."""
        if self.referrers_api is False:
            return None
        url: httpx.URL | str = f"/v2/{self._repo_path(repository)}/referrers/{digest}"
        params = {"artifactType": artifact_type} if artifact_type else None
        scope = self._scope(repository)
        found: list[Descriptor] = []
        seen_urls: set[str] = set()
        while True:
            try:
                response = self._request(
                    "GET", url, scope, params=params, headers={"Accept": OCI_INDEX}
                )
            except RegistryHTTPError as exc:
                if exc.status == 404 and not seen_urls:
                    self.referrers_api = False
                    return None
                raise
            self.referrers_api = True
            applied = response.headers.get("OCI-Filters-Applied", "").lower()
            todo = None if "artifacttype" in applied else artifact_type
            found += descriptors_of(response.json(), todo)
            link = response.links.get("next", {}).get("url")
            if not link:
                return found
            url = response.request.url.join(link)
            if str(url) in seen_urls:
                return found
            seen_urls.add(str(url))
            params = None  # the Link URL carries its own query

    def blob_size(self, repository: str, digest: str) -> int | None:
        """Size of a blob in ``repository``, or None when it is not there."""
        path = f"/v2/{self._repo_path(repository)}/blobs/{digest}"
        try:
            response = self._request("HEAD", path, self._scope(repository))
        except RegistryHTTPError as exc:
            if exc.status == 404:
                return None
            raise
        return int(response.headers.get("Content-Length") or 0)

    @contextmanager
    def open_blob(self, repository: str, digest: str) -> Iterator[httpx.Response]:
        """A streaming response of the blob's bytes (follows storage redirects)."""
        path = f"/v2/{self._repo_path(repository)}/blobs/{digest}"
        response = self._request("GET", path, self._scope(repository), stream=True)
        try:
            yield response
        finally:
            response.close()

    # -- writing ------------------------------------------------------------------------------

    def mount_blob(self, repository: str, digest: str, from_repository: str) -> bool:
        """Cross-repository mount; True when the registry mounted it (201)."""
        path = f"/v2/{self._repo_path(repository)}/blobs/uploads/"
        scope = f"{self._scope(repository, 'pull,push')} {self._scope(from_repository)}"
        response = self._request(
            "POST",
            path,
            scope,
            params={"mount": digest, "from": from_repository},
            ok=(201, 202),
        )
        if response.status_code == 201:
            return True
        # 202: the registry opened an upload session instead; cancel it.
        location = response.headers.get("Location")
        if location:
            with suppress(RegistryHTTPError):
                self._request(
                    "DELETE",
                    response.request.url.join(location),
                    self._scope(repository, "pull,push"),
                    ok=(204, 200, 404),
                )
        return False

    def upload_blob(
        self, repository: str, digest: str, chunks: BodyFactory, size: int | None = None
    ) -> int:
        """Stream a blob: POST a session, PATCH the bytes, PUT ``?digest=``. Returns bytes sent."""
        scope = self._scope(repository, "pull,push")
        path = f"/v2/{self._repo_path(repository)}/blobs/uploads/"
        response = self._request("POST", path, scope, ok=(202,))
        location = response.request.url.join(response.headers["Location"])
        sent = 0
        hasher = hashlib.sha256()

        def counted() -> Iterator[bytes]:
            nonlocal sent
            for chunk in chunks():
                sent += len(chunk)
                hasher.update(chunk)
                yield chunk

        headers = {"Content-Type": "application/octet-stream"}
        if size is not None:
            headers["Content-Length"] = str(size)
        response = self._request(
            "PATCH", location, scope, body=counted, headers=headers, ok=(202, 204)
        )
        actual = "sha256:" + hasher.hexdigest()
        if actual != digest:
            raise DigestMismatchError(f"blob streamed as {actual}, expected {digest}")
        location = response.request.url.join(response.headers.get("Location") or str(location))
        # Merge ?digest= into the session's query (it carries state), never replace it.
        final = location.copy_merge_params({"digest": digest})
        self._request("PUT", final, scope, body=b"", headers={"Content-Length": "0"}, ok=(201,))
        return sent

    def delete_manifest(self, repository: str, digest: str) -> bool:
        """DELETE a manifest by digest (and so every tag on it); False when it was not there."""
        path = f"/v2/{self._repo_path(repository)}/manifests/{digest}"
        try:
            self._request("DELETE", path, self._scope(repository, "delete"), ok=(202, 200))
        except RegistryHTTPError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def put_manifest(self, repository: str, reference: str, manifest: Manifest) -> str:
        """PUT the manifest's exact bytes under a tag or its digest; returns the digest."""
        path = f"/v2/{self._repo_path(repository)}/manifests/{reference}"
        response = self._request(
            "PUT",
            path,
            self._scope(repository, "pull,push"),
            body=manifest.body,
            headers={"Content-Type": manifest.media_type},
            ok=(201, 200),
        )
        digest = response.headers.get("Docker-Content-Digest", manifest.digest)
        if digest != manifest.digest:
            raise DigestMismatchError(
                f"{repository}:{reference}: target stored digest {digest}, sent {manifest.digest}"
            )
        return digest
