"""Registries: check a name, list, read, create (200, or 201 + ``Azure-AsyncOperation``),
update, delete; their POST actions (``listCredentials``, ``regenerateCredential``,
``listUsages``, ``importImage``) and the listing of their sub-resources."""

from __future__ import annotations

import copy
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.azure.arm.auth import authorize
from sandbox.azure.arm.common import (
    NAME_RE,
    SYNC_CREATE_UNTIL,
    ArmFail,
    arm_error,
    clean,
    read_json,
)
from sandbox.azure.arm.import_image import import_image
from sandbox.azure.arm.operations import async_op_headers, new_async_op
from sandbox.azure.arm.state import Arm
from sandbox.azure.arm.subscriptions import require_rg
from sandbox.azure.context import parse_time
from sandbox.azure.resources import (
    CHILD_TYPES,
    PROVIDER,
    SKU_TIERS,
    new_registry,
    update_registry,
)
from sandbox.azure.store import ARM_READ_ROLES, ARM_WRITE_ROLES, registry_key
from sandbox.azure.strict import sku_problem
from sandbox.azure.tokens import iso

REG_ACTIONS = {
    "listcredentials",
    "regeneratecredential",
    "importimage",
    "listusages",
    "generatecredentials",
}


def registry_record(arm: Arm, sub: str, rg: str, name: str) -> dict[str, Any]:
    require_rg(arm, sub, rg)
    rec = arm.store.registry(sub, rg, name)
    if rec is None:
        raise ArmFail(
            arm_error(
                404,
                "ResourceNotFound",
                f"The Resource '{PROVIDER}/registries/{name}' under resource group '{rg}' "
                "was not found. For more details please go to "
                "https://aka.ms/ARMResourceNotFoundFix",
            )
        )
    return rec


def registry_view(rec: dict[str, Any]) -> dict[str, Any]:
    return clean(copy.deepcopy(rec["resource"]))


async def h_check_name(
    arm: Arm, request: Request, claims: dict[str, Any], p: dict[str, str], api: str
) -> Response:
    body = await read_json(request)
    name = str(body.get("name") or "")
    if body.get("type") != f"{PROVIDER}/registries":
        return arm_error(
            400,
            "InvalidParameter",
            f"The specified type is invalid; expected '{PROVIDER}/registries'.",
        )
    if not NAME_RE.match(name):
        return JSONResponse(
            {
                "nameAvailable": False,
                "reason": "Invalid",
                "message": "The specified resource name is disallowed. Registry names may "
                "contain only alpha numeric characters and must be between 5 and 50 "
                "characters.",
            }
        )
    if arm.store.name_taken(name):
        return JSONResponse(
            {
                "nameAvailable": False,
                "reason": "AlreadyExists",
                "message": f"The registry {name} is already in use.",
            }
        )
    return JSONResponse({"nameAvailable": True})


async def h_reg_list_sub(
    arm: Arm, request: Request, claims: dict[str, Any], p: dict[str, str], api: str
) -> Response:
    sub = p["sub"].lower()
    authorize(arm, claims, f"/subscriptions/{sub}", ARM_READ_ROLES, f"{PROVIDER}/registries/read")
    items = [
        registry_view(r) for k, r in arm.store.data["registries"].items() if k.startswith(sub + "/")
    ]
    return JSONResponse({"value": items})


async def h_reg_list_rg(
    arm: Arm, request: Request, claims: dict[str, Any], p: dict[str, str], api: str
) -> Response:
    sub, rg = p["sub"].lower(), p["rg"]
    require_rg(arm, sub, rg)
    authorize(
        arm,
        claims,
        f"/subscriptions/{sub}/resourceGroups/{rg}",
        ARM_READ_ROLES,
        f"{PROVIDER}/registries/read",
    )
    prefix = f"{sub}/{rg.lower()}/"
    items = [
        registry_view(r) for k, r in arm.store.data["registries"].items() if k.startswith(prefix)
    ]
    return JSONResponse({"value": items})


