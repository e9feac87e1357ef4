"""The stand-in enforces repository-scoped tokens as ACR does (sandbox/azure/AUTHORITY.md,
"Tokens and scope maps"): a token's password pulls only the repositories its scope map names,
never pushes, never lists the catalog, stops at its expiry, and stops when the token is
deleted; ``generateCredentials`` rotates it and no read gives a password back."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from acr_migrate.errors import RegistryHTTPError
from acr_migrate.models import RegistryEndpoint
from acr_migrate.oci.client import RegistryClient
from acr_migrate.pull_token import PullLogin, scope_map_actions
from acr_migrate.registry import open_registry
from acr_migrate.settings import MigrationConfig
from sandbox.azure.clients import Sandbox
from sandbox.oci_push import Endpoint, RegistryError, build_image, make_layer, push_image
from tests.helpers import push_endpoint, put_target_registry, uid

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sbx(sandbox_config: Path) -> Sandbox:
    return Sandbox(sandbox_config.parent)


def _push(cfg: MigrationConfig, repository: str, tag: str = "v1") -> str:
    image = build_image([make_layer({"f": f"{repository}:{tag}:{uid()}".encode()})])
    push_image(push_endpoint(cfg.source), repository, [tag], image)
    return image.digest


_made: list[str] = []


@pytest.fixture(autouse=True)
def _leave_the_source_as_seeded(migration_config: MigrationConfig) -> Iterator[None]:
    """Other tests compare the source's scope maps and tokens with the seed: revoke ours."""
    yield
    while _made:
        token = _made.pop()
        open_registry(migration_config.source).revoke_pull_token(token, f"{token}-scope-map")


def _grant(cfg: MigrationConfig, token: str, repos: list[str], expiry: datetime) -> PullLogin:
    _made.append(token)
    login, _ = open_registry(cfg.source).grant_pull_token(
        token, f"{token}-scope-map", scope_map_actions(repos), expiry
    )
    return login


def _client(endpoint: RegistryEndpoint, login: PullLogin) -> RegistryClient:
    """A fresh client (no cached access token) signing in as the token."""
    return RegistryClient(endpoint, credentials=(login.username, login.password))


def _pulls(endpoint: RegistryEndpoint, login: PullLogin, repository: str, ref: str) -> bool:
    with _client(endpoint, login) as client:
        try:
            client.get_manifest(repository, ref)
        except RegistryHTTPError as exc:
            assert exc.status in (401, 403), exc
            return False
    return True


def test_a_token_pulls_only_its_repositories_and_never_pushes(
    migration_config: MigrationConfig,
) -> None:
    cfg = migration_config
    prefix = f"scoped-{uid()}"
    allowed, other = f"{prefix}/allowed", f"{prefix}/other"
    digest = _push(cfg, allowed)
    _push(cfg, other)
    token = f"pt-{uid()}"
    login = _grant(cfg, token, [allowed], datetime.now(UTC) + timedelta(hours=1))
    assert login.username == token

    assert _pulls(cfg.source, login, allowed, "v1")
    assert _pulls(cfg.source, login, allowed, digest)
    with _client(cfg.source, login) as client:
        assert client.tags(allowed) == ["v1"]  # metadata/read
        client.ping()  # the token signs in
        with pytest.raises(RegistryHTTPError) as refused:
            list(client.catalog())  # repository-scoped tokens cannot list the catalog
        assert refused.value.status == 401
    assert not _pulls(cfg.source, login, other, "v1")

    as_token = Endpoint(
        url=cfg.source.url,
        username=login.username,
        password=login.password.get_secret_value(),
        ca_bundle=Path(cfg.source.ca_bundle or ""),
    )
    image = build_image([make_layer({"push": uid().encode()})])
    with pytest.raises(RegistryError):
        push_image(as_token, allowed, ["pushed-by-token"], image)
    with _client(cfg.source, login) as client:
        assert "pushed-by-token" not in client.tags(allowed)


#: The expiry of the short-lived password: far more than granting it and one pull take.
SHORT_EXPIRY_SECONDS = 15


