"""The Azure stand-in driven by the real Azure SDKs (azure-identity, azure-mgmt-containerregistry,
azure-containerregistry): Entra, ARM, importImage, tenant isolation, faults, the data plane."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.identity import ClientSecretCredential

from sandbox import api
from sandbox.azure.clients import Sandbox
from sandbox.oci_push import Endpoint, RegistryClient, RegistryError, build_image, make_layer
from tests.helpers import put_target_registry, uid

pytestmark = pytest.mark.integration

ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
ARM = "https://management.azure.com/.default"


@pytest.fixture(scope="module")
def sbx(sandbox_config: Path) -> Sandbox:
    return Sandbox(sandbox_config.parent)


@pytest.fixture(scope="module")
def target_registry(sbx: Sandbox) -> Any:
    """The target registry, created through ARM with begin_create (idempotent PUT), as every
    fixture that puts the shared target does: no tags of its own left behind for later tests."""
    return put_target_registry(sbx)


@pytest.fixture
def faults(sbx: Sandbox) -> Iterator[Any]:
    """Set ARM faults for one test (cleared afterwards)."""
    url = sbx.azure["faults_url"]
    client = httpx.Client(verify=_ctx(sbx))

    def put(**cfg: Any) -> dict[str, Any]:
        resp = client.put(url, json=cfg)
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    put.get = lambda: client.get(url).json()  # type: ignore[attr-defined]
    yield put
    client.delete(url)
    client.close()


def _ctx(sbx: Sandbox) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=sbx.ca)


def _fast_lro(put: Any, **extra: Any) -> None:
    put(lro_retry_after=1, lro_min_polls=0, **extra)


def _all_pages(client: httpx.Client, url: str) -> list[dict[str, Any]]:
    """Every item of an ARM list, following ``nextLink``."""
    items: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        page = client.get(next_url)
        assert page.status_code == 200, page.text
        items += page.json()["value"]
        next_url = page.json().get("nextLink")
    return items


def _raw(sandbox_config: Path) -> tuple[RegistryClient, RegistryClient]:
    src, dst = api.raw_endpoints(sandbox_config.parent)
    return RegistryClient(src), RegistryClient(dst)


def _import_params(sbx: Sandbox, image: str, tags: list[str], mode: str = "Force") -> dict:
    return {
        "source": {
            "registryUri": sbx.tenant("source")["login_server"],
            "sourceImage": image,
            "credentials": {
                "username": sbx.tenant("source")["client_id"],
                "password": sbx.secret("source"),
            },
        },
        "targetTags": tags,
        "mode": mode,
    }


# ---------------------------------------------------------------------------- Entra


def test_client_secret_tokens_per_tenant(sbx: Sandbox) -> None:
    for which in ("source", "target"):
        t = sbx.tenant(which)
        token = sbx.credential(which).get_token(ARM).token
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["tid"] == t["tenant_id"] and claims["appid"] == t["client_id"]
        assert claims["oid"] == t["service_principal_object_id"]
        assert claims["aud"] == "https://management.azure.com"
        assert {"exp", "iat", "nbf"} <= set(claims)
    # The signature verifies with the published JWKS.
    tenant = sbx.tenant("source")["tenant_id"]
    oidc = httpx.get(
        f"{sbx.azure['authority_host']}/{tenant}/v2.0/.well-known/openid-configuration",
        verify=_ctx(sbx),
    ).json()
    jwks = httpx.get(oidc["jwks_uri"], verify=_ctx(sbx)).json()
    key = jwt.PyJWK(jwks["keys"][0]).key
    token = sbx.credential("source").get_token("https://containerregistry.azure.net/.default")
    claims = jwt.decode(token.token, key, algorithms=["RS256"], audience=sbx_aud())
    assert claims["tid"] == tenant


def sbx_aud() -> str:
    return "https://containerregistry.azure.net"


def test_an_expired_client_secret_is_refused(sbx: Sandbox) -> None:
    """A secret past its end date is refused as expired (AADSTS7000222), one still within it
    signs in: the same principal shape, only ``secret_end`` differs."""
    url = sbx.azure["resource_manager"] + "/_sandbox/principals"
    now = datetime.now(UTC)
    made = {}
    with httpx.Client(verify=_ctx(sbx)) as http:
        for name, end in (("expired", now - timedelta(days=1)), ("valid", now + timedelta(days=1))):
            body = {"slot": "source", "role": "Reader", "secret_end": end.isoformat()}
            resp = http.post(url, json=body)
            assert resp.status_code == 200, resp.text
            made[name] = resp.json()

    def credential(p: dict[str, str]) -> ClientSecretCredential:
        return ClientSecretCredential(
            p["tenant_id"], p["client_id"], p["client_secret"], **sbx.credential_kwargs()
        )

    with pytest.raises(ClientAuthenticationError, match="AADSTS7000222") as info:
        credential(made["expired"]).get_token(ARM)
    assert "are expired" in str(info.value)
    assert credential(made["valid"]).get_token(ARM).token


def test_wrong_secret_and_unknown_client(sbx: Sandbox) -> None:
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        sbx.credential("source", secret="not-the-secret").get_token(ARM)
    from azure.identity import ClientSecretCredential

    stranger = ClientSecretCredential(
        sbx.tenant("source")["tenant_id"],
        "11111111-2222-3333-4444-555555555555",
        "x",
        **sbx.credential_kwargs(),
    )
    with pytest.raises(ClientAuthenticationError, match="AADSTS700016"):
        stranger.get_token(ARM)
    # The wire shape is Entra's.
    tenant = sbx.tenant("source")["tenant_id"]
    resp = httpx.post(
        f"{sbx.azure['authority_host']}/{tenant}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": sbx.tenant("source")["client_id"],
            "client_secret": "nope",
            "scope": ARM,
        },
        verify=_ctx(sbx),
    )
    assert resp.status_code == 401
    body = resp.json()
    assert set(body) >= {
        "error",
        "error_description",
        "error_codes",
        "timestamp",
        "trace_id",
        "correlation_id",
    }
    assert body["error"] == "invalid_client" and body["error_codes"] == [7000215]


def test_managed_identity_and_workload_identity(
    sbx: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.identity import ManagedIdentityCredential

    for key, value in sbx.managed_identity_env("target").items():
        monkeypatch.setenv(key, value)
    mi = ManagedIdentityCredential(connection_verify=sbx.ca)
    claims = jwt.decode(mi.get_token(ARM).token, options={"verify_signature": False})
    target = sbx.tenant("target")
    assert claims["tid"] == target["tenant_id"]
    assert claims["oid"] == target["managed_identity"]["object_id"]
    # The MI is Owner of its subscription: ARM accepts it.
    registries = list(sbx.mgmt("target", credential=mi).registries.list())
    assert all(
        r.id.lower().startswith(f"/subscriptions/{target['subscription_id']}") for r in registries
    )

    wi = sbx.workload_credential("source")
    claims = jwt.decode(wi.get_token(ARM).token, options={"verify_signature": False})
    assert claims["appid"] == sbx.tenant("source")["client_id"]
    assert claims["tid"] == sbx.tenant("source")["tenant_id"]


# ---------------------------------------------------------------------------- ARM


def test_source_registry_is_non_default(sbx: Sandbox, faults: Any) -> None:
    """The source registry differs from what ARM makes of a bare create, in every property the
    provisioning round trip has to carry over (else that round trip proves nothing)."""
    _fast_lro(faults)
    s = sbx.tenant("source")
    mgmt = sbx.mgmt("source")
    rg, name = s["resource_group"], s["registry"]
    reg = mgmt.registries.get(rg, name)
    assert reg.login_server == s["login_server"] and reg.sku.name == "Premium"
    bare_name = f"bare{uid()}"
    bare = mgmt.registries.begin_create(
        rg, bare_name, {"location": reg.location, "sku": {"name": reg.sku.name}}
    ).result()
    try:

        def shape(r: Any, registry: str) -> dict[str, Any]:
            return {
                "adminUserEnabled": r.admin_user_enabled,
                "tags": r.tags,
                "identity": r.identity.type if r.identity else None,
                "retentionPolicy": r.policies.retention_policy.status,
                "ipRules": [i.ip_address_or_range for i in r.network_rule_set.ip_rules],
                "encryption": r.encryption.status,
                "keyIdentifier": (
                    r.encryption.key_vault_properties.key_identifier
                    if r.encryption.key_vault_properties
                    else None
                ),
                "privateEndpoints": len(r.private_endpoint_connections or []),
                "replications": sorted(
                    x.location
                    for x in mgmt.replications.list(rg, registry)
                    if x.location != r.location
                ),
                "webhooks": [w.name for w in mgmt.webhooks.list(rg, registry)],
                "scopeMaps": [m.name for m in mgmt.scope_maps.list(rg, registry)],
                "tokens": [t.name for t in mgmt.tokens.list(rg, registry)],
                "cacheRules": [c.target_repository for c in mgmt.cache_rules.list(rg, registry)],
            }

        source, default = shape(reg, name), shape(bare, bare_name)
        assert [k for k in source if source[k] == default[k]] == [], (source, default)
        assert source == {
            "adminUserEnabled": True,
            "tags": {"env": "prod", "team": "platform"},
            "identity": "UserAssigned",
            "retentionPolicy": "enabled",
            "ipRules": ["203.0.113.0/24"],
            "encryption": "enabled",
            "keyIdentifier": "https://kv-contoso-prod.vault.azure.net/keys/acr-cmk",
            "privateEndpoints": 1,
            "replications": ["northeurope"],
            "webhooks": ["buildnotify"],
            "scopeMaps": ["ci-pull"],
            "tokens": ["ci-token"],
            "cacheRules": ["mirror/alpine"],
        }
        assert mgmt.webhooks.get_callback_config(rg, name, "buildnotify").service_uri
        creds = mgmt.registries.list_credentials(rg, name)
        assert creds.username == name and creds.passwords[0].value == sbx.admin_password("source")
    finally:
        mgmt.registries.begin_delete(rg, bare_name).result()


def test_names_are_global_across_tenants(sbx: Sandbox) -> None:
    mgmt = sbx.mgmt("target")
    taken = mgmt.registries.check_name_availability(
        {"name": sbx.tenant("source")["registry"], "type": "Microsoft.ContainerRegistry/registries"}
    )
    assert taken.name_available is False and taken.reason == "AlreadyExists"
    free = mgmt.registries.check_name_availability(
        {"name": f"fresh{uid()}", "type": "Microsoft.ContainerRegistry/registries"}
    )
    assert free.name_available is True


def test_create_target_registry_and_credentials(sbx: Sandbox, target_registry: Any) -> None:
    t = sbx.tenant("target")
    assert target_registry.provisioning_state == "Succeeded"
    assert target_registry.login_server == t["login_server"]
    mgmt = sbx.mgmt("target")
    creds = mgmt.registries.list_credentials(t["resource_group"], t["registry"])
    assert creds.username == t["registry"]
    assert creds.passwords[0].value == sbx.admin_password("target")
    names = [r.name for r in mgmt.registries.list_by_resource_group(t["resource_group"])]
    assert t["registry"] in names


def test_sub_resources_round_trip(sbx: Sandbox, target_registry: Any) -> None:
    t = sbx.tenant("target")
    rg, name = t["resource_group"], t["registry"]
    mgmt = sbx.mgmt("target")
    hook = mgmt.webhooks.begin_create(
        rg,
        name,
        "copyhook",
        {
            "location": "westeurope",
            "properties": {
                "serviceUri": "https://h.invalid/x",
                "actions": ["push"],
                "scope": "a:*",
            },
        },
    ).result()
    assert hook.actions == ["push"]
    assert mgmt.webhooks.get_callback_config(rg, name, "copyhook").service_uri == (
        "https://h.invalid/x"
    )
    smap = mgmt.scope_maps.begin_create(
        rg, name, "pull-a", {"properties": {"actions": ["repositories/a/content/read"]}}
    ).result()
    token = mgmt.tokens.begin_create(
        rg, name, "tok-a", {"properties": {"scopeMapId": smap.id}}
    ).result()
    assert token.scope_map_id == smap.id
    rule = mgmt.cache_rules.begin_create(
        rg,
        name,
        "hub-alpine",
        {
            "properties": {
                "sourceRepository": "docker.io/library/alpine",
                "targetRepository": "mirror/alpine",
            }
        },
    ).result()
    assert rule.source_repository == "docker.io/library/alpine"
    assert "hub-alpine" in [c.name for c in mgmt.cache_rules.list(rg, name)]
    # The target is shared: leave none of these behind for a later provision to trip over
    # (the source's own cache rule targets mirror/alpine too).
    mgmt.cache_rules.begin_delete(rg, name, "hub-alpine").result()
    mgmt.tokens.begin_delete(rg, name, "tok-a").result()
    mgmt.scope_maps.begin_delete(rg, name, "pull-a").result()
    assert "hub-alpine" not in [c.name for c in mgmt.cache_rules.list(rg, name)]
    assert "tok-a" not in [k.name for k in mgmt.tokens.list(rg, name)]
    assert "pull-a" not in [m.name for m in mgmt.scope_maps.list(rg, name)]
    mgmt.webhooks.begin_delete(rg, name, "copyhook").result()
    assert "copyhook" not in [w.name for w in mgmt.webhooks.list(rg, name)]
    with pytest.raises(HttpResponseError) as err:
        mgmt.webhooks.get(rg, name, "copyhook")
    assert err.value.status_code == 404


def test_role_assignments_over_http(sbx: Sandbox, target_registry: Any) -> None:
    t = sbx.tenant("target")
    token = sbx.credential("target").get_token(ARM).token
    headers = {"Authorization": f"Bearer {token}"}
    scope = target_registry.id
    name = "6e5b2a57-0000-4000-8000-" + uid() + "0000"
    url = (
        f"{sbx.azure['resource_manager']}{scope}/providers/Microsoft.Authorization/"
        f"roleAssignments/{name}?api-version=2022-04-01"
    )
    principal = "0b4f1f5e-1111-4222-8333-" + uid() + "4444"
    body = {
        "properties": {
            "roleDefinitionId": f"/subscriptions/{t['subscription_id']}/providers/"
            f"Microsoft.Authorization/roleDefinitions/{ACR_PULL}",
            "principalId": principal,
            "principalType": "ServicePrincipal",
        }
    }
    with httpx.Client(verify=_ctx(sbx), headers=headers) as client:
        put = client.put(url, json=body)
        assert put.status_code == 201, put.text
        assert put.json()["properties"]["scope"] == scope
        assert client.get(url).json()["properties"]["principalId"] == principal
        listed = _all_pages(
            client,
            f"{sbx.azure['resource_manager']}{scope}/providers/Microsoft.Authorization/"
            "roleAssignments?api-version=2022-04-01&$filter=atScope()",
        )
        assert principal in {ra["properties"]["principalId"] for ra in listed}
        dup = client.put(url.replace(name, name[:-4] + "9999"), json=body)
        assert dup.status_code == 409 and dup.json()["error"]["code"] == "RoleAssignmentExists"
        assert client.delete(url).status_code == 200
        assert client.get(url).status_code == 404
    # Source-tenant assignments (AcrPull, AcrPush on the source registry) are listed too.
    s = sbx.tenant("source")
    src_token = sbx.credential("source").get_token(ARM).token
    reg_id = sbx.mgmt("source").registries.get(s["resource_group"], s["registry"]).id
    with httpx.Client(verify=_ctx(sbx), headers={"Authorization": f"Bearer {src_token}"}) as client:
        listed = _all_pages(
            client,
            f"{sbx.azure['resource_manager']}{reg_id}/providers/Microsoft.Authorization/"
            "roleAssignments?api-version=2022-04-01",
        )
    roles = {
        ra["properties"]["roleDefinitionId"].rsplit("/", 1)[-1]
        for ra in listed
        if ra["properties"]["scope"] == reg_id
    }
    # The bootstrap's assignments (other tests may add principals of their own at this scope).
    assert {ACR_PULL, "8311e382-0749-4cb8-b61a-304f252e45ec"} <= roles


@pytest.mark.parametrize(("owner", "intruder"), [("source", "target"), ("target", "source")])
def test_tenant_isolation(sbx: Sandbox, target_registry: Any, owner: str, intruder: str) -> None:
    """An ARM token of one tenant gets nothing of the other tenant's registry, both ways; its
    own tenant's token reads it (so the refusal is the tenant's, not a missing registry)."""
    t = sbx.tenant(owner)
    rg, name = t["resource_group"], t["registry"]
    assert sbx.mgmt(owner).registries.get(rg, name).name == name
    wrong = sbx.mgmt(owner, credential=sbx.credential(intruder))
    with pytest.raises(HttpResponseError) as err:
        wrong.registries.get(rg, name)
    assert err.value.status_code == 401
    assert err.value.error is not None and err.value.error.code == (
        "InvalidAuthenticationTokenTenant"
    )
    assert err.value.response.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")


def test_import_image_cross_tenant_lands_the_digest(
    sbx: Sandbox, target_registry: Any, sandbox_config: Path, faults: Any
) -> None:
    _fast_lro(faults)
    t = sbx.tenant("target")
    mgmt = sbx.mgmt("target")
    repo = f"imported/{uid()}"
    poller = mgmt.registries.begin_import_image(
        t["resource_group"],
        t["registry"],
        _import_params(sbx, "platform/multiarch:latest", [f"{repo}:2.0", f"{repo}:latest"]),
    )
    assert poller.result() is None
    src, dst = _raw(sandbox_config)
    with src, dst:
        _, _, want = src.get_manifest("platform/multiarch", "latest")
        _, _, got = dst.get_manifest(repo, "2.0")
        assert got == want and dst.get_manifest(repo, "latest")[2] == want
    # Untagged import by digest, with an Entra access token of the source tenant as password
    # and no username (az acr import --password <token>).
    untagged_repo = f"untagged/{uid()}"
    source_token = (
        sbx.credential("source").get_token("https://containerregistry.azure.net/.default").token
    )
    mgmt.registries.begin_import_image(
        t["resource_group"],
        t["registry"],
        {
            "source": {
                "registryUri": sbx.tenant("source")["login_server"],
                "sourceImage": f"platform/multiarch@{want}",
                "credentials": {"password": source_token},
            },
            "untaggedTargetRepositories": [untagged_repo],
            "mode": "NoForce",
        },
    ).result()
    acr = sbx.acr("target")
    digests = {m.digest: m.tags for m in acr.list_manifest_properties(untagged_repo)}
    assert not digests[want] and len(digests) == 3  # the index and its two children


def test_import_by_digest_ignores_a_moved_tag_and_by_tag_resolves_it_when_copying(
    sbx: Sandbox, target_registry: Any, sandbox_config: Path, faults: Any
) -> None:
    """Spec ImportSource.sourceImage: an image by tag, or by sha256 manifest digest; by digest
    that manifest is copied whatever its tags point at now. targetTags: "When tag is omitted
    the source will be used (or 'latest' if source tag is also omitted)"."""
    _fast_lro(faults)
    t = sbx.tenant("target")
    mgmt = sbx.mgmt("target")
    repo = f"moving/{uid()}"
    first = build_image([make_layer({"f": f"{repo}-first".encode()})])
    later = build_image([make_layer({"f": f"{repo}-later".encode()})])

    def run(image: str, tags: list[str]) -> None:
        params = _import_params(sbx, image, tags)
        mgmt.registries.begin_import_image(t["resource_group"], t["registry"], params).result()

    src, dst = _raw(sandbox_config)
    with src, dst:
        src.push_image(repo, first, ["t"])
        src.push_image(repo, later, ["t"])  # the tag moved after "first" was exported
        try:
            run(f"{repo}@{first.digest}", [f"{repo}:exported"])
            assert dst.get_manifest(repo, "exported")[2] == first.digest
            run(f"{repo}:t", [f"{repo}:now"])
            assert dst.get_manifest(repo, "now")[2] == later.digest
            run(f"{repo}:t", [f"{repo}-copy"])  # no target tag: the source's
            assert dst.get_manifest(f"{repo}-copy", "t")[2] == later.digest
            run(f"{repo}@{first.digest}", [f"{repo}-copy"])  # none on either side: latest
            assert dst.get_manifest(f"{repo}-copy", "latest")[2] == first.digest
        finally:
            for digest in (first.digest, later.digest):
                src.request("DELETE", f"/v2/{repo}/manifests/{digest}")


