"""Azure Resource Manager stand-in: Microsoft.ContainerRegistry, role assignments, resource
groups, subscriptions; ``importImage`` as a Location-polled LRO that really copies.

Every call needs an Entra bearer token of the subscription's tenant with audience
``https://management.azure.com/`` or ``https://management.core.windows.net/``; RBAC is checked
against the role assignments in the state (Owner/Contributor write, Reader reads).
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.azure.backend import copy_manifest, is_index
from sandbox.azure.bootstrap import role_assignment
from sandbox.azure.context import Context
from sandbox.azure.entra import verify_entra_token
from sandbox.azure.faults import ArmFaultConfig
from sandbox.azure.resources import (
    CHILD_TYPES,
    PROVIDER,
    SKU_TIERS,
    new_child,
    new_registry,
    update_registry,
)
from sandbox.azure.store import (
    ARM_READ_ROLES,
    ARM_WRITE_ROLES,
    RBAC_WRITE_ROLES,
    ROLE_IDS,
    ROLE_NAMES,
    ROLE_PERMISSIONS,
    registry_key,
)
from sandbox.azure.strict import api_version_problem, sku_problem

ARM_AUDIENCES = {"https://management.azure.com/", "https://management.core.windows.net/"}
NAME_RE = re.compile(r"^[a-zA-Z0-9]{5,50}$")
DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
SUB = r"/subscriptions/(?P<sub>[^/]+)"
RG = SUB + r"/resourcegroups/(?P<rg>[^/]+)"
REG = RG + r"/providers/microsoft\.containerregistry/registries/(?P<name>[^/]+)"
ROUTES: list[tuple[str, re.Pattern[str]]] = [
    (name, re.compile("^" + pattern + "$", re.IGNORECASE))
    for name, pattern in [
        ("subscriptions", r"/subscriptions"),
        ("op_status", SUB + r"/.+/operationstatuses/(?P<op>[^/]+)"),
        ("subscription", SUB),
        ("rg_list", SUB + r"/resourcegroups"),
        ("rg", RG),
        ("check_name", SUB + r"/providers/microsoft\.containerregistry/checknameavailability"),
        ("reg_list_sub", SUB + r"/providers/microsoft\.containerregistry/registries"),
        (
            "op_result",
            SUB + r"/providers/microsoft\.containerregistry/locations/(?P<loc>[^/]+)"
            r"/operationresults/(?P<op>[^/]+)",
        ),
        ("reg_list_rg", RG + r"/providers/microsoft\.containerregistry/registries"),
        ("registry", REG),
        (
            "role_defs",
            r"(?P<scope>/subscriptions/.*?)?/providers/microsoft\.authorization/roledefinitions"
            r"(?:/(?P<rd>[^/]+))?",
        ),
        (
            "permissions",
            r"(?P<scope>/subscriptions/.*?)/providers/microsoft\.authorization/permissions",
        ),
        (
            "role_assignments",
            r"(?P<scope>/subscriptions/.*?)/providers/microsoft\.authorization/roleassignments"
            r"(?:/(?P<ra>[^/]+))?",
        ),
        (
            "child_action",
            REG + r"/(?P<kind>[a-z]+)/(?P<child>[^/]+)/(?P<action>getcallbackconfig|ping|"
            r"listevents)",
        ),
        ("child", REG + r"/(?P<kind>[a-z]+)/(?P<child>[^/]+)"),
        ("reg_sub", REG + r"/(?P<kind>[a-z]+)"),
    ]
]
#: Creates (registries, sub-resources) answer 200 synchronously up to this api-version
#: (rec: arm_registries_lifecycle_2019-05-01.json, arm_webhooks_2019-12-01-preview.json);
#: later ones 201 + Azure-AsyncOperation (spec: long-running PUT; assumed).
SYNC_CREATE_UNTIL = "2019-12-01-preview"
#: Requesting it raises inside the stand-in on purpose (the session ignores its log entries).
DELIBERATE_ERROR_PATH = "/_sandbox/raise"
REG_ACTIONS = {"listcredentials", "regeneratecredential", "importimage", "listusages"}


def arm_error(
    http_status: int, code: str, message: str, headers: dict | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    body.update(extra)
    return JSONResponse(body, status_code=http_status, headers=headers)


class ArmFail(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


@dataclass
class Operation:
    id: str
    kind: str  # "import" | "async" | "delete"
    subscription: str
    location: str
    api_version: str
    pending: list[str] = field(default_factory=list)
    done: bool = False
    result_status: int = 200
    result: dict[str, Any] = field(default_factory=lambda: {"status": "Succeeded"})
    polls: int = 0
    min_polls: int = 1
    on_done: Any = None


def _clean(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if not k.startswith("_")}


def create_app(ctx: Context) -> Starlette:
    store = ctx.store
    faults = ctx.faults
    ops: dict[str, Operation] = {}
    import_gate = asyncio.Semaphore(8)
    tasks: set[asyncio.Task[None]] = set()

    def base_url() -> str:
        return ctx.url("arm")

    # ------------------------------------------------------------------ faults control
    async def get_faults(request: Request) -> Response:
        return JSONResponse(faults.snapshot())

    async def put_faults(request: Request) -> Response:
        try:
            raw = await request.body()
            cfg = ArmFaultConfig.from_dict(json.loads(raw) if raw else {})
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        reset = request.query_params.get("reset_counters") in ("1", "true")
        faults.set(cfg, keep_counters=not reset)
        return JSONResponse(faults.snapshot())

    async def delete_faults(request: Request) -> Response:
        faults.set(ArmFaultConfig(), keep_counters=True)
        return JSONResponse(faults.snapshot())

    # ------------------------------------------------------------------ strictness control
    async def get_behaviour(request: Request) -> Response:
        return JSONResponse(ctx.behaviour.snapshot())

    async def put_behaviour(request: Request) -> Response:
        try:
            raw = await request.body()
            ctx.behaviour.update(json.loads(raw) if raw else {})
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        ctx.signer.leeway = ctx.behaviour.clock_skew
        return JSONResponse(ctx.behaviour.snapshot())

    async def raise_error(request: Request) -> Response:
        """A deliberate internal error: proves the error trap answers 500 and logs it."""
        raise RuntimeError("deliberate internal error (GET /_sandbox/raise)")

    async def post_principal(request: Request) -> Response:
        """A new service principal of a slot's tenant holding ``role`` at ``scope``.

        Body: ``{"slot": "source"|"target", "role": "Reader", "scope": "registry" |
        "subscription" | "<resource id>"}``; answers its tenant, client id, secret, object id.
        """
        body = json.loads(await request.body() or b"{}")
        slot = ctx.slot(str(body.get("slot") or ""))
        role = str(body.get("role") or "")
        if role not in ROLE_IDS:
            return JSONResponse({"error": f"unknown role {role!r}"}, status_code=400)
        where = str(body.get("scope") or "registry")
        scope = {
            "registry": ctx.registry_scope(str(body["slot"])),
            "subscription": f"/subscriptions/{slot['subscription']}",
        }.get(where, where)
        tenant = slot["tenant"]
        client_id, oid, secret = str(uuid.uuid4()), str(uuid.uuid4()), secrets.token_urlsafe(30)
        store.data["tenants"][tenant]["apps"][client_id] = {
            "name": f"sandbox-{role.lower()}",
            "oid": oid,
            "secret": secret,
            "federated_credentials": [],
        }
        ra = role_assignment(tenant, scope, role, oid)
        store.data["role_assignments"][ra["id"].lower()] = ra
        store.save_soon()
        return JSONResponse(
            {"tenant_id": tenant, "client_id": client_id, "client_secret": secret, "object_id": oid}
        )

    # ------------------------------------------------------------------ auth
    def authenticate(request: Request, sub: str | None) -> dict[str, Any]:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ArmFail(
                arm_error(
                    401,
                    "AuthenticationFailed",
                    "Authentication failed. The 'Authorization' header is missing.",
                    {"WWW-Authenticate": _www_auth(None, "invalid_token", "missing token")},
                )
            )
        claims, code = verify_entra_token(ctx.signer, token.strip(), ARM_AUDIENCES)
        if claims is None:
            messages = {
                "ExpiredAuthenticationToken": "The access token expiry UTC time is earlier than "
                "current UTC time.",
                "InvalidAuthenticationTokenAudience": "The access token has been obtained for "
                "wrong audience or resource. It should exactly match with one of the allowed "
                "audiences 'https://management.core.windows.net/','https://management.core."
                "windows.net','https://management.azure.com/','https://management.azure.com'.",
            }
            raise ArmFail(
                arm_error(
                    401,
                    code,
                    messages.get(code, "The access token is invalid."),
                    {"WWW-Authenticate": _www_auth(None, "invalid_token", code)},
                )
            )
        if sub is not None:
            owner = store.tenant_of_subscription(sub)
            if owner is None:
                raise ArmFail(
                    arm_error(
                        404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found."
                    )
                )
            if owner != claims["tid"]:
                wrong = f"https://sts.windows.net/{claims['tid']}/"
                right = f"https://sts.windows.net/{owner}/"
                authority = f"{ctx.url('entra')}/{owner}"
                raise ArmFail(
                    arm_error(
                        401,
                        "InvalidAuthenticationTokenTenant",
                        f"The access token is from the wrong issuer '{wrong}'. It must match the "
                        f"tenant '{right}' associated with this subscription. Please use the "
                        f"authority (URL) '{authority}' to get the token. Note, if the "
                        "subscription is transferred to another tenant there is no impact to "
                        "the services, but information about new tenant could take time to "
                        "propagate (up to an hour). If you just transferred your subscription "
                        "and see this error message, please try back later.",
                        {
                            "WWW-Authenticate": _www_auth(
                                authority,
                                "invalid_token",
                                "The access token is from the wrong issuer.",
                            )
                        },
                    )
                )
        return claims

    def _www_auth(authority: str | None, error: str, desc: str) -> str:
        authority = authority or f"{ctx.url('entra')}/common"
        return (
            f'Bearer authorization_uri="{authority}", error="{error}", error_description="{desc}"'
        )

    def authorize(claims: dict[str, Any], scope: str, roles: set[str], action: str) -> None:
        held = store.principal_roles(claims["tid"], claims["oid"], scope)
        if held & roles:
            return
        oid = claims["oid"]
        raise ArmFail(
            arm_error(
                403,
                "AuthorizationFailed",
                f"The client '{oid}' with object id '{oid}' does not have authorization to "
                f"perform action '{action}' over scope '{scope}' or the scope is invalid. If "
                "access was recently granted, please refresh your credentials.",
            )
        )

    # ------------------------------------------------------------------ dispatch
    async def dispatch(request: Request) -> Response:
        path = request.url.path.rstrip("/")
        method = request.method
        is_import = method == "POST" and path.lower().endswith("/importimage")
        cfg = faults.config
        if cfg.latency_ms:
            await asyncio.sleep(cfg.latency_ms / 1000)
        fault = faults.decide(is_import)
        if fault == "throttle":
            return arm_error(
                429,
                "SubscriptionRequestsThrottled",
                f"Number of '{'write' if method != 'GET' else 'read'}' requests for subscription "
                f"actor exceeded. Please try again after '{cfg.retry_after}' seconds after "
                "additional tries. (injected by the sandbox)",
                {"Retry-After": _num(cfg.retry_after)},
            )
        if fault == "error":
            return arm_error(
                cfg.error_status,
                "ServiceUnavailable" if cfg.error_status == 503 else "InternalServerError",
                "The server is currently unable to handle the request. (injected by the sandbox)",
                {"Retry-After": _num(cfg.retry_after)},
            )
        api_version = request.query_params.get("api-version")
        if not api_version:
            return arm_error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        problem = api_version_problem(path, api_version, "westeurope")
        if problem is not None:
            return JSONResponse(problem, status_code=400)
        for name, pattern in ROUTES:
            m = pattern.match(path)
            if m is None:
                continue
            params = {k: v for k, v in m.groupdict().items() if v is not None}
            try:
                claims = authenticate(request, params.get("sub") or _sub_of(params.get("scope")))
                handler = HANDLERS[name]
                return await handler(request, claims, params, api_version)
            except ArmFail as fail:
                return fail.response
        return arm_error(
            404, "InvalidResourceType", f"The resource type could not be found for path '{path}'."
        )

    # ------------------------------------------------------------------ subscriptions, RGs
    def sub_body(sub: str) -> dict[str, Any]:
        rec = store.data["subscriptions"][sub]
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

    async def h_subscriptions(request, claims, p, api):
        subs = [s for s, r in store.data["subscriptions"].items() if r["tenant"] == claims["tid"]]
        return JSONResponse(
            {"value": [sub_body(s) for s in subs], "count": {"type": "Total", "value": len(subs)}}
        )

    async def h_subscription(request, claims, p, api):
        return JSONResponse(sub_body(p["sub"].lower()))

    def rg_body(sub: str, rg: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": f"/subscriptions/{sub}/resourceGroups/{rg['name']}",
            "name": rg["name"],
            "type": "Microsoft.Resources/resourceGroups",
            "location": rg["location"],
            "tags": rg.get("tags") or {},
            "properties": {"provisioningState": "Succeeded"},
        }

    def find_rg(sub: str, rg: str) -> dict[str, Any] | None:
        groups = store.data["subscriptions"][sub.lower()]["resource_groups"]
        for name, rec in groups.items():
            if name.lower() == rg.lower():
                return dict(rec)
        return None

    def require_rg(sub: str, rg: str) -> dict[str, Any]:
        found = find_rg(sub, rg)
        if found is None:
            raise ArmFail(
                arm_error(
                    404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found."
                )
            )
        return found

    async def h_rg_list(request, claims, p, api):
        sub = p["sub"].lower()
        authorize(
            claims,
            f"/subscriptions/{sub}",
            ARM_READ_ROLES,
            "Microsoft.Resources/subscriptions/resourceGroups/read",
        )
        groups = store.data["subscriptions"][sub]["resource_groups"].values()
        return JSONResponse({"value": [rg_body(sub, g) for g in groups]})

    async def h_rg(request, claims, p, api):
        sub, rg = p["sub"].lower(), p["rg"]
        scope = f"/subscriptions/{sub}/resourceGroups/{rg}"
        method = request.method
        if method in ("GET", "HEAD"):
            authorize(
                claims,
                scope,
                ARM_READ_ROLES,
                "Microsoft.Resources/subscriptions/resourceGroups/read",
            )
            found = find_rg(sub, rg)
            if method == "HEAD":
                return Response(status_code=204 if found else 404)
            if found is None:
                return arm_error(
                    404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found."
                )
            return JSONResponse(rg_body(sub, found))
        if method in ("PUT", "PATCH"):
            authorize(
                claims,
                scope,
                ARM_WRITE_ROLES,
                "Microsoft.Resources/subscriptions/resourceGroups/write",
            )
            body = await _json(request)
            groups = store.data["subscriptions"][sub]["resource_groups"]
            found = find_rg(sub, rg)
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
                store.save_soon()
                return JSONResponse(rg_body(sub, rec), status_code=201)
            groups[found["name"]]["tags"] = body.get("tags") or found.get("tags") or {}
            store.save_soon()
            return JSONResponse(rg_body(sub, groups[found["name"]]))
        return arm_error(
            405, "MethodNotAllowed", f"{method} is not supported on resource groups by the sandbox."
        )

    # ------------------------------------------------------------------ registries
    def registry_record(sub: str, rg: str, name: str) -> dict[str, Any]:
        require_rg(sub, rg)
        rec = store.registry(sub, rg, name)
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
        return _clean(copy.deepcopy(rec["resource"]))

    async def h_check_name(request, claims, p, api):
        body = await _json(request)
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
        if store.name_taken(name):
            return JSONResponse(
                {
                    "nameAvailable": False,
                    "reason": "AlreadyExists",
                    "message": f"The registry {name} is already in use.",
                }
            )
        return JSONResponse({"nameAvailable": True})

    async def h_reg_list_sub(request, claims, p, api):
        sub = p["sub"].lower()
        authorize(claims, f"/subscriptions/{sub}", ARM_READ_ROLES, f"{PROVIDER}/registries/read")
        items = [
            registry_view(r) for k, r in store.data["registries"].items() if k.startswith(sub + "/")
        ]
        return JSONResponse({"value": items})

    async def h_reg_list_rg(request, claims, p, api):
        sub, rg = p["sub"].lower(), p["rg"]
        require_rg(sub, rg)
        authorize(
            claims,
            f"/subscriptions/{sub}/resourceGroups/{rg}",
            ARM_READ_ROLES,
            f"{PROVIDER}/registries/read",
        )
        prefix = f"{sub}/{rg.lower()}/"
        items = [
            registry_view(r) for k, r in store.data["registries"].items() if k.startswith(prefix)
        ]
        return JSONResponse({"value": items})

    def async_op_headers(op: Operation, resource_id: str) -> dict[str, str]:
        url = f"{base_url()}{resource_id}/operationStatuses/{op.id}?api-version={op.api_version}"
        return {"Azure-AsyncOperation": url, "Retry-After": _num(faults.config.lro_retry_after)}

    def _finish_async(op: Operation) -> None:
        if not op.done:
            op.done = True
            if op.on_done:
                op.on_done()

    def new_async_op(sub: str, api: str, min_polls: int, on_done: Any) -> Operation:
        op = Operation(
            id=f"registries-{uuid.uuid4()}",
            kind="async",
            subscription=sub,
            location="",
            api_version=api,
            min_polls=min_polls,
            on_done=on_done,
        )
        ops[op.id] = op
        # Finishes on its own after min_polls * Retry-After even if nobody polls.
        delay = max(min_polls, 0) * faults.config.lro_retry_after
        if delay <= 0:
            _finish_async(op)
        else:
            asyncio.get_running_loop().call_later(delay, _finish_async, op)
        return op

    async def h_op_status(request, claims, p, api):
        op = ops.get(p["op"])
        if op is None or op.kind != "async":
            return arm_error(404, "OperationNotFound", f"Operation {p['op']} was not found.")
        op.polls += 1
        if op.polls >= op.min_polls:
            _finish_async(op)
        if not op.done:
            return JSONResponse(
                {"status": "InProgress"},
                headers={"Retry-After": _num(faults.config.lro_retry_after)},
            )
        return JSONResponse({"status": "Succeeded"})

    async def h_registry(request, claims, p, api):
        sub, rg, name = p["sub"].lower(), p["rg"], p["name"]
        scope = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{PROVIDER}/registries/{name}"
        method = request.method
        if method == "GET":
            authorize(claims, scope, ARM_READ_ROLES, f"{PROVIDER}/registries/read")
            return JSONResponse(registry_view(registry_record(sub, rg, name)))
        authorize(
            claims,
            scope,
            ARM_WRITE_ROLES,
            f"{PROVIDER}/registries/{'delete' if method == 'DELETE' else 'write'}",
        )
        if method == "PUT":
            return await put_registry(request, claims, sub, rg, name, api)
        rec = registry_record(sub, rg, name)
        if method == "PATCH":
            body = await _json(request)
            updated = update_registry(rec["resource"], body)
            refused = sku_problem(updated["sku"]["name"], body.get("properties") or {})
            if refused is not None:
                return JSONResponse(refused, status_code=400)
            rec["resource"] = updated
            store.save_soon()
            return JSONResponse(registry_view(rec))
        if method == "DELETE":
            key = registry_key(sub, rg, name)
            store.data["registries"].pop(key, None)
            for slot in store.data["slots"].values():
                if slot["registry_key"] == key:
                    slot["registry_key"] = None
            rid = rec["resource"]["id"].lower()
            for ra_key in [k for k in store.data["role_assignments"] if k.startswith(rid + "/")]:
                store.data["role_assignments"].pop(ra_key)
            store.save_soon()
            return Response(status_code=200, headers={"content-length": "0"})
        return arm_error(405, "MethodNotAllowed", f"{method} not supported")

    async def put_registry(request, claims, sub, rg, name, api):
        body = await _json(request)
        require_rg(sub, rg)
        if not NAME_RE.match(name):
            return arm_error(
                400,
                "InvalidParameter",
                "Registry names may contain only alpha "
                "numeric characters and must be between 5 and 50 characters.",
            )
        rec = store.registry(sub, rg, name)
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
            store.save_soon()
            return JSONResponse(registry_view(rec))
        if store.name_taken(name):
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
        for sname, slot in store.data["slots"].items():
            if slot["tenant"] == tenant and slot["registry_key"] is None:
                slot_name = sname
                break
        if slot_name is not None:
            slot = store.data["slots"][slot_name]
            login = f"{ctx.host}:{slot['port']}"
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
        store.data["registries"][key] = rec
        store.save_soon()
        if api <= SYNC_CREATE_UNTIL:  # as recorded up to 2019-12-01-preview: 200, Succeeded
            return JSONResponse(registry_view(rec))
        resource["properties"]["provisioningState"] = "Creating"

        def done() -> None:
            live = store.data["registries"].get(key)
            if live is not None:
                live["resource"]["properties"]["provisioningState"] = "Succeeded"
                store.save_soon()

        op = new_async_op(sub, api, faults.config.lro_min_polls, done)
        return JSONResponse(
            registry_view(rec), status_code=201, headers=async_op_headers(op, resource["id"])
        )

    # ------------------------------------------------------------------ registry actions
    async def h_reg_sub(request, claims, p, api):
        sub, rg, name, kind = p["sub"].lower(), p["rg"], p["name"], p["kind"].lower()
        scope = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{PROVIDER}/registries/{name}"
        method = request.method
        if kind in REG_ACTIONS:
            rec = registry_record(sub, rg, name)
            if kind == "listusages":
                authorize(claims, scope, ARM_READ_ROLES, f"{PROVIDER}/registries/listUsages/read")
                return JSONResponse(usages(rec))
            authorize(claims, scope, ARM_WRITE_ROLES, f"{PROVIDER}/registries/{kind}/action")
            if method != "POST":
                return arm_error(405, "MethodNotAllowed", f"{method} not supported")
            if kind == "listcredentials":
                return credentials(rec)
            if kind == "regeneratecredential":
                body = await _json(request)
                which = str(body.get("name") or "")
                if which not in ("password", "password2"):
                    return arm_error(400, "InvalidParameter", "name must be password or password2")
                rec["passwords"][which == "password2"] = secrets.token_urlsafe(24)
                store.save_soon()
                return credentials(rec)
            return await import_image(request, claims, rec, api)
        if kind not in CHILD_TYPES:
            return arm_error(
                404,
                "InvalidResourceType",
                f"The resource type '{kind}' could not be found in the namespace '{PROVIDER}'.",
            )
        authorize(claims, scope, ARM_READ_ROLES, f"{PROVIDER}/registries/{kind}/read")
        rec = registry_record(sub, rg, name)
        items = [_clean(c) for c in rec["children"].get(kind, {}).values()]
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

    # ------------------------------------------------------------------ children
    async def h_child(request, claims, p, api):
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
        rec = registry_record(sub, rg, name)
        bucket = rec["children"].setdefault(kind, {})
        existing = bucket.get(child.lower())
        if method == "GET":
            authorize(claims, scope, ARM_READ_ROLES, f"{PROVIDER}/registries/{kind}/read")
            if existing is None:
                return not_found_child(kind, child, rg)
            return JSONResponse(_clean(existing))
        authorize(claims, scope, ARM_WRITE_ROLES, f"{PROVIDER}/registries/{kind}/write")
        if method in ("PUT", "PATCH"):
            body = await _json(request)
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
            bucket[child.lower()] = res
            if kind == "webhooks":
                cb = rec["webhook_callbacks"].setdefault(child.lower(), {})
                props = body.get("properties") or {}
                for k in ("serviceUri", "customHeaders"):
                    if k in props:
                        cb[k] = props[k]
            if kind == "privateendpointconnections":
                rec["resource"]["properties"]["privateEndpointConnections"] = list(bucket.values())
            store.save_soon()
            synchronous = api <= SYNC_CREATE_UNTIL and kind != "replications"
            if method == "PATCH" or existing is not None or synchronous:
                return JSONResponse(_clean(res))
            op = new_async_op(sub, api, 0, None)
            return JSONResponse(
                _clean(res), status_code=201, headers=async_op_headers(op, res["id"])
            )
        if method == "DELETE":
            if existing is None:
                return Response(status_code=204)
            bucket.pop(child.lower())
            rec["webhook_callbacks"].pop(child.lower(), None)
            if kind == "privateendpointconnections":
                rec["resource"]["properties"]["privateEndpointConnections"] = list(bucket.values())
            store.save_soon()
            if kind == "replications":
                # As recorded: 202, body null, Location of an operation result (200, empty).
                op = Operation(
                    id=f"replications-{uuid.uuid4()}",
                    kind="delete",
                    subscription=sub,
                    location=str(existing.get("location") or "").lower(),
                    api_version=api,
                    done=True,
                )
                ops[op.id] = op
                return Response(
                    "null",
                    status_code=202,
                    media_type="application/json; charset=utf-8",
                    headers={"Location": op_location(op)},
                )
            return Response(status_code=200, headers={"content-length": "0"})
        return arm_error(405, "MethodNotAllowed", f"{method} not supported")

    def not_found_child(kind: str, child: str, rg: str) -> Response:
        canonical = CHILD_TYPES[kind][0]
        return arm_error(
            404,
            "ResourceNotFound",
            f"The Resource '{PROVIDER}/registries/{canonical}/{child}' under resource group "
            f"'{rg}' was not found. For more details please go to "
            "https://aka.ms/ARMResourceNotFoundFix",
        )

    async def h_child_action(request, claims, p, api):
        sub, rg, name = p["sub"].lower(), p["rg"], p["name"]
        kind, child, action = p["kind"].lower(), p["child"], p["action"].lower()
        scope = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{PROVIDER}/registries/{name}"
        rec = registry_record(sub, rg, name)
        if kind != "webhooks" or child.lower() not in rec["children"].get("webhooks", {}):
            return not_found_child("webhooks", child, rg)
        authorize(claims, scope, ARM_WRITE_ROLES, f"{PROVIDER}/registries/webhooks/{action}/action")
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

    # ------------------------------------------------------------------ RBAC
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
                "permissions": [
                    {**ROLE_PERMISSIONS[name], "dataActions": [], "notDataActions": []}
                ],
                "createdOn": "2015-02-02T21:55:09.8806423Z",
                "updatedOn": "2021-11-11T20:13:47.8628684Z",
                "createdBy": None,
                "updatedBy": None,
            },
        }

    async def h_permissions(request, claims, p, api):
        """What the caller may do at a scope: one entry per role it holds there or above
        (RBAC spec ``Permissions_ListForResource`` / ``_ListForResourceGroup``)."""
        roles = store.principal_roles(claims["tid"], claims["oid"], p["scope"])
        value = [
            {**ROLE_PERMISSIONS[role], "dataActions": [], "notDataActions": []}
            for role in sorted(roles)
        ]
        return JSONResponse({"value": value})

    async def h_role_defs(request, claims, p, api):
        sub = _sub_of(p.get("scope"))
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

    async def h_role_assignments(request, claims, p, api):
        scope = p["scope"]
        ra_name = p.get("ra")
        method = request.method
        tenant = claims["tid"]
        all_ra = store.data["role_assignments"]
        if method == "GET" and not ra_name:
            authorize(claims, scope, ARM_READ_ROLES, "Microsoft.Authorization/roleAssignments/read")
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
                out.append(_clean(ra))
            # Pages behind nextLink, like ARM (page size: Behaviour.role_assignment_page_size).
            size = ctx.behaviour.role_assignment_page_size
            skip = request.query_params.get("$skipToken") or "0"
            start = int(skip) if skip.isdigit() else 0
            page: dict[str, Any] = {"value": out[start : start + size]}
            if start + size < len(out):
                query = f"api-version={api}" + (f"&$filter={quote(flt)}" if flt else "")
                page["nextLink"] = (
                    f"{base_url()}{scope}/providers/Microsoft.Authorization/roleAssignments"
                    f"?{query}&$skipToken={start + size}"
                )
            return JSONResponse(page)
        ra_id = f"{scope}/providers/Microsoft.Authorization/roleAssignments/{ra_name}"
        existing = all_ra.get(ra_id.lower())
        if method == "GET":
            authorize(claims, scope, ARM_READ_ROLES, "Microsoft.Authorization/roleAssignments/read")
            if existing is None or existing.get("_tenant") != tenant:
                return arm_error(
                    404, "RoleAssignmentNotFound", f"The role assignment '{ra_name}' is not found."
                )
            return JSONResponse(_clean(existing))
        authorize(
            claims,
            scope,
            RBAC_WRITE_ROLES,
            "Microsoft.Authorization/roleAssignments/"
            f"{'delete' if method == 'DELETE' else 'write'}",
        )
        if method == "DELETE":
            if existing is None:
                return Response(status_code=204)
            all_ra.pop(ra_id.lower())
            store.save_soon()
            return JSONResponse(_clean(existing))
        if method != "PUT":
            return arm_error(405, "MethodNotAllowed", f"{method} not supported")
        body = await _json(request)
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
            and store.registry_by_id(scope.split("/providers/Microsoft.Authorization")[0]) is None
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
            return JSONResponse(_clean(existing), status_code=201)
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
        store.save_soon()
        return JSONResponse(_clean(ra), status_code=201)

    # ------------------------------------------------------------------ importImage
    async def import_image(request, claims, rec, api):
        if not faults.import_admitted():
            ra = _num(max(1.0, 1.0 / max(faults.config.import_rate_per_second, 1e-3)))
            return arm_error(
                429,
                "TooManyRequests",
                "Too many import requests for this registry; retry later. (sandbox import "
                "rate limit)",
                {"Retry-After": ra},
            )
        body = await _json(request)
        source = body.get("source") or {}
        src_image = str(source.get("sourceImage") or "")
        if not src_image:
            return arm_error(400, "InvalidParameters", "source.sourceImage is required.")
        mode = str(body.get("mode") or "NoForce")
        if mode not in ("NoForce", "Force"):
            return arm_error(400, "InvalidParameters", f"mode {mode!r} is not NoForce or Force.")
        target_slot = rec.get("slot")
        if target_slot is None:
            return arm_error(
                400,
                "InvalidParameters",
                f"sandbox: registry '{rec['resource']['name']}' has no data plane (only the first "
                "registry created in a tenant is backed by a real registry), so nothing can be "
                "imported into it.",
            )
        # ---- where the source is, and may we read it
        if source.get("resourceId"):
            src_rec = store.registry_by_id(str(source["resourceId"]))
            linked_ok = False
            if src_rec is not None and src_rec["tenant"] == claims["tid"]:
                roles = store.principal_roles(
                    claims["tid"], claims["oid"], src_rec["resource"]["id"]
                )
                linked_ok = bool(roles & (ARM_READ_ROLES | {"AcrPull", "AcrPush"}))
            if not linked_ok:
                oid = claims["oid"]
                return arm_error(
                    403,
                    "LinkedAuthorizationFailed",
                    f"The client '{oid}' with object id '{oid}' has permission to perform action "
                    f"'{PROVIDER}/registries/importImage/action' on scope "
                    f"'{rec['resource']['id']}'; however, it does not have permission to perform "
                    f"action '{PROVIDER}/registries/importImage/action' on the linked scope(s) "
                    f"'{source['resourceId']}' or the linked scope(s) are invalid.",
                )
            assert src_rec is not None
            src_slot = src_rec.get("slot")
            creds_ok = src_slot is not None
            if src_slot is None:
                return arm_error(
                    400, "InvalidParameters", "sandbox: the source registry has no data plane."
                )
        elif source.get("registryUri"):
            src_slot = ctx.slot_of_login_server(str(source["registryUri"]))
            if src_slot is None:
                return arm_error(
                    400,
                    "InvalidParameters",
                    f"sandbox: registryUri '{source['registryUri']}' is not a sandbox registry "
                    "(no internet registries here).",
                )
            cred = source.get("credentials") or {}
            got = (
                ctx.authenticate_password(
                    src_slot, str(cred.get("username") or ""), str(cred.get("password") or "")
                )
                if cred
                else None
            )
            creds_ok = got is not None and bool(got[1] & {"pull", "*"})
            if not cred:
                src_reg = ctx.slot_registry(src_slot)
                creds_ok = bool(
                    src_reg and src_reg["resource"]["properties"].get("anonymousPullEnabled")
                )
        else:
            return arm_error(
                400, "InvalidParameters", "source.resourceId or source.registryUri is required."
            )
        # ---- what goes where
        repo, sep, ref = src_image.partition("@")
        if not sep:
            repo, _, ref = src_image.partition(":")
            ref = ref or "latest"
        targets: list[tuple[str, str]] = []
        for t in body.get("targetTags") or []:
            t_repo, _, t_tag = str(t).partition(":")
            targets.append((t_repo, t_tag or "latest"))
        untagged = [str(r) for r in body.get("untaggedTargetRepositories") or []]
        if not targets and not untagged:
            targets = [(repo, ref)] if not sep else []
            untagged = [] if not sep else [repo]
        op = Operation(
            id=f"registries-{uuid.uuid4()}",
            kind="import",
            subscription=rec["resource"]["id"].split("/")[2],
            location=rec["resource"]["location"].upper(),
            api_version=api,
            pending=[f"{r}:{t}" for r, t in targets] or [f"{r}@{ref}" for r in untagged],
            min_polls=faults.config.lro_min_polls,
        )
        ops[op.id] = op
        faults.counters.imports_started += 1
        job = asyncio.create_task(
            run_import(
                op,
                src_slot,
                creds_ok,
                repo,
                ref,
                target_slot,
                targets,
                untagged,
                mode,
                rec["resource"]["id"],
            )
        )
        tasks.add(job)
        job.add_done_callback(tasks.discard)
        return Response(
            "null",
            status_code=202,
            media_type="application/json; charset=utf-8",
            headers={
                "Location": op_location(op),
                "Retry-After": _num(faults.config.lro_retry_after),
            },
        )

    def op_location(op: Operation) -> str:
        return (
            f"{base_url()}/subscriptions/{op.subscription}/providers/{PROVIDER}/locations/"
            f"{op.location}/operationResults/{op.id}?api-version={op.api_version}"
        )

    def fail_op(op: Operation, status: int, code: str, message: str) -> None:
        op.result_status = status
        op.result = {"error": {"code": code, "message": message}, "status": "Failed"}
        op.done = True
        faults.counters.imports_failed += 1

    async def run_import(
        op, src_slot, creds_ok, repo, ref, target_slot, targets, untagged, mode, target_id
    ) -> None:
        src, dst = ctx.backends[src_slot], ctx.backends[target_slot]
        dst_index = ctx.indexes[target_slot]
        label = ", ".join(op.pending)
        try:
            async with import_gate:
                if not creds_ok:
                    # Assumed code (no public recording): the source registry refused us.
                    fail_op(
                        op,
                        400,
                        "InvalidParameters",
                        f"Operation {op.id} failed. Resource "
                        f"{target_id} {label} Unauthorized: authentication required for the "
                        "source registry; check source.credentials.",
                    )
                    return
                got = await src.manifest(repo, ref)
                if got is None:
                    fail_op(
                        op,
                        400,
                        "InvalidParameters",
                        f"Operation {op.id} failed. Resource "
                        f"{target_id} {label} Source image {repo}:{ref} not found.",
                    )
                    return
                data, media, digest = got
                if is_index(data, media) and len(json.loads(data).get("manifests") or []) > 50:
                    # Documented limit ("Import container images": at most 50 manifests);
                    # status, code and wording of the failure are assumed.
                    fail_op(
                        op,
                        400,
                        "InvalidParameters",
                        f"Operation {op.id} failed. Resource {target_id} {label} The image "
                        f"{repo}@{digest} has more than 50 manifests and cannot be imported.",
                    )
                    return
                if mode == "NoForce":
                    for t_repo, t_tag in targets:
                        have = await dst.manifest(t_repo, t_tag)
                        if have is not None:
                            # Spec ImportMode: with NoForce "any existing target tags will fail
                            # the operation before any copying begins" -- the same digest too.
                            # Message as seen from az acr import (azure-cli PR #10938); the HTTP
                            # status and error code are assumed.
                            fail_op(
                                op,
                                409,
                                "TagAlreadyExists",
                                f"Operation {op.id} failed. "
                                f"Resource {target_id} {t_repo}:{t_tag} Tag "
                                f"{t_repo}:{t_tag} already exists in target registry.",
                            )
                            return
                repos = sorted({r for r, _ in targets} | set(untagged))
                if faults.lro_should_fail(repos):
                    faults.counters.lro_failures_injected += 1
                    faults.counters.imports_failed += 1
                    op.result_status = 200
                    op.result = {
                        "status": "Failed",
                        "error": {
                            "code": "ImportFailed",  # injected fault; code assumed
                            "message": f"Operation {op.id} failed. Resource {target_id} {label} "
                            "Import failed (injected by the sandbox).",
                        },
                    }
                    op.done = True
                    return

                async def record(d_repo, data, media, d_digest):
                    dst_index.record_manifest(d_repo, data, media, d_digest)

                by_repo: dict[str, list[str]] = {}
                for t_repo, t_tag in targets:
                    by_repo.setdefault(t_repo, []).append(t_tag)
                for r in untagged:
                    by_repo.setdefault(r, [])
                for t_repo, tags in by_repo.items():
                    await copy_manifest(src, repo, digest, dst, t_repo, [digest, *tags], record)
                    for t_tag in tags:
                        dst_index.record_tag(t_repo, t_tag, digest)
                op.done = True
                faults.counters.imports_completed += 1
        except Exception as exc:  # an internal error: logged (fails the test) and answered 500
            ctx.record_error(f"importImage {op.id} {label}", exc)
            fail_op(op, 500, "InternalServerError", f"Operation {op.id} failed: {exc!r}")

    async def h_op_result(request, claims, p, api):
        op = ops.get(p["op"])
        if op is None or op.kind not in ("import", "delete"):
            return arm_error(404, "OperationNotFound", f"Operation {p['op']} was not found.")
        if op.subscription.lower() != p["sub"].lower():
            return arm_error(404, "OperationNotFound", f"Operation {p['op']} was not found.")
        if op.kind == "delete":
            return Response(status_code=200, headers={"content-length": "0"})
        op.polls += 1
        faults.counters.lro_polls += 1
        if not op.done or op.polls <= op.min_polls:
            body = {t: "Pending" for t in op.pending}
            body["status"] = "Accepted"
            return JSONResponse(
                body,
                status_code=202,
                headers={
                    "Location": op_location(op),
                    "Retry-After": _num(faults.config.lro_retry_after),
                },
            )
        return JSONResponse(op.result, status_code=op.result_status)

    HANDLERS = {
        "subscriptions": h_subscriptions,
        "subscription": h_subscription,
        "rg_list": h_rg_list,
        "rg": h_rg,
        "check_name": h_check_name,
        "reg_list_sub": h_reg_list_sub,
        "op_result": h_op_result,
        "reg_list_rg": h_reg_list_rg,
        "op_status": h_op_status,
        "registry": h_registry,
        "role_defs": h_role_defs,
        "permissions": h_permissions,
        "role_assignments": h_role_assignments,
        "child_action": h_child_action,
        "child": h_child,
        "reg_sub": h_reg_sub,
    }

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(
        routes=[
            Route("/_sandbox/faults", get_faults, methods=["GET"]),
            Route("/_sandbox/faults", put_faults, methods=["PUT"]),
            Route("/_sandbox/faults", delete_faults, methods=["DELETE"]),
            Route("/_sandbox/behaviour", get_behaviour, methods=["GET"]),
            Route("/_sandbox/behaviour", put_behaviour, methods=["PUT"]),
            Route("/_sandbox/principals", post_principal, methods=["POST"]),
            Route(DELIBERATE_ERROR_PATH, raise_error, methods=["GET"]),
            Route("/{path:path}", dispatch, methods=methods),
        ]
    )


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _sub_of(scope: str | None) -> str | None:
    if not scope:
        return None
    parts = scope.split("/")
    return parts[2] if len(parts) > 2 and parts[1].lower() == "subscriptions" else None


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise ArmFail(
            arm_error(
                400,
                "InvalidRequestContent",
                "The request content was invalid and could not be deserialized.",
            )
        ) from None
    if not isinstance(data, dict):
        raise ArmFail(
            arm_error(400, "InvalidRequestContent", "The request content must be a JSON object.")
        )
    return data


__all__ = ["ROLE_IDS", "create_app"]
