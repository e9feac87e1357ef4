"""Scale: the OCI inventory's HTTP calls and seconds per 1,000 manifests, and the peak memory
of ``acr-migrate import`` by manifest rows and by layer size, on the sandbox's own registries.

    uv run python benchmarks/bench_scale.py [--manifests 10000] [--repositories 100]
        [--layer-images 16] [--small-layer-mb 2] [--large-layer-mb 32]

Starts the sandbox (``sandbox.api.up``) in a temporary root on tmpfs (``/dev/shm``): its CNCF
distribution registries over TLS (the source with basic auth, the target with bearer tokens
from the sandbox's token server) and Azurite for the manifest hand-over; and a warm ``prefect
server start`` of its own (SQLite, the project's server settings, see
``bench_prefect_overhead.SERVER_ENV``). Seeding is not measured: ``--manifests`` distinct
manifests (one tag each, in ``--repositories`` repositories ``scale/r000`` ..., all sharing one
tiny config and layer) are written straight into the source registry's storage, in the layout
the registry writes on a push; the target gets the same but for the last tag of each
repository past the first ten, so the import has some images to copy.

- **Inventory** — ``acr-migrate export``'s flow (``source-export``, in a child process, with
  an ``include`` filter on the scale repositories) inventories the source through the port
  its ``inventory-registry`` task opens (``Registry.inventory()``: the OciInventory over
  ``/v2/_catalog``, ``tags/list``, a manifest GET per tag, referrers). That inventory's client
  gets an httpx request hook that counts every request it sends (401 challenges, token
  requests and redirects included), and a clock from its first call until ``images()`` is
  exhausted. Fails unless it finds exactly ``--manifests`` rows, each a distinct digest.
- **Import memory** — ``acr-migrate import -c <config>`` (the CLI the demo runs, from process
  start to exit, on the warm server: verify the manifest, read the target, plan, copy with
  oci-copy at concurrency 8, validate) in a child process that writes its own peak RSS
  (``VmHWM``) at exit. Each follows its own export, so its manifest holds exactly the rows
  named:

  - ``scale``: all ``--manifests`` rows (10,000); the target lacks 90 of them, copied;
  - ``small-layers`` and ``large-layers``: the first ten scale repositories (1,000 rows, all
    held by the target) plus ``--layer-images`` images of one random layer each,
    ``--small-layer-mb`` or ``--large-layer-mb`` MB, none held: the same run but for the size
    of what is copied. An engine that held a layer in memory would grow by up to concurrency x
    layer size (8 x 32 MB).

Fails (non-zero) when the inventory or an export finds another number of rows, or an import
exits non-zero (a failed image or a validation problem) or copies another number of images
than expected; and, after writing its figures, when the large layers raised the peak RSS by a
quarter or more of what holding one layer per concurrent copy would (``FLAT_SHARE``). With
``_copy_blob`` made to read each layer whole it did: +305 MB for 32 MB layers, where the
streaming copy grows by 10-15 MB. Prints the figures of this one run and writes them, with
the machine (CPU model, count, load average before and after), to
``benchmarks/results/scale-<date>.json``.
Not part of ``make test``; ``make bench`` runs it with the defaults.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

from children import child_result  # noqa: E402

SCALE = "scale"  # repositories scale/r000 ... of the many small manifests
SMALL, LARGE = "layers-small", "layers-large"
CONCURRENCY = 8  # the sandbox config's (oci.toml) images at once
FLAT_SHARE = 0.25  # peak RSS may grow by this share of "a layer held per copy" and be flat


# --- the children -------------------------------------------------------------------------------


def _kind(request: Any) -> str:
    """What a registry request asks for (for the per-kind counts)."""
    path = request.url.path
    if path.endswith("/_catalog"):
        return "catalog"
    if path.endswith("/tags/list"):
        return "tags/list"
    if "/manifests/" in path:
        return f"manifest {request.method}"
    if "/referrers/" in path:
        return "referrers"
    if "/blobs/uploads" in path:
        return f"blob upload {request.method}"
    if "/blobs/" in path:
        return f"blob {request.method}"
    if path.rstrip("/") == "/v2":
        return "ping"
    return "token" if not path.startswith("/v2/") else f"other {request.method}"


class InventoryProbe:
    """Counts and times the inventory the export makes (``Registry.inventory``, the port the
    ``inventory-registry`` task opens): an httpx request hook on its client sees every request
    it sends (401 challenges, token requests and redirects included); the clock runs from the
    first call into it until ``images()`` is exhausted."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.lock = threading.Lock()
        self.opened: list[Any] = []
        self.start: float | None = None
        self.seconds: float | None = None
        self.rows = 0
        self.digests: set[tuple[str, str]] = set()
        self.repositories = 0

    def install(self) -> None:
        from acr_migrate.oci.inventory import OciInventory
        from acr_migrate.registry import Registry

        original = Registry.inventory
        probe = self

        def inventory(registry: Registry, **options: Any) -> Any:
            opened = original(registry, **options)
            if not isinstance(opened, OciInventory):
                raise SystemExit("bench_scale measures the OCI inventory; the source is an ACR")
            probe.wrap(opened)
            return opened

        Registry.inventory = inventory  # type: ignore[method-assign,assignment]

    def wrap(self, inventory: Any) -> None:
        self.opened.append(inventory)

        def on_request(request: Any) -> None:
            with self.lock:
                self.kinds[_kind(request)] += 1

        def on_response(response: Any) -> None:
            with self.lock:
                self.statuses[response.status_code] += 1

        inventory.client.http.event_hooks = {"request": [on_request], "response": [on_response]}
        repositories, images = inventory.repositories, inventory.images

        def timed_repositories() -> list[str]:
            self.start = self.start or time.perf_counter()
            found = repositories()
            self.repositories = len(found)
            return list(found)

        def timed_images(names: Any = None) -> Any:
            self.start = self.start or time.perf_counter()
            for row in images(names):
                self.rows += 1
                self.digests.add((row.repository, row.digest))
                yield row
            self.seconds = time.perf_counter() - self.start

        inventory.repositories, inventory.images = timed_repositories, timed_images

    def figures(self) -> dict[str, Any]:
        if len(self.opened) != 1 or self.seconds is None:
            raise SystemExit(f"expected one inventory, read to its end; saw {len(self.opened)}")
        client = self.opened[0].client
        return {
            "rows": self.rows,
            "digests": len(self.digests),
            "repositories": self.repositories,
            "seconds": self.seconds,
            "http_calls": sum(self.kinds.values()),
            "by_kind": dict(self.kinds),
            "by_status": {str(k): v for k, v in sorted(self.statuses.items())},
            "client_requests": client.requests,
            "token_requests": client.auth.token_requests,
            "workers": self.opened[0].workers,
        }


