"""ARM's paths: which handler answers which resource path, and the dispatch in front of them
(injected faults, ``api-version`` checks, authentication)."""

from __future__ import annotations

import asyncio
import re

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.azure.arm import (
    children,
    managed_clusters,
    operations,
    rbac,
    registries,
    subscriptions,
)
from sandbox.azure.arm.auth import authenticate
from sandbox.azure.arm.common import ArmFail, arm_error, num, sub_of
from sandbox.azure.arm.control import control_routes
from sandbox.azure.arm.state import Arm, Handler
from sandbox.azure.context import Context
from sandbox.azure.strict import api_version_problem

SUB = r"/subscriptions/(?P<sub>[^/]+)"
RG = SUB + r"/resourcegroups/(?P<rg>[^/]+)"
REG = RG + r"/providers/microsoft\.containerregistry/registries/(?P<name>[^/]+)"
AKS = RG + r"/providers/microsoft\.containerservice/managedclusters/(?P<cluster>[^/]+)"
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
        ("managed_cluster", AKS),
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
HANDLERS: dict[str, Handler] = {
    "subscriptions": subscriptions.h_subscriptions,
    "subscription": subscriptions.h_subscription,
    "rg_list": subscriptions.h_rg_list,
    "rg": subscriptions.h_rg,
    "check_name": registries.h_check_name,
    "reg_list_sub": registries.h_reg_list_sub,
    "op_result": operations.h_op_result,
    "reg_list_rg": registries.h_reg_list_rg,
    "op_status": operations.h_op_status,
    "registry": registries.h_registry,
    "managed_cluster": managed_clusters.h_cluster,
    "role_defs": rbac.h_role_defs,
    "permissions": rbac.h_permissions,
    "role_assignments": rbac.h_role_assignments,
    "child_action": children.h_child_action,
    "child": children.h_child,
    "reg_sub": registries.h_reg_sub,
}


async def dispatch(arm: Arm, request: Request) -> Response:
    """Faults first, then the api-version, then the route: authenticate and call its handler."""
    path = request.url.path.rstrip("/")
    method = request.method
    decision = arm.faults.decide(method, path)
    if decision.latency:
        await asyncio.sleep(decision.latency)
    fault = decision.rule
    if fault is not None and fault.name == "throttle":
        return arm_error(
            429,
            "SubscriptionRequestsThrottled",
            f"Number of '{'write' if method != 'GET' else 'read'}' requests for subscription "
            f"actor exceeded. Please try again after '{fault.retry_after}' seconds after "
            "additional tries. (injected by the sandbox)",
            {"Retry-After": num(fault.retry_after)},
        )
    if fault is not None:
        return arm_error(
            fault.status,
            "ServiceUnavailable" if fault.status == 503 else "InternalServerError",
            "The server is currently unable to handle the request. (injected by the sandbox)",
            {"Retry-After": num(fault.retry_after)},
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
            claims = authenticate(arm, request, params.get("sub") or sub_of(params.get("scope")))
            handler = HANDLERS[name]
            return await handler(arm, request, claims, params, api_version)
        except ArmFail as fail:
            return fail.response
    return arm_error(
        404, "InvalidResourceType", f"The resource type could not be found for path '{path}'."
    )


def create_app(ctx: Context) -> Starlette:
    """The ARM stand-in over ``ctx``: the ``/_sandbox`` knobs, then every ARM path."""
    arm = Arm(ctx)

    async def endpoint(request: Request) -> Response:
        return await dispatch(arm, request)

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(
        routes=[*control_routes(arm), Route("/{path:path}", endpoint, methods=methods)]
    )
