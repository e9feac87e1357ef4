"""oci-copy and the OCI inventory against real distribution registries (basic + token auth)."""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Callable

import pytest

from acr_migrate.models import ImportItem, ImportStatus, RegistryEndpoint
from acr_migrate.oci.client import RegistryClient
from acr_migrate.oci.copy import OciCopyEngine, TagConflictError
from acr_migrate.oci.inventory import OciInventory
from acr_migrate.settings import MigrationConfig
from sandbox.fault_proxy import FaultProxy
from sandbox.oci_push import Image, build_image, build_index, make_layer, push_image
from tests.helpers import push_endpoint, uid

pytestmark = pytest.mark.integration


def layer(name: str, size: int = 2048, seed: str = ""):
    return make_layer(
        {f"data/{name}": (seed or name).encode() * (size // max(1, len(seed or name)))}
    )


def engine(source: RegistryEndpoint, target: RegistryEndpoint) -> OciCopyEngine:
    return OciCopyEngine(RegistryClient(source), RegistryClient(target))


def item_of(repo: str, image: Image, *tags: str, target_repository: str = "") -> ImportItem:
    return ImportItem(
        repository=repo,
        digest=image.digest,
        tags=tags,
        media_type=image.media_type,
        size_bytes=image.size,
        target_repository=target_repository,
    )


def test_copy_image_then_second_run_moves_no_bytes(migration_config: MigrationConfig) -> None:
    src, dst = migration_config.source, migration_config.target
    repo = f"it/{uid()}/single"
    image = build_image([layer("a", 4096), layer("b", 8192)])
    push_image(push_endpoint(src), repo, ["v1"], image)

    eng = engine(src, dst)
    first = eng.import_image(item_of(repo, image, "v1"))
    assert first.status is ImportStatus.IMPORTED
    assert first.blobs_sent == 3  # config + two layers
    assert first.bytes_sent == sum(b.size for b in image.blobs)
    head = RegistryClient(dst).head_manifest(repo, "v1")
    assert head is not None and head.digest == image.digest
    assert eng.target.auth.token_requests > 0, "target must have been reached with bearer tokens"

    second = engine(src, dst).import_image(item_of(repo, image, "v1"))
    assert second.status is ImportStatus.SKIPPED
    assert second.bytes_sent == 0 and second.blobs_sent == 0


def test_copy_index_with_two_platforms(migration_config: MigrationConfig) -> None:
    src, dst = migration_config.source, migration_config.target
    repo = f"it/{uid()}/multi"
    amd = build_image([layer("amd64")], architecture="amd64")
    arm = build_image([layer("arm64")], architecture="arm64", variant="v8")
    index = build_index([amd, arm])
    push_image(push_endpoint(src), repo, ["1.0"], index)

    result = engine(src, dst).import_image(item_of(repo, index, "1.0"))
    assert result.status is ImportStatus.IMPORTED
    target = RegistryClient(dst)
    assert target.head_manifest(repo, "1.0").digest == index.digest  # type: ignore[union-attr]
    for child in (amd, arm):
        head = target.head_manifest(repo, child.digest)
        assert head is not None and head.digest == child.digest
    rows = list(OciInventory(target).images([repo]))
    assert [(r.tag, r.digest, r.platforms) for r in rows] == [
        ("1.0", index.digest, "linux/amd64;linux/arm64/v8")
    ]


def test_tag_set_sharing_one_digest_is_one_import(migration_config: MigrationConfig) -> None:
    src, dst = migration_config.source, migration_config.target
    repo = f"it/{uid()}/tags"
    image = build_image([layer("tags")], media="docker")
    tags = ("1.0", "1.0.3", "latest")
    push_image(push_endpoint(src), repo, tags, image)

    result = engine(src, dst).import_image(item_of(repo, image, *tags))
    assert result.status is ImportStatus.IMPORTED
    target = RegistryClient(dst)
    assert sorted(target.tags(repo)) == sorted(tags)
    assert {target.head_manifest(repo, t).digest for t in tags} == {image.digest}  # type: ignore[union-attr]


def test_layers_already_in_target_are_not_sent_again(
    migration_config: MigrationConfig, fault_proxy: Callable[..., FaultProxy]
) -> None:
    src, dst = migration_config.source, migration_config.target
    repo = f"it/{uid()}/shared"
    base = [layer("base-1", 65536), layer("base-2", 32768)]
    old = build_image(base)
    new = build_image([*base, layer("app", 1024)])
    push_image(push_endpoint(src), repo, ["new"], new)
    push_image(push_endpoint(dst), repo, ["old"], old)  # the target already holds the base

    proxy = fault_proxy(dst.url, methods=["PATCH"])  # no faults: it counts blob uploads
    via_proxy = dst.model_copy(update={"url": proxy.url})
    result = engine(src, via_proxy).import_image(item_of(repo, new, "new"))
    uploads = proxy.counters["requests_matched"]
    assert result.blobs_skipped == 2
    assert result.blobs_sent == 2  # the new config and the app layer
    assert uploads == 2, "only two blob bodies may cross the wire"
    assert result.bytes_sent == new.blobs[0].size + new.blobs[-1].size


def test_cross_repository_mount_within_one_registry(migration_config: MigrationConfig) -> None:
    dst = migration_config.target
    repo = f"it/{uid()}/origin"
    image = build_image([layer("mount-me", 16384)])
    push_image(push_endpoint(dst), repo, ["v1"], image)

    result = engine(dst, dst).import_image(
        item_of(repo, image, "v1", target_repository=f"{repo}-copy")
    )
    assert result.status is ImportStatus.IMPORTED
    assert result.blobs_mounted == 2 and result.bytes_sent == 0
    head = RegistryClient(dst).head_manifest(f"{repo}-copy", "v1")
    assert head is not None and head.digest == image.digest


def test_blob_landed_in_a_sibling_repository_is_mounted(migration_config: MigrationConfig) -> None:
    src, dst = migration_config.source, migration_config.target
    base = layer("sibling-base", 65536)
    one, two = build_image([base, layer("one")]), build_image([base, layer("two")])
    prefix = f"it/{uid()}"
    push_image(push_endpoint(src), f"{prefix}/one", ["v1"], one)
    push_image(push_endpoint(src), f"{prefix}/two", ["v1"], two)
    eng = engine(src, dst)
    eng.import_image(item_of(f"{prefix}/one", one, "v1"))
    second = eng.import_image(item_of(f"{prefix}/two", two, "v1"))
    assert second.blobs_mounted == 1
    assert second.bytes_sent == sum(b.size for b in two.blobs) - base.blob.size


def test_conflicting_tag_needs_force(migration_config: MigrationConfig) -> None:
    src, dst = migration_config.source, migration_config.target
    repo = f"it/{uid()}/conflict"
    mine, theirs = build_image([layer("mine")]), build_image([layer("theirs")])
    push_image(push_endpoint(src), repo, ["v1"], mine)
    push_image(push_endpoint(dst), repo, ["v1"], theirs)
    with pytest.raises(TagConflictError, match=f"{repo}:v1 exists in the target"):
        engine(src, dst).import_image(item_of(repo, mine, "v1"))
    assert RegistryClient(dst).head_manifest(repo, "v1").digest == theirs.digest  # type: ignore[union-attr]
    engine(src, dst).import_image(item_of(repo, mine, "v1"), force=True)
    assert RegistryClient(dst).head_manifest(repo, "v1").digest == mine.digest  # type: ignore[union-attr]


def test_large_layer_is_streamed_not_held_in_memory(migration_config: MigrationConfig) -> None:
    src, dst = migration_config.source, migration_config.target
    repo = f"it/{uid()}/large"
    big = make_layer({"blob.bin": os.urandom(24 * 1024 * 1024)})
    image = build_image([big])
    push_image(push_endpoint(src), repo, ["v1"], image)
    eng = engine(src, dst)
    tracemalloc.start()
    try:
        result = eng.import_image(item_of(repo, image, "v1"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.bytes_sent >= 24 * 1024 * 1024
    assert peak < 8 * 1024 * 1024, f"peak Python memory {peak} bytes: the layer was buffered"


def test_catalog_pagination_follows_link_headers(migration_config: MigrationConfig) -> None:
    src = migration_config.source
    prefix = f"it/{uid()}/page"
    image = build_image([layer("page")])
    for n in range(5):
        push_image(push_endpoint(src), f"{prefix}{n}", ["v1"], image)
    client = RegistryClient(src)
    names = list(client.catalog(page_size=2))
    # Every repository once, across pages (the registry's own order: "a/x" may come before
    # "a-b/x", unlike Python's sort, so only our repositories' relative order is checked).
    assert len(names) == len(set(names))
    ours = [name for name in names if name.startswith(prefix)]
    assert ours == [f"{prefix}{n}" for n in range(5)]
    assert client.requests >= len(names) // 2, "expected one request per page of two"
    inventory = OciInventory(client, page_size=2)
    rows = list(inventory.images([f"{prefix}{n}" for n in range(5)]))
    assert len(rows) == 5 and {r.digest for r in rows} == {image.digest}
    assert "untagged manifests are not listed" in inventory.notes[0]