def vm_hwm_mb() -> float:
    """This process's peak resident set since it started (``VmHWM``). Not ``ru_maxrss``: a
    child forked from a big parent inherits the parent's high-water mark in it across exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child_cli(spec: dict[str, Any]) -> None:
    """``acr-migrate`` itself (the console script's ``app``); at exit it writes its peak RSS and
    the HTTP requests its registry clients sent, by registry and kind."""
    import atexit

    from acr_migrate.cli import app
    from acr_migrate.oci.client import RegistryClient

    calls: Counter[str] = Counter()
    lock = threading.Lock()
    original = RegistryClient.__init__

    def init(client: RegistryClient, endpoint: Any, **options: Any) -> None:
        original(client, endpoint, **options)

        def on_request(request: Any) -> None:
            with lock:
                calls[f"{endpoint.name}: {_kind(request)}"] += 1

        client.http.event_hooks["request"].append(on_request)

    RegistryClient.__init__ = init  # type: ignore[method-assign,assignment]
    out = Path(spec["hwm_file"])
    atexit.register(
        lambda: out.write_text(json.dumps({"peak_rss_mb": vm_hwm_mb(), "http_calls": calls}))
    )
    sys.argv = ["acr-migrate", *spec["argv"]]
    app()


def child_export(spec: dict[str, Any]) -> dict[str, Any]:
    """The source-export flow (what ``acr-migrate export`` runs, here with the case's include
    filter, which the CLI's export has not), its inventory probed when ``spec["probe"]``."""
    from acr_migrate.settings import ExportOptions, load_config
    from flows.source_export import source_export

    probe = InventoryProbe()
    if spec.get("probe"):
        probe.install()
    cfg = load_config(Path(spec["config"]))
    start = time.perf_counter()
    state = source_export(
        source=cfg.source,
        storage=cfg.storage,
        options=ExportOptions(include=cfg.migration.include),
        return_state=True,
    )
    seconds = time.perf_counter() - start
    if not state.is_completed():
        raise SystemExit(f"export failed: {state.message}")
    summary: Any = state.result()
    out: dict[str, Any] = {"rows": summary.rows, "seconds": seconds, "peak_rss_mb": vm_hwm_mb()}
    if spec.get("probe"):
        out["inventory"] = probe.figures()
    return out


def run_child(kind: str, spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """This script run again as ``--child kind`` with ``spec``; the JSON its last line prints."""
    return child_result(__file__, kind, spec, env)


# --- seeding (not measured) ---------------------------------------------------------------------


def _endpoint(info: dict[str, Any], password: str, ca: Path) -> Any:
    from sandbox.oci_push import Endpoint

    return Endpoint(url=info["url"], username=info["username"], password=password, ca_bundle=ca)


def scale_manifests(manifests: int, repositories: int) -> tuple[Any, dict[str, list[bytes]]]:
    """The base image and, per repository, the distinct manifest bodies (one per tag)."""
    from sandbox.oci_push import build_image, canonical_json, make_layer

    image = build_image([make_layer({"scale.txt": b"scale\n"})], labels={"bench": "scale"})
    base = json.loads(image.manifest)
    per_repo: dict[str, list[bytes]] = {}
    for n in range(manifests):
        repository = f"{SCALE}/r{n % repositories:03d}"
        body = dict(base, annotations={"bench.n": str(n)})
        per_repo.setdefault(repository, []).append(canonical_json(body))
    return image, per_repo


def tag_of(n: int) -> str:
    return f"v{n:04d}"


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def seed_scale(
    data_dir: Path, image: Any, per_repo: dict[str, list[bytes]], missing: set[str]
) -> int:
    """Write the manifests straight into a stopped-or-running distribution registry's
    filesystem storage (the layout it writes itself on a push: blob data, the repository's
    layer and revision links, each tag's ``current`` and ``index`` links); the repositories
    in ``missing`` lack their last manifest. Returns manifests written. Pushing 20,000 manifests
    over HTTP took minutes on 2 cores; this takes seconds, and the inventory that follows
    reads every one back over HTTP, digest-checked."""
    from sandbox.oci_push import sha256_digest

    v2 = data_dir / "docker" / "registry" / "v2"

    def blob(data: bytes) -> str:
        digest = sha256_digest(data)
        hexa = digest.removeprefix("sha256:")
        path = v2 / "blobs" / "sha256" / hexa[:2] / hexa / "data"
        if not path.exists():
            _write(path, data)
        return digest

    for shared in image.blobs:
        blob(shared.data)

    def write(repository: str) -> int:
        home = v2 / "repositories" / repository
        for shared in image.blobs:
            _write(home / "_layers" / "sha256" / shared.digest[7:] / "link", shared.digest.encode())
        (home / "_uploads").mkdir(parents=True, exist_ok=True)
        bodies = per_repo[repository]
        bodies = bodies[:-1] if repository in missing else bodies
        for n, body in enumerate(bodies):
            digest = blob(body)
            link = digest.encode()
            manifests = home / "_manifests"
            _write(manifests / "revisions" / "sha256" / digest[7:] / "link", link)
            tag = manifests / "tags" / tag_of(n)
            _write(tag / "index" / "sha256" / digest[7:] / "link", link)
            _write(tag / "current" / "link", link)
        return len(bodies)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return sum(pool.map(write, sorted(per_repo)))


def seed_layers(endpoint: Any, repository: str, count: int, size: int, seed: str) -> None:
    """``count`` images (one per repository ``<repository>/app<n>``) of one random layer each."""
    from sandbox.oci_push import Blob, Layer, RegistryClient, build_image

    def push(n: int) -> None:
        data = random.Random(f"{seed}-{n}").randbytes(size)
        blob = Blob(data, "application/vnd.oci.image.layer.v1.tar")
        layer = Layer(blob=blob, diff_id=blob.digest)
        image = build_image([layer], labels={"bench": seed, "n": str(n)})
        with RegistryClient(endpoint, timeout=300) as client:
            client.push_image(f"{repository}/app{n}", image, ["v1"])

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(push, range(count)))


# --- the import, measured -----------------------------------------------------------------------


def config_for(root: Path, name: str, include: list[str]) -> Path:
    """The sandbox's own OCI config (oci.toml) with this case's include filter."""
    text = (root / "oci.toml").read_text()
    path = root / f"bench-{name}.toml"
    path.write_text(text.rstrip("\n") + f"\ninclude = {json.dumps(include)}\n")
    return path


_COUNTS_RE = re.compile(r"[│┃|]")


def results_table(output: str) -> dict[str, int]:
    """The CLI's "results" table (status -> count) from its printed output."""
    lines = output.splitlines()
    for n, line in enumerate(lines):
        if line.strip() == "results":
            cells = [
                [c.strip() for c in _COUNTS_RE.split(row) if c.strip()]
                for row in lines[n + 1 : n + 6]
                if _COUNTS_RE.search(row)
            ]
            if len(cells) >= 2:
                return {k: int(v) for k, v in zip(cells[0], cells[1], strict=True)}
    raise SystemExit(f"no results table in the import's output:\n{output[-3000:]}")


def measured_import(config: Path, env: dict[str, str], log: Path) -> dict[str, Any]:
    """``acr-migrate import -c <config>`` in a child process: seconds from its start to its
    exit, its peak RSS, its printed results."""
    hwm = log.with_suffix(".hwm.json")
    spec = {"argv": ["import", "-c", str(config)], "hwm_file": str(hwm)}
    spec_path = log.with_suffix(".spec.json")
    spec_path.write_text(json.dumps(spec))
    with open(log, "w") as out:
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, __file__, "--child", "cli", "--spec", str(spec_path)],
            env=env | {"COLUMNS": "200"},
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            check=False,
        )
        seconds = time.perf_counter() - start
    output = log.read_text(errors="replace")
    if done.returncode != 0:
        raise SystemExit(f"acr-migrate import -c {config.name} failed:\n{output[-4000:]}")
    figures = json.loads(hwm.read_text())
    return {
        "seconds": seconds,
        "peak_rss_mb": figures["peak_rss_mb"],
        "results": results_table(output),
        "http_calls": sum(figures["http_calls"].values()),
        "http_calls_by_kind": figures["http_calls"],
    }