def test_an_expired_or_rotated_password_is_refused(migration_config: MigrationConfig) -> None:
    cfg = migration_config
    repository = f"expiry-{uid()}/app"
    _push(cfg, repository)
    token = f"pt-{uid()}"
    # Long enough that granting and one pull fit before it on the slowest machine; then wait
    # until the expiry has passed (however long that takes), never for a fixed time.
    expiry = datetime.now(UTC) + timedelta(seconds=SHORT_EXPIRY_SECONDS)
    short = _grant(cfg, token, [repository], expiry)
    assert _pulls(cfg.source, short, repository, "v1")
    while datetime.now(UTC) < expiry + timedelta(seconds=1):
        time.sleep(0.5)
    assert not _pulls(cfg.source, short, repository, "v1"), "an expired password still pulls"

    first = _grant(cfg, token, [repository], datetime.now(UTC) + timedelta(hours=1))
    assert _pulls(cfg.source, first, repository, "v1")
    second = _grant(cfg, token, [repository], datetime.now(UTC) + timedelta(hours=1))
    assert second.password.get_secret_value() != first.password.get_secret_value()
    assert _pulls(cfg.source, second, repository, "v1")
    assert not _pulls(cfg.source, first, repository, "v1"), "the rotated password still pulls"
    wrong = PullLogin(username=token, password=SecretStr("not-the-password"))
    assert not _pulls(cfg.source, wrong, repository, "v1")


def test_a_deleted_token_no_longer_authenticates_and_reads_give_no_password(
    migration_config: MigrationConfig, sbx: Sandbox
) -> None:
    cfg = migration_config
    repository = f"revoked-{uid()}/app"
    _push(cfg, repository)
    token = f"pt-{uid()}"
    login = _grant(cfg, token, [repository], datetime.now(UTC) + timedelta(hours=1))
    t = sbx.tenant("source")
    mgmt = sbx.mgmt("source")
    read = mgmt.tokens.get(t["resource_group"], t["registry"], token).as_dict()
    passwords = read["properties"]["credentials"]["passwords"]
    assert [p["name"] for p in passwords] == ["password1"] and passwords[0].get("expiry")
    assert all("value" not in p for p in passwords)
    secret = login.password.get_secret_value()
    listed = str([x.as_dict() for x in mgmt.tokens.list(t["resource_group"], t["registry"])])
    assert secret not in listed

    removed = open_registry(cfg.source).revoke_pull_token(token, f"{token}-scope-map")
    assert removed == [f"token {token}", f"scope map {token}-scope-map"]
    assert not _pulls(cfg.source, login, repository, "v1"), "a deleted token still pulls"
    assert open_registry(cfg.source).revoke_pull_token(token, f"{token}-scope-map") == []

    from azure.core.exceptions import ResourceNotFoundError
    from azure.mgmt.containerregistry.models import GenerateCredentialsParameters

    token_id = f"{read['id']}"
    with pytest.raises(ResourceNotFoundError):
        mgmt.registries.begin_generate_credentials(
            t["resource_group"], t["registry"], GenerateCredentialsParameters(token_id=token_id)
        ).result()


def test_acr_import_with_a_token_pulls_only_its_repositories(
    migration_config: MigrationConfig, sbx: Sandbox, target_slot: Any, fast_lro: None
) -> None:
    """ARM's importImage from ``registryUri`` with the token's credentials: in scope it
    lands, out of scope the operation fails Unauthorized."""
    from azure.core.exceptions import HttpResponseError

    cfg = migration_config
    prefix = f"tokimport-{uid()}"
    allowed, other = f"{prefix}/allowed", f"{prefix}/other"
    allowed_digest, other_digest = _push(cfg, allowed), _push(cfg, other)
    token = f"pt-{uid()}"
    login = _grant(cfg, token, [allowed], datetime.now(UTC) + timedelta(hours=1))
    t = sbx.tenant("target")

    def run(repository: str, digest: str) -> None:
        params = {
            "source": {
                "registryUri": sbx.tenant("source")["login_server"],
                "sourceImage": f"{repository}@{digest}",
                "credentials": {
                    "username": login.username,
                    "password": login.password.get_secret_value(),
                },
            },
            "targetTags": [f"{repository}:v1"],
            "mode": "Force",
        }
        sbx.mgmt("target").registries.begin_import_image(
            t["resource_group"], t["registry"], params
        ).result()

    run(allowed, allowed_digest)
    with pytest.raises(HttpResponseError) as err:
        run(other, other_digest)
    assert "Unauthorized" in str(err.value)


@pytest.fixture(scope="module")
def target_slot(sbx: Sandbox) -> Any:
    """The target registry exists in ARM (created or replaced, keeping its admin user)."""
    return put_target_registry(sbx)


@pytest.fixture
def fast_lro(sbx: Sandbox) -> Iterator[None]:
    url = sbx.azure["faults_url"]
    with httpx.Client(verify=ssl.create_default_context(cafile=sbx.ca), timeout=60) as http:
        http.put(url, json={"lro_min_polls": 0, "lro_retry_after": 1})
        yield
        http.delete(url)
