"""The production code path over the Azure stand-in, with two tenants.

azure-identity, azure-mgmt-containerregistry and azure-containerregistry run unmodified; only
the authority host, the ARM endpoint and the CA bundle point at the sandbox.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from azure.core.exceptions import ResourceNotFoundError

from acr_migrate.azure.clients import management_client
from acr_migrate.azure.compare import compare
from acr_migrate.azure.credentials import tenant_credential
from acr_migrate.azure.document import document_registry
from acr_migrate.azure.import_engine import AcrImportEngine
from acr_migrate.models import ImportItem, RegistryEndpoint
from acr_migrate.oci.client import RegistryClient
from acr_migrate.settings import MigrationConfig
from acr_migrate.storage import BlobStore
from flows.provision import provision_registry
from sandbox.oci_push import build_image, make_layer, push_image
from sandbox.seed import SeedSummary
from tests.helpers import push_endpoint, run_export, run_import, task_runs_of

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]


def arm_for(cfg: MigrationConfig, endpoint, identity_of=None):
    """An ARM client for ``endpoint``'s subscription with the identity of ``identity_of``."""
    who = (identity_of or endpoint).azure.identity
    credential = tenant_credential(who, ca_bundle=endpoint.ca_bundle)
    return management_client(endpoint.azure, credential, ca_bundle=endpoint.ca_bundle)


def set_faults(sandbox_state: dict[str, Any], **faults: Any) -> None:
    url = sandbox_state["azure"]["faults_url"]
    verify = ssl.create_default_context(cafile=sandbox_state["ca_bundle"])
    httpx.put(url, json=faults, verify=verify).raise_for_status()


def fault_counters(sandbox_state: dict[str, Any]) -> dict[str, Any]:
    url = sandbox_state["azure"]["faults_url"]
    verify = ssl.create_default_context(cafile=sandbox_state["ca_bundle"])
    return dict(httpx.get(url, verify=verify).json()["counters"])


@pytest.fixture(scope="module")
def provisioned(migration_config: MigrationConfig, seed_summary: SeedSummary) -> Iterator[Any]:
    """Export the source (documented through ARM), then create the target from it.

    A target registry left behind by another test (the stand-in tests create it with their
    own tags) is deleted first: provisioning starts from a new registry, as a migration does.
    """
    cfg = migration_config
    assert cfg.source.azure is not None and cfg.target.azure is not None
    with arm_for(cfg, cfg.target) as arm:
        rg, name = cfg.target.azure.resource_group, cfg.target.azure.registry
        try:
            arm.registries.get(rg, name)
        except ResourceNotFoundError:
            pass
        else:
            arm.registries.begin_delete(rg, name).result()
    # Only the seeded catalogue: other tests leave their own repositories (and, on purpose,
    # conflicting tags in the target) behind.
    summary = run_export(cfg, include=seed_summary.repositories)
    state = provision_registry(
        cfg.source, cfg.target, cfg.storage, summary.location, return_state=True
    )
    assert state.is_completed(), state.message
    yield summary, state.result()


def test_provisioning_round_trip(migration_config: MigrationConfig, provisioned: Any) -> None:
    cfg = migration_config
    _, report = provisioned
    assert report.created and not report.existed
    assert {"replications/northeurope"} <= set(report.children_created) or any(
        c.startswith("replications/") for c in report.children_created
    )
    kinds = {c.split("/")[0] for c in report.children_created}
    assert {"replications", "webhooks", "scope_maps", "tokens"} <= kinds
    gaps = " | ".join(g.what for g in report.gaps)
    for expected in (
        "customer-managed key",
        "private endpoint",
        "passwords of token",
        "role assignment",
    ):
        assert expected in gaps
    with arm_for(cfg, cfg.source) as arm:
        source_doc = document_registry(arm, cfg.source.azure)
    with arm_for(cfg, cfg.target) as arm:
        target_doc = document_registry(arm, cfg.target.azure)
    assert compare(source_doc, target_doc) == []
    assert target_doc["registry"]["properties"]["adminUserEnabled"] is True
    assert target_doc["registry"]["tags"] == source_doc["registry"]["tags"]
    # Running it again keeps what is there.
    state = provision_registry(
        cfg.source, cfg.target, cfg.storage, provisioned[0].location, return_state=True
    )
    again = state.result()
    assert again.existed and not again.created and again.children_created == []


