"""Role definitions, role assignments (paged behind ``nextLink``) and the caller's permissions
at a scope (``Microsoft.Authorization``)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.azure.arm.auth import authorize
from sandbox.azure.arm.common import arm_error, clean, read_json, sub_of
from sandbox.azure.arm.state import Arm
from sandbox.azure.bootstrap import role_assignment
from sandbox.azure.store import (
    ARM_READ_ROLES,
    RBAC_WRITE_ROLES,
    ROLE_NAMES,
    ROLE_PERMISSIONS,
)


def role_def(sub: str | None, rid: str) -> dict[str, Any]:
    prefix = f"/subscriptions/{sub}" if sub else ""
    name = ROLE_NAMES[rid]
    return {
        "id": f"{prefix}/providers/Microsoft.Authorization/roleDefinitions/{rid}",
        "name": rid,
        "type": "Microsoft.Authorization/roleDefinitions",
        "properties": {
            "roleName": name,
            "type": "BuiltInRole",
            "description": f"{name} (sandbox built-in role)",
            "assignableScopes": ["/"],
            "permissions": [{**ROLE_PERMISSIONS[name], "dataActions": [], "notDataActions": []}],
            "createdOn": "2015-02-02T21:55:09.8806423Z",
            "updatedOn": "2021-11-11T20:13:47.8628684Z",
            "createdBy": None,
            "updatedBy": None,
        },
    }


async def h_permissions(
    arm: Arm, request: Request, claims: dict[str, Any], p: dict[str, str], api: str
) -> Response:
    """What the caller may do at a scope: one entry per role it holds there or above
    (RBAC spec ``Permissions_ListForResource`` / ``_ListForResourceGroup``)."""
    roles = arm.store.principal_roles(claims["tid"], claims["oid"], p["scope"])
    value = [
        {**ROLE_PERMISSIONS[role], "dataActions": [], "notDataActions": []}
        for role in sorted(roles)
    ]
    return JSONResponse({"value": value})


async def h_role_defs(
    arm: Arm, request: Request, claims: dict[str, Any], p: dict[str, str], api: str
) -> Response:
    sub = sub_of(p.get("scope"))
    rid = p.get("rd")
    if rid:
        if rid.lower() not in ROLE_NAMES:
            return arm_error(
                404,
                "RoleDefinitionDoesNotExist",
                f"The specified role definition with ID '{rid}' does not exist.",
            )
        return JSONResponse(role_def(sub, rid.lower()))
    items = [role_def(sub, r) for r in ROLE_NAMES]
    flt = request.query_params.get("$filter") or ""
    m = re.search(r"roleName eq '([^']+)'", flt)
    if m:
        items = [i for i in items if i["properties"]["roleName"].lower() == m[1].lower()]
    return JSONResponse({"value": items})


async def h_role_assignments(
    arm: Arm, request: Request, claims: dict[str, Any], p: dict[str, str], api: str
) -> Response:
    scope = p["scope"]
    ra_name = p.get("ra")
    method = request.method
    tenant = claims["tid"]
    all_ra = arm.store.data["role_assignments"]
    if method == "GET" and not ra_name:
        authorize(
            arm, claims, scope, ARM_READ_ROLES, "Microsoft.Authorization/roleAssignments/read"
        )
        flt = request.query_params.get("$filter") or ""
        s_l = scope.rstrip("/").lower()
        out = []
        for ra in all_ra.values():
            if ra.get("_tenant") != tenant:
                continue
            ra_scope = ra["properties"]["scope"].rstrip("/").lower()
            above = s_l == ra_scope or s_l.startswith(ra_scope + "/")
            below = ra_scope.startswith(s_l + "/")
            if not (above or (below and "atscope()" not in flt.lower())):
                continue
            m = re.search(r"principalId eq '([^']+)'", flt)
            if m and ra["properties"]["principalId"] != m[1]:
                continue
            out.append(clean(ra))
        # Pages behind nextLink, like ARM (page size: Behaviour.role_assignment_page_size).
        size = arm.ctx.behaviour.role_assignment_page_size
        skip = request.query_params.get("$skipToken") or "0"
        start = int(skip) if skip.isdigit() else 0
        page: dict[str, Any] = {"value": out[start : start + size]}
        if start + size < len(out):
            query = f"api-version={api}" + (f"&$filter={quote(flt)}" if flt else "")
            page["nextLink"] = (
                f"{arm.base_url()}{scope}/providers/Microsoft.Authorization/roleAssignments"
                f"?{query}&$skipToken={start + size}"
            )
        return JSONResponse(page)
    ra_id = f"{scope}/providers/Microsoft.Authorization/roleAssignments/{ra_name}"
    existing = all_ra.get(ra_id.lower())
    if method == "GET":
        authorize(
            arm, claims, scope, ARM_READ_ROLES, "Microsoft.Authorization/roleAssignments/read"
        )
        if existing is None or existing.get("_tenant") != tenant:
            return arm_error(
                404, "RoleAssignmentNotFound", f"The role assignment '{ra_name}' is not found."
            )
        return JSONResponse(clean(existing))
    authorize(
        arm,
        claims,
        scope,
        RBAC_WRITE_ROLES,
        f"Microsoft.Authorization/roleAssignments/{'delete' if method == 'DELETE' else 'write'}",
    )
    if method == "DELETE":
        if existing is None:
            return Response(status_code=204)
        all_ra.pop(ra_id.lower())
        arm.store.save_soon()
        return JSONResponse(clean(existing))
    if method != "PUT":
        return arm_error(405, "MethodNotAllowed", f"{method} not supported")
    body = await read_json(request)
    props = body.get("properties") or {}
    role_id = str(props.get("roleDefinitionId") or "").rsplit("/", 1)[-1].lower()
    principal = str(props.get("principalId") or "")
    if role_id not in ROLE_NAMES:
        return arm_error(
            400,
            "RoleDefinitionDoesNotExist",
            f"The specified role definition with ID '{role_id}' does not exist.",
        )
    if not principal:
        return arm_error(
            400,
            "InvalidPrincipalId",
            "A valid principal ID must be provided for role assignment.",
        )
    if (
        "/registries/" in scope.lower()
        and arm.store.registry_by_id(scope.split("/providers/Microsoft.Authorization")[0]) is None
    ):
        return arm_error(404, "ResourceNotFound", f"The Resource '{scope}' was not found.")
    for ra in all_ra.values():
        rp = ra["properties"]
        if (
            rp["scope"].lower() == scope.lower()
            and rp["principalId"] == principal
            and rp["roleDefinitionId"].rsplit("/", 1)[-1].lower() == role_id
            and ra["name"] != ra_name
        ):
            return arm_error(409, "RoleAssignmentExists", "The role assignment already exists.")
    if existing is not None:
        return JSONResponse(clean(existing), status_code=201)
    ra = role_assignment(
        tenant,
        scope,
        ROLE_NAMES[role_id],
        principal,
        str(props.get("principalType") or "ServicePrincipal"),
    )
    ra["id"], ra["name"] = ra_id, ra_name
    ra["properties"]["createdBy"] = ra["properties"]["updatedBy"] = claims["oid"]
    all_ra[ra_id.lower()] = ra
    arm.store.save_soon()
    return JSONResponse(clean(ra), status_code=201)
