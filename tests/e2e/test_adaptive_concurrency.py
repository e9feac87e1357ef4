"""The import stage's adaptive window, end to end: throttles cut it, the run still lands every
image, and the progress artifact, the report and the summary say how many images were in flight
and how often the target throttled.

A fault proxy in front of the target answers the first few manifest PUTs with 429 and
``Retry-After`` and records every request, so the test compares what the run reports with what
the target really answered.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from acr_migrate.settings import EngineName, MigrationConfig
from tests.helpers import push_small_image, run_export, run_import, uid

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server", "target_acr")]

RETRY_AFTER = 2
THROTTLED = 3


def _push(cfg: MigrationConfig, prefix: str, count: int) -> list[str]:
    repos = [f"{prefix}/img{i}" for i in range(count)]
    for repo in repos:
        push_small_image(cfg, repo, ["v1"], repo)
    return repos


def _artifacts(flow_run_id: Any) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])
                )
            )
            return {a.type or "": a for a in found}

    return asyncio.run(read())


def test_throttles_cut_the_window_and_every_image_still_lands(
    migration_config: MigrationConfig, recording_proxy: Any
) -> None:
    cfg = migration_config
    prefix = f"aimd-{uid()}"
    repos = _push(cfg, prefix, 12)
    export = run_export(cfg, include=[f"{prefix}/*"])
    proxy, state = recording_proxy(
        cfg.target.url,
        status=429,
        retry_after=RETRY_AFTER,
        burst=THROTTLED,
        path_regex=f"^/v2/{prefix}/[^/]+/manifests/",
        methods=["PUT"],
    )
    via_proxy = cfg.target.model_copy(update={"url": proxy.url})
    run, summary = run_import(
        cfg,
        export.location,
        target=via_proxy,
        engine=EngineName.OCI_COPY,
        concurrency=8,
        adaptive=True,
        retries=4,
        retry_delay_seconds=0.1,
    )
    assert run.is_completed(), run.message
    assert summary.results["imported"] == len(repos) and summary.results["failed"] == 0
    refused = [(at, path) for at, method, path, fault in state.seen if fault]
    assert len(refused) == THROTTLED, refused
    stats = summary.concurrency
    assert stats is not None and stats.adaptive
    assert stats.throttled == THROTTLED, stats
    assert stats.cuts >= 1 and 1 <= stats.current <= stats.peak <= 8, stats
    assert stats.text() in run.message
    artifacts = _artifacts(run.state_details.flow_run_id)
    assert f"{THROTTLED} throttled" in str(artifacts["progress"].description)
    report = str(artifacts["markdown"].data)
    assert f"throttled attempts (429/503): {THROTTLED}, window cut {stats.cuts} time(s)" in report


def test_without_throttling_the_window_grows_to_the_ceiling(
    migration_config: MigrationConfig,
) -> None:
    cfg = migration_config
    prefix = f"grow-{uid()}"
    _push(cfg, prefix, 10)
    export = run_export(cfg, include=[f"{prefix}/*"])
    run, summary = run_import(
        cfg, export.location, engine=EngineName.OCI_COPY, concurrency=12, adaptive=True
    )
    assert run.is_completed(), run.message
    stats = summary.concurrency
    assert stats is not None
    # It starts at 8 and, nothing throttled, one more per image that lands, up to 12.
    assert (stats.current, stats.peak, stats.ceiling, stats.throttled) == (12, 12, 12, 0), stats
    assert "throttled" not in run.message


def test_fixed_concurrency_keeps_its_window_and_still_counts_throttles(
    migration_config: MigrationConfig, recording_proxy: Any
) -> None:
    cfg = migration_config
    prefix = f"fixed-{uid()}"
    _push(cfg, prefix, 4)
    export = run_export(cfg, include=[f"{prefix}/*"])
    proxy, state = recording_proxy(
        cfg.target.url,
        status=503,
        retry_after=1,
        burst=1,
        path_regex=f"^/v2/{prefix}/[^/]+/manifests/",
        methods=["PUT"],
    )
    run, summary = run_import(
        cfg,
        export.location,
        target=cfg.target.model_copy(update={"url": proxy.url}),
        engine=EngineName.OCI_COPY,
        concurrency=3,
        adaptive=False,
        retries=3,
        retry_delay_seconds=0.1,
    )
    assert run.is_completed(), run.message
    assert sum(fault for *_, fault in state.seen) == 1
    stats = summary.concurrency
    assert stats is not None and not stats.adaptive
    assert (stats.current, stats.peak, stats.throttled, stats.cuts) == (3, 3, 1, 0), stats
