"""What every ARM handler shares: ARM's error answer, the JSON body, the public view of a stored
resource, ``Retry-After`` numbers and the ARM-wide constants."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

ARM_AUDIENCES = {"https://management.azure.com/", "https://management.core.windows.net/"}
NAME_RE = re.compile(r"^[a-zA-Z0-9]{5,50}$")
#: Creates (registries, sub-resources) answer 200 synchronously up to this api-version
#: (rec: arm_registries_lifecycle_2019-05-01.json, arm_webhooks_2019-12-01-preview.json);
#: later ones 201 + Azure-AsyncOperation (spec: long-running PUT; assumed).
SYNC_CREATE_UNTIL = "2019-12-01-preview"


def arm_error(
    http_status: int, code: str, message: str, headers: dict | None = None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    body.update(extra)
    return JSONResponse(body, status_code=http_status, headers=headers)


class ArmFail(Exception):
    """Raised deep in a handler to answer ``response`` at once."""

    def __init__(self, response: Response) -> None:
        self.response = response


def clean(resource: dict[str, Any]) -> dict[str, Any]:
    """A stored resource without its private (``_``-prefixed) keys."""
    return {k: v for k, v in resource.items() if not k.startswith("_")}


def num(value: float) -> str:
    """A number as a header value: ``1`` rather than ``1.0``."""
    return str(int(value)) if float(value).is_integer() else str(value)


def sub_of(scope: str | None) -> str | None:
    """The subscription id of an ARM scope (None if it names none)."""
    if not scope:
        return None
    parts = scope.split("/")
    return parts[2] if len(parts) > 2 and parts[1].lower() == "subscriptions" else None


async def read_json(request: Request) -> dict[str, Any]:
    """The request's JSON object body (``{}`` when empty); ARM's 400 otherwise."""
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
