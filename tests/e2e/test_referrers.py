"""Signatures, SBOMs and attestations travel with their image, end to end: exported with their
subject, imported in the image's own task run on both engines, counted in the results, and a
referrer the target lost is named, with its image, by the validation."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from acr_migrate.models import RegistryEndpoint
from acr_migrate.oci.client import RegistryClient
from acr_migrate.referrers import referrers_tag
from acr_migrate.settings import EngineName, MigrationConfig
from acr_migrate.storage import BlobStore
from flows.validate import validate
from tests.helpers import (
    ReferrerGraph,
    push_endpoint,
    push_referrer_graph,
    referrer_graph,
    run_export,
    run_import,
    uid,
)

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]


def _results(cfg: MigrationConfig, summary: Any) -> list[dict[str, str]]:
    blob = summary.results_url.split(f"/{cfg.storage.container}/", 1)[1]
    data, _ = BlobStore(cfg.storage).get(blob)
    return list(csv.DictReader(io.StringIO(data.decode())))


def _migrate(cfg: MigrationConfig, prefix: str, **options: Any) -> tuple[ReferrerGraph, Any, Any]:
    """Push an image with its referrers into the source, export and import ``prefix/*``."""
    repo = f"{prefix}/app"
    graph = referrer_graph(prefix)
    push_referrer_graph(push_endpoint(cfg.source), repo, graph)
    export = run_export(cfg, include=[f"{prefix}/*"])
    assert export.rows == 6  # v1, the cosign tag, four untagged referrers: no tag-schema rows
    assert export.referrers == 5 and "5 of them referrers" in export.message()
    state, summary = run_import(cfg, export.location, **options)
    assert state.is_completed(), state.message
    return graph, export, summary


def _assert_counted(cfg: MigrationConfig, summary: Any, graph: ReferrerGraph) -> None:
    """One result line, the image's, with its five referrers; validation found every row."""
    assert summary.plan["import"] == 1 and summary.referrers == 5
    assert summary.validation == {"ok": 6, "missing": 0, "mismatch": 0, "excluded": 0}
    (line,) = _results(cfg, summary)
    assert (line["tags"], line["digest"], line["status"]) == ("v1", graph.image.digest, "imported")
    assert line["referrers"] == "5"


def _assert_validation_names(cfg: MigrationConfig, export: Any, lost: str, image: str) -> None:
    state = validate(
        cfg.source, cfg.target, cfg.storage, export.location, cfg.migration, return_state=True
    )
    assert state.is_failed()
    assert f"@{lost}: missing (referrer of {image}; expected {lost}, found nothing)" in (
        state.message or ""
    )
    report = state.result(raise_on_failure=False)
    assert [r.expected_digest for r in report.missing_referrers()[image]] == [lost]


def test_oci_copy_brings_referrers_and_the_tag_schema_and_validation_names_a_lost_one(
    oci_config: MigrationConfig,
) -> None:
    cfg = oci_config
    prefix = f"referrers-oci-{uid()}"
    repo = f"{prefix}/app"
    graph, export, summary = _migrate(cfg, prefix)
    _assert_counted(cfg, summary, graph)
    with RegistryClient(cfg.target) as target:
        for digest in graph.referrers():
            assert target.head_manifest(repo, digest) is not None, digest
        cosign = target.head_manifest(repo, graph.cosign_tag)
        assert cosign is not None and cosign.digest == graph.cosign.digest
        # The target has no referrers API either: the tag schema lists them there.
        listed = target.get_manifest(repo, referrers_tag(graph.image.digest)).json()
        assert {d["digest"] for d in listed["manifests"]} == {
            graph.sbom.digest,
            graph.signature.digest,
            graph.attestation.digest,
        }

    state, again = run_import(cfg, export.location)
    assert state.is_completed(), state.message
    assert again.plan["import"] == 0 and again.referrers == 5  # all there: nothing copied

    with RegistryClient(cfg.target) as target:
        assert target.delete_manifest(repo, graph.sbom_signature.digest)
    _assert_validation_names(cfg, export, graph.sbom_signature.digest, f"{repo}:v1")

    # The next import brings back only what is missing, in the image's own task run.
    state, back = run_import(cfg, export.location)
    assert state.is_completed(), state.message
    assert back.plan == {"import": 1, "skip": 1, "conflict": 0, "excluded": 0}
    assert back.validation["missing"] == 0


def test_acr_import_brings_referrers_the_target_lists_and_validation_names_a_lost_one(
    migration_config: MigrationConfig, target_acr: RegistryEndpoint
) -> None:
    cfg = migration_config
    prefix = f"referrers-acr-{uid()}"
    repo = f"{prefix}/app"
    graph, export, summary = _migrate(cfg, prefix, engine=EngineName.ACR_IMPORT)
    _assert_counted(cfg, summary, graph)
    with RegistryClient(cfg.target) as target:
        image_referrers = {d["digest"] for d in target.referrers(repo, graph.image.digest) or []}
        assert image_referrers == {
            graph.sbom.digest,
            graph.signature.digest,
            graph.attestation.digest,
        }
        sbom_referrers = [d["digest"] for d in target.referrers(repo, graph.sbom.digest) or []]
        assert sbom_referrers == [graph.sbom_signature.digest]
        cosign = target.head_manifest(repo, graph.cosign_tag)
        assert cosign is not None and cosign.digest == graph.cosign.digest
        assert referrers_tag(graph.image.digest) not in target.tags(repo)

        assert target.delete_manifest(repo, graph.attestation.digest)
    _assert_validation_names(cfg, export, graph.attestation.digest, f"{repo}:v1")