async def h_registry(
    arm: Arm, request: Request, claims: dict[str, Any], p: dict[str, str], api: str
) -> Response:
    sub, rg, name = p["sub"].lower(), p["rg"], p["name"]
    scope = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{PROVIDER}/registries/{name}"
    method = request.method
    if method == "GET":
        authorize(arm, claims, scope, ARM_READ_ROLES, f"{PROVIDER}/registries/read")
        return JSONResponse(registry_view(registry_record(arm, sub, rg, name)))
    authorize(
        arm,
        claims,
        scope,
        ARM_WRITE_ROLES,
        f"{PROVIDER}/registries/{'delete' if method == 'DELETE' else 'write'}",
    )
    if method == "PUT":
        return await put_registry(arm, request, claims, sub, rg, name, api)
    rec = registry_record(arm, sub, rg, name)
    if method == "PATCH":
        body = await read_json(request)
        updated = update_registry(rec["resource"], body)
        refused = sku_problem(updated["sku"]["name"], body.get("properties") or {})
        if refused is not None:
            return JSONResponse(refused, status_code=400)
        rec["resource"] = updated
        arm.store.save_soon()
        return JSONResponse(registry_view(rec))
    if method == "DELETE":
        key = registry_key(sub, rg, name)
        arm.store.data["registries"].pop(key, None)
        for slot in arm.store.data["slots"].values():
            if slot["registry_key"] == key:
                slot["registry_key"] = None
        rid = rec["resource"]["id"].lower()
        for ra_key in [k for k in arm.store.data["role_assignments"] if k.startswith(rid + "/")]:
            arm.store.data["role_assignments"].pop(ra_key)
        arm.store.save_soon()
        return Response(status_code=200, headers={"content-length": "0"})
    return arm_error(405, "MethodNotAllowed", f"{method} not supported")


async def put_registry(
    arm: Arm, request: Request, claims: dict[str, Any], sub: str, rg: str, name: str, api: str
) -> Response:
    body = await read_json(request)
    require_rg(arm, sub, rg)
    if not NAME_RE.match(name):
        return arm_error(
            400,
            "InvalidParameter",
            "Registry names may contain only alpha "
            "numeric characters and must be between 5 and 50 characters.",
        )
    rec = arm.store.registry(sub, rg, name)
    sku = (body.get("sku") or {}).get("name") or (
        rec["resource"]["sku"]["name"] if rec is not None else "Standard"
    )
    tier = SKU_TIERS.get(str(sku).lower(), str(sku))
    refused = sku_problem(tier, body.get("properties") or {})
    if refused is not None:
        return JSONResponse(refused, status_code=400)
    if rec is not None:
        merged = update_registry(
            rec["resource"],
            {k: v for k, v in body.items() if k in ("tags", "sku", "properties", "identity")},
        )
        rec["resource"] = merged
        arm.store.save_soon()
        return JSONResponse(registry_view(rec))
    if arm.store.name_taken(name):
        return arm_error(
            409,
            "AlreadyInUse",
            f"The registry DNS name {name.lower()}.azurecr.io is already in use. You can "
            "check if the name is already claimed using following API: "
            "https://docs.microsoft.com/en-us/rest/api/containerregistry/registries/"
            "checknameavailability",
            status="Failed",
        )
    tenant = claims["tid"]
    key = registry_key(sub, rg, name)
    slot_name = None
    for sname, slot in arm.store.data["slots"].items():
        if slot["tenant"] == tenant and slot["registry_key"] is None:
            slot_name = sname
            break
    if slot_name is not None:
        slot = arm.store.data["slots"][slot_name]
        login = f"{arm.ctx.host}:{slot['port']}"
        passwords = [slot["admin_password"], secrets.token_urlsafe(24)]
        slot["registry_key"] = key
    else:
        login = f"{name.lower()}.azurecr.sandbox.invalid"
        passwords = [secrets.token_urlsafe(24), secrets.token_urlsafe(24)]
    resource = new_registry(sub, rg, name, body, login)
    rec = {
        "resource": resource,
        "tenant": tenant,
        "passwords": passwords,
        "children": {k: {} for k in CHILD_TYPES},
        "webhook_callbacks": {},
        "slot": slot_name,
    }
    arm.store.data["registries"][key] = rec
    arm.store.save_soon()
    if api <= SYNC_CREATE_UNTIL:  # as recorded up to 2019-12-01-preview: 200, Succeeded
        return JSONResponse(registry_view(rec))
    resource["properties"]["provisioningState"] = "Creating"

    def done() -> None:
        live = arm.store.data["registries"].get(key)
        if live is not None:
            live["resource"]["properties"]["provisioningState"] = "Succeeded"
            arm.store.save_soon()

    op = new_async_op(arm, sub, api, arm.faults.config.lro_min_polls, done)
    return JSONResponse(
        registry_view(rec), status_code=201, headers=async_op_headers(arm, op, resource["id"])
    )


