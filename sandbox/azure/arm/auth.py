"""Who calls ARM, and may they: the Entra bearer token of the subscription's tenant (audience
``https://management.azure.com/`` or ``https://management.core.windows.net/``), then RBAC
against the role assignments in the state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from sandbox.azure.arm.common import ARM_AUDIENCES, ArmFail, arm_error
from sandbox.azure.entra import verify_entra_token

if TYPE_CHECKING:
    from sandbox.azure.arm.state import Arm


def authenticate(arm: Arm, request: Request, sub: str | None) -> dict[str, Any]:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ArmFail(
            arm_error(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
                {"WWW-Authenticate": _www_auth(arm, None, "invalid_token", "missing token")},
            )
        )
    claims, code = verify_entra_token(arm.ctx.signer, token.strip(), ARM_AUDIENCES)
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
                {"WWW-Authenticate": _www_auth(arm, None, "invalid_token", code)},
            )
        )
    if sub is not None:
        owner = arm.store.tenant_of_subscription(sub)
        if owner is None:
            raise ArmFail(
                arm_error(
                    404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found."
                )
            )
        if owner != claims["tid"]:
            wrong = f"https://sts.windows.net/{claims['tid']}/"
            right = f"https://sts.windows.net/{owner}/"
            authority = f"{arm.ctx.url('entra')}/{owner}"
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
                            arm,
                            authority,
                            "invalid_token",
                            "The access token is from the wrong issuer.",
                        )
                    },
                )
            )
    return claims


def _www_auth(arm: Arm, authority: str | None, error: str, desc: str) -> str:
    authority = authority or f"{arm.ctx.url('entra')}/common"
    return f'Bearer authorization_uri="{authority}", error="{error}", error_description="{desc}"'


def authorize(arm: Arm, claims: dict[str, Any], scope: str, roles: set[str], action: str) -> None:
    held = arm.store.principal_roles(claims["tid"], claims["oid"], scope)
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