def test_noforce_conflict_and_cross_tenant_resource_id(
    sbx: Sandbox, target_registry: Any, sandbox_config: Path, faults: Any
) -> None:
    _fast_lro(faults)
    t = sbx.tenant("target")
    mgmt = sbx.mgmt("target")
    repo = f"conflict/{uid()}"
    mgmt.registries.begin_import_image(
        t["resource_group"],
        t["registry"],
        _import_params(sbx, "library/alpine:latest", [f"{repo}:v1"]),
    ).result()
    with pytest.raises(HttpResponseError) as err:
        mgmt.registries.begin_import_image(
            t["resource_group"],
            t["registry"],
            _import_params(sbx, "library/busybox:latest", [f"{repo}:v1"], mode="NoForce"),
        ).result()
    assert err.value.error is not None and err.value.error.code == "TagAlreadyExists"
    assert "already exists in target registry" in str(err.value)
    # Force overwrites.
    mgmt.registries.begin_import_image(
        t["resource_group"],
        t["registry"],
        _import_params(sbx, "library/busybox:latest", [f"{repo}:v1"], mode="Force"),
    ).result()
    src, dst = _raw(sandbox_config)
    with src, dst:
        assert dst.get_manifest(repo, "v1")[2] == src.get_manifest("library/busybox", "latest")[2]
    # A resourceId in another tenant is refused.
    s = sbx.tenant("source")
    source_id = sbx.mgmt("source").registries.get(s["resource_group"], s["registry"]).id
    with pytest.raises(HttpResponseError) as err:
        mgmt.registries.begin_import_image(
            t["resource_group"],
            t["registry"],
            {
                "source": {"resourceId": source_id, "sourceImage": "library/alpine:latest"},
                "targetTags": [f"{repo}:v2"],
            },
        )
    assert err.value.status_code == 403
    assert err.value.error is not None and err.value.error.code == "LinkedAuthorizationFailed"


