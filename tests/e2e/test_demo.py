"""What ``make demo`` does for a new user, on a sandbox of its own: the sandbox's Prefect server,
the deployments, one worker per tenant with only that tenant's secrets, then the migration run
as the UI runs it (export -> event-started dry run -> provision -> import -> validate), ending
with the import's per-image task runs visible in the UI (headless Chromium). The same demo
(the ``demo_sandbox`` fixture) is searched for secrets in ``test_secrets_demo.py``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from acr_migrate.settings import load_config
from sandbox import api, prefect_server
from sandbox.demo import Demo
from tests.e2e.browser import show_task_runs
from tests.e2e.conftest import DemoSandbox

pytestmark = [pytest.mark.e2e]


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().partition("=")[::2] for item in raw if b"=" in item)


def test_each_tenant_worker_holds_only_its_tenants_secrets(demo_sandbox: DemoSandbox) -> None:
    cfg = load_config(demo_sandbox.config, load_env=False)
    assert cfg.source.azure and cfg.target.azure
    source_secret = cfg.source.azure.identity.client_secret_env
    target_secret = cfg.target.azure.identity.client_secret_env
    pids = prefect_server.read_pids(demo_sandbox.root, prefect_server.PIDS_NAME)
    source = _environ(int(pids["worker-source-tenant"]["pid"]))
    target = _environ(int(pids["worker-target-tenant"]["pid"]))
    assert source_secret in source and cfg.source.password_env in source
    assert target_secret not in source and cfg.target.password_env not in source
    assert target_secret in target and cfg.target.password_env in target
    # The import pulls with the source registry's credential, never the source identity.
    assert cfg.source.password_env in target and source_secret not in target
    for env in (source, target):
        assert cfg.storage.connection_string_env in env
        assert env["PREFECT_API_URL"] == demo_sandbox.api_url


def test_the_sandbox_server_batches_its_writes(demo_sandbox: DemoSandbox) -> None:
    from acr_migrate.settings import PREFECT_SERVER_SETTINGS

    pids = prefect_server.read_pids(demo_sandbox.root, prefect_server.PIDS_NAME)
    env = _environ(int(pids[prefect_server.SERVER]["pid"]))
    assert PREFECT_SERVER_SETTINGS.items() <= env.items()


def test_demo_migrates_through_deployments_and_shows_each_image(
    demo_sandbox: DemoSandbox, output_dir: Path
) -> None:
    runs = demo_sandbox.runs
    assert [r.step for r in runs] == [
        "export (source)",
        "dry-run import (event)",
        "provision (target)",
        "import (target)",
        "validate (target)",
    ]
    assert all(r.ok for r in runs), [(r.step, r.state, r.message) for r in runs]
    export, dry_run, _, imported, validated = runs
    manifests = demo_sandbox.seeded["image_count"]
    assert f"({manifests} manifests," in export.message
    assert f"plan: import {manifests}," in dry_run.message and "results" not in dry_run.message
    assert f"imported {manifests}," in imported.message and "failed 0" in imported.message
    assert "missing 0, mismatch 0" in imported.message
    assert " rows match; " in validated.message, validated.message
    # Nothing moved in the source between the export and the validation.
    assert validated.message.endswith("drift: moved 0, deleted 0"), validated.message

    demo = Demo(demo_sandbox.api_url)
    task_runs = _image_task_runs(demo, imported.id, manifests)
    names = sorted(r.name for r in task_runs)
    repositories = {image["repository"] for image in demo_sandbox.seeded["images"]}
    assert all(n.split(":")[0].split("@")[0] in repositories for n in names), names
    shot = output_dir / "demo-import-task-runs.png"
    text = show_task_runs(demo.ui_url, imported.id, imported.name, names, shot)
    assert all(name in text for name in names)


def test_a_second_prefect_up_reuses_the_server(demo_sandbox: DemoSandbox) -> None:
    before = prefect_server.read_pids(demo_sandbox.root, prefect_server.PIDS_NAME)
    assert api.prefect_up(demo_sandbox.root) == demo_sandbox.api_url
    after = prefect_server.read_pids(demo_sandbox.root, prefect_server.PIDS_NAME)
    assert after[prefect_server.SERVER] == before[prefect_server.SERVER]
    assert f'api_url = "{demo_sandbox.api_url}"' in demo_sandbox.config.read_text()
    assert load_config(demo_sandbox.config, load_env=False).prefect.api_url == demo_sandbox.api_url


def _image_task_runs(demo: Demo, flow_run_id: Any, expected: int) -> list[Any]:
    """The import's per-image task runs once the server shows them all in a final state."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async def read(client: Any) -> list[Any]:
        runs = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
        return [r for r in runs if r.task_key.startswith("import_image")]

    deadline = time.monotonic() + 300
    while True:
        runs = demo.call(read)
        if len(runs) == expected and all(r.state_name == "Completed" for r in runs):
            return runs
        assert time.monotonic() < deadline, [(r.name, r.state_name) for r in runs]
        time.sleep(1)
