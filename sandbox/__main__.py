"""``python -m sandbox up|seed|down|status`` (no secrets are printed)."""

from __future__ import annotations

import argparse
import json
import sys
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--root", type=Path, default=None, help="sandbox root (default .sandbox)")
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start all services and write the config")
    p_up.add_argument("--azurite-https", action="store_true", help="serve Azurite over HTTPS")
    p_up.add_argument("--restart", action="store_true", help="restart if already running")
    p_up.add_argument("--seed", type=int, metavar="N", default=None, help="also seed N images")
    p_seed = sub.add_parser("seed", help="push sample images into the source registry")
    p_seed.add_argument("--config", type=Path, default=None, help="acr-migrate.toml to use")
    p_seed.add_argument("--images", type=int, default=DEFAULT_IMAGES)
    p_seed.add_argument("--json", action="store_true", help="print the summary as JSON")
    sub.add_parser("down", help="stop the processes recorded in pids.json")
    p_status = sub.add_parser("status", help="show what runs")
    p_status.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    try:
        if args.command == "up":
            config = api.up(
                args.root,
                azurite_https=args.azurite_https,
                restart=args.restart,
            )
            _print_status(api.status(args.root), as_json=False)
            if args.seed:
                print(api.seed(config, images=args.seed).format())
        elif args.command == "seed":
            config = args.config or api.config_path(args.root)
            summary = api.seed(config, images=args.images)
            print(json.dumps(summary.to_dict(), indent=2) if args.json else summary.format())
        elif args.command == "down":
            stopped = api.down(args.root)
            print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
        elif args.command == "status":
            info = api.status(args.root)
            _print_status(info, as_json=args.json)
            return 0 if info["running"] else 3
    except SandboxError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
