"""An import with nothing to copy reads the target once: validation checks the target as read
for the plan (nothing was written since), instead of reading it again."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from acr_migrate.settings import EngineName, MigrationConfig
from tests.helpers import push_small_image, run_export, run_import, uid

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server", "target_acr")]


def test_a_no_op_import_reads_the_target_once(
    migration_config: MigrationConfig, recording_proxy: Any
) -> None:
    cfg = migration_config
    prefix = f"noop-{uid()}"
    tags = {f"{prefix}/app{i}": "v1" for i in range(3)}
    for repo, tag in tags.items():
        push_small_image(cfg, repo, [tag], repo)
    export = run_export(cfg, include=[f"{prefix}/*"])
    proxy, state = recording_proxy(cfg.target.url)
    via_proxy = cfg.target.model_copy(update={"url": proxy.url})
    options = {"engine": EngineName.OCI_COPY}

    run, summary = run_import(cfg, export.location, target=via_proxy, **options)
    assert run.is_completed(), run.message
    assert summary.results["imported"] == 3
    first = Counter(path for _, method, path, _ in state.seen if method in ("GET", "HEAD"))

    state.seen.clear()
    run, summary = run_import(cfg, export.location, target=via_proxy, **options)
    assert run.is_completed(), run.message
    assert summary.results["imported"] == 0 and summary.validation["ok"] == 3
    again = Counter(path for _, method, path, _ in state.seen if method in ("GET", "HEAD"))
    # The target is an ACR (the stand-in): its inventory lists each repository's manifests.
    for repo in tags:
        listing = f"/acr/v1/{repo}/_manifests"
        assert first[listing] > 0 and first[listing] % 2 == 0, (listing, first)
        # The first run read it for the plan, then to validate; the no-op only for the plan.
        assert again[listing] == first[listing] // 2, (listing, first, again)
