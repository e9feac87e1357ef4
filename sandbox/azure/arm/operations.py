"""Long-running operations: ``Azure-AsyncOperation`` status polls (creates) and ``Location``
result polls (``importImage``, replication deletes)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.azure.arm.common import arm_error, num
from sandbox.azure.resources import PROVIDER

if TYPE_CHECKING:
    from sandbox.azure.arm.state import Arm


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


def op_location(arm: Arm, op: Operation) -> str:
    """Where a ``Location``-polled operation answers."""
    return (
        f"{arm.base_url()}/subscriptions/{op.subscription}/providers/{PROVIDER}/locations/"
        f"{op.location}/operationResults/{op.id}?api-version={op.api_version}"
    )


def async_op_headers(arm: Arm, op: Operation, resource_id: str) -> dict[str, str]:
    url = f"{arm.base_url()}{resource_id}/operationStatuses/{op.id}?api-version={op.api_version}"
    return {"Azure-AsyncOperation": url, "Retry-After": num(arm.faults.config.lro_retry_after)}


def _finish_async(op: Operation) -> None:
    if not op.done:
        op.done = True
        if op.on_done:
            op.on_done()


def new_async_op(arm: Arm, sub: str, api: str, min_polls: int, on_done: Any) -> Operation:
    op = Operation(
        id=f"registries-{uuid.uuid4()}",
        kind="async",
        subscription=sub,
        location="",
        api_version=api,
        min_polls=min_polls,
        on_done=on_done,
    )
    arm.ops[op.id] = op
    # Finishes on its own after min_polls * Retry-After even if nobody polls.
    delay = max(min_polls, 0) * arm.faults.config.lro_retry_after
    if delay <= 0:
        _finish_async(op)
    else:
        asyncio.get_running_loop().call_later(delay, _finish_async, op)
    return op


async def h_op_status(
    arm: Arm, request: Request, claims: dict[str, Any], p: dict[str, str], api: str
) -> Response:
    op = arm.ops.get(p["op"])
    if op is None or op.kind != "async":
        return arm_error(404, "OperationNotFound", f"Operation {p['op']} was not found.")
    op.polls += 1
    if op.polls >= op.min_polls:
        _finish_async(op)
    if not op.done:
        return JSONResponse(
            {"status": "InProgress"},
            headers={"Retry-After": num(arm.faults.config.lro_retry_after)},
        )
    return JSONResponse({"status": "Succeeded"})


async def h_op_result(
    arm: Arm, request: Request, claims: dict[str, Any], p: dict[str, str], api: str
) -> Response:
    op = arm.ops.get(p["op"])
    if op is None or op.kind not in ("import", "delete"):
        return arm_error(404, "OperationNotFound", f"Operation {p['op']} was not found.")
    if op.subscription.lower() != p["sub"].lower():
        return arm_error(404, "OperationNotFound", f"Operation {p['op']} was not found.")
    if op.kind == "delete":
        return Response(status_code=200, headers={"content-length": "0"})
    op.polls += 1
    arm.faults.counters.lro_polls += 1
    if not op.done or op.polls <= op.min_polls:
        body = {t: "Pending" for t in op.pending}
        body["status"] = "Accepted"
        return JSONResponse(
            body,
            status_code=202,
            headers={
                "Location": op_location(arm, op),
                "Retry-After": num(arm.faults.config.lro_retry_after),
            },
        )
    return JSONResponse(op.result, status_code=op.result_status)
