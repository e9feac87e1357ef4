"""oci-copy beside ``skopeo sync --all`` on two local registries: the bare engine, the import
stage, the whole ``acr-migrate import``, and the no-op rerun (issue 11).

    uv run python benchmarks/bench_import_stage.py [--rounds 3] [--sets big half small]
    make bench        # --rounds 1: one copy per method and set, a few minutes on 2 cores

Starts the sandbox (``sandbox.api.up``: certificates, Azurite for the manifest hand-over) in a
temporary root, its own warm ``prefect server start`` (SQLite, the project's server settings, see
``bench_prefect_overhead.SERVER_ENV``) and plain CNCF distribution registries over TLS (the
sandbox's kind, basic auth): one source per image set, and a fresh target for every copy. Sets:

- ``big``: 50 images of one ~3.2 MB random layer each (~160 MB), into an empty target;
- ``half``: the same 50 images into a target that already holds half of their layers (the layer
  blobs of every other image, in the same repositories; no manifests, no configs). Every target
  of this set starts as a copy of one pre-populated registry data directory, so each method
  starts from the same pre-state;
- ``small``: 500 images of one small layer each, into an empty target.

Per round and set, in an order that rotates with round and set, each of these copies the set:

- ``bare``: the oci-copy engine (``acr_migrate.registry.open_engine``) in a ``ThreadPoolExecutor``
  of ``concurrency`` (8) threads, as many copies at once as the import stage; times the copy;
- ``skopeo``: ``skopeo sync --all`` of the same images (YAML source list), the whole command;
- ``stage``: ``flows.target_import._import_all`` in a flow on the warm server (one task run per
  image, the global concurrency limit, the progress artifact, the journal); times the stage;
- ``import``: the whole ``acr-migrate import`` CLI from process start to exit on the warm server
  (read the exported manifest, read the target, plan, copy, results CSV, validate). The manifest
  was exported once per source before the rounds (``acr-migrate export``, timed apart);
- ``stage-nolimit`` (only with ``--methods``): the stage without the global concurrency limit.

After every copy the target is checked against the set (the catalog's repositories, every tag,
every tag's digest); a method that copied anything else stops the benchmark with exit code 1.

No-op rerun (sets ``big`` and ``small``): in the target the ``import`` method has just filled,
``acr-migrate import`` again (the whole CLI, nothing to copy: plan, no stage, validate) and
``skopeo sync --all`` again, in alternating order; ``python -c "import prefect"`` beside them.

Prints medians and the ratios to skopeo with the issue's goals (bare <= 0.7x, whole import <=
1.0x), and writes the raw figures to ``benchmarks/results/import-stage-<date>.json``.
Not part of ``make test``.
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

from children import child_result  # noqa: E402

USER = "bench"
SOURCE_PASSWORD_ENV = "BENCH_SOURCE_PASSWORD"
TARGET_PASSWORD_ENV = "BENCH_TARGET_PASSWORD"
STORAGE_ENV = "ACR_MIGRATE_STORAGE_CONNECTION_STRING"
CONTAINER = "acr-migrate"
CONCURRENCY = 8  # the sandbox config's default

#: source image sets: (images, repositories, random bytes in the image's one layer)
SOURCES: dict[str, tuple[int, int, int]] = {
    "big": (50, 10, 3_200_000),
    "small": (500, 20, 2_000),
}
#: what each set copies: (source, pre-populated with half of the layers)
SETS: dict[str, tuple[str, bool]] = {
    "big": ("big", False),
    "half": ("big", True),
    "small": ("small", False),
}
METHODS = ["bare", "skopeo", "stage", "import"]
#: diagnostics, only when asked for (--methods ... stage-nolimit)
EXTRA_METHODS = ["stage-nolimit"]
#: the issue's goals, as ratios to skopeo sync --all
GOALS = {"bare": 0.7, "import": 1.0}

Images = list[tuple[str, str, list[str]]]  # (repository, digest, tags) per image


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


def child_stage(spec: dict[str, Any]) -> dict[str, Any]:
    from prefect import flow

    import flows.target_import as target_import
    from acr_migrate.journal import Journal
    from acr_migrate.models import Action, ImportStatus, PlanItem
    from acr_migrate.plan import Plan
    from acr_migrate.settings import ImportOptions
    from acr_migrate.storage import ManifestLocation, StorageSettings
    from flows.runners import TaskRunnerSettings
    from tasks.registries import close_all

    source, target = _endpoints(spec)
    plan = Plan(items=[PlanItem(action=Action.IMPORT, item=i) for i in _items(spec)])
    options = ImportOptions(concurrency=CONCURRENCY)
    storage = StorageSettings(container=CONTAINER, connection_string_env=STORAGE_ENV)
    location = ManifestLocation(
        container=CONTAINER, blob=f"bench-stage/{spec['target_name']}/manifest.csv"
    )
    timing: dict[str, Any] = {}

    @flow(name="bench-import-stage", log_prints=False)
    def stage() -> None:
        journal = Journal.open(storage, location, "bench")
        start = time.perf_counter()
        try:
            results, _ = target_import._import_all(
                plan, source, target, options, TaskRunnerSettings(), journal
            )
        finally:
            close_all()
        timing["seconds"] = time.perf_counter() - start
        timing["imported"] = sum(r.status is ImportStatus.IMPORTED for r in results)

    start = time.perf_counter()
    stage()
    timing["flow_seconds"] = time.perf_counter() - start
    assert timing["imported"] == len(plan.items), timing
    return timing


def child_stage_nolimit(spec: dict[str, Any]) -> dict[str, Any]:
    """The import stage without the global concurrency limit (what the knob itself costs)."""
    import flows.target_import as target_import

    target_import.limit_name = lambda t: None  # type: ignore[assignment,return-value]
    target_import.ensure_limit = lambda name, default: 0  # type: ignore[assignment]
    return child_stage(spec)


CHILDREN = {"bare": child_bare, "stage": child_stage, "stage-nolimit": child_stage_nolimit}


# --- the parent ---------------------------------------------------------------------------------


class Registries:
    """Plain distribution registries (the sandbox's kind: TLS, htpasswd) started on demand."""

    def __init__(self, root: Path, certs: Any, password: str):
        self.root = root
        self.certs = certs
        self.password = password
        self.count = 0

    def start(self, template: Path | None = None) -> Any:
        """A registry; with ``template``, on a copy of that data directory."""
        from sandbox.registries import start_source_registry

        self.count += 1
        home = self.root / f"registry-{self.count}"
        if template:
            shutil.copytree(template, home / "source" / "data")
        return start_source_registry(home, self.certs, USER, self.password)

    @staticmethod
    def stop(info: Any, keep: bool = False) -> None:
        from sandbox._process import stop_pid

        stop_pid(int(info.process["pid"]), info.process.get("start_time"))
        if not keep:
            shutil.rmtree(info.extra["data_dir"], ignore_errors=True)


def _client(url: str, ca: Path, password: str) -> Any:
    from sandbox.oci_push import Endpoint, RegistryClient

    return RegistryClient(Endpoint(url=url, username=USER, password=password, ca_bundle=ca))


def seed(info: Any, ca: Path, password: str, name: str, half: Any = None) -> Images:
    """Push one source set; returns (repository, digest, tags) per image. With ``half`` (a
    registry), also push the layer blobs of every other image there (no config, no manifest)."""
    from sandbox.oci_push import build_image, make_layer

    count, repositories, size = SOURCES[name]
    rng = random.Random(name)
    payloads = [
        rng.randbytes(size) if size > 4096 else f"{name}-{n}\n".encode() * (size // 8)
        for n in range(count)
    ]

    def push(n: int) -> tuple[str, str, list[str]]:
        image = build_image([make_layer({f"data-{n}.bin": payloads[n]})], labels={"n": str(n)})
        repository, tags = f"bench-{name}/app{n % repositories}", [f"v{n}"]
        with _client(info.url, ca, password) as client:
            digest = client.push_image(repository, image, tags, {})
        if half is not None and n % 2 == 0:
            with _client(half.url, ca, password) as client:
                for blob in image.blobs:
                    if "layer" in blob.media_type:
                        client.push_blob(repository, blob)
        return repository, digest, tags

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(push, range(count)))


def verify(url: str, ca: Path, password: str, images: Images, what: str) -> None:
    """The target holds exactly ``images``: its repositories, every tag, every tag's digest.
    Anything else ends the benchmark (exit code 1): a broken copy must not print a ratio."""
    from sandbox.oci_push import ACCEPT_MANIFESTS

    want: dict[tuple[str, str], str] = {(r, t): d for r, d, tags in images for t in tags}
    repositories = sorted({r for r, _ in want})
    with _client(url, ca, password) as client:
        catalog = client.request("GET", "/v2/_catalog", params={"n": 1000})
        client._check(catalog, (200,), "GET /v2/_catalog")
        found = sorted(catalog.json().get("repositories") or [])
        problems = [] if found == repositories else [f"catalog {found} != {repositories}"]
        tags = {(r, t) for r in repositories if r in found for t in client.tags(r)}
        if tags != set(want):
            problems.append(
                f"{len(tags)} tags, {len(want)} wanted; missing {sorted(set(want) - tags)[:5]}, "
                f"unexpected {sorted(tags - set(want))[:5]}"
            )

        def digest(key: tuple[str, str]) -> str | None:
            resp = client.request(
                "HEAD", f"/v2/{key[0]}/manifests/{key[1]}", headers={"Accept": ACCEPT_MANIFESTS}
            )
            return resp.headers.get("docker-content-digest") if resp.is_success else None

        with ThreadPoolExecutor(max_workers=8) as pool:
            got = dict(zip(want, pool.map(digest, want), strict=True))
    wrong = [f"{r}:{t} is {got[(r, t)]}, not {d}" for (r, t), d in want.items() if got[(r, t)] != d]
    problems += [f"{len(wrong)} wrong digest(s): {wrong[:3]}"] if wrong else []
    if problems:
        print(f"\nBROKEN: {what}: the target does not hold the set:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        raise SystemExit(1)


def run_child(kind: str, spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """This script run again as ``--child kind`` with ``spec``; the JSON its last line prints."""
    return child_result(__file__, kind, spec, env)


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
    # skopeo sync puts each image at <destination>/<last part of its repository>: the images'
    # common folder goes in the destination, so they land under the names they have here.
    folders = {repository.rpartition("/")[0] for repository in images}
    if len(folders) != 1:
        raise SystemExit(f"skopeo sync needs the images in one folder, not {sorted(folders)}")
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
            f"{target_host}/{folders.pop()}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"skopeo failed:\n{out.stderr[-3000:]}")
    return {"seconds": seconds}


def cli(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """``acr-migrate <args>`` from process start to exit; the plan's import count from its
    output (rich's table: the first figure under "plan (images)")."""
    exe = Path(sys.executable).parent / "acr-migrate"
    start = time.perf_counter()
    out = subprocess.run(
        [str(exe), *args], env=env | {"COLUMNS": "200"}, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"acr-migrate {' '.join(args)} failed:\n{out.stdout[-3000:]}")
    result: dict[str, Any] = {"seconds": seconds}
    lines = out.stdout.splitlines()
    for n, line in enumerate(lines):
        if "plan (images)" in line:
            header = [c.strip() for c in lines[n + 2].strip("┃│ ").split("┃")]
            values = [c.strip() for c in lines[n + 4].strip("┃│ ").split("│")]
            result["plan"] = dict(zip(header, map(int, values), strict=False))
            break
    return result


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
container = "{container}"

[migration]
engine = "oci-copy"
concurrency = {concurrency}
"""


def write_config(path: Path, spec: dict[str, Any]) -> Path:
    path.write_text(
        CONFIG.format(
            user=USER,
            source_env=SOURCE_PASSWORD_ENV,
            target_env=TARGET_PASSWORD_ENV,
            storage_env=STORAGE_ENV,
            container=CONTAINER,
            concurrency=CONCURRENCY,
            **{k: spec[k] for k in ("source_name", "source_url", "target_name", "target_url")},
            ca=spec["ca"],
        )
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sets", nargs="*", default=list(SETS), choices=list(SETS))
    parser.add_argument("--methods", nargs="*", default=METHODS, choices=METHODS + EXTRA_METHODS)
    parser.add_argument(
        "--noop-runs", type=int, default=1, help="no-op reruns per method, set and round"
    )
    parser.add_argument("--child", choices=list(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child](json.loads(Path(args.spec).read_text()))))
        return

    from bench_prefect_overhead import SERVER_ENV, Server, machine

    from sandbox import api
    from sandbox.certs import ensure_certs
    from sandbox.registries import new_password

    began = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="bench-import-stage-"))
    password = new_password()
    server: Server | None = None
    started: list[Any] = []
    record: dict[str, Any] = {
        "machine": machine(),
        "server_settings": SERVER_ENV,
        "args": {k: v for k, v in vars(args).items() if k not in ("child", "spec")},
        "goals": GOALS,
    }
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

        # The sources, each exported once (the whole import reads that manifest); the half
        # set's template: a registry holding the layer blobs of every other image.
        sources: dict[str, tuple[Any, Images]] = {}
        template: Path | None = None
        exports: list[dict[str, Any]] = []
        for name in dict.fromkeys(SETS[s][0] for s in args.sets):
            info = registries.start()
            started.append(info)
            half = registries.start() if name == "big" and "half" in args.sets else None
            t0 = time.perf_counter()
            sources[name] = (info, seed(info, ca, password, name, half))
            print(f"seeded {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            if half is not None:
                Registries.stop(half, keep=True)
                template = Path(half.extra["data_dir"])
                blobs = list(template.glob("docker/registry/v2/blobs/sha256/*/*/data"))
                record["half_prepopulated"] = {
                    "layer_blobs": len(blobs),
                    "bytes": sum(b.stat().st_size for b in blobs),
                }
            if "import" in args.methods:
                spec = {
                    "source_name": f"bench-{name}",
                    "source_url": info.url,
                    "target_name": f"bench-{name}",
                    "target_url": info.url,
                    "ca": str(ca),
                }
                config = write_config(root / f"export-{name}.toml", spec)
                seconds = cli(["export", "-c", str(config)], env)["seconds"]
                exports.append({"source": name, "seconds": seconds})
        record["exports"] = exports

        copies: list[dict[str, Any]] = []
        noops: list[dict[str, Any]] = []
        methods = list(args.methods)
        for round_ in range(args.rounds):
            for index, name in enumerate(args.sets):
                source_name, prepopulated = SETS[name]
                info, images = sources[source_name]
                turn = (round_ + index) % len(methods)
                for method in methods[turn:] + methods[:turn]:
                    target = registries.start(template if prepopulated else None)
                    spec = {
                        "dir": str(root),
                        "ca": str(ca),
                        "source_name": f"bench-{source_name}",
                        "source_url": info.url,
                        "target_name": f"bench-target-{registries.count}",
                        "target_url": target.url,
                        "images": images,
                    }
                    try:
                        config = write_config(root / f"import-{registries.count}.toml", spec)
                        if method == "skopeo":
                            result = run_skopeo(spec, certs_dir, password)
                        elif method == "import":
                            result = cli(["import", "-c", str(config)], env)
                            if result.get("plan", {}).get("import") != len(images):
                                raise SystemExit(f"import planned {result.get('plan')}")
                        else:
                            result = run_child(method, spec, env)
                        verify(target.url, ca, password, images, f"{method} ({name})")
                        copies.append({"round": round_, "set": name, "method": method, **result})
                        print(json.dumps(copies[-1]), file=sys.stderr, flush=True)
                        if method == "import" and not prepopulated:
                            noops += noop_reruns(
                                args.noop_runs, round_, name, spec, config, certs_dir, password, env
                            )
                            verify(target.url, ca, password, images, f"no-op reruns ({name})")
                    finally:
                        Registries.stop(target)
            if noops:
                seconds = python_seconds("import prefect", env)
                noops.append({"round": round_, "method": "python -c 'import prefect'"})
                noops[-1]["seconds"] = seconds
        record["copies"] = copies
        record["noop"] = noops
    finally:
        if server:
            server.stop()
        for info in started:
            Registries.stop(info)
        api.down(root)
        shutil.rmtree(root, ignore_errors=True)

    record["machine_after"] = machine()
    record["wall_seconds"] = time.perf_counter() - began
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    record["date"] = stamp
    (BENCH / "results").mkdir(exist_ok=True)
    out = BENCH / "results" / f"import-stage-{stamp}.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    report(record)
    print(f"\nraw results: {out.relative_to(REPO)}")


def noop_reruns(
    runs: int,
    round_: int,
    name: str,
    spec: dict[str, Any],
    config: Path,
    certs_dir: Path,
    password: str,
    env: dict[str, str],
) -> list[dict[str, Any]]:
    """Both sides again into a target that already holds every image, in alternating order."""
    rows: list[dict[str, Any]] = []
    for run in range(runs):
        order = ["import", "skopeo"] if (round_ + run) % 2 == 0 else ["skopeo", "import"]
        for method in order:
            if method == "skopeo":
                result = run_skopeo(spec, certs_dir, password)
            else:
                result = cli(["import", "-c", str(config)], env)
                if result.get("plan", {}).get("import", 0) != 0:
                    raise SystemExit(f"the no-op import planned {result['plan']}")
            rows.append({"round": round_, "set": name, "method": method, **result})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows


def _median(rows: list[dict[str, Any]]) -> float | None:
    return statistics.median(r["seconds"] for r in rows) if rows else None


def _ratio(ours: float | None, skopeo: float | None, goal: float | None = None) -> str:
    if ours is None or not skopeo:
        return "-"
    ratio = ours / skopeo
    verdict = "" if goal is None else (" PASS" if ratio <= goal else " MISS")
    return f"{ratio:.2f}x{verdict}"


def report(record: dict[str, Any]) -> None:
    def fmt(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    print(f"\n{record['date']}, {record['machine']}")
    copies = record.get("copies", [])
    rounds = len({r["round"] for r in copies})
    print(f"medians of {rounds} round(s); goals: bare <= 0.7x skopeo, whole import <= 1.0x\n")
    print(
        "| set | bare s | `skopeo sync --all` s | stage s | whole `import` s "
        "| bare / skopeo | stage / skopeo | import / skopeo |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    labels = {
        "big": "50 images (~160 MB)",
        "half": "50 images, half the layers in the target",
        "small": "500 small images",
    }
    for name in dict.fromkeys(r["set"] for r in copies):
        m = {
            method: _median([r for r in copies if r["set"] == name and r["method"] == method])
            for method in METHODS
        }
        print(
            f"| {labels[name]} | {fmt(m['bare'])} | {fmt(m['skopeo'])} | {fmt(m['stage'])} "
            f"| {fmt(m['import'])} | {_ratio(m['bare'], m['skopeo'], GOALS['bare'])} "
            f"| {_ratio(m['stage'], m['skopeo'])} "
            f"| {_ratio(m['import'], m['skopeo'], GOALS['import'])} |"
        )
    for name in dict.fromkeys(r["set"] for r in copies):
        free = [r for r in copies if r["set"] == name and r["method"] == "stage-nolimit"]
        if free:
            print(f"stage without the global limit ({name}): {_median(free):.2f} s")
    noop = record.get("noop", [])
    if noop:
        print(
            "\n| no-op rerun (target holds everything) | `acr-migrate import` s | skopeo s "
            "| import / skopeo |"
        )
        print("|---|---:|---:|---:|")
        for name in dict.fromkeys(r["set"] for r in noop if "set" in r):
            ours = _median([r for r in noop if r.get("set") == name and r["method"] == "import"])
            skopeo = _median([r for r in noop if r.get("set") == name and r["method"] == "skopeo"])
            print(f"| {labels[name]} | {fmt(ours)} | {fmt(skopeo)} | {_ratio(ours, skopeo)} |")
        baseline = _median([r for r in noop if "set" not in r])
        print(f"\n`python -c 'import prefect'`: {fmt(baseline)} s")
    for row in record.get("exports", []):
        print(f"export of {row['source']} (once, before the rounds): {row['seconds']:.2f} s")
    print(f"benchmark wall time: {record.get('wall_seconds', 0):.0f} s")


if __name__ == "__main__":
    main()