# --- the parent ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--manifests", type=int, default=10_000)
    parser.add_argument("--repositories", type=int, default=100)
    parser.add_argument("--layer-images", type=int, default=16)
    parser.add_argument("--small-layer-mb", type=float, default=2)
    parser.add_argument("--large-layer-mb", type=float, default=32)
    parser.add_argument("--child", choices=["export", "cli"], help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = json.loads(Path(args.spec).read_text())
        if args.child == "cli":
            child_cli(spec)
            return
        print(json.dumps(child_export(spec)))
        return
    if args.manifests % args.repositories:
        raise SystemExit("--manifests must be a multiple of --repositories")

    from bench_prefect_overhead import SERVER_ENV, Server, machine

    from sandbox import api

    # On tmpfs: 20,000 manifests are ~100,000 small files, which the disk here writes and
    # deletes slowly (minutes under load); the registries' reads come from memory either way.
    shm = Path("/dev/shm")
    root = Path(tempfile.mkdtemp(prefix="bench-scale-", dir=shm if shm.is_dir() else None))
    server: Server | None = None
    servers: list[Server | BaseException] = []
    record: dict[str, Any] = {"machine": machine(), "args": vars(args)}
    t_all = time.perf_counter()
    phases: dict[str, float] = {}
    record["phases_s"] = phases

    def phase(name: str) -> None:
        phases[name] = round(time.perf_counter() - t_all, 1)

    try:
        api.up(root)
        phase("sandbox up")
        # The server starts while the registries are seeded.
        starter = threading.Thread(
            target=lambda: servers.append(_start_server(Server, root, SERVER_ENV)), daemon=True
        )
        starter.start()
        state = api.load_state(root)
        sandbox_env = api.read_env_file(root / api.ENV_NAME)
        ca = Path(state["ca_bundle"])
        source = _endpoint(state["source"], sandbox_env[api.RAW_SOURCE_PASSWORD_ENV], ca)

        per_repo_count = args.manifests // args.repositories
        # ~1,000 rows: the first repositories of the scale set, all held by the target; each
        # other repository lacks its last tag there, which the 10,000-row import copies.
        subset = [f"{SCALE}/r{n:03d}" for n in range(max(1, 1000 // per_repo_count))]
        subset = subset[: args.repositories]
        t0 = time.perf_counter()
        image, per_repo = scale_manifests(args.manifests, args.repositories)
        data = {side: Path(state[side]["extra"]["data_dir"]) for side in ("source", "target")}
        pushed = seed_scale(data["source"], image, per_repo, missing=set())
        held = seed_scale(data["target"], image, per_repo, missing=set(per_repo) - set(subset))
        record["seeding"] = {
            "source_manifests": pushed,
            "target_manifests": held,
            "seconds": time.perf_counter() - t0,
        }
        print(f"seeded: {record['seeding']}", file=sys.stderr, flush=True)

        phase("seeded")
        starter.join()
        phase("prefect server up")
        found = servers[0] if servers else SystemExit("the Prefect server did not start")
        if isinstance(found, BaseException):
            raise found
        server = found
        env = {k: v for k, v in server.env.items() if k != "PREFECT_LOGGING_LEVEL"}
        env |= {k: v for k, v in sandbox_env.items() if k.startswith("SANDBOX_RAW_")}

        imports: list[dict[str, Any]] = []

        def case(name: str, include: list[str], rows: int, copies: int, layer_mb: float) -> None:
            config = config_for(root, name, include)
            probe = name == "scale"
            export = run_child(
                "export", {"dir": str(root), "config": str(config), "probe": probe}, env
            )
            if export["rows"] != rows:
                raise SystemExit(f"{name}: the export wrote {export['rows']} rows, not {rows}")
            if probe:
                inventory = export.pop("inventory")
                record["inventory"] = inventory
                record["export"] = export
                print(f"inventory: {json.dumps(inventory)}", file=sys.stderr, flush=True)
                if inventory["rows"] != rows or inventory["digests"] != rows:
                    raise SystemExit(
                        f"the inventory found {inventory['rows']} rows ({inventory['digests']} "
                        f"distinct digests), not the {rows} manifests seeded"
                    )
            result = measured_import(config, env, root / f"import-{name}.log")
            imported = result["results"].get("imported", 0)
            failed = result["results"].get("failed", 0)
            if imported != copies or failed:
                raise SystemExit(
                    f"{name}: imported {imported} (expected {copies}), failed {failed}: "
                    f"{result['results']}"
                )
            imports.append(
                {
                    "case": name,
                    "rows": rows,
                    "copied": imported,
                    "layer_mb": layer_mb,
                    "export_seconds": export["seconds"],
                    **result,
                }
            )
            print(f"import: {json.dumps(imports[-1])}", file=sys.stderr, flush=True)
            phase(f"{name} exported and imported")

        case("scale", [f"{SCALE}/*"], args.manifests, args.repositories - len(subset), 0.0)

        t0 = time.perf_counter()
        mb = 1024 * 1024
        seed_layers(source, SMALL, args.layer_images, int(args.small_layer_mb * mb), SMALL)
        seed_layers(source, LARGE, args.layer_images, int(args.large_layer_mb * mb), LARGE)
        print(f"seeded layers: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        subset_rows = len(subset) * per_repo_count
        for name, repository, layer_mb in (
            ("small-layers", SMALL, args.small_layer_mb),
            ("large-layers", LARGE, args.large_layer_mb),
        ):
            include = [*subset, f"{repository}/*"]
            rows = subset_rows + args.layer_images
            case(name, include, rows, args.layer_images, layer_mb)
        record["imports"] = imports
    finally:
        if server:
            server.stop()
        for left in servers:
            if isinstance(left, Server) and left is not server:
                left.stop()
        api.down(root)
        shutil.rmtree(root, ignore_errors=True)
        phase("sandbox down")

    by = {row["case"]: row for row in record["imports"]}
    small, large = by["small-layers"], by["large-layers"]
    held = min(CONCURRENCY, args.layer_images) * (args.large_layer_mb - args.small_layer_mb)
    growth = large["peak_rss_mb"] - small["peak_rss_mb"]
    record["layer_size"] = {
        "growth_mb": growth,
        "more_copied_mb": (args.large_layer_mb - args.small_layer_mb) * args.layer_images,
        "held_mb": held,
        # A streaming copy grows by its buffers only; a quarter of what holding would cost is
        # far above their noise (10-15 MB here) and far below a held layer.
        "flat": growth < FLAT_SHARE * held,
    }
    record["total_seconds"] = time.perf_counter() - t_all
    record["machine_after"] = machine()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    record["date"] = stamp
    (BENCH / "results").mkdir(exist_ok=True)
    out = BENCH / "results" / f"scale-{stamp}.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    report(record)
    print(f"\nraw results: {out.relative_to(REPO)}")
    if not record["layer_size"]["flat"]:
        raise SystemExit("the import's peak RSS grows with the layer size: oci-copy holds layers")


def _start_server(server_class: Any, root: Path, settings: dict[str, str]) -> Any:
    try:
        return server_class(root / "prefect-server", None, settings)
    except BaseException as exc:  # handed to the main thread
        return exc


def report(record: dict[str, Any]) -> None:
    inv, export = record["inventory"], record["export"]
    per = 1000 / inv["rows"]
    print(f"\n{record['date']}, {record['machine']}\n")
    print(
        "| inventory (oci, in the export) | manifests | repositories | HTTP calls | s "
        "| calls / 1,000 manifests | s / 1,000 manifests | whole export s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| source: distribution, basic auth, {inv['workers']} workers | {inv['rows']:,} | "
        f"{inv['repositories']} | {inv['http_calls']:,} | {inv['seconds']:.1f} | "
        f"{inv['http_calls'] * per:.0f} | {inv['seconds'] * per:.2f} | {export['seconds']:.1f} |"
    )
    print(f"\ncalls by kind: {inv['by_kind']}; by status: {inv['by_status']}")
    print(
        "\n| acr-migrate import | rows | images copied | layer MB | peak RSS MB | s "
        "| registry HTTP calls |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in record["imports"]:
        print(
            f"| {row['case']} | {row['rows']:,} | {row['copied']} | {row['layer_mb']:g} | "
            f"{row['peak_rss_mb']:.0f} | {row['seconds']:.1f} | {row['http_calls']:,} |"
        )
    flat = record["layer_size"]
    print(
        f"\nlarge vs small layers: {flat['growth_mb']:+.0f} MB peak RSS for "
        f"{flat['more_copied_mb']:.0f} MB more copied; holding one layer per copy at once would "
        f"add ~{flat['held_mb']:.0f} MB: {'flat' if flat['flat'] else 'NOT FLAT'} in layer size"
    )
    print(f"\ntotal {record['total_seconds']:.0f} s (seeding {record['seeding']['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
