"""Talking to the backing CNCF distribution registries: auth, reads, and image copies."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from sandbox.oci_push import ACCEPT_MANIFESTS, DOCKER_LIST, OCI_INDEX
from sandbox.token_server import TokenIssuer, TokenServerSettings

INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
READ_RETRY_PAUSES = (0.05, 0.2, 0.5)


class BackendError(RuntimeError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Backend:
    """One backing registry: URL plus how the stand-in authenticates to it.

    ``auth`` is ``{"kind": "basic", "username", "password"}`` or ``{"kind": "token",
    "issuer", "service", "signer_cert", "signer_key"}`` (tokens minted locally with the
    sandbox token-signer key, which the registry trusts).
    """

    def __init__(self, url: str, auth: dict[str, Any], client: httpx.AsyncClient) -> None:
        self.url = url.rstrip("/")
        self.auth = auth
        self.client = client
        self._issuer: TokenIssuer | None = None
        self._cache: dict[frozenset[str], tuple[str, float]] = {}
        if auth["kind"] == "token":
            self._issuer = TokenIssuer(
                TokenServerSettings(
                    issuer=auth["issuer"],
                    service=auth["service"],
                    users={},
                    signer_cert=Path(auth["signer_cert"]),
                    signer_key=Path(auth["signer_key"]),
                )
            )

    def authorization(self, repos: list[str] | tuple[str, ...] = (), catalog: bool = False) -> str:
        if self.auth["kind"] == "basic":
            raw = f"{self.auth['username']}:{self.auth['password']}".encode()
            return "Basic " + base64.b64encode(raw).decode()
        assert self._issuer is not None
        key = frozenset([*(f"r:{r}" for r in repos), *(["catalog"] if catalog else [])])
        hit = self._cache.get(key)
        if hit and hit[1] > time.monotonic():
            return hit[0]
        access = [
            {"type": "repository", "name": r, "actions": ["delete", "pull", "push"]} for r in repos
        ]
        if catalog:
            access.append({"type": "registry", "name": "catalog", "actions": ["*"]})
        token = self._issuer.issue("acr-standin", access, self.auth["service"])["token"]
        value = f"Bearer {token}"
        if len(self._cache) > 2000:
            self._cache.clear()
        self._cache[key] = (value, time.monotonic() + 200)
        return value

    async def request(
        self,
        method: str,
        path: str,
        repos: tuple[str, ...] = (),
        catalog: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        headers["Authorization"] = self.authorization(repos, catalog)
        resp = await self.client.request(method, self.url + path, headers=headers, **kwargs)
        # distribution writes a tag's link file in place: a read racing that write gets 500
        # "invalid checksum digest format". That is the backing store, not ACR: read again.
        for pause in READ_RETRY_PAUSES if method in ("GET", "HEAD") else ():
            if resp.status_code < 500:
                break
            await asyncio.sleep(pause)
            resp = await self.client.request(method, self.url + path, headers=headers, **kwargs)
        return resp

    # ------------------------------------------------------------------ reads
    async def catalog(self) -> list[str]:
        out: list[str] = []
        path: str | None = "/v2/_catalog?n=1000"
        while path:
            resp = await self.request("GET", path, catalog=True)
            if resp.status_code != 200:
                raise BackendError(f"catalog: HTTP {resp.status_code}", resp.status_code)
            out += resp.json().get("repositories") or []
            link = resp.headers.get("link", "")
            path = link[link.index("<") + 1 : link.index(">")] if "<" in link else None
        return out

    async def tags(self, repo: str) -> list[str]:
        resp = await self.request("GET", f"/v2/{repo}/tags/list", (repo,))
        if resp.status_code == 404:
            return []
        if resp.status_code != 200:
            raise BackendError(f"tags {repo}: HTTP {resp.status_code}", resp.status_code)
        return list(resp.json().get("tags") or [])

    async def manifest(self, repo: str, ref: str) -> tuple[bytes, str, str] | None:
        """(bytes, media type, digest) or None if absent."""
        resp = await self.request(
            "GET", f"/v2/{repo}/manifests/{ref}", (repo,), headers={"Accept": ACCEPT_MANIFESTS}
        )
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise BackendError(f"manifest {repo}:{ref}: HTTP {resp.status_code}", resp.status_code)
        data = resp.content
        media = resp.headers.get("content-type", "").split(";")[0] or _media_of(data)
        return data, media, digest_of(data)

    async def blob_json(self, repo: str, digest: str) -> dict[str, Any] | None:
        resp = await self.request("GET", f"/v2/{repo}/blobs/{digest}", (repo,))
        if resp.status_code != 200:
            return None
        try:
            return dict(json.loads(resp.content))
        except ValueError:
            return None

    async def blob_exists(self, repo: str, digest: str) -> bool:
        resp = await self.request("HEAD", f"/v2/{repo}/blobs/{digest}", (repo,))
        return resp.status_code == 200

    async def put_manifest(self, repo: str, ref: str, data: bytes, media: str) -> None:
        resp = await self.request(
            "PUT",
            f"/v2/{repo}/manifests/{ref}",
            (repo,),
            content=data,
            headers={"Content-Type": media},
        )
        if resp.status_code != 201:
            raise BackendError(
                f"PUT manifest {repo}:{ref}: HTTP {resp.status_code} {resp.text[:200]}",
                resp.status_code,
            )


def _media_of(data: bytes) -> str:
    try:
        return str(json.loads(data).get("mediaType") or "")
    except ValueError:
        return ""


async def copy_blob(src: Backend, src_repo: str, dst: Backend, dst_repo: str, desc: dict) -> int:
    """Stream one blob from `src` to `dst` unless present; returns bytes sent."""
    digest = desc["digest"]
    if await dst.blob_exists(dst_repo, digest):
        return 0
    if src is dst and src_repo != dst_repo:
        resp = await dst.request(
            "POST",
            f"/v2/{dst_repo}/blobs/uploads/?mount={digest}&from={src_repo}",
            (dst_repo, src_repo),
            headers={"Content-Length": "0"},
        )
        if resp.status_code == 201:
            return 0
    else:
        resp = await dst.request(
            "POST", f"/v2/{dst_repo}/blobs/uploads/", (dst_repo,), headers={"Content-Length": "0"}
        )
    if resp.status_code != 202:
        raise BackendError(f"start upload {dst_repo}: HTTP {resp.status_code}", resp.status_code)
    location = resp.headers["location"]
    if location.startswith("/"):
        location = dst.url + location
    put_url = httpx.URL(location).copy_merge_params({"digest": digest})
    get = src.client.build_request(
        "GET",
        f"{src.url}/v2/{src_repo}/blobs/{digest}",
        headers={"Authorization": src.authorization((src_repo,))},
    )
    source = await src.client.send(get, stream=True, follow_redirects=True)
    try:
        if source.status_code != 200:
            raise BackendError(
                f"GET blob {src_repo}@{digest}: HTTP {source.status_code}", source.status_code
            )
        size = source.headers.get("content-length") or str(desc.get("size", ""))

        async def body() -> AsyncIterator[bytes]:
            async for chunk in source.aiter_raw():
                yield chunk

        resp = await dst.client.put(
            put_url,
            content=body(),
            headers={
                "Authorization": dst.authorization((dst_repo,)),
                "Content-Type": "application/octet-stream",
                "Content-Length": size,
            },
        )
    finally:
        await source.aclose()
    if resp.status_code != 201:
        raise BackendError(
            f"finish upload {dst_repo}@{digest}: HTTP {resp.status_code} {resp.text[:200]}",
            resp.status_code,
        )
    return int(size or 0)


async def copy_manifest(
    src: Backend,
    src_repo: str,
    ref: str,
    dst: Backend,
    dst_repo: str,
    dst_refs: list[str],
    on_manifest: Any = None,
) -> tuple[bytes, str, str]:
    """Copy `src_repo:ref` (recursively for indexes, digests preserved) to `dst_repo`,
    putting the manifest under each of `dst_refs` (tags or its digest). Returns
    (bytes, media type, digest). `on_manifest(repo, data, media, digest)` is awaited for the
    top manifest and every child."""
    got = await src.manifest(src_repo, ref)
    if got is None:
        raise BackendError(f"{src_repo}:{ref} not found", 404)
    data, media, digest = got
    doc = json.loads(data)
    if media in INDEX_TYPES or "manifests" in doc:
        for child in doc.get("manifests") or []:
            await copy_manifest(
                src, src_repo, child["digest"], dst, dst_repo, [child["digest"]], on_manifest
            )
    else:
        for desc in [doc.get("config"), *(doc.get("layers") or [])]:
            if desc:
                await copy_blob(src, src_repo, dst, dst_repo, desc)
    for target in dst_refs or [digest]:
        await dst.put_manifest(dst_repo, target, data, media)
    if on_manifest is not None:
        await on_manifest(dst_repo, data, media, digest)
    return data, media, digest


def is_index(data: bytes, media: str) -> bool:
    """Whether a manifest is an index / manifest list."""
    if media in INDEX_TYPES:
        return True
    try:
        return "manifests" in json.loads(data)
    except ValueError:
        return False
