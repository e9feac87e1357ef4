"""Subscriptions and resource groups: list, read, create and tag."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.azure.arm.auth import authorize
from sandbox.azure.arm.common import ArmFail, arm_error, read_json
from sandbox.azure.arm.state import Arm
from sandbox.azure.store import ARM_READ_ROLES, ARM_WRITE_ROLES


def sub_body(arm: Arm, sub: str) -> dict[str, Any]:
    rec = arm.store.data["subscriptions"][sub]
    return {
        "id": f"/subscriptions/{sub}",
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "subscriptionId": sub,
        "tenantId": rec["tenant"],
        "displayName": rec["display_name"],
        "state": "Enabled",
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "PayAsYouGo_2014-09-01",
            "spendingLimit": "Off",
        },
    }


async def h_subscriptions(
    arm: Arm, request: Request, claims: dict[str, Any], p: dict[str, str], api: str
) -> Response:
    subs = [s for s, r in arm.store.data["subscriptions"].items() if r["tenant"] == claims["tid"]]
    return JSONResponse(
        {"value": [sub_body(arm, s) for s in subs], "count": {"type": "Total", "value": len(subs)}}
    )


async def h_subscription(
    arm: Arm, request: Request, claims: dict[str, Any], p: dict[str, str], api: str
) -> Response:
    return JSONResponse(sub_body(arm, p["sub"].lower()))


def rg_body(sub: str, rg: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"/subscriptions/{sub}/resourceGroups/{rg['name']}",
        "name": rg["name"],
        "type": "Microsoft.Resources/resourceGroups",
        "location": rg["location"],
        "tags": rg.get("tags") or {},
        "properties": {"provisioningState": "Succeeded"},
    }


def find_rg(arm: Arm, sub: str, rg: str) -> dict[str, Any] | None:
    groups = arm.store.data["subscriptions"][sub.lower()]["resource_groups"]
    for name, rec in groups.items():
        if name.lower() == rg.lower():
            return dict(rec)
    return None


def require_rg(arm: Arm, sub: str, rg: str) -> dict[str, Any]:
    found = find_rg(arm, sub, rg)
    if found is None:
        raise ArmFail(
            arm_error(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
        )
    return found


async def h_rg_list(
    arm: Arm, request: Request, claims: dict[str, Any], p: dict[str, str], api: str
) -> Response:
    sub = p["sub"].lower()
    authorize(
        arm,
        claims,
        f"/subscriptions/{sub}",
        ARM_READ_ROLES,
        "Microsoft.Resources/subscriptions/resourceGroups/read",
    )
    groups = arm.store.data["subscriptions"][sub]["resource_groups"].values()
    return JSONResponse({"value": [rg_body(sub, g) for g in groups]})


async def h_rg(
    arm: Arm, request: Request, claims: dict[str, Any], p: dict[str, str], api: str
) -> Response:
    sub, rg = p["sub"].lower(), p["rg"]
    scope = f"/subscriptions/{sub}/resourceGroups/{rg}"
    method = request.method
    if method in ("GET", "HEAD"):
        authorize(
            arm,
            claims,
            scope,
            ARM_READ_ROLES,
            "Microsoft.Resources/subscriptions/resourceGroups/read",
        )
        found = find_rg(arm, sub, rg)
        if method == "HEAD":
            return Response(status_code=204 if found else 404)
        if found is None:
            return arm_error(
                404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found."
            )
        return JSONResponse(rg_body(sub, found))
    if method in ("PUT", "PATCH"):
        authorize(
            arm,
            claims,
            scope,
            ARM_WRITE_ROLES,
            "Microsoft.Resources/subscriptions/resourceGroups/write",
        )
        body = await read_json(request)
        groups = arm.store.data["subscriptions"][sub]["resource_groups"]
        found = find_rg(arm, sub, rg)
        if found is None:
            if method == "PATCH":
                return arm_error(
                    404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found."
                )
            rec = {
                "name": rg,
                "location": str(body.get("location") or "westeurope"),
                "tags": body.get("tags") or {},
            }
            groups[rg] = rec
            arm.store.save_soon()
            return JSONResponse(rg_body(sub, rec), status_code=201)
        groups[found["name"]]["tags"] = body.get("tags") or found.get("tags") or {}
        arm.store.save_soon()
        return JSONResponse(rg_body(sub, groups[found["name"]]))
    return arm_error(
        405, "MethodNotAllowed", f"{method} is not supported on resource groups by the sandbox."
    )
