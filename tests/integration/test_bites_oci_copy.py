"""oci-copy confirms what landed: a target that stores another manifest under the tag is caught.

A real proxy in front of the target registry swaps the manifest body of the tag PUT for another
image's manifest and drops ``Docker-Content-Digest`` from the answer (the header is optional),
so the PUT itself looks fine. Only the post-copy check (HEAD every tag, compare the digest)
can see that the wrong digest landed.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from acr_migrate.errors import DigestMismatchError
from acr_migrate.models import ImportItem
from acr_migrate.oci.client import RegistryClient
from acr_migrate.oci.copy import OciCopyEngine
from acr_migrate.settings import MigrationConfig
from sandbox.certs import cert_paths
from sandbox.fault_proxy import ALL_METHODS, HOP_BY_HOP, FaultProxy, forward
from sandbox.oci_push import Image, build_image, make_layer, push_image
from tests.helpers import push_endpoint, uid

pytestmark = pytest.mark.integration


def swapping_app(backend_url: str, tag_path: str, decoy: Image, verify: Any) -> Starlette:
    """Forward everything to ``backend_url``; a PUT to ``tag_path`` carries ``decoy`` instead."""
    backend = httpx.URL(backend_url.rstrip("/"))
    holder: dict[str, httpx.AsyncClient] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(verify=verify, timeout=60) as client:
            holder["client"] = client
            yield

    def drop_digest(_: httpx.Response, headers: list[tuple[bytes, bytes]]) -> None:
        headers[:] = [(k, v) for k, v in headers if k != b"docker-content-digest"]

    async def proxy(request: Request) -> Response:
        client = holder["client"]
        if request.method == "PUT" and request.url.path == tag_path:
            await request.body()
            skip = HOP_BY_HOP | {"content-length", "content-type"}
            headers = [(k, v) for k, v in request.headers.items() if k.lower() not in skip]
            headers.append(("content-type", decoy.media_type))
            return await forward(
                request,
                client,
                backend,
                headers=headers,
                content=decoy.manifest,
                rewrite=drop_digest,
            )
        return await forward(request, client, backend)

    return Starlette(routes=[Route("/{path:path}", proxy, methods=ALL_METHODS)], lifespan=lifespan)


@pytest.fixture
def swapping_proxy(sandbox_state: dict[str, Any]) -> Iterator[Any]:
    """Factory: ``swapping_proxy(backend_url, tag_path, decoy)`` -> a started proxy."""
    certs = cert_paths(Path(sandbox_state["root"]))
    started: list[FaultProxy] = []

    def make(backend_url: str, tag_path: str, decoy: Image) -> FaultProxy:
        proxy = FaultProxy(
            backend_url, certfile=certs.server_pem, keyfile=certs.server_key, ca_bundle=certs.ca_pem
        )
        verify = ssl.create_default_context(cafile=str(certs.ca_pem))
        proxy._app = swapping_app(backend_url, tag_path, decoy, verify)
        started.append(proxy.start())
        return proxy

    yield make
    for proxy in started:
        proxy.stop()


def test_a_wrong_digest_landing_under_the_tag_fails_the_image(
    migration_config: MigrationConfig, swapping_proxy: Any
) -> None:
    src, dst = migration_config.source, migration_config.target
    repo = f"bite/{uid()}/app"
    image = build_image([make_layer({"app": b"the real image" * 200})])
    decoy = build_image([make_layer({"app": b"something else" * 200})])
    push_image(push_endpoint(src), repo, ["v1"], image)
    push_image(push_endpoint(dst), repo, [], decoy)  # its blobs exist in the target
    proxy = swapping_proxy(dst.url, f"/v2/{repo}/manifests/v1", decoy)
    via_proxy = dst.model_copy(update={"url": proxy.url})
    engine = OciCopyEngine(RegistryClient(src), RegistryClient(via_proxy))
    item = ImportItem(
        repository=repo,
        digest=image.digest,
        tags=("v1",),
        media_type=image.media_type,
        size_bytes=image.size,
    )
    with pytest.raises(DigestMismatchError) as info:
        engine.import_image(item)
    assert f"{repo}:v1 resolves to {decoy.digest}" in str(info.value)
    assert f"expected {image.digest}" in str(info.value)
    # The wrong digest really landed: the check saw the target as it is.
    with RegistryClient(dst) as target:
        head = target.head_manifest(repo, "v1")
        assert head is not None and head.digest == decoy.digest
        assert target.head_manifest(repo, image.digest) is not None
        # Leave no conflicting tag behind for tests that import the whole source.
        for digest in (decoy.digest, image.digest):
            target.delete_manifest(repo, digest)