def test_import_faults_throttling_and_failed_lro(
    sbx: Sandbox, target_registry: Any, sandbox_config: Path, faults: Any
) -> None:
    t = sbx.tenant("target")
    mgmt = sbx.mgmt("target")
    before = faults.get()["counters"]
    _fast_lro(faults, throttle_rate=0.3, imports_only=True, retry_after=1, seed=3)
    repo = f"throttled/{uid()}"
    for i in range(6):
        mgmt.registries.begin_import_image(
            t["resource_group"],
            t["registry"],
            _import_params(sbx, "team-b/web:latest", [f"{repo}:v{i}"]),
        ).result()  # azure-core retries the 429s (Retry-After honoured)
    counters = faults.get()["counters"]
    delta = {k: counters[k] - before[k] for k in counters}
    assert delta["imports_throttled"] >= 1 and delta["throttled"] >= 1
    assert delta["imports_completed"] == 6

    _fast_lro(faults, fail_lro_repository_regex="^doomed/")
    doomed = f"doomed/{uid()}"
    poller = mgmt.registries.begin_import_image(
        t["resource_group"],
        t["registry"],
        _import_params(sbx, "library/alpine:latest", [f"{doomed}:v1"]),
    )
    assert poller.result() is None  # no exception: the failure is only in the 200 body
    assert poller.status() == "Succeeded"
    counters = faults.get()["counters"]
    assert counters["lro_failures_injected"] == before["lro_failures_injected"] + 1
    _, dst = _raw(sandbox_config)
    with dst, pytest.raises(RegistryError):
        dst.get_manifest(doomed, "v1")


