"""A target-import killed with SIGKILL half-way, started again with the same manifest, finishes
the job: nothing is imported twice, nothing is skipped, and one results CSV gives every image
exactly one final status (the dead run's images marked ``resumed_from`` it)."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from acr_migrate.journal import PREFIX as JOURNAL_PREFIX
from acr_migrate.settings import EngineName, MigrationConfig
from acr_migrate.storage import BlobStore
from flows.runners import TaskRunnerSettings
from flows.target_import import target_import
from sandbox import api
from sandbox.oci_push import build_image, make_layer, push_image
from tests.helpers import push_endpoint, run_export, uid

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]

REPO = Path(__file__).resolve().parents[2]
IMAGES = 12
#: The first run, in a process of its own: one image at a time, one per second.
FIRST_RUN = """
import sys
from acr_migrate.settings import EngineName, load_config
from acr_migrate.storage import ManifestLocation
from flows.runners import TaskRunnerSettings
from flows.target_import import target_import

cfg = load_config(sys.argv[1])
options = cfg.migration.model_copy(update={"engine": EngineName.OCI_COPY, "concurrency": 1})
target_import(
    cfg.source, cfg.target, cfg.storage, ManifestLocation.model_validate_json(sys.argv[2]),
    options, runner=TaskRunnerSettings(max_images_per_second=1.0), return_state=True,
)
"""


def _journal_lines(store: BlobStore, folder: str) -> list[dict[str, str]]:
    lines = []
    for name in store.names(f"{folder}/{JOURNAL_PREFIX}"):
        data, _ = store.get(name)
        lines += [json.loads(line) for line in data.splitlines() if line.strip()]
    return lines


def _kill_the_limit(name: str) -> None:
    """The dead run's slots stay leased until their leases expire (minutes): the operator
    deletes the limit (it is created again with the run's concurrency)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.delete_global_concurrency_limit_by_name(name)


def test_a_killed_import_started_again_finishes_with_one_status_per_image(
    oci_config: MigrationConfig, sandbox_config: Path, tmp_path: Path
) -> None:
    from prefect.settings import PREFECT_API_URL

    from tasks.limits import limit_name

    cfg = oci_config
    prefix = f"resume-{uid()}"
    for n in range(IMAGES):
        image = build_image([make_layer({f"f{n}": f"{prefix}-{n}".encode() * 200})])
        push_image(push_endpoint(cfg.source), f"{prefix}/app{n % 3}", [f"v{n}"], image)
    location = run_export(cfg, include=[f"{prefix}/*"]).location
    folder = location.blob.rsplit("/", 1)[0]
    store = BlobStore(cfg.storage)

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    config = sandbox_config.parent / api.OCI_CONFIG_NAME
    log = tmp_path / "first-run.log"
    with log.open("wb") as output:
        first = subprocess.Popen(
            [sys.executable, "-c", FIRST_RUN, str(config), location.model_dump_json()],
            cwd=REPO,
            env=env,
            start_new_session=True,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        give_up = time.monotonic() + 600
        while len(_journal_lines(store, folder)) < 3:
            tail = log.read_text(errors="replace")[-3000:]
            assert first.poll() is None, f"the first run ended before it could be killed:\n{tail}"
            assert time.monotonic() < give_up, f"the first run journaled nothing:\n{tail}"
            time.sleep(0.5)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    landed = {
        (line["repository"], line["digest"])
        for line in _journal_lines(store, folder)
        if line["status"] == "imported"
    }
    assert 3 <= len(landed) < IMAGES

    _kill_the_limit(limit_name(cfg.target))
    options = cfg.migration.model_copy(update={"engine": EngineName.OCI_COPY})
    state = target_import(
        cfg.source,
        cfg.target,
        cfg.storage,
        location,
        options,
        runner=TaskRunnerSettings(max_images_per_second=0),
        return_state=True,
    )
    assert state.is_completed(), state.message
    summary = state.result()
    assert summary.validation["ok"] == IMAGES and summary.validation["missing"] == 0

    blob = summary.results_url.split(f"/{cfg.storage.container}/", 1)[1]
    data, _ = store.get(blob)
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    keys = [(r["repository"], r["digest"]) for r in rows]
    assert len(keys) == len(set(keys))  # one final status per image
    resumed = {(r["repository"], r["digest"]) for r in rows if r["resumed_from"]}
    assert resumed == landed  # what the dead run imported, reported as its
    imported_now = {
        (r["repository"], r["digest"])
        for r in rows
        if r["status"] == "imported" and not r["resumed_from"]
    }
    assert imported_now.isdisjoint(landed)  # nothing imported twice
    skipped = {(r["repository"], r["digest"]) for r in rows if r["status"] == "skipped"}
    # every image has its status: imported now, imported by the dead run, or found there
    # (copied by the dead run after its last journal write)
    assert len(keys) == IMAGES
    assert imported_now | resumed | skipped == set(keys)
    assert summary.plan["import"] == len(imported_now)