async def h_reg_sub(
    arm: Arm, request: Request, claims: dict[str, Any], p: dict[str, str], api: str
) -> Response:
    sub, rg, name, kind = p["sub"].lower(), p["rg"], p["name"], p["kind"].lower()
    scope = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{PROVIDER}/registries/{name}"
    method = request.method
    if kind in REG_ACTIONS:
        rec = registry_record(arm, sub, rg, name)
        if kind == "listusages":
            authorize(arm, claims, scope, ARM_READ_ROLES, f"{PROVIDER}/registries/listUsages/read")
            return JSONResponse(usages(rec))
        authorize(arm, claims, scope, ARM_WRITE_ROLES, f"{PROVIDER}/registries/{kind}/action")
        if method != "POST":
            return arm_error(405, "MethodNotAllowed", f"{method} not supported")
        if kind == "listcredentials":
            return credentials(rec)
        if kind == "regeneratecredential":
            body = await read_json(request)
            which = str(body.get("name") or "")
            if which not in ("password", "password2"):
                return arm_error(400, "InvalidParameter", "name must be password or password2")
            rec["passwords"][which == "password2"] = secrets.token_urlsafe(24)
            arm.store.save_soon()
            return credentials(rec)
        if kind == "generatecredentials":
            return generate_credentials(arm, rec, await read_json(request))
        return await import_image(arm, request, claims, rec, api)
    if kind not in CHILD_TYPES:
        return arm_error(
            404,
            "InvalidResourceType",
            f"The resource type '{kind}' could not be found in the namespace '{PROVIDER}'.",
        )
    authorize(arm, claims, scope, ARM_READ_ROLES, f"{PROVIDER}/registries/{kind}/read")
    rec = registry_record(arm, sub, rg, name)
    items = [clean(c) for c in rec["children"].get(kind, {}).values()]
    return JSONResponse({"value": items})


def usages(rec: dict[str, Any]) -> dict[str, Any]:
    tier = rec["resource"]["sku"]["name"]
    size_limit = {"Basic": 10, "Standard": 100, "Premium": 500}.get(tier, 100) * 1024**3
    hooks = {"Basic": 2, "Standard": 10, "Premium": 500}.get(tier, 10)
    return {
        "value": [
            {"name": "Size", "limit": size_limit, "currentValue": 0, "unit": "Bytes"},
            {
                "name": "Webhooks",
                "limit": hooks,
                "currentValue": len(rec["children"].get("webhooks", {})),
                "unit": "Count",
            },
        ]
    }


def credentials(rec: dict[str, Any]) -> Response:
    if not rec["resource"]["properties"].get("adminUserEnabled"):
        # Assumed code/message (no public recording of this answer).
        return arm_error(400, "AdminUserDisabled", "Admin user is disabled.")
    return JSONResponse(
        {
            "username": rec["resource"]["name"],
            "passwords": [
                {"name": "password", "value": rec["passwords"][0]},
                {"name": "password2", "value": rec["passwords"][1]},
            ],
        }
    )


def generate_credentials(arm: Arm, rec: dict[str, Any], body: dict[str, Any]) -> Response:
    """``Registries_GenerateCredentials``: new password(s) for a token (``name``: password1
    or password2, else both), each with ``expiry`` if given. The answer is the only place the
    values appear: the token's GET lists name, creationTime and expiry only."""
    token_id = str(body.get("tokenId") or "")
    token_name = token_id.rstrip("/").rsplit("/", 1)[-1]
    token = rec["children"].get("tokens", {}).get(token_name.lower())
    if token is None or token["id"].lower() != token_id.lower():
        return arm_error(
            404,
            "ResourceNotFound",
            f"The Resource '{PROVIDER}/registries/tokens/{token_name}' was not found.",
        )
    which = body.get("name")
    if which not in (None, "password1", "password2"):
        return arm_error(400, "InvalidParameter", "name must be password1 or password2")
    expiry = body.get("expiry")
    if expiry is not None:
        try:
            parse_time(str(expiry))
        except ValueError:
            return arm_error(400, "InvalidParameter", f"expiry {expiry!r} is not a date-time")
    names = [which] if which else ["password1", "password2"]
    creds = token["properties"].setdefault("credentials", {})
    kept = [p for p in creds.get("passwords") or [] if p.get("name") not in names]
    values = rec.setdefault("token_passwords", {}).setdefault(token_name.lower(), {})
    made = []
    for name in names:
        entry = {"creationTime": iso(), "expiry": expiry, "name": name}
        if expiry is None:
            entry.pop("expiry")
        values[name] = secrets.token_urlsafe(32)
        kept.append(entry)
        made.append({**entry, "value": values[name]})
    creds["passwords"] = sorted(kept, key=lambda p: str(p.get("name")))
    arm.store.save_soon()
    return JSONResponse({"username": token["name"], "passwords": made})