def test_acr_import_across_tenants_then_nothing_twice(
    migration_config: MigrationConfig, provisioned: Any, seed_summary: SeedSummary
) -> None:
    cfg = migration_config
    summary, _ = provisioned
    assert cfg.migration.engine.value == "acr-import"
    # Other tests (the oci-copy path) may already have copied the seeded catalogue: start clean.
    rows = BlobStore(cfg.storage).read_manifest(summary.location.blob)
    assert {r.repository for r in rows} == set(seed_summary.repositories)
    unique = sorted({(r.repository, r.digest) for r in rows})
    with RegistryClient(cfg.target) as target:
        for repository, digest in unique:
            target.delete_manifest(repository, digest)
    state, result = run_import(cfg, summary.location)
    assert state.is_completed(), state.message
    assert result.results["imported"] == result.plan["import"] == len(unique) >= 20
    assert result.validation["missing"] == result.validation["mismatch"] == 0
    state, again = run_import(cfg, summary.location)
    assert state.is_completed() and again.plan["import"] == 0


def _push_new(cfg: MigrationConfig, prefix: str, count: int) -> list[str]:
    refs = []
    for n in range(count):
        image = build_image([make_layer({f"f{n}": f"{prefix}-{n}".encode() * 256})])
        push_image(push_endpoint(cfg.source), f"{prefix}/app", [f"v{n}"], image)
        refs.append(f"{prefix}/app:v{n}")
    return refs


def test_throttled_imports_all_land(
    migration_config: MigrationConfig, provisioned: Any, sandbox_state: dict[str, Any]
) -> None:
    cfg = migration_config
    prefix = f"throttle-{uuid.uuid4().hex[:6]}"
    refs = _push_new(cfg, prefix, 6)
    summary = run_export(cfg, include=[f"{prefix}/*"])
    set_faults(sandbox_state, throttle_rate=0.3, retry_after=1, imports_only=True, seed=3)
    try:
        state, result = run_import(cfg, summary.location, retry_delay_seconds=0.2, retries=10)
    finally:
        set_faults(sandbox_state)
    assert state.is_completed(), state.message
    assert result.results["imported"] == 6 and result.results["failed"] == 0
    assert fault_counters(sandbox_state)["throttled"] > 0
    states = {run.name: names for run, names in task_runs_of(state.state_details.flow_run_id)}
    retried = [name for name in refs if "AwaitingRetry" in states.get(name, [])]
    assert retried, f"no image task shows AwaitingRetry: {states}"

    prefix = f"ratelimit-{uuid.uuid4().hex[:6]}"
    _push_new(cfg, prefix, 6)
    summary = run_export(cfg, include=[f"{prefix}/*"])
    set_faults(sandbox_state, import_rate_per_second=1.0, retry_after=1)
    try:
        state, result = run_import(cfg, summary.location, retry_delay_seconds=0.2, retries=10)
    finally:
        set_faults(sandbox_state)
    assert state.is_completed(), state.message
    assert result.results["failed"] == 0 and result.results["imported"] == 6


def test_failed_in_body_lro_is_a_failed_image(
    migration_config: MigrationConfig, provisioned: Any, sandbox_state: dict[str, Any]
) -> None:
    cfg = migration_config
    prefix = f"lrofail-{uuid.uuid4().hex[:6]}"
    _push_new(cfg, prefix, 2)
    other = f"lrook-{uuid.uuid4().hex[:6]}"
    _push_new(cfg, other, 1)
    summary = run_export(cfg, include=[f"{prefix}/*", f"{other}/*"])
    set_faults(sandbox_state, fail_lro_repository_regex=f"^{prefix}/")
    try:
        state, result = run_import(cfg, summary.location)
    finally:
        set_faults(sandbox_state)
    assert state.is_failed()
    assert result.results["failed"] == 2 and result.results["imported"] == 1
    assert all("reported as finished" in line for line in result.failed)


