"""Referrers over the sandbox: the ACR stand-in serves the OCI 1.1 referrers API (the backing
CNCF registry does not), the plain OCI registries keep referrers in the tag schema, and both
inventories find every referrer of an image, recursively, with its subject."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from acr_migrate.models import ImportItem, ImportStatus, RegistryEndpoint
from acr_migrate.oci.client import RegistryClient
from acr_migrate.oci.copy import OciCopyEngine
from acr_migrate.oci.inventory import OciInventory
from acr_migrate.plan import make_plan
from acr_migrate.ports import TargetState
from acr_migrate.referrers import referrers_tag
from acr_migrate.registry import open_registry
from acr_migrate.settings import MigrationConfig, load_config
from sandbox import api
from sandbox.oci_push import COSIGN_SIG_ARTIFACT, OCI_INDEX, SPDX_JSON
from sandbox.oci_push import RegistryClient as Pusher
from tests.helpers import (
    IN_TOTO,
    ReferrerGraph,
    push_endpoint,
    push_referrer_graph,
    referrer_graph,
    uid,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def oci_source(sandbox_config: Path) -> RegistryEndpoint:
    """The sandbox's plain source registry (CNCF distribution 2.8: no referrers API)."""
    return load_config(sandbox_config.parent / api.OCI_CONFIG_NAME).source


@pytest.fixture(scope="module")
def oci_target(sandbox_config: Path) -> RegistryEndpoint:
    """The sandbox's plain target registry (token auth, no referrers API)."""
    return load_config(sandbox_config.parent / api.OCI_CONFIG_NAME).target


def _rows_by_digest(rows: list) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        found.setdefault(row.digest, []).append((row.tag, row.subject))
    return found


def _expected_rows(graph: ReferrerGraph) -> dict[str, list[tuple[str, str]]]:
    return {
        graph.image.digest: [("v1", "")],
        graph.cosign.digest: [(graph.cosign_tag, graph.image.digest)],
        graph.sbom.digest: [("", graph.image.digest)],
        graph.signature.digest: [("", graph.image.digest)],
        graph.attestation.digest: [("", graph.image.digest)],
        graph.sbom_signature.digest: [("", graph.sbom.digest)],
    }


def test_the_acr_stand_in_serves_the_referrers_api(migration_config: MigrationConfig) -> None:
    source = migration_config.source
    repo = f"referrers/{uid()}/app"
    graph = referrer_graph(repo)
    push_referrer_graph(push_endpoint(source), repo, graph)

    with Pusher(push_endpoint(source)) as raw:
        # OCI-Subject on the PUT: the pusher kept no tag schema index.
        assert referrers_tag(graph.image.digest) not in raw.tags(repo)
        first = raw.request("GET", f"/v2/{repo}/referrers/{graph.image.digest}")
        assert first.status_code == 200
        assert first.headers["content-type"].startswith(OCI_INDEX)
        index = first.json()
        assert index["schemaVersion"] == 2 and index["mediaType"] == OCI_INDEX
        link = first.headers["link"]
        assert link.endswith('>; rel="next"'), "three referrers, two per page: a second page"
        second = raw.request("GET", link[link.index("<") + 1 : link.index(">")])
        listed = {d["digest"]: d for d in index["manifests"] + second.json()["manifests"]}
        assert set(listed) == {graph.sbom.digest, graph.signature.digest, graph.attestation.digest}
        sbom = listed[graph.sbom.digest]
        assert sbom["artifactType"] == SPDX_JSON and sbom["size"] == graph.sbom.size
        assert sbom["annotations"] == {"org.opencontainers.image.created": "2026-12-02T00:00:00Z"}
        assert "link" not in second.headers

        filtered = raw.request(
            "GET",
            f"/v2/{repo}/referrers/{graph.image.digest}",
            params={"artifactType": SPDX_JSON},
        )
        assert filtered.headers["oci-filters-applied"] == "artifactType"
        assert [d["digest"] for d in filtered.json()["manifests"]] == [graph.sbom.digest]
        nothing = raw.request("GET", f"/v2/{repo}/referrers/sha256:{'0' * 64}")
        assert nothing.status_code == 200 and nothing.json()["manifests"] == []
        assert raw.request("GET", f"/v2/{repo}/referrers/sha256:nope").status_code == 400

    # The product's client reads it across pages, through the data plane's bearer tokens.
    with RegistryClient(source) as client:
        assert {d["digest"] for d in client.referrers(repo, graph.image.digest) or []} == {
            graph.sbom.digest,
            graph.signature.digest,
            graph.attestation.digest,
        }
        assert [d["digest"] for d in client.referrers(repo, graph.sbom.digest) or []] == [
            graph.sbom_signature.digest
        ]


