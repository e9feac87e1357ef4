"""What Prefect costs per image, and how far the UI lags, with an engine that does no work.

    uv run python benchmarks/bench_prefect_overhead.py [--images 1000 5000] [--db sqlite postgres]

For each database it starts its own ``prefect server start`` on loopback (SQLite in a temp
PREFECT_HOME; PostgreSQL as a throwaway local cluster of Debian's ``postgresql``, started by
this script), then runs, in a child process, the import flow's real submission path
(``flows.target_import._import_all``: one ``import-image`` task run per image on the bounded
thread runner, the global concurrency limit, the progress artifact) with an *instant* engine
that returns at once. It measures:

- flow s/image: the flow's wall time per image;
- UI lag: from the flow's end until the server reports every image's task run Completed
  (what a person watching the UI waits for);
- the same with the global concurrency limit off (the UI knob's own cost);
- a plain ``ThreadPoolExecutor`` doing the same work (calling the engine), for the ratio;
- messages the server's in-memory broker dropped (its log's "Subscription queue is full").

The server runs with the settings the project sets where it starts servers (``SERVER_ENV``;
``--server-settings prefect-defaults`` for Prefect's own defaults). The flow logs at INFO, as
the product does. Raw results go to ``benchmarks/results/prefect-overhead-<date>.json``.

Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from acr_migrate.settings import PREFECT_SERVER_SETTINGS  # noqa: E402 - after the path

RESULTS = Path(__file__).resolve().parent / "results"

#: Server settings the project sets where it starts Prefect servers (sandbox, compose): batch
#: the task run recorder's and the event persister's writes. With Prefect's defaults the
#: recorder writes one task-run event per transaction, falls behind, and the in-memory broker's
#: subscription queue (10,000 messages) overflows and drops task-run states for good (server
#: log: "Subscription queue is full, dropping message").
SERVER_ENV = dict(PREFECT_SERVER_SETTINGS)


# --- the child: run the flow against PREFECT_API_URL ---------------------------------------


class NoJournal:
    """The stage's journal, kept nowhere: the benchmark has no manifest blob to sit beside."""

    def add(self, result: Any) -> None:
        pass

    def flush(self) -> None:
        pass


def child(images: int, concurrency: int, limit: bool) -> dict[str, Any]:
    from prefect import flow
    from prefect.runtime import flow_run

    import flows.target_import as target_import
    import tasks.registries as clients
    from acr_migrate.models import (
        Action,
        ImportItem,
        ImportResult,
        ImportStatus,
        PlanItem,
        RegistryEndpoint,
    )
    from acr_migrate.plan import Plan
    from acr_migrate.settings import ImportOptions
    from flows.runners import TaskRunnerSettings

    class InstantEngine:
        name = "instant"

        def import_image(self, item: ImportItem, *, force: bool = False) -> ImportResult:
            return ImportResult(
                repository=item.repository,
                digest=item.digest,
                tags=item.tags,
                status=ImportStatus.IMPORTED,
            )

        def close(self) -> None:
            pass

    source = RegistryEndpoint(name="bench-source", url="https://source.invalid")
    target = RegistryEndpoint(name=f"bench-{images}-{int(time.time())}", url="https://t.invalid")
    options = ImportOptions(concurrency=concurrency, retries=0)
    engine = InstantEngine()
    clients._engines[(options.engine.value, source, target)] = engine  # type: ignore[index]
    items = [
        ImportItem(repository=f"bench/app{n % 50}", digest=f"sha256:{n:064x}", tags=(f"v{n}",))
        for n in range(images)
    ]
    plan = Plan(items=[PlanItem(action=Action.IMPORT, item=i) for i in items])
    if not limit:
        target_import.limit_name = lambda t: None  # type: ignore[assignment,return-value]
        target_import.ensure_limit = lambda name, default: 0  # type: ignore[assignment]

    @flow(name="bench-import", log_prints=False)
    def bench() -> tuple[str, int]:
        settings = TaskRunnerSettings(headroom=float(os.environ.get("BENCH_HEADROOM", "2")))
        results, _ = target_import._import_all(
            plan,
            source,
            target,
            options,
            settings,
            NoJournal(),  # type: ignore[arg-type]
        )
        return str(flow_run.id), len(results)

    start = time.perf_counter()
    run_id, done = bench()
    flow_seconds = time.perf_counter() - start
    assert done == images

    workers = TaskRunnerSettings().in_flight(concurrency)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda i: engine.import_image(i), items))
    plain_seconds = time.perf_counter() - start
    return {"run_id": run_id, "flow_seconds": flow_seconds, "plain_seconds": plain_seconds}


# --- the parent: servers, databases, the table ----------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pg_binary(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name) or ""]
    if not found[-1]:
        raise SystemExit(f"{name} not found: apt-get install postgresql")
    return found[-1]


