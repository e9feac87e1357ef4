"""The stand-in's own knobs on the ARM port (test machinery, not Azure): ``/_sandbox/faults``,
``/_sandbox/behaviour``, ``/_sandbox/principals``, ``/_sandbox/secrets`` and the deliberate
error of ``/_sandbox/raise``."""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox import faults
from sandbox.azure.arm.state import Arm
from sandbox.azure.bootstrap import role_assignment
from sandbox.azure.faults import ArmFaultConfig
from sandbox.azure.store import ROLE_IDS, secret_values

#: Requesting it raises inside the stand-in on purpose (the session ignores its log entries).
DELIBERATE_ERROR_PATH = "/_sandbox/raise"


def control_routes(arm: Arm) -> list[Route]:
    """The ``/_sandbox/...`` routes of ``arm``."""

    async def get_behaviour(request: Request) -> Response:
        return JSONResponse(arm.ctx.behaviour.snapshot())

    async def put_behaviour(request: Request) -> Response:
        try:
            raw = await request.body()
            arm.ctx.behaviour.update(json.loads(raw) if raw else {})
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        arm.ctx.signer.leeway = arm.ctx.behaviour.clock_skew
        return JSONResponse(arm.ctx.behaviour.snapshot())

    async def raise_error(request: Request) -> Response:
        """A deliberate internal error: proves the error trap answers 500 and logs it."""
        raise RuntimeError("deliberate internal error (GET /_sandbox/raise)")

    async def post_principal(request: Request) -> Response:
        """A new service principal of a slot's tenant holding ``role`` at ``scope``.

        Body: ``{"slot": "source"|"target", "role": "Reader", "scope": "registry" |
        "subscription" | "<resource id>", "secret_end": "<ISO 8601>"}`` (``secret_end``, when
        given, is the secret's ``endDateTime``: past it Entra refuses the secret as expired);
        answers its tenant, client id, secret, object id.
        """
        body = json.loads(await request.body() or b"{}")
        slot = arm.ctx.slot(str(body.get("slot") or ""))
        role = str(body.get("role") or "")
        if role not in ROLE_IDS:
            return JSONResponse({"error": f"unknown role {role!r}"}, status_code=400)
        where = str(body.get("scope") or "registry")
        scope = {
            "registry": arm.ctx.registry_scope(str(body["slot"])),
            "subscription": f"/subscriptions/{slot['subscription']}",
        }.get(where, where)
        tenant = slot["tenant"]
        client_id, oid, secret = str(uuid.uuid4()), str(uuid.uuid4()), secrets.token_urlsafe(30)
        arm.store.data["tenants"][tenant]["apps"][client_id] = {
            "name": f"sandbox-{role.lower()}",
            "oid": oid,
            "secret": secret,
            "federated_credentials": [],
        }
        if body.get("secret_end"):
            end = str(body["secret_end"])
            try:
                datetime.fromisoformat(end.replace("Z", "+00:00"))
            except ValueError:
                return JSONResponse(
                    {"error": f"secret_end {end!r} is not ISO 8601"}, status_code=400
                )
            arm.store.data["tenants"][tenant]["apps"][client_id]["secret_end"] = end
        ra = role_assignment(tenant, scope, role, oid)
        arm.store.data["role_assignments"][ra["id"].lower()] = ra
        arm.store.save_soon()
        return JSONResponse(
            {"tenant_id": tenant, "client_id": client_id, "client_secret": secret, "object_id": oid}
        )

    async def get_secrets(request: Request) -> Response:
        """Every secret the stand-in holds now (by label) and the tokens it signed since
        recording began: what a leak test searches for."""
        issued = arm.ctx.signer.issued
        return JSONResponse(
            {
                "secrets": secret_values(arm.store.data),
                "recording": issued is not None,
                "tokens": list(issued or []),
            }
        )

    async def put_secrets(request: Request) -> Response:
        """``{"record_tokens": true}`` records every token signed from now on (kept in memory
        until ``false``); answers as GET does."""
        body = json.loads(await request.body() or b"{}")
        record = body.get("record_tokens")
        if not isinstance(record, bool) or set(body) != {"record_tokens"}:
            return JSONResponse({"error": 'body: {"record_tokens": bool}'}, status_code=400)
        arm.ctx.signer.issued = [] if record else None
        return await get_secrets(request)

    return [
        *faults.control_routes(
            arm.faults, ArmFaultConfig.from_dict, ArmFaultConfig, keep_counters_by_default=True
        ),
        Route("/_sandbox/behaviour", get_behaviour, methods=["GET"]),
        Route("/_sandbox/behaviour", put_behaviour, methods=["PUT"]),
        Route("/_sandbox/principals", post_principal, methods=["POST"]),
        Route("/_sandbox/secrets", get_secrets, methods=["GET"]),
        Route("/_sandbox/secrets", put_secrets, methods=["PUT"]),
        Route(DELIBERATE_ERROR_PATH, raise_error, methods=["GET"]),
    ]
