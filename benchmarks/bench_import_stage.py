"""The import stage beside the bare engine and skopeo, and no-op reruns, on local registries.

    uv run python benchmarks/bench_import_stage.py [--rounds 3] [--sets big small] [--noop 50 1000]

Starts the sandbox (``sandbox.api.up``: certificates, Azurite for the manifest hand-over) in a
temporary root, its own warm ``prefect server start`` (SQLite, with the project's server settings,
see ``bench_prefect_overhead.SERVER_ENV``) and plain CNCF distribution registries over TLS
(the sandbox's own kind, basic auth): one source per image set, and a fresh, empty target for
every copy, so each method copies everything. Image sets:

- ``big``: 50 images of one ~3.2 MB random layer each (~160 MB);
- ``small``: 500 images of one small layer each;
- ``noop``: 1,000 images of one small layer each (only for the no-op rerun).

Per round, in rotating order, each set is copied by

- ``bare``: the oci-copy engine (``acr_migrate.registry.open_engine``) in a ``ThreadPoolExecutor``
  of ``concurrency`` (8) threads: as many copies at once as the import stage, whose global limit
  has that many slots;
- ``skopeo``: ``skopeo sync --all`` of the same images (from a YAML source list);
- ``import stage``: ``flows.target_import._import_all`` in a flow on the warm server (one task
  run per image, the global concurrency limit, the progress artifact): the stage of
  ``acr-migrate import`` that copies.

Each runs in its own process and times only the copy (skopeo: the whole command). Then
``acr-migrate import`` (the CLI, from process start) with nothing left to copy, at 50 and at
1,000 manifests, beside ``python -c "import prefect"`` and ``import flows.target_import``.
Prints medians and ratios from this one run and writes the raw figures to
``benchmarks/results/import-stage-<date>.json``. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

USER = "bench"
SOURCE_PASSWORD_ENV = "BENCH_SOURCE_PASSWORD"
TARGET_PASSWORD_ENV = "BENCH_TARGET_PASSWORD"
STORAGE_ENV = "ACR_MIGRATE_STORAGE_CONNECTION_STRING"
CONCURRENCY = 8  # the sandbox config's default

SETS: dict[str, tuple[int, int, int]] = {
    # name: (images, repositories, random bytes in the image's one layer)
    "big": (50, 10, 3_200_000),
    "small": (500, 20, 2_000),
    "noop": (1000, 20, 200),
}


# --- the children: one method, one copy, timed inside the process ------------------------------


def _endpoints(spec: dict[str, Any]) -> tuple[Any, Any]:
    from acr_migrate.models import RegistryEndpoint

    source = RegistryEndpoint(
        name=spec["source_name"],
        url=spec["source_url"],
        username=USER,
        password_env=SOURCE_PASSWORD_ENV,
        ca_bundle=spec["ca"],
    )
    target = RegistryEndpoint(
        name=spec["target_name"],
        url=spec["target_url"],
        username=USER,
        password_env=TARGET_PASSWORD_ENV,
        ca_bundle=spec["ca"],
    )
    return source, target


def _items(spec: dict[str, Any]) -> list[Any]:
    from acr_migrate.models import ImportItem

    return [ImportItem(repository=r, digest=d, tags=tuple(t)) for r, d, t in spec["images"]]


def child_bare(spec: dict[str, Any]) -> dict[str, Any]:
    from acr_migrate.models import ImportStatus
    from acr_migrate.registry import open_engine, open_registry

    source, target = _endpoints(spec)
    items = _items(spec)
    engine = open_engine(
        "oci-copy", open_registry(source), open_registry(target), concurrency=CONCURRENCY
    )
    start = time.perf_counter()
    # As many copies at once as the import stage runs: its global limit has CONCURRENCY slots.
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        results = list(pool.map(lambda i: engine.import_image(i), items))
    seconds = time.perf_counter() - start
    engine.close()
    assert all(r.status is ImportStatus.IMPORTED for r in results), results[:3]
    return {"seconds": seconds}


def child_prefect_nolimit(spec: dict[str, Any]) -> dict[str, Any]:
    """The import stage without the global concurrency limit (what the knob itself costs)."""
    import flows.target_import as target_import

    target_import.limit_name = lambda t: None  # type: ignore[assignment,return-value]
    target_import.ensure_limit = lambda name, default: 0  # type: ignore[assignment]
    return child_prefect(spec)


def child_prefect(spec: dict[str, Any]) -> dict[str, Any]:
    from prefect import flow

    import flows.target_import as target_import
    from acr_migrate.models import Action, ImportStatus, PlanItem
    from acr_migrate.plan import Plan
    from acr_migrate.settings import ImportOptions
    from flows.runners import TaskRunnerSettings
    from tasks.registries import close_all

    source, target = _endpoints(spec)
    plan = Plan(items=[PlanItem(action=Action.IMPORT, item=i) for i in _items(spec)])
    options = ImportOptions(concurrency=CONCURRENCY)
    timing: dict[str, Any] = {}

    @flow(name="bench-import-stage", log_prints=False)
    def stage() -> None:
        start = time.perf_counter()
        try:
            results = target_import._import_all(plan, source, target, options, TaskRunnerSettings())
        finally:
            close_all()
        timing["seconds"] = time.perf_counter() - start
        timing["imported"] = sum(r.status is ImportStatus.IMPORTED for r in results)

    start = time.perf_counter()
    stage()
    timing["flow_seconds"] = time.perf_counter() - start
    assert timing["imported"] == len(plan.items), timing
    return timing


# --- the parent ---------------------------------------------------------------------------------


class Registries:
    """Plain distribution registries (the sandbox's kind: TLS, htpasswd) started on demand."""

    def __init__(self, root: Path, certs: Any, password: str):
        self.root = root
        self.certs = certs
        self.password = password
        self.count = 0

    def start(self) -> Any:
        from sandbox.registries import start_source_registry

        self.count += 1
        return start_source_registry(
            self.root / f"registry-{self.count}", self.certs, USER, self.password
        )

    @staticmethod
    def stop(info: Any) -> None:
        from sandbox._process import stop_pid

        stop_pid(int(info.process["pid"]), info.process.get("start_time"))
        shutil.rmtree(info.extra["data_dir"], ignore_errors=True)


def seed(info: Any, ca: Path, password: str, name: str) -> list[tuple[str, str, list[str]]]:
    """Push one image set; returns (repository, digest, tags) per image."""
    from sandbox.oci_push import Endpoint, RegistryClient, build_image, make_layer

    count, repositories, size = SETS[name]
    rng = random.Random(name)
    endpoint = Endpoint(url=info.url, username=USER, password=password, ca_bundle=ca)

    def push(n: int) -> tuple[str, str, list[str]]:
        data = rng.randbytes(size) if size > 4096 else f"{name}-{n}\n".encode() * (size // 8)
        image = build_image([make_layer({f"data-{n}.bin": data})], labels={"n": str(n)})
        repository, tags = f"bench-{name}/app{n % repositories}", [f"v{n}"]
        with RegistryClient(endpoint) as client:
            digest = client.push_image(repository, image, tags, {})
        return repository, digest, tags

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(push, range(count)))


def run_child(kind: str, spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    path = Path(spec["dir"]) / f"{kind}.json"
    path.write_text(json.dumps(spec))
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--spec", str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def run_skopeo(spec: dict[str, Any], certs_dir: Path, password: str) -> dict[str, Any]:
    source_host = spec["source_url"].removeprefix("https://")
    target_host = spec["target_url"].removeprefix("https://")
    images: dict[str, list[str]] = {}
    for repository, _, tags in spec["images"]:
        images.setdefault(repository, []).extend(tags)
    listing = {
        source_host: {
            "tls-verify": True,
            "cert-dir": str(certs_dir),
            "credentials": {"username": USER, "password": password},
            "images": images,
        }
    }
    yaml = Path(spec["dir"]) / "skopeo.yaml"
    yaml.write_text(json.dumps(listing))  # JSON is YAML
    start = time.perf_counter()
    out = subprocess.run(
        [
            "skopeo",
            "sync",
            "--all",
            "--src",
            "yaml",
            "--dest",
            "docker",
            "--dest-cert-dir",
            str(certs_dir),
            "--dest-creds",
            f"{USER}:{password}",
            str(yaml),
            target_host,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"skopeo failed:\n{out.stderr[-3000:]}")
    return {"seconds": seconds}


def cli(args: list[str], env: dict[str, str]) -> float:
    exe = Path(sys.executable).parent / "acr-migrate"
    start = time.perf_counter()
    out = subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"acr-migrate {' '.join(args)} failed:\n{out.stdout[-3000:]}")
    return seconds


def python_seconds(code: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=REPO)
    return time.perf_counter() - start


CONFIG = """\
[source]
name = "{source_name}"
url = "{source_url}"
username = "{user}"
password_env = "{source_env}"
ca_bundle = "{ca}"

[target]
name = "{target_name}"
url = "{target_url}"
username = "{user}"
password_env = "{target_env}"
ca_bundle = "{ca}"

[storage]
connection_string_env = "{storage_env}"
container = "acr-migrate"

[migration]
engine = "oci-copy"
concurrency = {concurrency}
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sets", nargs="*", default=["big", "small"], choices=["big", "small"])
    parser.add_argument("--noop", nargs="*", type=int, default=[50, 1000], choices=[50, 1000])
    parser.add_argument("--noop-runs", type=int, default=5)
    parser.add_argument(
        "--without-limit",
        action="store_true",
        help="also the import stage without the global concurrency limit",
    )
    parser.add_argument(
        "--child", choices=["bare", "prefect", "prefect-nolimit"], help=argparse.SUPPRESS
    )
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = json.loads(Path(args.spec).read_text())
        run = {
            "bare": child_bare,
            "prefect": child_prefect,
            "prefect-nolimit": child_prefect_nolimit,
        }[args.child]
        print(json.dumps(run(spec)))
        return

    from bench_prefect_overhead import SERVER_ENV, Server, machine

    from sandbox import api
    from sandbox.certs import ensure_certs
    from sandbox.registries import new_password

    root = Path(tempfile.mkdtemp(prefix="bench-import-stage-"))
    password = new_password()
    server: Server | None = None
    started: list[Any] = []
    record: dict[str, Any] = {"machine": machine(), "server_settings": SERVER_ENV}
    try:
        api.up(root)
        certs = ensure_certs(root)
        sandbox_env = api.read_env_file(root / api.ENV_NAME)
        server = Server(root / "prefect-server", None, SERVER_ENV)
        env = {k: v for k, v in server.env.items() if k != "PREFECT_LOGGING_LEVEL"} | {
            SOURCE_PASSWORD_ENV: password,
            TARGET_PASSWORD_ENV: password,
            STORAGE_ENV: sandbox_env[STORAGE_ENV],
        }
        registries = Registries(root / "registries", certs, password)
        ca = certs.ca_pem
        certs_dir = certs.cert_dir

        sources: dict[str, tuple[Any, list[tuple[str, str, list[str]]]]] = {}
        wanted = list(args.sets) + (["big"] if 50 in args.noop else [])
        wanted += ["noop"] if 1000 in args.noop else []
        for name in dict.fromkeys(wanted):
            info = registries.start()
            started.append(info)
            t0 = time.perf_counter()
            sources[name] = (info, seed(info, ca, password, name))
            print(f"seeded {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)

        copies: list[dict[str, Any]] = []
        methods = ["bare", "skopeo", "import stage"]
        methods += ["import stage, no limit"] if args.without_limit else []
        for round_ in range(args.rounds):
            for name in args.sets:
                info, images = sources[name]
                turn = round_ % len(methods)
                order = methods[turn:] + methods[:turn]
                for method in order:
                    target = registries.start()
                    spec = {
                        "dir": str(root),
                        "ca": str(ca),
                        "source_name": f"bench-{name}",
                        "source_url": info.url,
                        "target_name": f"bench-target-{registries.count}",
                        "target_url": target.url,
                        "images": images,
                    }
                    try:
                        if method == "bare":
                            result = run_child("bare", spec, env)
                        elif method == "skopeo":
                            result = run_skopeo(spec, certs_dir, password)
                        elif method == "import stage":
                            result = run_child("prefect", spec, env)
                        else:
                            result = run_child("prefect-nolimit", spec, env)
                    finally:
                        Registries.stop(target)
                    copies.append({"round": round_, "set": name, "method": method, **result})
                    print(json.dumps(copies[-1]), file=sys.stderr, flush=True)
        record["copies"] = copies

        noops: list[dict[str, Any]] = []
        configs: dict[int, Path] = {}
        for size in args.noop:
            name = "big" if size == 50 else "noop"
            info, images = sources[name]
            target = registries.start()
            started.append(target)
            config = root / f"noop-{size}.toml"
            config.write_text(
                CONFIG.format(
                    source_name=f"bench-{name}",
                    source_url=info.url,
                    target_name=f"bench-noop-target-{size}",
                    target_url=target.url,
                    user=USER,
                    source_env=SOURCE_PASSWORD_ENV,
                    target_env=TARGET_PASSWORD_ENV,
                    ca=ca,
                    storage_env=STORAGE_ENV,
                    concurrency=CONCURRENCY,
                )
            )
            configs[size] = config
            export = cli(["export", "-c", str(config)], env)
            full = cli(["import", "-c", str(config)], env)
            noops.append({"manifests": size, "what": "export", "seconds": export})
            noops.append({"manifests": size, "what": "first import", "seconds": full})
            print(json.dumps(noops[-2:]), file=sys.stderr, flush=True)
        for run in range(args.noop_runs if args.noop else 0):
            for size in args.noop:
                seconds = cli(["import", "-c", str(configs[size])], env)
                noops.append({"manifests": size, "what": "no-op import", "seconds": seconds})
            for what, code in (
                ("python -c 'import prefect'", "import prefect"),
                ("python -c 'import flows.target_import'", "import flows.target_import"),
            ):
                noops.append({"what": what, "seconds": python_seconds(code, env), "run": run})
            print(json.dumps(noops[-4:]), file=sys.stderr, flush=True)
        record["noop"] = noops
    finally:
        if server:
            server.stop()
        for info in started:
            Registries.stop(info)
        api.down(root)
        shutil.rmtree(root, ignore_errors=True)

    record["machine_after"] = machine()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    record["date"] = stamp
    (BENCH / "results").mkdir(exist_ok=True)
    out = BENCH / "results" / f"import-stage-{stamp}.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    report(record)
    print(f"\nraw results: {out.relative_to(REPO)}")


def report(record: dict[str, Any]) -> None:
    def median(rows: list[dict[str, Any]]) -> float:
        return statistics.median(r["seconds"] for r in rows)

    print(f"\n{record['date']}, {record['machine']}\n")
    print(
        "| images | bare engine s | skopeo sync --all s | import stage s | stage / bare "
        "| skopeo / bare |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    notes: list[str] = []
    for name in dict.fromkeys(r["set"] for r in record.get("copies", [])):
        rows = [r for r in record["copies"] if r["set"] == name]
        bare = median([r for r in rows if r["method"] == "bare"])
        skopeo = median([r for r in rows if r["method"] == "skopeo"])
        stage = median([r for r in rows if r["method"] == "import stage"])
        free = [r for r in rows if r["method"] == "import stage, no limit"]
        if free:
            notes.append(f"import stage without the global limit ({name}): {median(free):.2f} s")
        count, _, size = SETS[name]
        label = f"{count} ({name}, ~{count * size / 1e6:.0f} MB)"
        print(
            f"| {label} | {bare:.2f} | {skopeo:.2f} | {stage:.2f} | {stage / bare:.2f}x "
            f"| {skopeo / bare:.2f}x |"
        )
    for note in notes:
        print(f"\n{note}")
    noop = record.get("noop", [])
    if noop:
        print("\n| what | median s | runs |")
        print("|---|---:|---:|")
        for what in dict.fromkeys((r["what"], r.get("manifests")) for r in noop):
            rows = [r for r in noop if (r["what"], r.get("manifests")) == what]
            label = what[0] + (f" ({what[1]:,} manifests)" if what[1] else "")
            print(f"| {label} | {median(rows):.2f} | {len(rows)} |")


if __name__ == "__main__":
    main()