class Postgres:
    """A throwaway PostgreSQL cluster on loopback (run as the postgres user when root)."""

    def __init__(self, root: Path):
        self.dir = root / "pg"
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        self.dir.mkdir(parents=True)
        if self.as_user:
            shutil.chown(self.dir, "postgres", "postgres")
            shutil.chown(self.dir.parent, "postgres", "postgres")
        subprocess.run(
            [
                *self.as_user,
                pg_binary("initdb"),
                "-D",
                str(self.dir),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
        )
        self.proc = subprocess.Popen(
            [
                *self.as_user,
                pg_binary("postgres"),
                "-D",
                str(self.dir),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-k",
                str(self.dir),
                "-c",
                "max_connections=200",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        psql = [pg_binary("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        for _ in range(100):
            if subprocess.run([*psql, "-c", "select 1"], capture_output=True).returncode == 0:
                break
            time.sleep(0.2)
        subprocess.run([*psql, "-c", "create database prefect"], check=True, capture_output=True)
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/prefect"

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=30)


class Server:
    def __init__(self, root: Path, database_url: str | None, settings: dict[str, str]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.env = (
            {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
            | {
                "PREFECT_HOME": str(root / "prefect"),
                "PREFECT_API_URL": self.url,
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "DO_NOT_TRACK": "1",
                "PREFECT_LOGGING_LEVEL": "WARNING",
            }
            | settings
        )
        if database_url:
            self.env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
        root.mkdir(parents=True, exist_ok=True)
        self.log_path = root / "server.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prefect",
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit(f"prefect server did not start: see {root / 'server.log'}")
            time.sleep(0.5)

    def count(self, run_id: str, *states: str) -> int:
        body = {
            "flow_runs": {"id": {"any_": [run_id]}},
            "task_runs": {"state": {"type": {"any_": list(states)}}},
        }
        response = httpx.post(f"{self.url}/task_runs/count", json=body, timeout=60)
        response.raise_for_status()
        return int(response.json())

    def events(self, run_id: str) -> int:
        """How many events of the flow run the server stored (what the UI's event feed has)."""
        body = {"filter": {"any_resource": {"id": [f"prefect.flow-run.{run_id}"]}}, "limit": 1}
        response = httpx.post(f"{self.url}/events/filter", json=body, timeout=60)
        response.raise_for_status()
        return int(response.json()["total"])

    def dropped(self) -> int:
        """How many messages the in-memory broker dropped (full subscription queues)."""
        text = self.log_path.read_text(errors="replace")
        return text.count("Subscription queue is full")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def measure(
    server: Server, images: int, concurrency: int, limit: bool, wait: float
) -> dict[str, Any]:
    dropped_before = server.dropped()
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            "--images",
            str(images),
            "--concurrency",
            str(concurrency),
            "--limit",
            "on" if limit else "off",
        ],
        # The flow logs as the product does (INFO): only the server is kept quiet.
        env={k: v for k, v in server.env.items() if k != "PREFECT_LOGGING_LEVEL"},
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"child failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    flow_end = time.perf_counter()
    deadline = flow_end + wait
    while (seen := server.count(result["run_id"], "COMPLETED", "FAILED", "CRASHED")) < images:
        if time.perf_counter() > deadline:
            break
        time.sleep(0.5)
    result["lag_seconds"] = time.perf_counter() - flow_end
    result["visible"] = seen
    result["failed"] = server.count(result["run_id"], "FAILED", "CRASHED")
    result["dropped_messages"] = server.dropped() - dropped_before
    time.sleep(2)  # the event persister flushes every second
    result["events_stored"] = server.events(result["run_id"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--limit", choices=["on", "off", "both"], default="both")
    parser.add_argument(
        "--server-settings",
        choices=["project", "prefect-defaults"],
        default="project",
        help="project: SERVER_ENV (what the sandbox and compose set); prefect-defaults: none",
    )
    parser.add_argument("--wait", type=float, default=900, help="longest wait for the UI, s")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.images[0], args.concurrency, args.limit == "on")))
        return

    rows = []
    settings = SERVER_ENV if args.server_settings == "project" else {}
    limits = {"on": [True], "off": [False], "both": [True, False]}[args.limit]
    for db in args.db:
        root = Path(tempfile.mkdtemp(prefix=f"bench-prefect-{db}-"))
        pg = Postgres(root) if db == "postgres" else None
        url = pg.start() if pg else None
        server = Server(root, url, settings)
        try:
            for images in args.images:
                for limit in limits:
                    r = measure(server, images, args.concurrency, limit, args.wait)
                    rows.append(
                        {
                            "db": db,
                            "images": images,
                            "limit": limit,
                            "server_settings": args.server_settings,
                            **r,
                        }
                    )
                    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        finally:
            server.stop()
            if pg:
                pg.stop()
            shutil.rmtree(root, ignore_errors=True)

    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = RESULTS / f"prefect-overhead-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "date": stamp,
                "machine": machine(),
                "server_settings": settings,
                "concurrency": args.concurrency,
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nraw results: {out.relative_to(REPO)}")
    print(
        f"\nconcurrency {args.concurrency} (threads {2 * args.concurrency}), instant engine, "
        f"{os.cpu_count()} CPUs\n"
    )
    print(
        "| db | images | global limit | flow ms/image | plain pool ms/image | ratio "
        "| UI lag after flow s | all visible s | broker messages dropped | events stored |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        per = 1000 * r["flow_seconds"] / r["images"]
        plain = 1000 * r["plain_seconds"] / r["images"]
        visible = "" if r["visible"] == r["images"] else f" ({r['visible']} seen)"
        if r["failed"]:
            visible += f" ({r['failed']} failed)"
        print(
            f"| {r['db']} | {r['images']:,} | {'on' if r['limit'] else 'off'} | {per:.2f} "
            f"| {plain:.4f} | {per / plain:,.0f}x | {r['lag_seconds']:.1f}{visible} "
            f"| {r['flow_seconds'] + r['lag_seconds']:.1f} | {r['dropped_messages']} "
            f"| {r.get('events_stored', '')} |"
        )


def machine() -> str:
    """CPU model, count and load, for the results file."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPUs {model}; load average {load}"


if __name__ == "__main__":
    main()
