"""A registry's sub-resources (replications, webhooks, scope maps, tokens, cache rules,
credential sets, private endpoint connections, ...: ``resources.CHILD_TYPES``): read, create,
update, delete, and the webhook actions ``getCallbackConfig``, ``ping``, ``listEvents``."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.azure.arm.auth import authorize
from sandbox.azure.arm.common import SYNC_CREATE_UNTIL, arm_error, clean, read_json
from sandbox.azure.arm.operations import Operation, async_op_headers, new_async_op, op_location
from sandbox.azure.arm.registries import registry_record
from sandbox.azure.arm.state import Arm
from sandbox.azure.resources import CHILD_TYPES, PROVIDER, new_child
from sandbox.azure.store import ARM_READ_ROLES, ARM_WRITE_ROLES

#: Sub-resources whose DELETE is a 202 long-running operation (the spec allows no 200 for
#: cache rules and credential sets: ``CacheRules_Delete``/``CredentialSets_Delete`` 202/204).
ASYNC_DELETE = frozenset({"replications", "cacherules", "credentialsets"})


async def h_child(
    arm: Arm, request: Request, claims: dict[str, Any], p: dict[str, str], api: str
) -> Response:
    sub, rg, name = p["sub"].lower(), p["rg"], p["name"]
    kind, child = p["kind"].lower(), p["child"]
    if kind not in CHILD_TYPES:
        return arm_error(
            404,
            "InvalidResourceType",
            f"The resource type '{kind}' could not be found in the namespace '{PROVIDER}'.",
        )
    scope = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{PROVIDER}/registries/{name}"
    method = request.method
    rec = registry_record(arm, sub, rg, name)
    bucket = rec["children"].setdefault(kind, {})
    existing = bucket.get(child.lower())
    if method == "GET":
        authorize(arm, claims, scope, ARM_READ_ROLES, f"{PROVIDER}/registries/{kind}/read")
        if existing is None:
            return not_found_child(kind, child, rg)
        return JSONResponse(clean(existing))
    authorize(arm, claims, scope, ARM_WRITE_ROLES, f"{PROVIDER}/registries/{kind}/write")
    if method in ("PUT", "PATCH"):
        body = await read_json(request)
        if method == "PATCH" and existing is None:
            return not_found_child(kind, child, rg)
        tier = rec["resource"]["sku"]["name"]
        if kind == "replications" and existing is None and tier != "Premium":
            # Geo-replication is a Premium feature (service tiers doc); code assumed.
            return arm_error(
                400,
                "FeatureNotSupportedForSku",
                f"The registry SKU '{tier}' does not support geo-replication. "
                "It requires the Premium SKU.",
            )
        res = new_child(kind, rec["resource"], child, body, existing)
        if kind == "tokens":
            keep_named_passwords(rec, child, res, body)
        bucket[child.lower()] = res
        if kind == "webhooks":
            cb = rec["webhook_callbacks"].setdefault(child.lower(), {})
            props = body.get("properties") or {}
            for k in ("serviceUri", "customHeaders"):
                if k in props:
                    cb[k] = props[k]
        if kind == "privateendpointconnections":
            rec["resource"]["properties"]["privateEndpointConnections"] = list(bucket.values())
        arm.store.save_soon()
        synchronous = api <= SYNC_CREATE_UNTIL and kind != "replications"
        if method == "PATCH" or existing is not None or synchronous:
            return JSONResponse(clean(res))
        op = new_async_op(arm, sub, api, 0, None)
        return JSONResponse(
            clean(res), status_code=201, headers=async_op_headers(arm, op, res["id"])
        )
    if method == "DELETE":
        if existing is None:
            return Response(status_code=204)
        bucket.pop(child.lower())
        rec["webhook_callbacks"].pop(child.lower(), None)
        if kind == "tokens":  # its passwords go with it
            rec.get("token_passwords", {}).pop(child.lower(), None)
        if kind == "privateendpointconnections":
            rec["resource"]["properties"]["privateEndpointConnections"] = list(bucket.values())
        arm.store.save_soon()
        if kind in ASYNC_DELETE:
            # As recorded: 202, body null, Location of an operation result (200, empty).
            op = Operation(
                id=f"{kind}-{uuid.uuid4()}",
                kind="delete",
                subscription=sub,
                location=str(
                    existing.get("location") or rec["resource"].get("location") or ""
                ).lower(),
                api_version=api,
                done=True,
            )
            arm.ops[op.id] = op
            return Response(
                "null",
                status_code=202,
                media_type="application/json; charset=utf-8",
                headers={"Location": op_location(arm, op)},
            )
        return Response(status_code=200, headers={"content-length": "0"})
    return arm_error(405, "MethodNotAllowed", f"{method} not supported")


def keep_named_passwords(
    rec: dict[str, Any], child: str, token: dict[str, Any], body: dict[str, Any]
) -> None:
    """A token's passwords are made by ``generateCredentials`` only: a create or update that
    lists ``credentials.passwords`` keeps those of the names listed (how ``az acr token
    credential delete`` removes one) and never takes a value from the body."""
    listed = ((body.get("properties") or {}).get("credentials") or {}).get("passwords")
    values = rec.setdefault("token_passwords", {}).setdefault(child.lower(), {})
    creds = token["properties"].setdefault("credentials", {"certificates": [], "passwords": []})
    if listed is None:
        creds["passwords"] = [p for p in creds.get("passwords") or [] if p.get("name") in values]
        return
    names = {str(p.get("name")) for p in listed}
    for name in list(values):
        if name not in names:
            values.pop(name)
    earlier = {p.get("name"): p for p in creds.get("passwords") or [] if "creationTime" in p}
    creds["passwords"] = [earlier[n] for n in sorted(names) if n in earlier and n in values]


def not_found_child(kind: str, child: str, rg: str) -> Response:
    canonical = CHILD_TYPES[kind][0]
    return arm_error(
        404,
        "ResourceNotFound",
        f"The Resource '{PROVIDER}/registries/{canonical}/{child}' under resource group "
        f"'{rg}' was not found. For more details please go to "
        "https://aka.ms/ARMResourceNotFoundFix",
    )


async def h_child_action(
    arm: Arm, request: Request, claims: dict[str, Any], p: dict[str, str], api: str
) -> Response:
    sub, rg, name = p["sub"].lower(), p["rg"], p["name"]
    kind, child, action = p["kind"].lower(), p["child"], p["action"].lower()
    scope = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{PROVIDER}/registries/{name}"
    rec = registry_record(arm, sub, rg, name)
    if kind != "webhooks" or child.lower() not in rec["children"].get("webhooks", {}):
        return not_found_child("webhooks", child, rg)
    authorize(
        arm, claims, scope, ARM_WRITE_ROLES, f"{PROVIDER}/registries/webhooks/{action}/action"
    )
    if action == "getcallbackconfig":
        cb = rec["webhook_callbacks"].get(child.lower(), {})
        # As recorded: customHeaders only when some were set.
        config: dict[str, Any] = {"serviceUri": cb.get("serviceUri")}
        if cb.get("customHeaders"):
            config["customHeaders"] = cb["customHeaders"]
        return JSONResponse(config)
    if action == "ping":
        return JSONResponse({"id": str(uuid.uuid4())})
    return JSONResponse({"value": []})
