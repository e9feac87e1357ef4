"""Retry-After end to end: the import flow comes back no sooner than the header said.

A fault proxy in front of the target answers the first manifest PUT of the image with 429 and
``Retry-After: N`` and records when each PUT arrived. The retried PUT must arrive at least N
seconds after the throttled one: that gap is the behaviour under test, not a speed.
"""

from __future__ import annotations

from typing import Any

import pytest

from acr_migrate.settings import EngineName, MigrationConfig
from sandbox.oci_push import build_image, make_layer, push_image
from tests.helpers import push_endpoint, run_export, run_import, task_runs_of, uid

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server", "target_acr")]

RETRY_AFTER = 8  # seconds; well above the task's own retry delay, so only the header explains it


def test_the_retry_waits_for_retry_after(
    migration_config: MigrationConfig, recording_proxy: Any
) -> None:
    cfg = migration_config
    prefix = f"ra-{uid()}"
    repo = f"{prefix}/app"
    image = build_image([make_layer({"f": prefix.encode() * 512})])
    push_image(push_endpoint(cfg.source), repo, ["v1"], image)
    export = run_export(cfg, include=[f"{prefix}/*"])
    manifests = f"/v2/{repo}/manifests/"
    proxy, state = recording_proxy(
        cfg.target.url,
        status=429,
        retry_after=RETRY_AFTER,
        burst=1,
        path_regex=f"^{manifests}",
        methods=["PUT"],
    )
    via_proxy = cfg.target.model_copy(update={"url": proxy.url})
    run, summary = run_import(
        cfg,
        export.location,
        target=via_proxy,
        engine=EngineName.OCI_COPY,
        concurrency=1,
        retries=3,
        retry_delay_seconds=0.1,
    )
    assert run.is_completed(), run.message
    assert summary.results["imported"] == 1 and summary.results["failed"] == 0
    manifest_puts = [
        (at, fault)
        for at, method, path, fault in state.seen
        if method == "PUT" and path.startswith(manifests)
    ]
    assert [fault for _, fault in manifest_puts[:2]] == [True, False], manifest_puts
    gap = manifest_puts[1][0] - manifest_puts[0][0]
    assert gap >= RETRY_AFTER, f"retried {gap:.2f} s after a 429 with Retry-After: {RETRY_AFTER}"
    # The wait happened between two attempts of the image's own task run.
    runs = [r for r, _ in task_runs_of(run.state_details.flow_run_id) if r.name == f"{repo}:v1"]
    assert len(runs) == 1 and runs[0].run_count == 2