def test_engine_confirms_digest_even_when_arm_says_done(
    migration_config: MigrationConfig, provisioned: Any, sandbox_state: dict[str, Any]
) -> None:
    """The SDK's poller returns normally on a Failed-in-body LRO; the engine does not."""
    from acr_migrate.errors import DigestMismatchError
    from acr_migrate.registry import open_engine, open_registry

    cfg = migration_config
    prefix = f"direct-{uuid.uuid4().hex[:6]}"
    image = build_image([make_layer({"x": prefix.encode()})])
    push_image(push_endpoint(cfg.source), f"{prefix}/app", ["v1"], image)
    engine = open_engine("acr-import", open_registry(cfg.source), open_registry(cfg.target))
    assert isinstance(engine, AcrImportEngine)
    set_faults(sandbox_state, fail_lro_repository_regex=f"^{prefix}/")
    try:
        with pytest.raises(DigestMismatchError):
            engine.import_image(
                ImportItem(repository=f"{prefix}/app", digest=image.digest, tags=("v1",))
            )
    finally:
        set_faults(sandbox_state)
    result = engine.import_image(
        ImportItem(repository=f"{prefix}/app", digest=image.digest, tags=("v1",))
    )
    assert result.status.value == "imported"


def test_cutover_deletes_an_acr_through_arm_with_its_own_tenant_only(
    migration_config: MigrationConfig,
) -> None:
    """The cutover's ARM delete: refused with the other tenant's identity, then done and gone."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.mgmt.containerregistry.models import Registry, Sku

    from acr_migrate.azure.delete import delete_arm_registry
    from acr_migrate.registry import open_registry

    def delete_registry(endpoint: RegistryEndpoint) -> None:
        azure = open_registry(endpoint).azure()
        with azure.management() as arm:
            delete_arm_registry(arm, azure.ref)

    cfg = migration_config
    assert cfg.source.azure is not None and cfg.target.azure is not None
    name = f"scratch{uuid.uuid4().hex[:8]}"
    ref = cfg.source.azure.model_copy(update={"registry": name})
    scratch = cfg.source.model_copy(update={"azure": ref})
    with arm_for(cfg, scratch) as arm:
        arm.registries.begin_create(
            ref.resource_group, name, Registry(location=ref.location, sku=Sku(name="Basic"))
        ).result()
        assert arm.registries.get(ref.resource_group, name).name == name

    intruder = ref.model_copy(update={"identity": cfg.target.azure.identity})
    with pytest.raises(RuntimeError, match="InvalidAuthenticationTokenTenant"):
        delete_registry(scratch.model_copy(update={"azure": intruder}))
    with arm_for(cfg, scratch) as arm:
        assert arm.registries.get(ref.resource_group, name).name == name

    delete_registry(scratch)
    with arm_for(cfg, scratch) as arm, pytest.raises(ResourceNotFoundError):
        arm.registries.get(ref.resource_group, name)
    delete_registry(scratch)  # already gone counts as deleted


def test_cutover_of_an_acr_refuses_while_unmigrated_repositories_remain(
    migration_config: MigrationConfig, seed_summary: Any
) -> None:
    """Deleting an ACR deletes all of it: a manifest of one repository cannot justify that."""
    from acr_migrate.settings import CutoverOptions
    from flows.cutover import delete_source

    cfg = migration_config
    assert cfg.source.azure is not None
    one = seed_summary.repositories[0]
    summary = run_export(cfg, include=[one])
    state = delete_source(
        cfg.source,
        cfg.storage,
        summary.location,
        CutoverOptions(require_validation=False),
        return_state=True,
    )
    assert state.is_failed() and "not migrated" in (state.message or ""), state.message
    result = state.result(raise_on_failure=False)
    assert not result.approved and one not in result.decision
    with arm_for(cfg, cfg.source) as arm:
        assert arm.registries.get(cfg.source.azure.resource_group, cfg.source.azure.registry)
