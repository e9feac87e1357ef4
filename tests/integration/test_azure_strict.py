"""The product against a stand-in as strict as Azure (issue 8): each test names the real-Azure
behaviour it relies on; see sandbox/azure/AUTHORITY.md for the sources."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.core.exceptions import HttpResponseError

from acr_migrate.azure.clients import management_client
from acr_migrate.azure.credentials import tenant_credential
from acr_migrate.azure.document import document_registry
from acr_migrate.azure.gaps import gaps_of
from acr_migrate.azure.import_engine import AcrImportEngine
from acr_migrate.azure.permissions import IdentityPreflightError, missing_rights, require_rights
from acr_migrate.azure.settings import TenantIdentity
from acr_migrate.errors import RegistryHTTPError, is_transient
from acr_migrate.models import ImportItem, ImportStatus, RegistryEndpoint
from acr_migrate.registry import open_engine, open_registry
from acr_migrate.settings import MigrationConfig
from sandbox.azure.clients import Sandbox
from sandbox.oci_push import build_image, build_index, make_layer, push_image
from tests.helpers import push_endpoint, put_target_registry, uid

pytestmark = pytest.mark.integration

ARM = "https://management.azure.com/.default"


@pytest.fixture(scope="module")
def sbx(sandbox_config: Path) -> Sandbox:
    return Sandbox(sandbox_config.parent)


@pytest.fixture(scope="module")
def http(sbx: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(verify=ssl.create_default_context(cafile=sbx.ca), timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def target(sbx: Sandbox) -> Any:
    """The target registry exists in ARM (created or replaced, keeping its admin user)."""
    return put_target_registry(sbx)


@pytest.fixture
def behaviour(sbx: Sandbox, http: httpx.Client) -> Iterator[Any]:
    """Set the stand-in's strictness knobs for one test; the defaults come back afterwards."""
    url = sbx.azure["resource_manager"] + "/_sandbox/behaviour"
    defaults = http.get(url).json()

    def put(**knobs: Any) -> dict[str, Any]:
        resp = http.put(url, json=knobs)
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    yield put
    http.put(url, json=defaults)


@pytest.fixture
def fast_lro(sbx: Sandbox, http: httpx.Client) -> Iterator[None]:
    url = sbx.azure["faults_url"]
    http.put(url, json={"lro_min_polls": 0, "lro_retry_after": 1})
    yield
    http.delete(url)


def new_principal(
    sbx: Sandbox, http: httpx.Client, monkeypatch: pytest.MonkeyPatch, **body: str
) -> TenantIdentity:
    """A service principal made for one test (its secret in a fresh environment variable)."""
    resp = http.post(sbx.azure["resource_manager"] + "/_sandbox/principals", json=body)
    assert resp.status_code == 200, resp.text
    made = resp.json()
    env = f"TEST_PRINCIPAL_SECRET_{uid().upper()}"
    monkeypatch.setenv(env, made["client_secret"])
    return TenantIdentity(
        tenant_id=made["tenant_id"],
        client_id=made["client_id"],
        client_secret_env=env,
        authority_host=sbx.azure["authority_host"],
    )


def entra_source(cfg: MigrationConfig) -> RegistryEndpoint:
    """The source without its admin user: imports pull with an Entra token of its tenant."""
    return cfg.source.model_copy(update={"username": None, "password_env": None})


def pushed(cfg: MigrationConfig, repo: str, tags: tuple[str, ...] = ("v1",)) -> ImportItem:
    """A new single-platform image (unique content) pushed to the source under ``tags``."""
    image = build_image([make_layer({"id": f"{repo}:{tags}:{uid()}".encode()})])
    push_image(push_endpoint(cfg.source), repo, list(tags), image)
    return ImportItem(repository=repo, digest=image.digest, tags=tags)


# ---------------------------------------------------------------------------- 1: index listings


def test_inventory_keeps_platform_manifests_inside_their_index(
    migration_config: MigrationConfig, seed_summary: Any
) -> None:
    """Listings carry no references: the inventory reads each index once more to group them."""
    repos = ["platform/multiarch", "platform/legacy"]
    inventory = open_registry(migration_config.source).inventory()
    try:
        rows = list(inventory.images(repos))
    finally:
        inventory.close()
    assert rows and all(row.tag for row in rows), "platform manifests became untagged rows"
    seeded = {
        (i.repository, tag, i.digest)
        for i in seed_summary.images
        if i.repository in repos
        for tag in i.tags
    }
    assert {(r.repository, r.tag, r.digest) for r in rows} == seeded
    multi = next(r for r in rows if r.repository == "platform/multiarch")
    assert multi.platforms == "linux/amd64;linux/arm64"