def test_a_plain_registry_has_no_referrers_api_and_keeps_the_tag_schema(
    oci_source: RegistryEndpoint,
) -> None:
    repo = f"referrers/{uid()}/app"
    graph = referrer_graph(repo)
    push_referrer_graph(push_endpoint(oci_source), repo, graph)
    with RegistryClient(oci_source) as client:
        assert client.referrers(repo, graph.image.digest) is None
        assert client.referrers_api is False
        listed = client.get_manifest(repo, referrers_tag(graph.image.digest)).json()
        assert {d["digest"] for d in listed["manifests"]} == {
            graph.sbom.digest,
            graph.signature.digest,
            graph.attestation.digest,
        }


def test_the_oci_inventory_finds_referrers_through_the_tag_schema_and_cosign_tags(
    oci_source: RegistryEndpoint,
) -> None:
    repo = f"referrers/{uid()}/app"
    graph = referrer_graph(repo)
    push_referrer_graph(push_endpoint(oci_source), repo, graph)
    inventory = OciInventory(RegistryClient(oci_source))
    try:
        rows = list(inventory.images([repo]))
    finally:
        inventory.close()
    # The tag schema's sha256-<hex> indexes are bookkeeping, not images: no rows.
    assert _rows_by_digest(rows) == _expected_rows(graph)
    sizes = {r.digest: r.size_bytes for r in rows}
    assert sizes[graph.sbom.digest] == graph.sbom.size


def test_the_acr_inventory_finds_referrers_through_the_referrers_api(
    migration_config: MigrationConfig,
) -> None:
    source = migration_config.source
    repo = f"referrers/{uid()}/app"
    graph = referrer_graph(repo)
    push_referrer_graph(push_endpoint(source), repo, graph)
    inventory = open_registry(source).inventory()
    try:
        rows = list(inventory.images([repo]))
    finally:
        inventory.close()
    assert _rows_by_digest(rows) == _expected_rows(graph)
    assert json.loads(graph.sbom.manifest)["subject"]["digest"] == graph.image.digest


def _plan_item(source: RegistryEndpoint, target: RegistryEndpoint, repo: str) -> ImportItem:
    """The one import the plan makes of ``repo`` (an image and its referrers)."""
    inventory = OciInventory(RegistryClient(source))
    try:
        rows = list(inventory.images([repo]))
    finally:
        inventory.close()
    (item,) = make_plan(rows, TargetState()).imports
    assert item.tags == ("v1",)
    return item


def test_oci_copy_brings_the_referrers_and_keeps_the_tag_schema_on_a_plain_target(
    oci_source: RegistryEndpoint, oci_target: RegistryEndpoint
) -> None:
    repo = f"referrers/{uid()}/app"
    graph = referrer_graph(repo)
    push_referrer_graph(push_endpoint(oci_source), repo, graph)
    item = _plan_item(oci_source, oci_target, repo)
    assert {r.digest: r.subject for r in item.referrers} == graph.referrers()

    engine = OciCopyEngine(RegistryClient(oci_source), RegistryClient(oci_target))
    try:
        result = engine.import_image(item)
    finally:
        engine.close()
    assert result.status is ImportStatus.IMPORTED and result.referrers == 5
    with RegistryClient(oci_target) as target:
        assert target.referrers(repo, graph.image.digest) is None  # no API there either
        for digest in graph.referrers():
            assert target.head_manifest(repo, digest) is not None, digest
        cosign = target.head_manifest(repo, graph.cosign_tag)
        assert cosign is not None and cosign.digest == graph.cosign.digest
        image_list = target.get_manifest(repo, referrers_tag(graph.image.digest)).json()
        assert {d["digest"]: d["artifactType"] for d in image_list["manifests"]} == {
            graph.sbom.digest: SPDX_JSON,
            graph.signature.digest: COSIGN_SIG_ARTIFACT,
            graph.attestation.digest: IN_TOTO,
        }
        sbom_list = target.get_manifest(repo, referrers_tag(graph.sbom.digest)).json()
        assert [d["digest"] for d in sbom_list["manifests"]] == [graph.sbom_signature.digest]

    again = OciCopyEngine(RegistryClient(oci_source), RegistryClient(oci_target))
    try:
        second = again.import_image(item)
    finally:
        again.close()
    assert second.status is ImportStatus.SKIPPED and second.bytes_sent == 0
    assert second.referrers == 5


def test_oci_copy_into_the_acr_stand_in_is_listed_by_its_referrers_api(
    oci_source: RegistryEndpoint, migration_config: MigrationConfig
) -> None:
    target_endpoint = migration_config.target
    repo = f"referrers/{uid()}/app"
    graph = referrer_graph(repo)
    push_referrer_graph(push_endpoint(oci_source), repo, graph)
    item = _plan_item(oci_source, target_endpoint, repo)
    engine = OciCopyEngine(RegistryClient(oci_source), RegistryClient(target_endpoint))
    try:
        assert engine.import_image(item).referrers == 5
    finally:
        engine.close()
    with RegistryClient(target_endpoint) as target:
        listed = {d["digest"] for d in target.referrers(repo, graph.image.digest) or []}
        assert listed == {graph.sbom.digest, graph.signature.digest, graph.attestation.digest}
        assert referrers_tag(graph.image.digest) not in target.tags(repo)  # it has the API
