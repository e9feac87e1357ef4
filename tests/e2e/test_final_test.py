"""The final test pulls every migrated image and one blob of each from the new registry: it
passes after an import and names the image a target lost."""

from __future__ import annotations

import pytest

from acr_migrate.oci.client import RegistryClient
from acr_migrate.settings import MigrationConfig
from flows.final_test import final_test
from sandbox.oci_push import build_image, make_layer, push_image
from tests.helpers import push_endpoint, run_export, run_import, uid

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]


def test_the_final_test_passes_after_the_import_and_names_a_lost_image(
    oci_config: MigrationConfig,
) -> None:
    cfg = oci_config
    prefix = f"final-{uid()}"
    for n in range(2):
        image = build_image([make_layer({f"f{n}": f"{prefix}-{n}".encode() * 300})])
        push_image(push_endpoint(cfg.source), f"{prefix}/app{n}", [f"v{n}"], image)
    location = run_export(cfg, include=[f"{prefix}/*"]).location
    state, _ = run_import(cfg, location)
    assert state.is_completed(), state.message

    passed = final_test(cfg.source, cfg.target, cfg.storage, manifest=location, return_state=True)
    assert passed.is_completed(), passed.message
    assert "pulled 2 manifests and a blob of each; not compared" in (passed.message or "")

    with RegistryClient(cfg.target) as target:
        lost = target.head_manifest(f"{prefix}/app1", "v1")
        assert lost is not None and target.delete_manifest(f"{prefix}/app1", lost.digest)
    failed = final_test(cfg.source, cfg.target, cfg.storage, manifest=location, return_state=True)
    assert failed.is_failed()
    assert f"1 of 2 pulls failed (first: {prefix}/app1:v1: " in (failed.message or "")
