"""A benchmark's measured parts run in child processes of their own: one way to start them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def child_result(
    script: str, kind: str, spec: dict[str, Any], env: dict[str, str]
) -> dict[str, Any]:
    """Run ``script --child kind --spec <file>`` (``spec`` written to ``spec["dir"]``); the JSON
    object on the last line of its output. A child that fails ends the benchmark with its
    output."""
    path = Path(spec["dir"]) / f"child-{kind}.json"
    path.write_text(json.dumps(spec))
    out = subprocess.run(
        [sys.executable, str(Path(script).resolve()), "--child", kind, "--spec", str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    if out.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))