# ---------------------------------------------------------------------------- 2, 3: pull token


def test_entra_pull_token_goes_without_username(
    migration_config: MigrationConfig, target: Any, fast_lro: None, sbx: Sandbox
) -> None:
    """The documented cross-tenant import sends the token as password and no username; the
    ``00000000-...`` user is for ACR refresh tokens and is refused with an Entra token."""
    cfg = migration_config
    item = pushed(cfg, f"tokenpull/{uid()}")
    engine = open_engine("acr-import", open_registry(entra_source(cfg)), open_registry(cfg.target))
    try:
        assert engine.import_image(item).status is ImportStatus.IMPORTED
    finally:
        engine.close()
    t = sbx.tenant("target")
    token = sbx.credential("source").get_token(ARM).token
    params = {
        "source": {
            "registryUri": sbx.tenant("source")["login_server"],
            "sourceImage": f"{item.repository}@{item.digest}",
            "credentials": {"username": "00000000-0000-0000-0000-000000000000", "password": token},
        },
        "targetTags": [f"{item.repository}:zero-user"],
        "mode": "Force",
    }
    with pytest.raises(HttpResponseError) as err:
        sbx.mgmt("target").registries.begin_import_image(
            t["resource_group"], t["registry"], params
        ).result()
    assert "Unauthorized" in str(err.value)


#: Token lifetime of the expiry test: more than a token is used for in one import step even
#: on a slow machine (each request asks the credential again), still short to wait out.
TOKEN_TTL_SECONDS = 6


def test_pull_token_is_fetched_per_import(
    migration_config: MigrationConfig, target: Any, fast_lro: None, behaviour: Any
) -> None:
    """Entra tokens expire (60-90 min on Azure; seconds here): an engine opened before the
    source token expired still imports, because each import asks the credential again."""
    behaviour(token_ttl=TOKEN_TTL_SECONDS, clock_skew=0)
    cfg = migration_config
    first, second = pushed(cfg, f"tokenttl/{uid()}"), pushed(cfg, f"tokenttl/{uid()}")
    engine = open_engine("acr-import", open_registry(entra_source(cfg)), open_registry(cfg.target))
    try:
        assert engine.import_image(first).status is ImportStatus.IMPORTED
        # Every token issued so far has expired after this (a lower bound: a slow machine
        # only waits longer).
        time.sleep(TOKEN_TTL_SECONDS + 1)
        assert engine.import_image(second).status is ImportStatus.IMPORTED
    finally:
        engine.close()


# ---------------------------------------------------------------------------- 4: NoForce retry


def test_a_retry_after_a_landed_import_counts_it_as_imported(
    migration_config: MigrationConfig, target: Any, fast_lro: None
) -> None:
    """NoForce fails on *any* existing target tag (spec ImportMode), also one already holding
    the same digest: the engine confirms the digest and counts the landed image."""
    cfg = migration_config
    item = pushed(cfg, f"retry/{uid()}", ("v1", "stable"))
    engine = open_engine("acr-import", open_registry(cfg.source), open_registry(cfg.target))
    try:
        assert engine.import_image(item).status is ImportStatus.IMPORTED
        again = engine.import_image(item)  # as a retry after a lost poll would post it
        assert again.status is ImportStatus.IMPORTED and again.digest == item.digest
        other = pushed(cfg, item.repository, ("other",))
        moved = other.model_copy(update={"tags": ("v1",)})
        with pytest.raises(RegistryHTTPError) as err:
            engine.import_image(moved)
        assert err.value.status == 409 and not is_transient(err.value)
        assert "force" in str(err.value)
    finally:
        engine.close()


# ---------------------------------------------------------------------------- 6, 7: documenting


