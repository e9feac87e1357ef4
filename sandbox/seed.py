"""Seed the sandbox source registry with a deterministic catalogue of real images.

Same `images` count and `seed` -> same repositories, tags and digests on every run.
The catalogue covers: nested repository names, several tags per digest, an OCI image index
(linux/amd64 + linux/arm64), a Docker manifest list, shared base layers across repositories,
one image with a multi-MiB layer, and one untagged manifest.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sandbox.oci_push import (
    Endpoint,
    Image,
    Layer,
    RegistryClient,
    build_image,
    build_index,
    make_layer,
)

DEFAULT_IMAGES = 36
MIN_IMAGES = 6

# (repository, base-layer family, media style) for the regular images, filled round-robin.
REPOSITORIES: tuple[tuple[str, str, str], ...] = (
    ("library/alpine", "alpine", "oci"),
    ("library/busybox", "alpine", "docker"),
    ("team-a/api", "alpine", "oci"),
    ("team-a/api/worker", "alpine", "docker"),
    ("team-b/web", "debian", "oci"),
    ("team-b/web/static", "debian", "docker"),
    ("tools/ci-runner", "debian", "oci"),
)


@dataclass
class SeedImage:
    """One top-level manifest of the catalogue, ready to push."""

    repository: str
    tags: list[str]
    image: Image
    note: str = ""


@dataclass
class SeededImage:
    """What was pushed: the summary row for one top-level manifest."""

    repository: str
    tags: list[str]
    digest: str
    media_type: str
    platforms: list[str] = field(default_factory=list)
    note: str = ""


@dataclass
class SeedSummary:
    """The seeded catalogue: registry URL and one row per top-level manifest."""

    registry: str
    images: list[SeededImage]

    @property
    def repositories(self) -> list[str]:
        return sorted({i.repository for i in self.images})

    @property
    def tagged(self) -> list[SeededImage]:
        return [i for i in self.images if i.tags]

    def tag_count(self) -> int:
        return sum(len(i.tags) for i in self.images)

    def digest_of(self, repository: str, tag: str) -> str:
        for image in self.images:
            if image.repository == repository and tag in image.tags:
                return image.digest
        raise KeyError(f"{repository}:{tag} was not seeded")

    def to_dict(self) -> dict[str, Any]:
        return {
            "registry": self.registry,
            "repositories": self.repositories,
            "image_count": len(self.images),
            "tagged_image_count": len(self.tagged),
            "tag_count": self.tag_count(),
            "images": [asdict(i) for i in self.images],
        }

    def format(self) -> str:
        """Human-readable table (no secrets)."""
        lines = [
            f"seeded {len(self.images)} manifests ({len(self.tagged)} tagged, "
            f"{self.tag_count()} tags) in {len(self.repositories)} repositories of {self.registry}"
        ]
        for i in sorted(self.images, key=lambda x: (x.repository, x.tags)):
            tags = ",".join(i.tags) or "<untagged>"
            extra = f"  [{';'.join(i.platforms)}]" if len(i.platforms) > 1 else ""
            lines.append(f"  {i.repository}:{tags}  {i.digest[:19]}  {i.media_type}{extra}")
        return "\n".join(lines)


def _bytes(rng: random.Random, size: int) -> bytes:
    return rng.randbytes(size)


class _Layers:
    """Deterministic layers; base layers are cached so images share them byte for byte."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._cache: dict[str, Layer] = {}

    def base(self, family: str, arch: str = "amd64") -> Layer:
        key = f"base-{family}-{arch}"
        if key not in self._cache:
            rng = random.Random(f"{self.seed}:{key}")
            files = {
                f"etc/{family}-release": f"{family} sandbox base ({arch})\n".encode(),
                f"usr/lib/{family}/libbase.so": _bytes(rng, 48 * 1024),
                f"usr/share/{family}/README": f"shared base layer {key}\n".encode(),
            }
            self._cache[key] = make_layer(files)
        return self._cache[key]

    def runtime(self, name: str) -> Layer:
        key = f"runtime-{name}"
        if key not in self._cache:
            rng = random.Random(f"{self.seed}:{key}")
            self._cache[key] = make_layer({f"opt/{name}/runtime.bin": _bytes(rng, 24 * 1024)})
        return self._cache[key]

    def app(self, repository: str, version: str, size: int = 4096) -> Layer:
        rng = random.Random(f"{self.seed}:app:{repository}:{version}")
        files = {
            f"app/{repository.replace('/', '-')}/VERSION": f"{repository} {version}\n".encode(),
            "app/payload.bin": _bytes(rng, size),
        }
        return make_layer(files)


