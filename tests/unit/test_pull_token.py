"""The pull token's pure parts: the scope map's actions, the options, the plan of a grant, and
how an endpoint's ``pull_token_block`` becomes the import's source credentials."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr, ValidationError

from acr_migrate.models import ConfigError, RegistryEndpoint
from acr_migrate.preflight import Need, check_need
from acr_migrate.pull_token import (
    PullLogin,
    PullTokenGrant,
    PullTokenOptions,
    TokenState,
    default_block_name,
    grant_plan,
    repositories_of,
    scope_map_actions,
)
from acr_migrate.registry import open_registry
from sandbox.azure.context import Grant, scope_map_grants

SOURCE = RegistryEndpoint(
    name="Contoso Prod", url="https://contosoprod.azurecr.io", pull_token_block="pull-block"
)


def test_scope_map_actions_pull_each_repository_once_and_nothing_else() -> None:
    actions = scope_map_actions(["team-b/api", "team-a/web", "team-b/api", " ", "base"])
    assert actions == [
        "repositories/base/content/read",
        "repositories/base/metadata/read",
        "repositories/team-a/web/content/read",
        "repositories/team-a/web/metadata/read",
        "repositories/team-b/api/content/read",
        "repositories/team-b/api/metadata/read",
    ]
    assert not any(a.endswith(("/write", "/delete")) or "*" in a for a in actions)
    assert repositories_of(actions) == ["base", "team-a/web", "team-b/api"]
    assert scope_map_actions([]) == []


def test_the_stand_in_reads_the_same_actions_as_pull_only() -> None:
    grant = Grant("token:t", repositories=scope_map_grants(scope_map_actions(["team-a/web"])))
    assert grant.allows("team-a/web", "pull") and grant.allows("team-a/web", "metadata_read")
    assert not grant.allows("team-a/web", "push") and not grant.allows("team-a/api", "pull")
    assert grant.granted("registry", "catalog", {"*"}) == set()
    assert grant.granted("repository", "team-a/web", {"pull", "push"}) == {"pull"}


def test_options_select_repositories_as_the_export_filters_do() -> None:
    repos = ["team-a/web", "team-a/api", "team-b/api", "base"]
    assert PullTokenOptions().select(repos) == sorted(repos)
    chosen = PullTokenOptions(include=["team-a/*", "base"], exclude=["*/api"]).select(repos)
    assert chosen == ["base", "team-a/web"]
    assert PullTokenOptions(include=["/^team-[ab]/api$/"]).select(repos) == [
        "team-a/api",
        "team-b/api",
    ]
    with pytest.raises(ConfigError):
        PullTokenOptions(include=["/[/"]).select(repos)


def test_options_name_things_as_acr_and_prefect_allow() -> None:
    options = PullTokenOptions()
    assert options.token == "acr-migrate-pull"
    assert options.scope_map_name() == "acr-migrate-pull-scope-map"
    assert options.block_name("Contoso Prod") == "acr-migrate-pull-contoso-prod"
    assert default_block_name("my_reg.v2") == "acr-migrate-pull-my-reg-v2"
    assert PullTokenOptions(block="mine").block_name("x") == "mine"
    for bad in ({"token": "no"}, {"token": "has space"}, {"block": "Upper"}, {"valid_days": 0}):
        with pytest.raises(ValidationError):
            PullTokenOptions.model_validate(bad)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert PullTokenOptions(valid_days=2).expiry(now) == now + timedelta(days=2)


def test_the_plan_creates_then_reuses_and_always_rotates_the_password() -> None:
    options = PullTokenOptions(token="mig-token")
    actions = scope_map_actions(["app"])
    fresh = grant_plan(TokenState(), options, actions)
    assert [row[2] for row in fresh][:2] == ["create", "create"]
    map_id = "/subscriptions/s/resourceGroups/rg/providers/x/registries/r/scopeMaps/"
    same = TokenState(True, map_id + "mig-token-scope-map", True, tuple(actions))
    again = grant_plan(same, options, actions)
    assert [row[2] for row in again][:2] == ["keep", "keep"]
    assert again[2][0] == "password1" and again[2][2].startswith("generate")
    moved = grant_plan(TokenState(True, map_id + "other", True, ()), options, actions)
    assert [row[2] for row in moved][:2] == ["update", "update (scope map)"]


def test_the_result_names_the_username_and_the_block_never_a_password() -> None:
    grant = PullTokenGrant(
        registry="reg.example:443",
        username="mig-token",
        token="mig-token",
        scope_map="mig-token-scope-map",
        block="acr-migrate-pull-src",
        repositories=["a", "b"],
        expires=datetime(2026, 1, 8, tzinfo=UTC),
    )
    assert "username mig-token" in grant.message()
    assert "pull_token_block = 'acr-migrate-pull-src'" in grant.message()
    assert "2026-01-08T00:00:00Z" in grant.message()
    assert "password" not in grant.model_dump_json().replace("password in", "")


def _resolver(login: PullLogin) -> object:
    seen: list[str] = []

    def resolve(block: str) -> PullLogin:
        seen.append(block)
        return login

    resolve.seen = seen  # type: ignore[attr-defined]
    return resolve


def test_the_block_gives_the_import_its_source_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    login = PullLogin(
        username="mig-token",
        password=SecretStr("s3cret"),
        expires=datetime.now(UTC) + timedelta(days=1),
    )
    resolve = _resolver(login)
    registry = open_registry(SOURCE, pull_tokens=resolve)  # type: ignore[arg-type]
    username, password = registry.pull_credentials()
    assert username == "mig-token" and password.get_secret_value() == "s3cret"
    assert registry.pull_login() == ("mig-token", login.password)
    assert resolve.seen == ["pull-block", "pull-block"]  # type: ignore[attr-defined]
    # Outside Prefect nothing can read a block: a clear error, not another credential.
    with pytest.raises(ConfigError, match="pull-token block is read by the Prefect layer"):
        open_registry(SOURCE).pull_credentials()
    # Without a block the endpoint's own user is used, as before.
    monkeypatch.setenv("SRC_PW", "admin-pw")
    own = SOURCE.model_copy(
        update={"pull_token_block": None, "username": "admin", "password_env": "SRC_PW"}
    )
    assert open_registry(own).pull_login()[0] == "admin"


def test_an_expired_pull_token_is_refused_before_the_import(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = PullLogin(
        username="mig-token",
        password=SecretStr("s3cret"),
        expires=datetime.now(UTC) - timedelta(minutes=1),
    )
    with pytest.raises(ConfigError, match=r"expired at .* run grant-pull-token again"):
        open_registry(SOURCE, pull_tokens=_resolver(old)).pull_credentials()  # type: ignore[arg-type]
    need = Need(SOURCE, "source", reach=False, arm=False, pull=True)
    problems = check_need(need, pull_tokens=_resolver(old))  # type: ignore[arg-type]
    assert len(problems) == 1 and problems[0].startswith("source registry 'Contoso Prod'")
    assert "s3cret" not in problems[0]


def test_provisioning_leaves_the_migrations_own_pull_token_out() -> None:
    """An export after ``grant-pull-token`` documents the token like any other; the target
    gets the source's own scope maps and tokens, not the migration's."""
    from acr_migrate.azure.provision import child_bodies
    from acr_migrate.pull_token import DESCRIPTION

    base = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/r"
    document = {
        "registry": {"location": "westeurope"},
        "scope_maps": [
            {"name": "ci-pull", "properties": {"actions": ["repositories/a/content/read"]}},
            {"name": "mig-scope-map", "properties": {"actions": [], "description": DESCRIPTION}},
        ],
        "tokens": [
            {"name": "ci-token", "properties": {"scopeMapId": f"{base}/scopeMaps/ci-pull"}},
            {"name": "mig", "properties": {"scopeMapId": f"{base}/scopeMaps/mig-scope-map"}},
        ],
    }
    made = [(kind, name) for kind, name, _ in child_bodies(document, "/target")]
    assert made == [("scope_maps", "ci-pull"), ("tokens", "ci-token")]
