"""Create the initial stand-in state: two tenants, their identities, subscriptions and the
pre-created source registry with a deliberately non-default configuration."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sandbox.azure.resources import new_child, new_registry
from sandbox.azure.store import ROLE_IDS, STATE_FILE, registry_key, write_private_json
from sandbox.azure.tokens import federation_token, iso, new_id, write_key

SOURCE_RG = "rg-acr-source"
TARGET_RG = "rg-acr-target"
#: The target tenant's second subscription, where its applications run on AKS.
APPS_RG = "rg-apps"
#: Clusters seeded there: one with a kubelet managed identity, one on a service principal.
AKS_CLUSTERS = {"aks-apps": True, "aks-legacy": False}
LOCATION = "westeurope"
FEDERATION_AUDIENCE = "api://AzureADTokenExchange"
FEDERATION_ISSUER = "https://federation.sandbox.invalid"


def role_assignment(
    tenant: str, scope: str, role: str, principal: str, principal_type: str = "ServicePrincipal"
) -> dict[str, Any]:
    sub = scope.split("/")[2]
    name = new_id()
    t = iso()
    return {
        "id": f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}",
        "name": name,
        "type": "Microsoft.Authorization/roleAssignments",
        "properties": {
            "roleDefinitionId": (
                f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/"
                f"{ROLE_IDS[role]}"
            ),
            "principalId": principal,
            "principalType": principal_type,
            "scope": scope,
            "condition": None,
            "conditionVersion": None,
            "createdOn": t,
            "updatedOn": t,
            "createdBy": None,
            "updatedBy": None,
            "delegatedManagedIdentityResourceId": None,
            "description": None,
        },
        "_tenant": tenant,
    }


def _tenant(which: str, secret: str | None, identity_header: str | None) -> dict[str, Any]:
    app_id = new_id()
    mi_id = new_id()
    return {
        "name": which,
        "display_name": f"Contoso {which.capitalize()}",
        "apps": {
            app_id: {
                "name": f"acr-migrate-{which}",
                "oid": new_id(),
                "secret": secret or secrets.token_urlsafe(30),
                "federated_credentials": [
                    {
                        "name": f"{which}-worker",
                        "issuer": FEDERATION_ISSUER,
                        "subject": f"system:serviceaccount:acr-migrate:{which}-worker",
                        "audiences": [FEDERATION_AUDIENCE],
                    }
                ],
            }
        },
        "managed_identities": {
            mi_id: {
                "name": f"id-acr-migrate-{which}",
                "oid": new_id(),
                "identity_header": identity_header or secrets.token_urlsafe(24),
            }
        },
    }


def bootstrap(
    root: Path,
    *,
    host: str,
    ports: dict[str, int],
    backends: dict[str, dict[str, Any]],
    source_admin_password: str,
    target_admin_password: str,
    client_secrets: Mapping[str, str] | None = None,
    identity_headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Write ``<root>/azure/state.json`` (+ keys, federation token files); return a summary.

    `ports`: entra, arm, source, target (data planes). `backends`: per slot the raw backing
    registry (url + how the stand-in authenticates to it). `client_secrets` and
    `identity_headers` (per tenant, ``source``/``target``) replace the random ones.
    """
    home = root / "azure"
    home.mkdir(parents=True, exist_ok=True)
    signing_key = home / "signing-key.pem"
    federation_key = home / "federation-key.pem"
    write_key(signing_key)
    write_key(federation_key)

    suffix = secrets.token_hex(3)
    source_name, target_name = f"contosoprod{suffix}", f"contosonew{suffix}"
    chosen, headers = client_secrets or {}, identity_headers or {}
    tenants = {w: _tenant(w, chosen.get(w), headers.get(w)) for w in ("source", "target")}
    tids = {which: new_id() for which in tenants}
    subs = {which: new_id() for which in tenants}
    rgs = {"source": SOURCE_RG, "target": TARGET_RG}
    state: dict[str, Any] = {
        "version": 1,
        "host": host,
        "ports": ports,
        "signing_key": str(signing_key),
        "federation": {
            "key": str(federation_key),
            "issuer": FEDERATION_ISSUER,
            "audience": FEDERATION_AUDIENCE,
        },
        "tenants": {tids[w]: t for w, t in tenants.items()},
        "subscriptions": {
            subs[w]: {
                "tenant": tids[w],
                "display_name": f"contoso-{w}",
                "resource_groups": {
                    rgs[w]: {"name": rgs[w], "location": LOCATION, "tags": {}},
                },
            }
            for w in tenants
        },
        "role_assignments": {},
        "registries": {},
        "slots": {},
        "dataplane": {"source": {"repos": {}}, "target": {"repos": {}}},
    }

    def assign(tenant: str, scope: str, role: str, principal: str, ptype: str = "ServicePrincipal"):
        ra = role_assignment(tenant, scope, role, principal, ptype)
        state["role_assignments"][ra["id"].lower()] = ra
        return ra

    for w, ten in tenants.items():
        scope = f"/subscriptions/{subs[w]}"
        for rec in ten["apps"].values():
            assign(tids[w], scope, "Owner", rec["oid"])
        for rec in ten["managed_identities"].values():
            assign(tids[w], scope, "Owner", rec["oid"])

    # ---- the target tenant's applications: AKS clusters in a subscription of their own, which
    # the migration's identities may only read (Reader), as reconnect-aks needs.
    from sandbox.azure.arm.managed_clusters import new_cluster, seed  # (arm imports bootstrap)

    apps_sub = new_id()
    state["subscriptions"][apps_sub] = {
        "tenant": tids["target"],
        "display_name": "contoso-target-apps",
        "resource_groups": {APPS_RG: {"name": APPS_RG, "location": LOCATION, "tags": {}}},
    }
    for kind in ("apps", "managed_identities"):
        for rec in tenants["target"][kind].values():
            assign(tids["target"], f"/subscriptions/{apps_sub}", "Reader", rec["oid"])
    clusters: dict[str, dict[str, Any]] = {}
    for cluster_name, kubelet in AKS_CLUSTERS.items():
        body = new_cluster(
            apps_sub,
            APPS_RG,
            cluster_name,
            tenant=tids["target"],
            location=LOCATION,
            kubelet=kubelet,
        )
        seed(state, tids["target"], body)
        identity = body["properties"].get("identityProfile", {}).get("kubeletidentity", {})
        clusters[cluster_name] = {"id": body["id"], "kubelet_object_id": identity.get("objectId")}

    # ---- the source registry, non-default on purpose (provisioning round trip)
    src_sub, src_tid = subs["source"], tids["source"]
    login = f"{host}:{ports['source']}"
    uami_id = (
        f"/subscriptions/{src_sub}/resourceGroups/{SOURCE_RG}/providers/"
        "Microsoft.ManagedIdentity/userAssignedIdentities/id-acr-cmk"
    )
    uami_client = new_id()
    body = {
        "location": LOCATION,
        "sku": {"name": "Premium"},
        "tags": {"env": "prod", "team": "platform"},
        "identity": {
            "type": "UserAssigned",
            "userAssignedIdentities": {uami_id: {"principalId": new_id(), "clientId": uami_client}},
        },
        "properties": {
            "adminUserEnabled": True,
            "policies": {
                "quarantinePolicy": {"status": "disabled"},
                "trustPolicy": {"type": "Notary", "status": "disabled"},
                "retentionPolicy": {"days": 7, "status": "enabled"},
                "exportPolicy": {"status": "enabled"},
            },
            "networkRuleSet": {
                "defaultAction": "Allow",
                "ipRules": [{"action": "Allow", "value": "203.0.113.0/24"}],
            },
            "publicNetworkAccess": "Enabled",
            "zoneRedundancy": "Disabled",
            "anonymousPullEnabled": False,
            "dataEndpointEnabled": False,
            "encryption": {
                "status": "enabled",
                "keyVaultProperties": {
                    "keyIdentifier": "https://kv-contoso-prod.vault.azure.net/keys/acr-cmk",
                    "versionedKeyIdentifier": (
                        "https://kv-contoso-prod.vault.azure.net/keys/acr-cmk/"
                        + secrets.token_hex(16)
                    ),
                    "identity": uami_client,
                    "keyRotationEnabled": True,
                    "lastKeyRotationTimestamp": iso(),
                },
            },
        },
    }
    registry = new_registry(src_sub, SOURCE_RG, source_name, body, login)
    children: dict[str, dict[str, Any]] = {
        k: {}
        for k in (
            "replications",
            "webhooks",
            "scopemaps",
            "tokens",
            "cacherules",
            "credentialsets",
            "privateendpointconnections",
        )
    }

    def child(kind: str, name: str, child_body: dict[str, Any]) -> dict[str, Any]:
        res = new_child(kind, registry, name, child_body, None)
        children[kind][name.lower()] = res
        return res

    child("replications", "northeurope", {"location": "northeurope"})
    child(
        "webhooks",
        "buildnotify",
        {
            "location": LOCATION,
            "properties": {"status": "enabled", "scope": "team-a/api:*", "actions": ["push"]},
        },
    )
    scope_map = child(
        "scopemaps",
        "ci-pull",
        {
            "properties": {
                "description": "CI pulls team-a images",
                "actions": [
                    "repositories/team-a/api/content/read",
                    "repositories/team-a/api/metadata/read",
                ],
            }
        },
    )
    child("tokens", "ci-token", {"properties": {"scopeMapId": scope_map["id"]}})
    child(
        "cacherules",
        "dockerhub-alpine",
        {
            "properties": {
                "sourceRepository": "docker.io/library/alpine",
                "targetRepository": "mirror/alpine",
            }
        },
    )
    pe = child(
        "privateendpointconnections",
        f"pe-{source_name}.{new_id()}",
        {
            "properties": {
                "privateEndpoint": {
                    "id": f"/subscriptions/{src_sub}/resourceGroups/rg-network/providers/"
                    f"Microsoft.Network/privateEndpoints/pe-{source_name}"
                },
                "privateLinkServiceConnectionState": {
                    "status": "Approved",
                    "description": "Auto-Approved",
                    "actionsRequired": "None",
                },
            }
        },
    )
    registry["properties"]["privateEndpointConnections"] = [pe]
    src_key = registry_key(src_sub, SOURCE_RG, source_name)
    state["registries"][src_key] = {
        "resource": registry,
        "tenant": src_tid,
        "passwords": [source_admin_password, secrets.token_urlsafe(24)],
        "children": children,
        "webhook_callbacks": {
            "buildnotify": {
                "serviceUri": "https://hooks.contoso.invalid/acr/build?code="
                + secrets.token_hex(8),
                "customHeaders": {"Authorization": "Bearer " + secrets.token_hex(12)},
            }
        },
        "slot": "source",
    }
    # Two data-plane role assignments on the source registry.
    pull_principal, push_principal = new_id(), new_id()
    assign(src_tid, registry["id"], "AcrPull", pull_principal)
    assign(src_tid, registry["id"], "AcrPush", push_principal)

    state["slots"] = {
        "source": {
            "port": ports["source"],
            "tenant": src_tid,
            "subscription": src_sub,
            "planned_name": source_name,
            "admin_password": source_admin_password,
            "registry_key": src_key,
            "backend": backends["source"],
        },
        "target": {
            "port": ports["target"],
            "tenant": tids["target"],
            "subscription": subs["target"],
            "planned_name": target_name,
            "admin_password": target_admin_password,
            "registry_key": None,
            "backend": backends["target"],
        },
    }
    write_private_json(home / STATE_FILE, state)

    token_files: dict[str, str] = {}
    for w, ten in tenants.items():
        app = next(iter(ten["apps"].values()))
        fc = app["federated_credentials"][0]
        path = home / f"federated-token-{w}.jwt"
        path.write_text(
            federation_token(federation_key, fc["issuer"], fc["subject"], fc["audiences"][0])
        )
        path.chmod(0o600)
        token_files[w] = str(path)

    entra = f"https://{host}:{ports['entra']}"
    summary: dict[str, Any] = {
        "state_file": str(home / STATE_FILE),
        "authority_host": entra,
        "resource_manager": f"https://{host}:{ports['arm']}",
        "faults_url": f"https://{host}:{ports['arm']}/_sandbox/faults",
        "federation_issuer": FEDERATION_ISSUER,
        "tenants": {},
    }
    for w, ten in tenants.items():
        app_id, app = next(iter(ten["apps"].items()))
        mi_id, mi = next(iter(ten["managed_identities"].items()))
        summary["tenants"][w] = {
            "tenant_id": tids[w],
            "subscription_id": subs[w],
            "resource_group": rgs[w],
            "location": LOCATION,
            "registry": source_name if w == "source" else target_name,
            "registry_exists": w == "source",
            "login_server": f"{host}:{ports[w]}",
            "data_plane_url": f"https://{host}:{ports[w]}",
            "backing_registry_url": backends[w]["url"],
            "client_id": app_id,
            "client_secret": app["secret"],  # api.py moves it to sandbox.env
            "service_principal_object_id": app["oid"],
            "managed_identity": {
                "client_id": mi_id,
                "object_id": mi["oid"],
                "identity_endpoint": f"{entra}/{tids[w]}/msi/token",
                "identity_header": mi["identity_header"],
            },
            "federated_token_file": token_files[w],
            "federated_subject": app["federated_credentials"][0]["subject"],
        }
    summary["tenants"]["target"]["aks"] = {
        "subscription_id": apps_sub,
        "resource_group": APPS_RG,
        "clusters": clusters,
    }
    summary["tenants"]["source"]["role_assignment_principals"] = {
        "AcrPull": pull_principal,
        "AcrPush": push_principal,
    }
    return summary
