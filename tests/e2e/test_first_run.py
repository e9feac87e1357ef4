"""The CLI on a machine that never ran Prefect: an empty ``PREFECT_HOME`` and no
``PREFECT_API_URL``. The temporary server's first start migrates a new database, which takes
longer than Prefect's own 20 s start-up wall; the command must still pass. A server that does
not answer is one clear line naming ``PREFECT_API_URL``, never a traceback.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import run_cli

pytestmark = [pytest.mark.e2e]


def _cli(*args: str, home: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), COLUMNS="200", **extra)
    return run_cli(*args, env=env, timeout=900)


def test_cli_runs_on_a_fresh_machine(sandbox_config: Path, tmp_path: Path) -> None:
    home = tmp_path / "prefect-home"
    home.mkdir()
    first = _cli("export", "-c", str(sandbox_config), "--dry-run", home=home)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "first start: preparing its database" in first.stdout
    assert "Exported" in first.stdout and "Traceback" not in first.stdout + first.stderr
    assert (home / "prefect.db").exists()
    again = _cli("export", "-c", str(sandbox_config), "--dry-run", home=home)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "first start" not in again.stdout


def test_an_unreachable_server_is_one_clear_line(sandbox_config: Path, tmp_path: Path) -> None:
    dead = "http://127.0.0.1:9/api"
    done = _cli("validate", "-c", str(sandbox_config), home=tmp_path, PREFECT_API_URL=dead)
    assert done.returncode == 2
    out = done.stdout + done.stderr
    assert f"PREFECT_API_URL={dead}" in out
    assert "Traceback" not in out
    assert len([line for line in out.splitlines() if line.strip()]) == 1, out
