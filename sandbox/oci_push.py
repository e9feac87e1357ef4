"""Build OCI / Docker v2 images in memory and push them over the distribution API (httpx).

Deterministic: the same inputs give the same bytes, hence the same digests. Handles registry
auth by challenge: HTTP Basic (source) and bearer tokens from a token realm (target).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import re
import ssl
import tarfile
import threading
import time
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"  # image-spec v1.1: the empty config "{}"
COSIGN_SIG_ARTIFACT = "application/vnd.dev.cosign.artifact.sig.v1+json"
COSIGN_SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SPDX_JSON = "application/spdx+json"
MANIFEST_MEDIA_TYPES = (OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST)
ACCEPT_MANIFESTS = ", ".join(MANIFEST_MEDIA_TYPES)

FIXED_MTIME = 1_700_000_000  # 2023-11-14T22:13:20Z, for reproducible tars
FIXED_CREATED = "2023-11-14T22:13:20Z"
RETRY_STATUSES = (429, 502, 503, 504)


class RegistryError(RuntimeError):
    """A registry request failed; carries the status and the registry's error body."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Blob:
    """Content-addressed bytes (layer or config) with the media type a manifest gives them."""

    data: bytes
    media_type: str

    @property
    def digest(self) -> str:
        return sha256_digest(self.data)

    @property
    def size(self) -> int:
        return len(self.data)

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class Layer:
    """A gzip'd tar layer and the sha256 of its uncompressed tar (the config's diff_id)."""

    blob: Blob
    diff_id: str


@dataclass(frozen=True)
class Image:
    """A manifest (image or index), the blobs it references, and child manifests (indexes).

    `platform` is set for platform-specific children of an index.
    """

    manifest: bytes
    media_type: str
    blobs: tuple[Blob, ...] = ()
    children: tuple[Image, ...] = ()
    platform: Mapping[str, str] | None = None

    @property
    def digest(self) -> str:
        return sha256_digest(self.manifest)

    @property
    def size(self) -> int:
        return len(self.manifest)

    @property
    def is_index(self) -> bool:
        return self.media_type in (OCI_INDEX, DOCKER_LIST)

    def platforms(self) -> list[str]:
        """``os/arch[/variant]`` of each child (indexes) or of the image itself."""
        plats = [c.platform for c in self.children] if self.is_index else [self.platform]
        return [
            "/".join(p[k] for k in ("os", "architecture", "variant") if p.get(k))
            for p in plats
            if p
        ]