# ---------------------------------------------------------------------------- data plane


def test_data_plane_lists_and_locks(sbx: Sandbox, seed_summary: Any) -> None:
    acr = sbx.acr("source")
    assert set(seed_summary.repositories) <= set(acr.list_repository_names())
    manifests = list(acr.list_manifest_properties("team-a/api"))
    untagged = [m for m in manifests if not m.tags]
    seeded_untagged = next(i for i in seed_summary.images if i.note == "untagged")
    assert seeded_untagged.digest in {m.digest for m in untagged}
    tagged = next(m for m in manifests if m.tags)
    assert tagged.architecture == "amd64" and tagged.operating_system == "linux"
    index = next(
        m for m in acr.list_manifest_properties("platform/multiarch") if "latest" in (m.tags or [])
    )
    assert index.architecture is None  # an index: platforms are in its references
    got = acr.get_manifest("library/alpine", "latest")
    assert got.digest == seed_summary.digest_of("library/alpine", "latest")

    repo = f"locked/{uid()}"
    endpoint = Endpoint(
        sbx.tenant("source")["data_plane_url"],
        sbx.tenant("source")["registry"],
        sbx.admin_password("source"),
        Path(sbx.ca),
    )
    image = build_image([make_layer({"etc/locked": repo.encode()})])
    with RegistryClient(endpoint) as client:
        client.push_image(repo, image, ["v1"])
        acr.update_repository_properties(repo, can_write=False)
        assert acr.get_repository_properties(repo).can_write is False
        other = build_image([make_layer({"etc/locked": b"v2"})])
        with pytest.raises(RegistryError) as err:
            client.push_image(repo, other, ["v2"])
        assert err.value.status == 403
        acr.update_repository_properties(repo, can_write=True)
        client.push_image(repo, other, ["v2"])


