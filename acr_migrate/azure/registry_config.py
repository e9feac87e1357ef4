"""Document a registry's configuration and re-create it in another tenant.

Works on the ARM wire format (``as_dict()``), so what is documented, what is sent and what is
compared are the same JSON. Secrets are never documented: admin passwords are not read, token
passwords and webhook header values are dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from pydantic import BaseModel

from acr_migrate.azure.settings import AcrRegistryRef
from acr_migrate.errors import MigrationError

SCHEMA = "acr-migrate/registry-config/v1"
ROLE_API = "2022-04-01"
#: Registry properties that a new registry can take over as they are.
MIRRORED_PROPERTIES = (
    "adminUserEnabled",
    "policies",
    "networkRuleSet",
    "networkRuleBypassOptions",
    "publicNetworkAccess",
    "zoneRedundancy",
    "anonymousPullEnabled",
    "dataEndpointEnabled",
    # LegacyRegistryPermissions or AbacRepositoryPermissions: which roles the data plane honours.
    "roleAssignmentMode",
)
_READ_ONLY_POLICY_KEYS = ("lastUpdatedTime",)
CHILDREN = ("replications", "webhooks", "scope_maps", "tokens", "cache_rules")


class PreflightError(MigrationError):
    """The source cannot be migrated as it is (e.g. content trust is on)."""


class Gap(BaseModel):
    """Something the new registry cannot take over, and what the operator must do."""

    what: str
    why: str
    action: str


class ProvisionReport(BaseModel):
    """What provisioning did (or would do, in a dry run)."""

    registry: str
    created: bool
    existed: bool
    name_available: bool
    children_created: list[str]
    children_existing: list[str]
    gaps: list[Gap]
    dry_run: bool

    def message(self) -> str:
        """One line: the registry, what was (or would be) created, what needs the operator."""
        done = "exists" if self.existed else ("would be created" if self.dry_run else "created")
        verb = "to create" if self.dry_run else "created"
        return (
            f"{self.registry} {done}, {len(self.children_created)} sub-resource(s) {verb}; "
            f"{len(self.gaps)} item(s) need the operator"
        )


def _dicts(items: Any) -> list[dict[str, Any]]:
    return [item.as_dict() for item in items]


def _optional_list(call: Any, *args: Any) -> list[dict[str, Any]] | None:
    """A sub-resource listing, or None where the API or SKU does not offer it."""
    try:
        return _dicts(call(*args))
    except ResourceNotFoundError:
        return None
    except HttpResponseError as exc:
        if exc.status_code in (400, 404, 405):
            return None
        raise


def at_registry_scope(assignments: list[dict[str, Any]], scope: str) -> list[dict[str, Any]]:
    """The assignments made on the registry itself.

    ``atScope()`` also returns those inherited from the resource group, the subscription and the
    management groups above; they are not the registry's to re-create.
    """
    wanted = scope.rstrip("/").lower()
    return [
        ra
        for ra in assignments
        if str((ra.get("properties") or {}).get("scope") or "").rstrip("/").lower() == wanted
    ]


def _role_assignments(
    arm: ContainerRegistryManagementClient, ref: AcrRegistryRef, gaps: list[dict[str, Any]]
) -> list[dict[str, Any]] | None:
    url: str | None = (
        f"{ref.resource_manager.rstrip('/')}{ref.resource_id}"
        f"/providers/Microsoft.Authorization/roleAssignments?api-version={ROLE_API}"
        "&$filter=atScope()"
    )
    found: list[dict[str, Any]] = []
    while url:
        response = arm.send_request(HttpRequest("GET", url))
        if response.status_code in (403, 404):
            if response.status_code == 403:
                gaps.append(
                    _permission_gap(
                        "role assignments",
                        "Microsoft.Authorization/roleAssignments/read",
                        response.text(),
                    )
                )
            return None
        response.raise_for_status()
        page = response.json()
        found += list(page.get("value", []))
        url = page.get("nextLink")
    return at_registry_scope(found, ref.resource_id)


def _permission_gap(what: str, action: str, detail: str) -> dict[str, Any]:
    """A part of the registry the documenting identity may not read."""
    return {"what": what, "action": action, "detail": detail[:500]}


def document_registry(
    arm: ContainerRegistryManagementClient, ref: AcrRegistryRef
) -> dict[str, Any]:
    """The registry, its sub-resources and role assignments, as JSON (no secrets)."""
    rg, name = ref.resource_group, ref.registry
    try:
        registry = arm.registries.get(rg, name).as_dict()
    except ResourceNotFoundError:
        raise MigrationError(f"registry {name} not found in resource group {rg}") from None
    permission_gaps: list[dict[str, Any]] = []
    webhooks = _optional_list(arm.webhooks.list, rg, name) or []
    for hook in webhooks:
        try:
            config = arm.webhooks.get_callback_config(rg, name, hook["name"]).as_dict()
        except HttpResponseError as exc:
            if exc.status_code != 403:
                raise
            # A POST action: Reader may list webhooks but not read where they call.
            permission_gaps.append(
                _permission_gap(
                    f"callback of webhook {hook['name']}",
                    "Microsoft.ContainerRegistry/registries/webhooks/getCallbackConfig/action",
                    str(exc.message or exc),
                )
            )
            continue
        hook["callback"] = {
            "serviceUri": config.get("serviceUri"),
            # Header values are often credentials: keep only their names.
            "customHeaderNames": sorted((config.get("customHeaders") or {}).keys()),
        }
    tokens = _optional_list(arm.tokens.list, rg, name) or []
    for token in tokens:
        credentials = token.get("properties", {}).get("credentials") or {}
        for password in credentials.get("passwords") or []:
            password.pop("value", None)
    return {
        "schema": SCHEMA,
        "documented_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "resource_id": ref.resource_id,
        "registry": registry,
        "replications": _optional_list(arm.replications.list, rg, name),
        "webhooks": webhooks,
        "scope_maps": _optional_list(arm.scope_maps.list, rg, name),
        "tokens": tokens,
        "cache_rules": _optional_list(arm.cache_rules.list, rg, name),
        "credential_sets": _optional_list(arm.credential_sets.list, rg, name),
        "private_endpoint_connections": _optional_list(
            arm.private_endpoint_connections.list, rg, name
        ),
        "role_assignments": _role_assignments(arm, ref, permission_gaps),
        "permission_gaps": permission_gaps,
    }


def preflight(document: dict[str, Any]) -> list[str]:
    """Findings that import cannot cross; raises when the migration cannot start at all."""
    props = document["registry"].get("properties", {})
    policies = props.get("policies") or {}
    if (policies.get("trustPolicy") or {}).get("status", "").lower() == "enabled":
        raise PreflightError(
            f"content trust (Docker Content Trust) is enabled on {document['registry']['name']}: "
            "signed images cannot be imported; disable the trust policy first"
        )
    findings = []
    if (props.get("networkRuleSet") or {}).get("defaultAction") == "Deny":
        findings.append("network rules deny by default: the importing side must be allowed in")
    if props.get("publicNetworkAccess") == "Disabled":
        findings.append("public network access is disabled: use oci-copy from a peered worker")
    if document.get("private_endpoint_connections"):
        findings.append("private endpoints exist: ARM import cannot reach them from outside")
    return findings


def _clean_policies(policies: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in policies.items():
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in _READ_ONLY_POLICY_KEYS}
        out[key] = value
    return out


def registry_body(document: dict[str, Any], target: AcrRegistryRef) -> dict[str, Any]:
    """The PUT body of the new registry, mirroring what can be mirrored."""
    source = document["registry"]
    props = source.get("properties", {})
    mirrored = {k: props[k] for k in MIRRORED_PROPERTIES if k in props and props[k] is not None}
    if "policies" in mirrored:
        mirrored["policies"] = _clean_policies(mirrored["policies"])
    location = target.location if "location" in target.model_fields_set else source["location"]
    body: dict[str, Any] = {
        "location": location,
        "sku": {"name": source["sku"]["name"]},
        "properties": mirrored,
    }
    if source.get("tags"):
        body["tags"] = dict(source["tags"])
    return body


def gaps_of(document: dict[str, Any]) -> list[Gap]:
    """Everything the new registry will not have, each with what to do about it."""
    props = document["registry"].get("properties", {})
    gaps: list[Gap] = []
    encryption = props.get("encryption") or {}
    if encryption.get("status", "").lower() == "enabled":
        gaps.append(
            Gap(
                what="customer-managed key encryption",
                why="the key vault and identity live in the source tenant",
                action="create a key and a user-assigned identity in the target tenant, then "
                "enable CMK on the new registry",
            )
        )
    if document["registry"].get("identity"):
        gaps.append(
            Gap(
                what="managed identities of the registry",
                why="identities belong to the source tenant",
                action="assign new identities in the target tenant",
            )
        )
    for pe in document.get("private_endpoint_connections") or []:
        gaps.append(
            Gap(
                what=f"private endpoint {pe.get('name')}",
                why="private endpoints live in the source tenant's virtual networks",
                action="create private endpoints to the new registry in the target tenant",
            )
        )
    for cs in document.get("credential_sets") or []:
        gaps.append(
            Gap(
                what=f"credential set {cs.get('name')}",
                why="its secrets live in a key vault of the source tenant",
                action="re-create it with a key vault of the target tenant",
            )
        )
    for token in document.get("tokens") or []:
        gaps.append(
            Gap(
                what=f"passwords of token {token.get('name')}",
                why="token passwords are secrets and are never read",
                action=f"generate passwords for {token.get('name')} and hand them to its users",
            )
        )
    for hook in document.get("webhooks") or []:
        names = (hook.get("callback") or {}).get("customHeaderNames") or []
        if names:
            gaps.append(
                Gap(
                    what=f"custom headers of webhook {hook.get('name')} ({', '.join(names)})",
                    why="header values are usually credentials and are never copied",
                    action="set the header values on the new webhook",
                )
            )
    for rule in document.get("cache_rules") or []:
        if (rule.get("properties") or {}).get("credentialSetResourceId"):
            gaps.append(
                Gap(
                    what=f"cache rule {rule.get('name')}",
                    why="it uses a credential set of the source tenant",
                    action="re-create the credential set, then the cache rule",
                )
            )
    if props.get("roleAssignmentMode") == "AbacRepositoryPermissions":
        gaps.append(
            Gap(
                what="repository-scoped (ABAC) role assignments",
                why="their conditions name principals of the source tenant",
                action="re-create each assignment with its repository condition at cutover; "
                "the new registry gets the ABAC mode, but no assignment",
            )
        )
    for gap in document.get("permission_gaps") or []:
        gaps.append(
            Gap(
                what=str(gap["what"]),
                why=f"the documenting identity lacks {gap['action']}",
                action="document again with an identity that holds it (e.g. Contributor on the "
                "registry), or re-create this part by hand",
            )
        )
    if document.get("role_assignments"):
        gaps.append(
            Gap(
                what=f"{len(document['role_assignments'])} role assignment(s)",
                why="principals of the source tenant do not exist in the target tenant",
                action="re-create them at cutover from a principal mapping",
            )
        )
    return gaps


def _child_bodies(document: dict[str, Any], target_id: str) -> list[tuple[str, str, dict]]:
    """(kind, name, PUT body) of each sub-resource to create, in dependency order."""
    out: list[tuple[str, str, dict]] = []
    for rep in document.get("replications") or []:
        if rep.get("location") == document["registry"].get("location"):
            continue  # the home region's replication exists by itself
        props = rep.get("properties", {})
        body = {
            "location": rep["location"],
            "properties": {
                k: props[k] for k in ("regionEndpointEnabled", "zoneRedundancy") if k in props
            },
        }
        if rep.get("tags"):
            body["tags"] = rep["tags"]
        out.append(("replications", rep["name"], body))
    for sm in document.get("scope_maps") or []:
        props = sm.get("properties", {})
        if props.get("type") == "SystemDefined":
            continue
        body = {"properties": {k: props[k] for k in ("actions", "description") if k in props}}
        out.append(("scope_maps", sm["name"], body))
    for token in document.get("tokens") or []:
        props = token.get("properties", {})
        scope_map = (props.get("scopeMapId") or "").rsplit("/", 1)[-1]
        body = {
            "properties": {
                "scopeMapId": f"{target_id}/scopeMaps/{scope_map}",
                "status": props.get("status", "enabled"),
            }
        }
        out.append(("tokens", token["name"], body))
    for hook in document.get("webhooks") or []:
        props = hook.get("properties", {})
        uri = (hook.get("callback") or {}).get("serviceUri")
        if not uri:
            continue
        body = {
            "location": hook.get("location") or document["registry"]["location"],
            "properties": {
                "serviceUri": uri,
                **{k: props[k] for k in ("actions", "scope", "status") if k in props},
            },
        }
        if hook.get("tags"):
            body["tags"] = hook["tags"]
        out.append(("webhooks", hook["name"], body))
    for rule in document.get("cache_rules") or []:
        props = rule.get("properties", {})
        if props.get("credentialSetResourceId"):
            continue
        body = {
            "properties": {
                k: props[k] for k in ("sourceRepository", "targetRepository") if k in props
            }
        }
        out.append(("cache_rules", rule["name"], body))
    return out


def provision(
    arm: ContainerRegistryManagementClient,
    document: dict[str, Any],
    target: AcrRegistryRef,
    *,
    dry_run: bool = False,
) -> ProvisionReport:
    """Create the target registry and its sub-resources from a source ``document``.

    Safe to run again: an existing registry is kept (not overwritten) and existing
    sub-resources are left alone; only what is missing is created.
    """
    rg, name = target.resource_group, target.registry
    existed = True
    try:
        arm.registries.get(rg, name)
    except ResourceNotFoundError:
        existed = False
    name_available = True
    if not existed:
        check = arm.registries.check_name_availability(
            {"name": name, "type": "Microsoft.ContainerRegistry/registries"}
        )
        name_available = bool(check.name_available)
        if not name_available:
            raise MigrationError(
                f"registry name {name} is not available ({check.reason}: {check.message}); "
                "ACR names are global across tenants: choose another target name"
            )
        if not dry_run:
            arm.registries.begin_create(rg, name, registry_body(document, target)).result()
    created_children: list[str] = []
    existing_children: list[str] = []
    for kind, child, body in _child_bodies(document, target.resource_id):
        operations = getattr(arm, kind)
        label = f"{kind}/{child}"
        if existed:
            try:
                operations.get(rg, name, child)
                existing_children.append(label)
                continue
            except ResourceNotFoundError:
                pass
        if not dry_run:
            operations.begin_create(rg, name, child, body).result()
        created_children.append(label)
    return ProvisionReport(
        registry=name,
        created=not existed and not dry_run,
        existed=existed,
        name_available=name_available,
        children_created=created_children,
        children_existing=existing_children,
        gaps=gaps_of(document),
        dry_run=dry_run,
    )


def compare(source: dict[str, Any], target: dict[str, Any]) -> list[str]:
    """Field-by-field differences in what provisioning mirrors (empty when all match)."""
    diffs: list[str] = []
    s_reg, t_reg = source["registry"], target["registry"]
    if s_reg["sku"]["name"] != t_reg["sku"]["name"]:
        diffs.append(f"sku: {s_reg['sku']['name']} != {t_reg['sku']['name']}")
    if (s_reg.get("tags") or {}) != (t_reg.get("tags") or {}):
        diffs.append(f"tags: {s_reg.get('tags')} != {t_reg.get('tags')}")
    s_props, t_props = s_reg.get("properties", {}), t_reg.get("properties", {})
    for key in MIRRORED_PROPERTIES:
        left, right = s_props.get(key), t_props.get(key)
        if key == "policies" and isinstance(left, dict) and isinstance(right, dict):
            left, right = _clean_policies(left), _clean_policies(right)
        if left != right:
            diffs.append(f"properties.{key}: {left!r} != {right!r}")
    wanted = {(kind, name) for kind, name, _ in _child_bodies(source, "")}
    got = {(kind, c["name"]) for kind in CHILDREN for c in target.get(kind) or []}
    diffs += [f"{kind}/{name}: missing in the target" for kind, name in sorted(wanted - got)]
    return diffs
