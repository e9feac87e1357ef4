"""HTTP calls per 1,000 manifests on the ACR data plane: the SDK's own auth vs our token cache.

Runs against the local stand-in (real azure-containerregistry, unmodified, over HTTPS):

    uv run python benchmarks/bench_acr_token_cache.py [--manifests 1000]

It pushes N distinct manifests into one source repository (if not there yet), then does the two
things the migration does on the data plane, once with the SDK's auth policy and once with
``TokenCachingPolicy``: the inventory (one paged listing) and a per-image confirmation
(``get_manifest_properties`` by digest, as acr-import does after each import). Prints requests
per 1,000 manifests and the ratio.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from acr_migrate.azure.clients import RequestCounter, data_plane_client
from acr_migrate.azure.credentials import tenant_credential, transport_options
from acr_migrate.azure.inventory import AcrInventory
from acr_migrate.settings import load_config
from sandbox import api
from sandbox.oci_push import RegistryClient, build_image, make_layer

REPO = "bench/token-cache"


def ensure_manifests(config_path: Path, count: int) -> None:
    # Through the source's data plane, so the stand-in indexes every manifest it lists.
    source, _ = api.endpoints(config_path)
    layer = make_layer({"bench": b"x" * 1024})
    with RegistryClient(source) as client:
        have = set(client.tags(REPO)) if client.blob_exists(REPO, layer.blob.digest) else set()
        for n in range(count):
            tag = f"t{n:05d}"
            if tag in have:
                continue
            image = build_image([layer], labels={"n": str(n)})
            client.push_image(REPO, image, [tag])


def measure(config_path: Path, cache_tokens: bool) -> dict[str, float]:
    cfg = load_config(config_path)
    endpoint = cfg.source
    assert endpoint.azure is not None
    credential = tenant_credential(endpoint.azure.identity, ca_bundle=endpoint.ca_bundle)
    counter = RequestCounter(**transport_options(endpoint.ca_bundle))
    client = data_plane_client(
        endpoint.url,
        credential,
        ca_bundle=endpoint.ca_bundle,
        cache_tokens=cache_tokens,
        counter=counter,
    )
    started = time.perf_counter()
    rows = list(AcrInventory(client, endpoint.login_server, workers=1).images([REPO]))
    inventory_calls = counter.counts.get("total", 0)
    inventory_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for row in rows:
        client.get_manifest_properties(REPO, row.digest)
    confirm_calls = counter.counts.get("total", 0) - inventory_calls
    confirm_seconds = time.perf_counter() - started
    per = 1000.0 / max(1, len(rows))
    return {
        "manifests": len(rows),
        "inventory_calls_per_1000": inventory_calls * per,
        "confirm_calls_per_1000": confirm_calls * per,
        "inventory_s": inventory_seconds,
        "confirm_s": confirm_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--manifests", type=int, default=1000)
    parser.add_argument("--config", type=Path, help="an already running sandbox's config")
    args = parser.parse_args()
    root = None
    config = args.config
    if config is None:
        root = Path(tempfile.mkdtemp(prefix="bench-acr-"))
        config = api.up(root)
    try:
        ensure_manifests(config, args.manifests)
        before = measure(config, cache_tokens=False)
        after = measure(config, cache_tokens=True)
    finally:
        if root is not None:
            api.down(root)
    print(f"manifests listed: {before['manifests']:.0f}")
    print(f"{'':28} {'SDK auth':>10} {'cached':>10} {'ratio':>7}")
    for key in ("inventory_calls_per_1000", "confirm_calls_per_1000", "inventory_s", "confirm_s"):
        ratio = before[key] / after[key] if after[key] else float("inf")
        print(f"{key:28} {before[key]:10.1f} {after[key]:10.1f} {ratio:7.2f}")
    print(json.dumps({"before": before, "after": after}))


if __name__ == "__main__":
    main()
