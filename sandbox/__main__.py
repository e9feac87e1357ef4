"""``python -m sandbox up|seed|down|status`` (no secrets are printed)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tomllib
from pathlib import Path

from sandbox import api
from sandbox._process import SandboxError
from sandbox.seed import DEFAULT_IMAGES


def _print_status(info: dict[str, object], as_json: bool) -> None:
    if as_json:
        print(json.dumps(info, indent=2))
        return
    print(f"sandbox root: {info['root']}  running: {info['running']}")
    services = info.get("services") or {}
    assert isinstance(services, dict)
    for name, svc in services.items():
        state = "up" if svc["running"] else "down"
        print(f"  {name:16} {state:5} pid {svc['pid']:<8} {svc['url']}")
    if info.get("config"):
        print(f"config: {info['config']}")


def _server_and_source(root: Path | None) -> tuple[dict[str, str], str] | None:
    """The sandbox's Prefect URLs and its source registry's name (None: no server yet)."""
    urls = api.prefect_urls(root)
    if not urls.get("api_url"):
        print("sandbox: no Prefect server: run `python -m sandbox prefect` first", file=sys.stderr)
        return None
    state = api.load_state(root)
    return urls, tomllib.loads(Path(state["config"]).read_text())["source"]["name"]


def _demo(root: Path | None) -> int:
    from sandbox.demo import run_demo

    found = _server_and_source(root)
    if found is None:
        return 1
    urls, source_name = found
    runs = run_demo(urls["api_url"], source_name, urls.get("ui_url"))
    print()
    print(f"Prefect UI: {urls['ui_url']}  (the runs below, their task runs and artifacts)")
    for run in runs:
        print(f"  {run.step:<22} {run.url}")
    ok = len(runs) == 5 and all(r.ok for r in runs)
    return 0 if ok else 1


def _demo_cutover(root: Path | None) -> int:
    from sandbox.demo import run_cutover_demo

    found = _server_and_source(root)
    if found is None:
        return 1
    urls, source_name = found
    run = run_cutover_demo(urls["api_url"], source_name, urls.get("ui_url"))
    print()
    print(f"Prefect UI: {urls['ui_url']}  the runbook run (its steps, each a run in its pool):")
    print(f"  {run.url}")
    return 0 if run.ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--root", type=Path, default=None, help="sandbox root (default .sandbox)")
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start all services and write the config")
    p_up.add_argument("--azurite-https", action="store_true", help="serve Azurite over HTTPS")
    p_up.add_argument("--restart", action="store_true", help="restart if already running")
    p_up.add_argument("--seed", type=int, metavar="N", default=None, help="also seed N images")
    p_up.add_argument(
        "--secrets-file",
        type=Path,
        default=None,
        help="NAME=value lines choosing some of the secrets (the others are random): "
        + ", ".join(api.CHOSEN_SECRETS),
    )
    p_seed = sub.add_parser("seed", help="push sample images into the source registry")
    p_seed.add_argument("--config", type=Path, default=None, help="acr-migrate.toml to use")
    p_seed.add_argument("--images", type=int, default=DEFAULT_IMAGES)
    p_seed.add_argument("--json", action="store_true", help="print the summary as JSON")
    p_prefect = sub.add_parser(
        "prefect", help="start (or reuse) the Prefect server, deployments and tenant workers"
    )
    p_prefect.add_argument("--port", type=int, default=None, help="server port (default 4200)")
    sub.add_parser("demo", help="run the migration through the deployments, as the UI does")
    sub.add_parser(
        "demo-cutover",
        help="run the whole runbook (migrate-registry) through the deployments, answering its "
        "approvals; ends with the source deleted",
    )
    sub.add_parser("env", help="print the secrets as `export` lines for bash")
    sub.add_parser("down", help="stop every process the sandbox started")
    p_status = sub.add_parser("status", help="show what runs")
    p_status.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    try:
        if args.command == "up":
            config = api.up(
                args.root,
                azurite_https=args.azurite_https,
                restart=args.restart,
                secrets=api.read_secrets_file(args.secrets_file) if args.secrets_file else None,
            )
            _print_status(api.status(args.root), as_json=False)
            if args.seed:
                print(api.seed(config, images=args.seed).format())
        elif args.command == "seed":
            config = args.config or api.config_path(args.root)
            summary = api.seed(config, images=args.images)
            print(json.dumps(summary.to_dict(), indent=2) if args.json else summary.format())
        elif args.command == "prefect":
            url = api.prefect_up(args.root, port=args.port)
            print(
                f"Prefect UI: {url.removesuffix('/api')}  (workers: source-tenant, target-tenant)"
            )
        elif args.command == "demo":
            return _demo(args.root)
        elif args.command == "demo-cutover":
            return _demo_cutover(args.root)
        elif args.command == "env":
            env = api.read_env_file((args.root or api.default_root()) / api.ENV_NAME)
            print("".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items()), end="")
        elif args.command == "down":
            stopped = api.down(args.root)
            print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
        elif args.command == "status":
            info = api.status(args.root)
            _print_status(info, as_json=args.json)
            return 0 if info["running"] else 3
    except (SandboxError, ValueError) as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
