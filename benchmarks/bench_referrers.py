"""What referrers cost: export and import of images with and without signatures, SBOMs and
attestations, on the sandbox.

    uv run python benchmarks/bench_referrers.py [--images 40]

Starts the sandbox (``sandbox.api.up``) in a temporary root and a Prefect test server, and
pushes two sets of ``--images`` images into the source: ``plain`` (one small layer each) and
``signed`` (the same kind of image, each with an SBOM, a signature and a provenance attestation
that name it as their ``subject``, a signature of the SBOM, and a cosign signature under
``sha256-<hex>.sig``: five referrers, as ``tests.helpers.referrer_graph`` builds them). For each
of the sandbox's two configurations, the ACR stand-in (``acr-migrate.toml``: the OCI 1.1
referrers API) and the plain CNCF registry (``oci.toml``: no referrers API, so the tag schema
``sha256-<hex>`` is listed instead), and each set:

- **export**: the ``source-export`` flow over the set (``include``), its seconds, and the HTTP
  requests of its inventory (an httpx request hook on the inventory's client, as in
  ``bench_scale.py``; the ACR inventory lists through the data plane SDK, so its requests are
  not counted);
- **import**: the ``target-import`` flow (oci-copy, concurrency 8) of that export into the
  target, its seconds, the images and referrers it reports.

Prints per image: export seconds and requests, import seconds, and the ratio signed / plain.
Fails (non-zero) if an import fails an image or the referrers copied are not 5 per signed image.
Writes ``benchmarks/results/referrers-<date>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="bench-referrers-prefect-"))

from bench_scale import InventoryProbe  # noqa: E402
from bench_throttled_import import export, machine, provision  # noqa: E402

from acr_migrate.settings import EngineName, ExportOptions, MigrationConfig, load_config  # noqa: E402
from sandbox import api  # noqa: E402
from sandbox.oci_push import build_image, make_layer, push_image  # noqa: E402
from tests.helpers import push_endpoint, push_referrer_graph, referrer_graph  # noqa: E402

REFERRERS_PER_IMAGE = 5


def push_sets(cfg: MigrationConfig, prefix: str, images: int) -> None:
    endpoint = push_endpoint(cfg.source)

    def plain(n: int) -> None:
        image = build_image([make_layer({"app": f"{prefix} plain {n}".encode() * 200})])
        push_image(endpoint, f"{prefix}-plain/app{n}", ["v1"], image)

    def signed(n: int) -> None:
        push_referrer_graph(endpoint, f"{prefix}-signed/app{n}", referrer_graph(f"{prefix}-{n}"))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(plain, range(images)))
        list(pool.map(signed, range(images)))


def _install(probe: InventoryProbe) -> None:
    """Count the requests of the export's inventory when it is the OCI one (the ACR inventory
    lists through the data-plane SDK: not counted)."""
    from acr_migrate.oci.inventory import OciInventory
    from acr_migrate.registry import Registry

    original = Registry.inventory

    def inventory(registry: Registry, **options: Any) -> Any:
        opened = original(registry, **options)
        if isinstance(opened, OciInventory):
            probe.wrap(opened)
        return opened

    Registry.inventory = inventory  # type: ignore[method-assign,assignment]


def measure(cfg: MigrationConfig, name: str, images: int) -> dict[str, Any]:
    from flows.source_export import source_export
    from flows.target_import import target_import

    probe = InventoryProbe()
    _install(probe)
    started = time.perf_counter()
    state = source_export(
        cfg.source, cfg.storage, ExportOptions(include=[f"{name}/*"]), return_state=True
    )
    export_seconds = time.perf_counter() - started
    if not state.is_completed():
        raise SystemExit(f"export of {name} failed: {state.message}")
    exported: Any = state.result()
    options = cfg.migration.model_copy(update={"engine": EngineName.OCI_COPY, "concurrency": 8})
    started = time.perf_counter()
    run: Any = target_import(
        cfg.source, cfg.target, cfg.storage, exported.location, options, return_state=True
    )
    import_seconds = time.perf_counter() - started
    summary = run.result(raise_on_failure=False)
    if summary is None:
        raise SystemExit(f"import of {name} did not run: {run.message}")
    requests = sum(probe.kinds.values()) if probe.opened else None
    return {
        "set": name,
        "images": images,
        "export_seconds": round(export_seconds, 2),
        "export_rows": exported.rows,
        "export_referrers": exported.referrers,
        "inventory_requests": requests,
        "inventory_by_kind": dict(probe.kinds),
        "import_seconds": round(import_seconds, 2),
        "imported": summary.results.get("imported", 0),
        "failed": summary.results.get("failed", 0),
        "referrers": summary.referrers,
        "state": run.type.value,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=40)
    args = parser.parse_args()

    from prefect.testing.utilities import prefect_test_harness

    from acr_migrate.registry import Registry

    original_inventory = Registry.inventory
    root = Path(tempfile.mkdtemp(prefix="bench-referrers-"))
    config_path = api.up(root)
    records = []
    try:
        configs = {
            "acr": load_config(config_path),
            "oci": load_config(root / api.OCI_CONFIG_NAME),
        }
        with prefect_test_harness(server_startup_timeout=600):
            for kind, cfg in configs.items():
                prefix = f"ref{uuid.uuid4().hex[:6]}"
                push_sets(cfg, prefix, args.images)
                if cfg.target.azure is not None:  # the target ACR is created as a migration does
                    provision(cfg, export(cfg, f"{prefix}-plain"))
                for flavour in ("plain", "signed"):
                    Registry.inventory = original_inventory  # type: ignore[method-assign]
                    record = measure(cfg, f"{prefix}-{flavour}", args.images)
                    record.update(config=kind, flavour=flavour)
                    records.append(record)
                    print(
                        f"{kind:>3} {flavour:>6}: export {record['export_seconds']:6.2f} s, "
                        f"{record['inventory_requests']} inventory requests; import "
                        f"{record['import_seconds']:6.2f} s, {record['imported']} images, "
                        f"{record['referrers']} referrers, {record['failed']} failed",
                        flush=True,
                    )
    finally:
        Registry.inventory = original_inventory  # type: ignore[method-assign]
        api.down(root)
    ratios = {}
    for kind in ("acr", "oci"):
        plain, signed = (
            next(r for r in records if r["config"] == kind and r["flavour"] == f)
            for f in ("plain", "signed")
        )
        ratios[kind] = {
            "export": round(signed["export_seconds"] / plain["export_seconds"], 2),
            "import": round(signed["import_seconds"] / plain["import_seconds"], 2),
        }
        print(
            f"{kind}: with {REFERRERS_PER_IMAGE} referrers an image, export "
            f"{ratios[kind]['export']}x, import {ratios[kind]['import']}x the plain images'"
        )
    out = {
        "benchmark": "referrers",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        "images_per_set": args.images,
        "records": records,
        "ratios_signed_over_plain": ratios,
    }
    path = BENCH / "results" / f"referrers-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"raw figures: {path.relative_to(REPO)}")
    problems = [
        f"{r['config']} {r['flavour']}: {r['failed']} failed, {r['imported']} imported"
        for r in records
        if r["failed"] or r["imported"] != args.images
    ]
    problems += [
        f"{r['config']} signed: {r['referrers']} referrers, expected "
        f"{REFERRERS_PER_IMAGE * args.images}"
        for r in records
        if r["flavour"] == "signed" and r["referrers"] != REFERRERS_PER_IMAGE * args.images
    ]
    if problems:
        raise SystemExit("; ".join(problems))


if __name__ == "__main__":
    main()