def test_data_plane_token_flow_and_challenge(sbx: Sandbox) -> None:
    s = sbx.tenant("source")
    url = s["data_plane_url"]
    with httpx.Client(verify=_ctx(sbx)) as client:
        first = client.get(f"{url}/v2/")
        assert first.status_code == 401
        assert first.headers["www-authenticate"] == (
            f'Bearer realm="{url}/oauth2/token",service="{s["login_server"]}"'
        )
        # An Entra token of the other tenant cannot be exchanged.
        foreign = (
            sbx.credential("target").get_token("https://containerregistry.azure.net/.default").token
        )
        bad = client.post(
            f"{url}/oauth2/exchange",
            data={
                "grant_type": "access_token",
                "service": s["login_server"],
                "access_token": foreign,
            },
        )
        assert bad.status_code == 401
        basic = client.get(
            f"{url}/oauth2/token",
            params={"service": s["login_server"], "scope": "registry:catalog:*"},
            auth=(s["registry"], sbx.admin_password("source")),
        )
        assert basic.status_code == 200
        token = basic.json()["access_token"]
        catalog = client.get(
            f"{url}/acr/v1/_catalog?n=2", headers={"Authorization": f"Bearer {token}"}
        )
        assert catalog.status_code == 200 and len(catalog.json()["repositories"]) == 2
        assert catalog.headers["link"].startswith("</acr/v1/_catalog?last=")
        scoped = client.get(
            f"{url}/oauth2/token",
            params={
                "service": s["login_server"],
                "scope": "repository:platform/multiarch:metadata_read",
            },
            auth=(s["registry"], sbx.admin_password("source")),
        ).json()["access_token"]
        listed = client.get(
            f"{url}/acr/v1/platform%2Fmultiarch/_manifests",
            headers={"Authorization": f"Bearer {scoped}"},
        ).json()
        index = next(m for m in listed["manifests"] if "latest" in m.get("tags", []))
        # As recorded on real ACR: a listing names no references; the single GET does.
        assert "references" not in index
        single = client.get(
            f"{url}/acr/v1/platform%2Fmultiarch/_manifests/{index['digest']}",
            headers={"Authorization": f"Bearer {scoped}"},
        ).json()["manifest"]
        assert {(r["os"], r["architecture"]) for r in single["references"]} == {
            ("linux", "amd64"),
            ("linux", "arm64"),
        }