def make_layer(files: Mapping[str, bytes], media: str = "oci") -> Layer:
    """A reproducible gzip'd tar of `files` (path -> content), parent dirs included."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        dirs: set[str] = set()
        for path in sorted(files):
            parts = path.strip("/").split("/")
            for i in range(1, len(parts)):
                dirs.add("/".join(parts[:i]))
        entries = [(d, None) for d in dirs] + [(p.strip("/"), files[p]) for p in files]
        for name, content in sorted(entries, key=lambda e: e[0]):
            info = tarfile.TarInfo(name)
            info.mtime = FIXED_MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if content is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.mode = 0o644
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    tar_bytes = raw.getvalue()
    gz = gzip.compress(tar_bytes, compresslevel=6, mtime=0)
    media_type = OCI_LAYER_GZIP if media == "oci" else DOCKER_LAYER_GZIP
    return Layer(blob=Blob(gz, media_type), diff_id=sha256_digest(tar_bytes))


def build_image(
    layers: Sequence[Layer],
    *,
    os: str = "linux",
    architecture: str = "amd64",
    variant: str | None = None,
    media: str = "oci",
    labels: Mapping[str, str] | None = None,
    cmd: Sequence[str] = ("/bin/sh",),
) -> Image:
    """A single-platform image: config JSON (os/architecture/rootfs.diff_ids) + manifest.

    `media` is ``"oci"`` (OCI manifest) or ``"docker"`` (Docker v2 schema 2).
    """
    if media not in ("oci", "docker"):
        raise ValueError(f"media must be 'oci' or 'docker', not {media!r}")
    config: dict[str, Any] = {
        "architecture": architecture,
        "os": os,
        "created": FIXED_CREATED,
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": list(cmd),
            "Labels": dict(labels or {}),
        },
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [
            {"created": FIXED_CREATED, "created_by": f"sandbox seed layer {i}"}
            for i in range(len(layers))
        ],
    }
    if variant:
        config["variant"] = variant
    config_blob = Blob(canonical_json(config), OCI_CONFIG if media == "oci" else DOCKER_CONFIG)
    layer_type = OCI_LAYER_GZIP if media == "oci" else DOCKER_LAYER_GZIP
    layer_blobs = [Blob(layer.blob.data, layer_type) for layer in layers]
    manifest_type = OCI_MANIFEST if media == "oci" else DOCKER_MANIFEST
    manifest = {
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": config_blob.descriptor(),
        "layers": [b.descriptor() for b in layer_blobs],
    }
    platform = {"architecture": architecture, "os": os}
    if variant:
        platform["variant"] = variant
    return Image(
        manifest=canonical_json(manifest),
        media_type=manifest_type,
        blobs=(config_blob, *layer_blobs),
        platform=platform,
    )


def build_index(
    children: Sequence[Image], media: str = "oci", annotations: Mapping[str, str] | None = None
) -> Image:
    """A multi-platform index (OCI image index, or Docker manifest list with media="docker")."""
    index_type = OCI_INDEX if media == "oci" else DOCKER_LIST
    descriptors = []
    for child in children:
        if child.platform is None:
            raise ValueError("index children need a platform")
        descriptors.append(
            {
                "mediaType": child.media_type,
                "digest": child.digest,
                "size": child.size,
                "platform": dict(child.platform),
            }
        )
    body: dict[str, Any] = {"schemaVersion": 2, "mediaType": index_type, "manifests": descriptors}
    if annotations and media == "oci":
        body["annotations"] = dict(annotations)
    return Image(manifest=canonical_json(body), media_type=index_type, children=tuple(children))


def build_artifact(
    subject: Image,
    artifact_type: str,
    payload: bytes,
    payload_type: str,
    annotations: Mapping[str, str] | None = None,
) -> Image:
    """An OCI 1.1 artifact that refers to ``subject`` (a signature, an SBOM, an attestation):
    an image manifest with ``artifactType``, the empty config, one blob and ``subject``
    (image-spec v1.1 "Guidelines for artifact usage")."""
    empty = Blob(b"{}", OCI_EMPTY)
    blob = Blob(payload, payload_type)
    body: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": empty.descriptor(),
        "layers": [blob.descriptor()],
        "subject": {
            "mediaType": subject.media_type,
            "digest": subject.digest,
            "size": subject.size,
        },
    }
    if annotations:
        body["annotations"] = dict(annotations)
    return Image(manifest=canonical_json(body), media_type=OCI_MANIFEST, blobs=(empty, blob))


def cosign_tag(subject_digest: str, suffix: str = "sig") -> str:
    """cosign's tag for a signature (``sig``), attestation (``att``) or SBOM (``sbom``) of
    ``subject_digest``: ``sha256-<hex>.sig``."""
    return subject_digest.replace(":", "-") + "." + suffix


def build_cosign_signature(subject: Image, signer: str = "sandbox") -> Image:
    """A signature the way cosign stores it without OCI 1.1: an image manifest (no
    ``subject``) whose layer is the simple-signing payload, pushed under
    :func:`cosign_tag`."""
    payload = canonical_json(
        {
            "critical": {
                "identity": {"docker-reference": "sandbox"},
                "image": {"docker-manifest-digest": subject.digest},
                "type": "cosign container image signature",
            },
            "optional": {"signer": signer},
        }
    )
    config = Blob(canonical_json({"architecture": "", "os": "", "rootfs": {}}), OCI_CONFIG)
    layer = Blob(payload, COSIGN_SIMPLESIGNING)
    descriptor = {
        **layer.descriptor(),
        "annotations": {"dev.cosignproject.cosign/signature": "c2FuZGJveA=="},
    }
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.descriptor(),
        "layers": [descriptor],
    }
    return Image(manifest=canonical_json(body), media_type=OCI_MANIFEST, blobs=(config, layer))


# --------------------------------------------------------------------------- auth + client

_REPO_RE = re.compile(r"^/v2/(?P<name>.+?)/(?:blobs|manifests|tags|referrers)(?:/|$)")
_PARAM_RE = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Split a ``WWW-Authenticate`` header into (lower-case scheme, params)."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _PARAM_RE.finditer(rest)
    }
    return scheme.lower(), params


def _repo_of(path: str) -> str:
    m = _REPO_RE.match(path)
    return m.group("name") if m else path


class RegistryAuth(httpx.Auth):
    """Answers registry 401 challenges: Basic, or Bearer via the token realm (GET + Basic).

    Tokens are cached per repository and reused pre-emptively; a 401 fetches a fresh one.
    Synchronous clients only.
    """

    def __init__(self, username: str | None, password: str | None) -> None:
        self._username = username
        self._password = password
        self._basic: str | None = None
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    def _basic_header(self) -> str:
        raw = f"{self._username}:{self._password}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        key = _repo_of(request.url.path)
        with self._lock:
            cached = self._basic or (f"Bearer {self._tokens[key]}" if key in self._tokens else None)
        if cached and "authorization" not in request.headers:
            request.headers["Authorization"] = cached
        response = yield request
        if response.status_code != 401:
            return
        scheme, params = parse_challenge(response.headers.get("www-authenticate", ""))
        if scheme == "basic" and self._username is not None:
            with self._lock:
                self._basic = self._basic_header()
            request.headers["Authorization"] = self._basic
            yield request
        elif scheme == "bearer" and "realm" in params:
            query: list[tuple[str, Any]] = []
            if params.get("service"):
                query.append(("service", params["service"]))
            query += [("scope", s) for s in params.get("scope", "").split()]
            if self._username:
                query.append(("account", self._username))
            token_request = httpx.Request("GET", params["realm"], params=query)
            if self._username is not None:
                token_request.headers["Authorization"] = self._basic_header()
            token_response = yield token_request
            token_response.read()
            if token_response.status_code != 200:
                raise RegistryError(
                    f"token request to {params['realm']} failed: "
                    f"{token_response.status_code} {token_response.text[:200]}",
                    token_response.status_code,
                )
            body = token_response.json()
            token = body.get("token") or body.get("access_token")
            with self._lock:
                self._tokens[key] = token
            request.headers["Authorization"] = f"Bearer {token}"
            yield request


@dataclass
class Endpoint:
    """Where a registry is and how to log in. `url` is the base URL (``https://host:port``)."""

    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_bundle: Path | None = None
    verify: bool = True

    def ssl_verify(self) -> ssl.SSLContext | bool:
        if not self.verify:
            return False
        if self.ca_bundle is not None:
            return ssl.create_default_context(cafile=str(self.ca_bundle))
        return True


class RegistryClient:
    """A small synchronous distribution-API client for pushing (and reading back) images."""

    def __init__(self, endpoint: Endpoint, timeout: float = 60.0, retries: int = 4) -> None:
        self.endpoint = endpoint
        self.retries = retries
        self._client = httpx.Client(
            base_url=endpoint.url.rstrip("/"),
            verify=endpoint.ssl_verify(),
            auth=RegistryAuth(endpoint.username, endpoint.password),
            timeout=timeout,
            follow_redirects=False,
        )

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def request(self, method: str, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        """Send with retries on 429/5xx (honouring a small ``Retry-After``)."""
        for attempt in range(self.retries + 1):
            resp = self._client.request(method, url, **kwargs)
            if resp.status_code not in RETRY_STATUSES or attempt == self.retries:
                return resp
            try:
                delay = min(float(resp.headers.get("retry-after", "0.2")), 5.0)
            except ValueError:
                delay = 0.5
            time.sleep(max(delay, 0.05))
        raise AssertionError("unreachable")

    @staticmethod
    def _check(resp: httpx.Response, expected: Iterable[int], what: str) -> None:
        if resp.status_code not in tuple(expected):
            raise RegistryError(
                f"{what}: HTTP {resp.status_code} {resp.text[:300]}", resp.status_code
            )

    def ping(self) -> None:
        self._check(self.request("GET", "/v2/"), (200,), "GET /v2/")

    def blob_exists(self, repo: str, digest: str) -> bool:
        resp = self.request("HEAD", f"/v2/{repo}/blobs/{digest}")
        if resp.status_code == 404:
            return False
        self._check(resp, (200,), f"HEAD blob {repo}@{digest}")
        return True

    def push_blob(self, repo: str, blob: Blob, mount_from: str | None = None) -> str:
        """Upload `blob` unless present. Returns ``"exists"``, ``"mounted"`` or ``"uploaded"``."""
        if self.blob_exists(repo, blob.digest):
            return "exists"
        params = {"mount": blob.digest, "from": mount_from} if mount_from else None
        resp = self.request(
            "POST", f"/v2/{repo}/blobs/uploads/", params=params, headers={"Content-Length": "0"}
        )
        if resp.status_code == 201:
            return "mounted"
        self._check(resp, (202,), f"start upload {repo}")
        location = self._client.base_url.join(resp.headers["location"])
        # Merge (not replace) the session's query string with the digest.
        put_url = location.copy_merge_params({"digest": blob.digest})
        resp = self.request(
            "PUT",
            put_url,
            content=blob.data,
            headers={"Content-Type": "application/octet-stream"},
        )
        self._check(resp, (201,), f"finish upload {repo}@{blob.digest}")
        return "uploaded"

    def push_manifest(self, repo: str, reference: str, data: bytes, media_type: str) -> str:
        """PUT a manifest by tag or digest; returns the digest the registry reports."""
        resp = self.request(
            "PUT",
            f"/v2/{repo}/manifests/{reference}",
            content=data,
            headers={"Content-Type": media_type},
        )
        self._check(resp, (201,), f"PUT manifest {repo}:{reference}")
        digest = resp.headers.get("docker-content-digest") or sha256_digest(data)
        if digest != sha256_digest(data):
            raise RegistryError(f"registry digest {digest} != local {sha256_digest(data)}")
        return digest

    def get_manifest(self, repo: str, reference: str) -> tuple[bytes, str, str]:
        """GET a manifest: (bytes, media type, digest)."""
        resp = self.request(
            "GET", f"/v2/{repo}/manifests/{reference}", headers={"Accept": ACCEPT_MANIFESTS}
        )
        self._check(resp, (200,), f"GET manifest {repo}:{reference}")
        media_type = resp.headers.get("content-type", "").split(";")[0]
        return resp.content, media_type, sha256_digest(resp.content)

    def tags(self, repo: str) -> list[str]:
        resp = self.request("GET", f"/v2/{repo}/tags/list")
        self._check(resp, (200,), f"GET tags {repo}")
        return list(resp.json().get("tags") or [])

    def push_image(
        self,
        repo: str,
        image: Image,
        tags: Sequence[str] = (),
        mount_from: Mapping[str, str] | None = None,
    ) -> str:
        """Push blobs, children (for indexes), then the manifest by digest and each tag.

        `mount_from` maps blob digest -> repository to cross-repo mount from.
        Returns the manifest digest.
        """
        mounts = mount_from or {}
        for child in image.children:
            self.push_image(repo, child, (), mounts)
        for blob in image.blobs:
            self.push_blob(repo, blob, mounts.get(blob.digest))
        digest = self.push_manifest(repo, image.digest, image.manifest, image.media_type)
        for tag in tags:
            self.push_manifest(repo, tag, image.manifest, image.media_type)
        return digest

    def push_referrer(self, repo: str, artifact: Image) -> str:
        """See :func:`push_referrer`."""
        document = json.loads(artifact.manifest)
        subject = document["subject"]["digest"]
        for blob in artifact.blobs:
            self.push_blob(repo, blob)
        resp = self.request(
            "PUT",
            f"/v2/{repo}/manifests/{artifact.digest}",
            content=artifact.manifest,
            headers={"Content-Type": artifact.media_type},
        )
        self._check(resp, (201,), f"PUT referrer {repo}@{artifact.digest}")
        if resp.headers.get("oci-subject") == subject:
            return artifact.digest
        tag = subject.replace(":", "-")
        got = self.request("GET", f"/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_INDEX})
        if got.status_code == 404:
            index: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
        else:
            self._check(got, (200,), f"GET referrers tag {repo}:{tag}")
            index = got.json()
        if all(d.get("digest") != artifact.digest for d in index["manifests"]):
            entry = {
                "mediaType": artifact.media_type,
                "digest": artifact.digest,
                "size": artifact.size,
                "artifactType": document.get("artifactType")
                or document.get("config", {}).get("mediaType"),
            }
            if document.get("annotations"):
                entry["annotations"] = document["annotations"]
            index["manifests"].append(entry)
            self.push_manifest(repo, tag, canonical_json(index), OCI_INDEX)
        return artifact.digest


def push_referrer(endpoint: Endpoint, repo: str, artifact: Image) -> str:
    """Push an artifact with a ``subject`` as oras and cosign do: blobs, then the manifest by
    digest; when the registry does not answer ``OCI-Subject`` (no referrers API), add it to
    the referrers tag schema's index (``sha256-<hex>`` of the subject), as the distribution
    spec v1.1 ("Pushing Manifests with Subject") tells a client to."""
    with RegistryClient(endpoint) as client:
        return client.push_referrer(repo, artifact)


def push_image(
    endpoint: Endpoint,
    repo: str,
    tags: Sequence[str],
    image: Image,
    mount_from: Mapping[str, str] | None = None,
) -> str:
    """Push one image (or index with its children) to `endpoint`; returns its digest."""
    with RegistryClient(endpoint) as client:
        return client.push_image(repo, image, tags, mount_from)
