"""Start a Prefect worker with one tenant's secrets only, picked from an env file.

    python -m deployments.worker --env-file /sandbox/sandbox.env \
        --keep ACR_MIGRATE_SOURCE_PASSWORD,ACR_MIGRATE_STORAGE_CONNECTION_STRING \
        -- prefect worker start --pool source-tenant --type process

Used by the rehearsal services of ``docker-compose.yml`` (the sandbox writes every secret into
one file; each worker must see only its own tenant's). Variables already set win.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from acr_migrate.settings import read_env_file


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="exec a command with selected env-file keys")
    parser.add_argument("--env-file", type=Path, required=True)
    parser.add_argument("--keep", default="", help="comma-separated keys to take from the file")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    keep = {k.strip() for k in args.keep.split(",") if k.strip()}
    for key, value in read_env_file(args.env_file).items():
        if key in keep:
            os.environ.setdefault(key, value)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
