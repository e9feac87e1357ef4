"""Provisioning decisions on the ARM wire format: what is mirrored, what is reported."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from acr_migrate.azure.compare import compare
from acr_migrate.azure.document import PreflightError, at_registry_scope
from acr_migrate.azure.document import preflight_findings as preflight
from acr_migrate.azure.gaps import gaps_of
from acr_migrate.azure.provision import registry_body
from acr_migrate.azure.settings import AcrRegistryRef, TenantIdentity

EXAMPLE = Path(__file__).parent / "data" / "RegistryGet.json"  # Azure/azure-rest-api-specs example
OLD_ID = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/old"
TARGET = AcrRegistryRef(
    subscription_id="s2",
    resource_group="rg",
    registry="newreg",
    identity=TenantIdentity(tenant_id="t2"),
)


def document() -> dict[str, Any]:
    registry = json.loads(EXAMPLE.read_text())["responses"]["200"]["body"]
    return {
        "registry": registry,
        "replications": [
            {"name": "westus", "location": "westus", "properties": {}},
            {
                "name": "northeurope",
                "location": "northeurope",
                "properties": {"regionEndpointEnabled": True, "zoneRedundancy": "Disabled"},
            },
        ],
        "webhooks": [
            {
                "name": "hook",
                "location": "westus",
                "properties": {"actions": ["push"], "status": "enabled", "scope": "app:*"},
                "callback": {
                    "serviceUri": "https://hooks.example/x",
                    "customHeaderNames": ["Authorization"],
                },
            }
        ],
        "scope_maps": [
            {"name": "_repositories_pull", "properties": {"type": "SystemDefined", "actions": []}},
            {
                "name": "ci",
                "properties": {"type": "UserDefined", "actions": ["repositories/app/content/read"]},
            },
        ],
        "tokens": [
            {
                "name": "ci-token",
                "properties": {
                    "scopeMapId": OLD_ID + "/scopeMaps/ci",
                    "status": "enabled",
                },
            }
        ],
        "cache_rules": [
            {
                "name": "dockerhub",
                "properties": {
                    "sourceRepository": "docker.io/library/nginx",
                    "targetRepository": "nginx",
                    "credentialSetResourceId": "/x/credentialSets/hub",
                },
            }
        ],
        "credential_sets": [{"name": "hub"}],
        "private_endpoint_connections": [{"name": "pe-1"}],
        "role_assignments": [{"name": "ra-1"}],
    }


def test_registry_body_mirrors_settings_not_identity_or_state() -> None:
    body = registry_body(document(), TARGET)
    assert body["sku"] == {"name": "Standard"} and body["tags"] == {"key": "value"}
    assert body["location"] == "westus"  # source region unless the target names one
    props = body["properties"]
    assert props["adminUserEnabled"] is False
    assert props["publicNetworkAccess"] == "Enabled" and props["zoneRedundancy"] == "Disabled"
    assert "lastUpdatedTime" not in props["policies"]["retentionPolicy"]
    for read_only in (
        "loginServer",
        "creationDate",
        "provisioningState",
        "encryption",
        "privateEndpointConnections",
    ):
        assert read_only not in props
    explicit = AcrRegistryRef(**{**TARGET.model_dump(), "location": "swedencentral"})
    assert registry_body(document(), explicit)["location"] == "swedencentral"


def test_every_gap_is_reported_with_an_action() -> None:
    doc = document()
    doc["registry"]["properties"]["encryption"] = {"status": "enabled", "keyVaultProperties": {}}
    gaps = {g.what: g for g in gaps_of(doc)}
    assert "customer-managed key encryption" in gaps
    assert "private endpoint pe-1" in gaps
    assert "credential set hub" in gaps
    assert "passwords of token ci-token" in gaps
    assert "custom headers of webhook hook (Authorization)" in gaps
    assert not any(what.startswith("service URI") for what in gaps)  # nothing was withheld
    assert "cache rule dockerhub" in gaps
    assert "1 role assignment(s)" in gaps
    assert all(g.action for g in gaps.values())


def test_content_trust_stops_the_migration() -> None:
    doc = document()
    assert preflight(doc) == ["private endpoints exist: ARM import cannot reach them from outside"]
    doc["registry"]["properties"]["policies"]["trustPolicy"]["status"] = "enabled"
    with pytest.raises(PreflightError, match="content trust"):
        preflight(doc)


def test_compare_finds_each_difference() -> None:
    source = document()
    target = copy.deepcopy(source)
    assert compare(source, target) == []
    target["registry"]["properties"]["adminUserEnabled"] = True
    target["registry"]["tags"] = {}
    target["scope_maps"] = [s for s in target["scope_maps"] if s["name"] != "ci"]
    diffs = compare(source, target)
    assert "properties.adminUserEnabled: False != True" in diffs
    assert any(d.startswith("tags:") for d in diffs)
    assert "scope_maps/ci: missing in the target" in diffs
    # A registry's home replication and system scope maps are not ours to create.
    assert not any("westus" in d or "_repositories_pull" in d for d in diffs)


def test_only_assignments_on_the_registry_itself_are_kept() -> None:
    registry = OLD_ID
    inherited = [
        {"name": "owner", "properties": {"scope": "/subscriptions/s1"}},
        {"name": "rg", "properties": {"scope": "/subscriptions/s1/resourceGroups/rg"}},
        {"name": "pull", "properties": {"scope": registry.upper()}},
        {"name": "push", "properties": {"scope": registry + "/"}},
    ]
    kept = at_registry_scope(inherited, registry)
    assert [ra["name"] for ra in kept] == ["pull", "push"]


def test_a_permission_gap_is_reported_with_an_action() -> None:
    doc = document()
    doc["permission_gaps"] = [
        {
            "what": "callback of webhook hook",
            "action": "Microsoft.ContainerRegistry/registries/webhooks/getCallbackConfig/action",
            "detail": "AuthorizationFailed",
        }
    ]
    gap = next(g for g in gaps_of(doc) if g.what == "callback of webhook hook")
    assert "getCallbackConfig" in gap.why and gap.action


def test_abac_mode_is_mirrored_and_its_assignments_reported() -> None:
    doc = document()
    assert registry_body(doc, TARGET)["properties"]["roleAssignmentMode"] == (
        "LegacyRegistryPermissions"
    )
    assert not any("ABAC" in g.what for g in gaps_of(doc))
    doc["registry"]["properties"]["roleAssignmentMode"] = "AbacRepositoryPermissions"
    assert registry_body(doc, TARGET)["properties"]["roleAssignmentMode"] == (
        "AbacRepositoryPermissions"
    )
    assert any("ABAC" in g.what and g.action for g in gaps_of(doc))
    target = copy.deepcopy(doc)
    target["registry"]["properties"]["roleAssignmentMode"] = "LegacyRegistryPermissions"
    assert any("roleAssignmentMode" in d for d in compare(doc, target))


def test_a_webhook_key_in_its_uri_is_never_documented_and_the_hook_waits_disabled() -> None:
    from acr_migrate.azure.document import public_uri
    from acr_migrate.azure.provision import child_bodies

    uri = "https://ops:pw@hooks.example:8443/api/build?code=KEY123&x=1#frag"
    assert public_uri(uri) == (
        "https://hooks.example:8443/api/build",
        ["user info", "query", "fragment"],
    )
    assert public_uri("https://hooks.example/x") == ("https://hooks.example/x", [])
    doc = document()
    callback = doc["webhooks"][0]["callback"]
    callback["serviceUri"], callback["serviceUriWithheld"] = public_uri(uri)
    gap = next(g for g in gaps_of(doc) if g.what.startswith("service URI"))
    assert gap.what == "service URI of webhook hook (its user info and query and fragment)"
    assert "enable" in gap.action
    hooks = [body for kind, _, body in child_bodies(doc, OLD_ID) if kind == "webhooks"]
    assert hooks[0]["properties"]["serviceUri"] == "https://hooks.example:8443/api/build"
    assert hooks[0]["properties"]["status"] == "disabled"
    assert "KEY123" not in json.dumps(doc) + json.dumps(hooks)
    # Without a withheld part the hook keeps the source's status.
    plain = [body for kind, _, body in child_bodies(document(), OLD_ID) if kind == "webhooks"]
    assert plain[0]["properties"]["status"] == "enabled"