def test_document_keeps_only_registry_scope_assignments_across_pages(
    migration_config: MigrationConfig, sandbox_state: dict[str, Any], behaviour: Any
) -> None:
    """``atScope()`` also returns inherited assignments (the subscription's Owners here) and
    pages with ``nextLink``: the document holds exactly the registry's own assignments."""
    behaviour(role_assignment_page_size=1)
    source = migration_config.source
    assert source.azure is not None
    credential = tenant_credential(source.azure.identity, ca_bundle=source.ca_bundle)
    with management_client(source.azure, credential, ca_bundle=source.ca_bundle) as arm:
        document = document_registry(arm, source.azure)
    assignments = document["role_assignments"]
    registry_id = document["registry"]["id"]
    assert {ra["properties"]["scope"] for ra in assignments} == {registry_id}
    principals = sandbox_state["azure"]["tenants"]["source"]["role_assignment_principals"]
    assert {ra["properties"]["principalId"] for ra in assignments} >= set(principals.values())


def test_a_reader_documents_a_registry_with_webhooks_and_records_the_gap(
    migration_config: MigrationConfig,
    sbx: Sandbox,
    http: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """getCallbackConfig is a POST action Reader does not hold: a 403 becomes a gap."""
    source = migration_config.source
    assert source.azure is not None
    reader = new_principal(sbx, http, monkeypatch, slot="source", role="Reader")
    ref = source.azure.model_copy(update={"identity": reader})
    credential = tenant_credential(reader, ca_bundle=source.ca_bundle)
    with management_client(ref, credential, ca_bundle=source.ca_bundle) as arm:
        document = document_registry(arm, ref)
    assert [hook["name"] for hook in document["webhooks"]] == ["buildnotify"]
    assert "callback" not in document["webhooks"][0]
    gaps = document["permission_gaps"]
    assert [g["what"] for g in gaps] == ["callback of webhook buildnotify"]
    assert gaps[0]["action"].endswith("webhooks/getCallbackConfig/action")
    assert any("getCallbackConfig" in g.why for g in gaps_of(document))


# ---------------------------------------------------------------------------- identity preflight


def test_identity_preflight_names_identity_scope_and_role(
    migration_config: MigrationConfig,
    target: Any,
    sbx: Sandbox,
    http: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each missing right is one line: who, where, which role to grant."""
    cfg = migration_config
    assert cfg.source.azure is not None and cfg.target.azure is not None

    def check(ref: Any, phase: str) -> tuple[list[str], list[str]]:
        credential = tenant_credential(ref.identity, ca_bundle=cfg.source.ca_bundle)
        with management_client(ref, credential, ca_bundle=cfg.source.ca_bundle) as arm:
            return missing_rights(arm, ref, phase)

    # The bootstrap identities are Owners of their subscriptions: nothing is missing.
    assert check(cfg.source.azure, "document") == ([], [])
    assert check(cfg.target.azure, "provision") == ([], [])
    reader = new_principal(sbx, http, monkeypatch, slot="source", role="Reader")
    as_reader = cfg.source.azure.model_copy(update={"identity": reader})
    blocking, optional = check(as_reader, "document")
    assert blocking == []
    assert len(optional) == 1 and "getCallbackConfig" in optional[0]
    assert reader.client_id is not None and reader.client_id in optional[0]
    assert "Contributor" in optional[0] and as_reader.resource_id in optional[0]
    puller = new_principal(sbx, http, monkeypatch, slot="target", role="AcrPull")
    as_puller = cfg.target.azure.model_copy(update={"identity": puller})
    blocking, _ = check(as_puller, "provision")
    rg_scope = (
        f"/subscriptions/{as_puller.subscription_id}/resourceGroups/{as_puller.resource_group}"
    )
    assert len(blocking) == 2 and all(rg_scope in line for line in blocking)
    assert any("registries/write" in line and "Contributor" in line for line in blocking)
    with pytest.raises(IdentityPreflightError):
        credential = tenant_credential(puller, ca_bundle=cfg.target.ca_bundle)
        with management_client(as_puller, credential, ca_bundle=cfg.target.ca_bundle) as arm:
            require_rights(arm, as_puller, "import")


# ---------------------------------------------------------------------------- stand-in strictness


def test_an_api_version_the_specs_do_not_define_is_refused(
    sbx: Sandbox, http: httpx.Client
) -> None:
    s = sbx.tenant("source")
    token = sbx.credential("source").get_token(ARM).token
    path = (
        f"{sbx.azure['resource_manager']}/subscriptions/{s['subscription_id']}/resourceGroups/"
        f"{s['resource_group']}/providers/Microsoft.ContainerRegistry/registries/{s['registry']}"
    )
    headers = {"Authorization": f"Bearer {token}"}
    assert http.get(f"{path}?api-version=2025-11-01", headers=headers).status_code == 200
    bad = http.get(f"{path}?api-version=2099-01-01", headers=headers)
    assert bad.status_code == 400
    error = bad.json()["error"]
    assert error["code"] == "NoRegisteredProviderFound"
    assert "API version '2099-01-01' for type 'registries'" in error["message"]
    assert "2025-11-01" in error["message"]


def test_role_checks_per_action(
    migration_config: MigrationConfig,
    target: Any,
    sbx: Sandbox,
    http: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
    fast_lro: None,
) -> None:
    """Reader reads but may not POST actions; AcrPull is no ARM role; Contributor imports."""
    cfg = migration_config
    assert cfg.target.azure is not None
    t = sbx.tenant("target")
    rg, name = t["resource_group"], t["registry"]

    def arm_as(role: str) -> Any:
        who = new_principal(sbx, http, monkeypatch, slot="target", role=role)
        credential = tenant_credential(who, ca_bundle=cfg.target.ca_bundle)
        return management_client(cfg.target.azure, credential, ca_bundle=cfg.target.ca_bundle)

    item = pushed(cfg, f"roles/{uid()}")
    params = {
        "source": {
            "registryUri": sbx.tenant("source")["login_server"],
            "sourceImage": f"{item.repository}@{item.digest}",
            "credentials": {
                "username": sbx.tenant("source")["registry"],
                "password": sbx.admin_password("source"),
            },
        },
        "targetTags": [f"{item.repository}:v1"],
    }
    with arm_as("Reader") as reader:
        assert reader.registries.get(rg, name).name == name
        for action in (
            lambda: reader.registries.list_credentials(rg, name),
            lambda: reader.registries.begin_import_image(rg, name, params),
        ):
            with pytest.raises(HttpResponseError) as err:
                action()
            assert err.value.status_code == 403
            assert err.value.error is not None and err.value.error.code == "AuthorizationFailed"
    with arm_as("AcrPull") as puller, pytest.raises(HttpResponseError) as err:
        puller.registries.begin_import_image(rg, name, params)
    assert err.value.status_code == 403
    with arm_as("Contributor") as contributor:
        assert contributor.registries.begin_import_image(rg, name, params).result() is None


def test_sku_gated_properties_are_refused_below_premium(sbx: Sandbox, target: Any) -> None:
    t = sbx.tenant("target")
    mgmt = sbx.mgmt("target")
    rg = t["resource_group"]
    deny = {"defaultAction": "Deny", "ipRules": [{"action": "Allow", "value": "203.0.113.0/24"}]}
    for sku, props in (
        ("Basic", {"networkRuleSet": deny}),
        ("Standard", {"zoneRedundancy": "Enabled"}),
        ("Standard", {"policies": {"retentionPolicy": {"days": 7, "status": "enabled"}}}),
        ("Basic", {"anonymousPullEnabled": True}),
    ):
        body = {"location": "westeurope", "sku": {"name": sku}, "properties": props}
        with pytest.raises(HttpResponseError) as err:
            mgmt.registries.begin_create(rg, f"gated{uid()}", body)
        assert err.value.status_code == 400, (sku, props)
        assert err.value.error is not None
        assert err.value.error.code == "FeatureNotSupportedForSku"
    standard = f"std{uid()}"
    created = mgmt.registries.begin_create(
        rg, standard, {"location": "westeurope", "sku": {"name": "Standard"}}
    ).result()
    assert created.sku.name == "Standard"
    with pytest.raises(HttpResponseError) as err:
        mgmt.replications.begin_create(rg, standard, "northeurope", {"location": "northeurope"})
    assert err.value.status_code == 400
    mgmt.registries.begin_delete(rg, standard).result()


def test_an_index_of_more_than_50_manifests_is_not_imported(
    migration_config: MigrationConfig, target: Any, fast_lro: None
) -> None:
    """Documented import limit: at most 50 manifests. The export names such an index before
    any import; the engine's error says what to do."""
    cfg = migration_config
    layer = make_layer({"shared": b"one layer for all platforms"})
    children = [build_image([layer], labels={"n": str(n)}) for n in range(51)]
    index = build_index(children)
    repo = f"wide/{uid()}"
    push_image(push_endpoint(cfg.source), repo, ["v1"], index)
    inventory = open_registry(cfg.source).inventory()
    try:
        rows = list(inventory.images([repo]))
    finally:
        inventory.close()
    assert [(r.tag, r.digest) for r in rows] == [("v1", index.digest)]
    assert any(repo in note and "oci-copy" in note for note in inventory.notes)
    engine = open_engine("acr-import", open_registry(cfg.source), open_registry(cfg.target))
    try:
        with pytest.raises(RegistryHTTPError) as err:
            engine.import_image(ImportItem(repository=repo, digest=index.digest, tags=("v1",)))
    finally:
        engine.close()
    assert "oci-copy" in str(err.value) and not is_transient(err.value)


def test_confirmation_waits_for_a_lagging_replica(
    migration_config: MigrationConfig, target: Any, fast_lro: None, behaviour: Any
) -> None:
    """A read right after the import may hit a replica that is behind: the engine reads again
    with a bounded back-off instead of calling the image mismatched."""
    behaviour(replica_lag_seconds=1.5)
    cfg = migration_config
    item = pushed(cfg, f"lagging/{uid()}")
    engine = open_engine("acr-import", open_registry(cfg.source), open_registry(cfg.target))
    assert isinstance(engine, AcrImportEngine)
    try:
        assert engine.import_image(item).status is ImportStatus.IMPORTED
    finally:
        engine.close()


def test_an_internal_error_is_a_500_and_is_logged(
    sbx: Sandbox, http: httpx.Client, sandbox_config: Path
) -> None:
    """The stand-in never swallows an error: the caller gets a 500, the log gets the trace
    (and the session fails the test during which any other entry appears)."""
    log = sandbox_config.parent / "azure" / "errors.jsonl"
    before = log.stat().st_size if log.exists() else 0
    resp = http.get(sbx.azure["resource_manager"] + "/_sandbox/raise")
    assert resp.status_code == 500
    with log.open() as fh:
        fh.seek(before)
        entries = [json.loads(line) for line in fh if line.strip()]
    assert [e["where"] for e in entries] == ["arm GET /_sandbox/raise"]
    assert "deliberate internal error" in entries[0]["traceback"]


def test_a_managed_identity_of_another_tenant_is_refused_by_name(
    sbx: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ManagedIdentityCredential takes no tenant: the token's tenant is checked instead."""
    from acr_migrate.azure.settings import IdentityKind
    from acr_migrate.models import ConfigError

    for key, value in sbx.managed_identity_env("target").items():
        monkeypatch.setenv(key, value)
    target, source = sbx.tenant("target"), sbx.tenant("source")
    right = TenantIdentity(tenant_id=target["tenant_id"], kind=IdentityKind.MANAGED_IDENTITY)
    assert tenant_credential(right, ca_bundle=sbx.ca).get_token(ARM).token
    wrong = right.model_copy(update={"tenant_id": source["tenant_id"]})
    with pytest.raises(ConfigError) as err:
        tenant_credential(wrong, ca_bundle=sbx.ca).get_token(ARM)
    assert target["tenant_id"] in str(err.value) and source["tenant_id"] in str(err.value)


def test_the_run_preflight_names_a_missing_import_right(
    migration_config: MigrationConfig,
    target: Any,
    sbx: Sandbox,
    http: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What target-import checks first: an AcrPull identity may not import; the line says
    which role to grant, where; an Owner passes."""
    from acr_migrate.preflight import Need, check_run

    cfg = migration_config
    assert cfg.target.azure is not None
    assert check_run(None, [Need(cfg.target, "target", reach=False, phase="import")]) == []
    puller = new_principal(sbx, http, monkeypatch, slot="target", role="AcrPull")
    as_puller = cfg.target.model_copy(
        update={"azure": cfg.target.azure.model_copy(update={"identity": puller})}
    )
    problems = check_run(None, [Need(as_puller, "target", reach=False, phase="import")])
    assert len(problems) == 1, problems
    assert "importImage/action" in problems[0] and "Contributor" in problems[0]
    assert puller.client_id is not None and puller.client_id in problems[0]
