"""Pure pieces of the Azure path: ARM error messages and token-cache keys."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from azure.core.exceptions import HttpResponseError, ODataV4Format

from acr_migrate.azure.clients import _call_shape
from acr_migrate.azure.import_engine import describe_arm_error
from acr_migrate.errors import is_transient


def arm_error(status: int, code: str, message: str, retry_after: str | None = None):
    exc = HttpResponseError(message=message)
    exc.status_code = status
    exc.error = ODataV4Format({"code": code, "message": message})
    exc.response = SimpleNamespace(headers={"Retry-After": retry_after} if retry_after else {})
    return exc


def test_arm_errors_become_clear_per_image_messages() -> None:
    conflict = describe_arm_error(arm_error(409, "Conflict", "Tag v1 already exists"), "app:v1")
    assert conflict.status == 409 and "force" in str(conflict) and "app:v1" in str(conflict)
    assert not is_transient(conflict)
    missing = describe_arm_error(arm_error(400, "InvalidParameters", "Image not found"), "app:v1")
    assert "not found" in str(missing) and not is_transient(missing)
    throttled = describe_arm_error(arm_error(429, "TooManyRequests", "slow down", "3"), "app:v1")
    assert is_transient(throttled) and throttled.retry_after == 3
    denied = describe_arm_error(arm_error(403, "AuthorizationFailed", "no"), "app:v1")
    assert "Contributor" in str(denied) and not is_transient(denied)


def test_call_shapes_group_requests_needing_one_token_scope() -> None:
    def shape(method: str, url: str) -> str:
        return _call_shape(SimpleNamespace(http_request=SimpleNamespace(method=method, url=url)))

    base = "https://reg.example"
    assert shape("GET", f"{base}/acr/v1/a/b/_manifests/sha256:1?x=1") == shape(
        "GET", f"{base}/acr/v1/a/b/_manifests/sha256:2"
    )
    assert shape("GET", f"{base}/acr/v1/a/_manifests") != shape(
        "GET", f"{base}/acr/v1/b/_manifests"
    )
    assert shape("PATCH", f"{base}/acr/v1/a") != shape("GET", f"{base}/acr/v1/a")
    assert shape("GET", f"{base}/acr/v1/_catalog?n=2") == "GET /acr/v1/_catalog"


def test_only_an_existing_tag_is_a_conflict_not_a_missing_source() -> None:
    """ "does not exist" names a missing source image, not a tag conflict (no force hint)."""
    missing = describe_arm_error(
        arm_error(400, "InvalidParameters", "Source image app:v9 does not exist."), "app:v9"
    )
    assert missing.status == 400 and "force" not in str(missing)
    assert "not found" in str(missing)
    exists = describe_arm_error(
        arm_error(400, "TagAlreadyExists", "Tag app:v1 already exists in target registry."),
        "app:v1",
    )
    assert exists.status == 409 and "force" in str(exists)


def test_an_index_over_the_import_limit_points_at_oci_copy() -> None:
    wide = describe_arm_error(
        arm_error(400, "InvalidParameters", "The image app@sha256:1 has more than 50 manifests"),
        "app:v1",
    )
    assert "oci-copy" in str(wide) and not is_transient(wide)


def test_permission_matching_follows_arm_wildcards_and_not_actions() -> None:
    from acr_migrate.azure.permissions import allows

    reader = [{"actions": ["*/read"], "notActions": []}]
    contributor = [{"actions": ["*"], "notActions": ["Microsoft.Authorization/*/Write"]}]
    registry_read = "Microsoft.ContainerRegistry/registries/read"
    callback = "Microsoft.ContainerRegistry/registries/webhooks/getCallbackConfig/action"
    rbac_write = "Microsoft.Authorization/roleAssignments/write"
    assert allows(reader, registry_read) and not allows(reader, callback)
    assert allows(contributor, callback) and not allows(contributor, rbac_write)
    # Another role's entry is not narrowed by Contributor's notActions.
    assert allows([*contributor, {"actions": ["*"], "notActions": []}], rbac_write)
    assert allows([{"actions": ["microsoft.containerregistry/REGISTRIES/*"]}], registry_read)
    assert not allows([], registry_read)


def test_arm_token_scopes_follow_the_cloud() -> None:
    from acr_migrate.azure.clients import management_client
    from acr_migrate.azure.settings import AcrRegistryRef, TenantIdentity, arm_scope

    assert arm_scope("https://management.azure.com/") == "https://management.azure.com/.default"
    assert arm_scope("https://management.usgovcloudapi.net") == (
        "https://management.usgovcloudapi.net/.default"
    )
    assert arm_scope("https://management.chinacloudapi.cn/") == (
        "https://management.chinacloudapi.cn/.default"
    )
    assert arm_scope("https://127.0.0.1:8443") == "https://management.azure.com/.default"
    ref = AcrRegistryRef(
        subscription_id="s",
        resource_group="rg",
        registry="reg",
        resource_manager="https://management.usgovcloudapi.net",
        identity=TenantIdentity(tenant_id="t"),
    )

    class NoCredential:
        def get_token(self, *scopes: str, **kwargs: object) -> None:
            raise AssertionError("no token is asked for while building the client")

    client = management_client(ref, NoCredential())  # type: ignore[arg-type]
    assert client._config.credential_scopes == ["https://management.usgovcloudapi.net/.default"]


def test_an_index_over_the_import_limit_is_refused_before_any_call() -> None:
    """Real SDK clients aimed at an address where nothing listens: any call would be a
    connection error, so the clear refusal proves that nothing was sent."""
    from azure.identity import ClientSecretCredential
    from azure.mgmt.containerregistry import ContainerRegistryManagementClient
    from pydantic import SecretStr

    from acr_migrate.azure.clients import data_plane_client
    from acr_migrate.azure.import_engine import AcrImportEngine
    from acr_migrate.azure.settings import AcrRegistryRef, TenantIdentity
    from acr_migrate.errors import RegistryHTTPError
    from acr_migrate.models import ImageRow, ImportItem
    from acr_migrate.plan import _item

    nowhere = "https://127.0.0.1:9"
    credential = ClientSecretCredential("t", "c", "s", authority="https://127.0.0.1:9")
    ref = AcrRegistryRef(
        subscription_id="s",
        resource_group="rg",
        registry="target",
        identity=TenantIdentity(tenant_id="t", client_id="c", client_secret_env="X"),
        resource_manager=nowhere,
    )
    engine = AcrImportEngine(
        ContainerRegistryManagementClient(credential, "s", base_url=nowhere),
        ref,
        data_plane_client(nowhere, credential),
        source_registry_uri="source.azurecr.io",
        source_username="u",
        source_password=SecretStr("p"),
    )
    platforms = ";".join(f"linux/arch{n}" for n in range(51))
    row = ImageRow(
        source_registry="source.azurecr.io",
        repository="big/index",
        tag="1.0",
        digest="sha256:" + "a" * 64,
        media_type="application/vnd.oci.image.index.v1+json",
        size_bytes=1,
        platforms=platforms,
    )
    item = _item(row, ("1.0",))
    assert isinstance(item, ImportItem) and item.platforms == 51
    with pytest.raises(RegistryHTTPError) as raised:
        engine.import_image(item)
    assert raised.value.status == 400
    assert "51 platform manifests" in str(raised.value) and "oci-copy" in str(raised.value)
    engine.close()