@pytest.mark.parametrize("cache_tokens", [False, True])
def test_data_plane_requests_per_call_with_and_without_token_cache(
    sandbox_config: Path, seed_summary: Any, cache_tokens: bool
) -> None:
    """SDK auth: four HTTP requests per call; with the cache a warm client sends one."""
    from acr_migrate.azure.clients import RequestCounter, data_plane_client
    from acr_migrate.azure.credentials import tenant_credential, transport_options
    from acr_migrate.settings import load_config

    source = load_config(sandbox_config).source
    assert source.azure is not None
    counter = RequestCounter(**transport_options(source.ca_bundle))
    client = data_plane_client(
        source.url,
        tenant_credential(source.azure.identity, ca_bundle=source.ca_bundle),
        ca_bundle=source.ca_bundle,
        cache_tokens=cache_tokens,
        counter=counter,
    )
    image = next(i for i in seed_summary.images if i.tags)
    client.get_manifest_properties(image.repository, image.digest)  # warm up
    counter.counts.clear()
    for _ in range(10):
        props = client.get_manifest_properties(image.repository, image.digest)
        assert props.digest == image.digest
    client.close()
    assert counter.counts["api"] == (10 if cache_tokens else 20)
    assert counter.counts["total"] == (10 if cache_tokens else 40)