def catalogue(images: int = DEFAULT_IMAGES, seed: int = 0) -> list[SeedImage]:
    """The deterministic list of top-level manifests to push (`images` of them, >= 6)."""
    if images < MIN_IMAGES:
        raise ValueError(f"images must be >= {MIN_IMAGES}")
    layers = _Layers(seed)
    out: list[SeedImage] = []

    # OCI image index, two platforms, tagged twice.
    children = [
        build_image(
            [layers.base("alpine", arch), layers.app("platform/multiarch", f"2.0-{arch}")],
            architecture=arch,
            variant=variant,
            labels={"org.opencontainers.image.version": "2.0"},
        )
        for arch, variant in (("amd64", None), ("arm64", "v8"))
    ]
    out.append(
        SeedImage("platform/multiarch", ["2.0", "latest"], build_index(children), "oci-index")
    )
    # Docker manifest list, two platforms.
    children = [
        build_image(
            [layers.base("debian", arch), layers.app("platform/legacy", f"0.9-{arch}")],
            architecture=arch,
            media="docker",
        )
        for arch in ("amd64", "arm64")
    ]
    out.append(
        SeedImage(
            "platform/legacy", ["0.9", "stable"], build_index(children, "docker"), "docker-list"
        )
    )
    # One big layer (4 MiB of incompressible data).
    out.append(
        SeedImage(
            "data/big",
            ["1.0"],
            build_image([layers.base("debian"), layers.app("data/big", "1.0", 4 * 1024 * 1024)]),
            "big-layer",
        )
    )
    # One untagged manifest (pushed by digest only).
    out.append(
        SeedImage(
            "team-a/api",
            [],
            build_image([layers.base("alpine"), layers.app("team-a/api", "0.9-untagged")]),
            "untagged",
        )
    )

    regular = images - len(out)
    per_repo: dict[str, list[int]] = {}
    for n in range(regular):
        repo = REPOSITORIES[n % len(REPOSITORIES)][0]
        per_repo.setdefault(repo, []).append(n)
    for repo, family, media in REPOSITORIES:
        indexes = per_repo.get(repo, [])
        for k, _ in enumerate(indexes):
            version = f"1.{k}"
            tags = [version, f"{version}.{k + 3}"]
            if k == len(indexes) - 1:
                tags.append("latest")
            stack = [layers.base(family)]
            if repo.startswith("team-a/"):
                stack.append(layers.runtime("team-a"))
            stack.append(layers.app(repo, version))
            image = build_image(
                stack, media=media, labels={"org.opencontainers.image.version": version}
            )
            out.append(SeedImage(repo, tags, image))
    return out


def _blob_sources(items: Sequence[SeedImage]) -> Iterator[tuple[SeedImage, dict[str, str]]]:
    """Yield each item with a digest -> repository map of blobs already pushed elsewhere."""
    first_repo: dict[str, str] = {}
    for item in items:
        images = [item.image, *item.image.children]
        mounts = {
            b.digest: first_repo[b.digest]
            for img in images
            for b in img.blobs
            if b.digest in first_repo and first_repo[b.digest] != item.repository
        }
        yield item, mounts
        for img in images:
            for b in img.blobs:
                first_repo.setdefault(b.digest, item.repository)


def seed_registry(endpoint: Endpoint, images: int = DEFAULT_IMAGES, seed: int = 0) -> SeedSummary:
    """Push the catalogue into `endpoint` (shared blobs are cross-repo mounted)."""
    items = catalogue(images, seed)
    pushed: list[SeededImage] = []
    with RegistryClient(endpoint) as client:
        client.ping()
        for item, mounts in _blob_sources(items):
            digest = client.push_image(item.repository, item.image, item.tags, mounts)
            pushed.append(
                SeededImage(
                    repository=item.repository,
                    tags=list(item.tags),
                    digest=digest,
                    media_type=item.image.media_type,
                    platforms=item.image.platforms(),
                    note=item.note,
                )
            )
    return SeedSummary(registry=endpoint.url, images=pushed)