def test_managed_clusters_get_shape_rbac_and_tenant_isolation(sbx: Sandbox) -> None:
    """``ManagedClusters_Get`` in the target tenant's second subscription: the spec's shape
    (kubelet identity, or none on a service-principal cluster), 404 when missing, 403 without a
    read role, 401 for the other tenant, 400 for an api-version the spec does not define."""
    aks = sbx.tenant("target")["aks"]
    arm = sbx.azure["resource_manager"]

    def get(cluster_id: str, credential: Any, api: str = "2025-10-01") -> httpx.Response:
        token = credential.get_token(ARM).token
        with httpx.Client(verify=_ctx(sbx), headers={"Authorization": f"Bearer {token}"}) as c:
            return c.get(f"{arm}{cluster_id}?api-version={api}")

    target = sbx.credential("target")
    apps = aks["clusters"]["aks-apps"]
    found = get(apps["id"], target)
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["id"] == apps["id"] and body["name"] == "aks-apps"
    assert body["type"] == "Microsoft.ContainerService/managedClusters"
    assert body["location"] and body["identity"]["type"] == "SystemAssigned"
    kubelet = body["properties"]["identityProfile"]["kubeletidentity"]
    assert set(kubelet) == {"resourceId", "clientId", "objectId"}
    assert kubelet["objectId"] == apps["kubelet_object_id"]
    assert "/Microsoft.ManagedIdentity/userAssignedIdentities/" in kubelet["resourceId"]
    legacy = get(aks["clusters"]["aks-legacy"]["id"], target).json()
    assert "identity" not in legacy and "identityProfile" not in legacy["properties"]
    assert legacy["properties"]["servicePrincipalProfile"]["clientId"] != "msi"

    missing = get(apps["id"].replace("aks-apps", "aks-none"), target)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ResourceNotFound"
    foreign = get(apps["id"], sbx.credential("source"))
    assert foreign.status_code == 401
    assert foreign.json()["error"]["code"] == "InvalidAuthenticationTokenTenant"
    old = get(apps["id"], target, api="2024-04-01")
    assert old.status_code == 400 and old.json()["error"]["code"] == "NoRegisteredProviderFound"
    assert "for type 'managedClusters'" in old.json()["error"]["message"]

    with httpx.Client(verify=_ctx(sbx)) as c:
        made = c.post(
            f"{arm}/_sandbox/principals",
            json={"slot": "target", "role": "AcrPull", "scope": "subscription"},
        ).json()
    puller = ClientSecretCredential(
        made["tenant_id"], made["client_id"], made["client_secret"], **sbx.credential_kwargs()
    )
    denied = get(apps["id"], puller)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "AuthorizationFailed"
    assert "Microsoft.ContainerService/managedClusters/read" in denied.json()["error"]["message"]
