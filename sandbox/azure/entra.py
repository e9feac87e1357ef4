"""Entra ID stand-in: OIDC discovery, JWKS, the v2.0 token endpoint, App Service MI endpoint.

Accepted client authentication for ``grant_type=client_credentials``:

- ``client_secret``: the tenant's service principal secret, unless it is past its end date
  (``secret_end``: AADSTS7000222).
- ``client_assertion`` (workload identity federation): an RS256 JWT signed by the sandbox
  federation key (``<root>/azure/federation-key.pem``; ready-made token files are written at
  ``up``), whose ``iss``, ``sub`` and ``aud`` match a federated credential of the app, not
  expired. Anything else gets the AADSTS error Entra sends for it.

Access tokens are RS256 JWTs (key published at the openid-configuration's ``jwks_uri``) with
``aud`` = the requested resource (scope minus ``/.default``), ``iss``
``https://sts.windows.net/{tid}/`` (v1, as ARM tokens), ``tid``, ``oid``, ``appid``, ``exp``...
"""

from __future__ import annotations

import hmac
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.azure.store import Store
from sandbox.azure.strict import Behaviour
from sandbox.azure.tokens import Signer, now

TOKEN_TTL = 3600
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def sts_issuer(tenant: str) -> str:
    return f"https://sts.windows.net/{tenant}/"


def resource_of_scope(scope: str) -> str | None:
    for part in scope.split():
        if part.endswith("/.default"):
            return part[: -len("/.default")] or None
    return None


def issue_access_token(
    signer: Signer,
    tenant: str,
    principal: dict[str, Any],
    resource: str,
    idtyp: str = "app",
    ttl: int = TOKEN_TTL,
) -> tuple[str, int]:
    """(JWT, exp) for `principal` (needs client_id, oid) in `tenant` for `resource`."""
    t = now()
    claims = {
        "aud": resource,
        "iss": sts_issuer(tenant),
        "iat": t,
        "nbf": t - 5,
        "exp": t + ttl,
        "aio": uuid.uuid4().hex,
        "appid": principal["client_id"],
        "appidacr": "1",
        "idp": sts_issuer(tenant),
        "idtyp": idtyp,
        "oid": principal["oid"],
        "rh": "0.sandbox.",
        "sub": principal["oid"],
        "tid": tenant,
        "uti": uuid.uuid4().hex[:22],
        "ver": "1.0",
    }
    if principal.get("mi_res_id"):
        claims["xms_mirid"] = principal["mi_res_id"]
    return signer.sign(claims), claims["exp"]


def secret_expired(app: dict[str, Any]) -> bool:
    """Whether the app's client secret is past its ``endDateTime`` (``secret_end``, ISO 8601;
    Graph ``passwordCredential.endDateTime``). Secrets without one never expire here."""
    end = app.get("secret_end")
    if not end:
        return False
    return datetime.fromisoformat(str(end).replace("Z", "+00:00")) <= datetime.now(UTC)


def aad_error(
    status: int, error: str, code: int, text: str, tenant: str | None = None
) -> JSONResponse:
    """The AADSTS error body Entra's token endpoint returns."""
    trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
    ts = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    desc = f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {corr} Timestamp: {ts}"
    body = {
        "error": error,
        "error_description": desc.replace(" Trace ID", "\r\nTrace ID")
        .replace(" Correlation ID", "\r\nCorrelation ID")
        .replace(" Timestamp", "\r\nTimestamp"),
        "error_codes": [code],
        "timestamp": ts,
        "trace_id": trace,
        "correlation_id": corr,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }
    return JSONResponse(body, status_code=status)


def create_app(
    store: Store, signer: Signer, base_url: str, behaviour: Behaviour | None = None
) -> Starlette:
    """`base_url`: this app's own ``https://host:port`` (the authority host)."""
    knobs = behaviour or Behaviour()
    fed_cfg = store.data["federation"]
    fed_signer = Signer(fed_cfg["key"])

    def tenant_missing(tenant: str) -> JSONResponse:
        return aad_error(
            400,
            "invalid_tenant",
            90002,
            f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and "
            "are signing into the correct cloud. Check with your subscription administrator, "
            "this may happen if there are no active subscriptions for the tenant.",
        )

    async def openid(request: Request) -> Response:
        tenant = request.path_params["tenant"]
        if tenant not in store.data["tenants"]:
            return tenant_missing(tenant)
        v2 = request.url.path.split("/")[2] == "v2.0"
        prefix = f"{base_url}/{tenant}"
        body = {
            "token_endpoint": f"{prefix}/oauth2/v2.0/token" if v2 else f"{prefix}/oauth2/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{prefix}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{prefix}/v2.0" if v2 else sts_issuer(tenant),
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base_url}/oidc/userinfo",
            "authorization_endpoint": f"{prefix}/oauth2/v2.0/authorize"
            if v2
            else f"{prefix}/oauth2/authorize",
            "device_authorization_endpoint": f"{prefix}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{prefix}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid", "oid", "appid"],
            "kerberos_endpoint": f"{prefix}/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "sandbox.invalid",
            "cloud_graph_host_name": "graph.sandbox.invalid",
            "msgraph_host": "graph.sandbox.invalid",
            "rbac_url": "https://pas.sandbox.invalid",
        }
        return JSONResponse(body)

    async def keys(request: Request) -> Response:
        return JSONResponse(signer.jwks())

    async def instance_discovery(request: Request) -> Response:
        host = base_url.removeprefix("https://")
        return JSONResponse(
            {
                "tenant_discovery_endpoint": f"{base_url}/common/v2.0/.well-known/"
                "openid-configuration",
                "api-version": "1.1",
                "metadata": [
                    {"preferred_network": host, "preferred_cache": host, "aliases": [host]}
                ],
            }
        )

    async def token(request: Request) -> Response:
        tenant = request.path_params["tenant"]
        ten = store.data["tenants"].get(tenant)
        if ten is None:
            return tenant_missing(tenant)
        form = {k: v[-1] for k, v in parse_qs((await request.body()).decode()).items()}
        grant = form.get("grant_type", "")
        if grant != "client_credentials":
            return aad_error(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant}'.",
            )
        client_id = form.get("client_id", "")
        resource = form.get("resource") or resource_of_scope(form.get("scope", ""))
        if not resource:
            return aad_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {form.get('scope', '')} is not valid. Client "
                "credential flows must have a scope value with /.default suffixed to the "
                "resource identifier (application ID URI).",
            )
        app = ten["apps"].get(client_id)
        if app is None:
            return aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{ten['display_name']}'. This can happen if the application has not been "
                "installed by the administrator of the tenant or consented to by any user in "
                "the tenant. You may have sent your authentication request to the wrong tenant.",
            )
        if "client_secret" in form:
            if not hmac.compare_digest(form["client_secret"].encode(), app["secret"].encode()):
                return aad_error(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request "
                    "is the client secret value, not the client secret ID, for a secret added to "
                    f"app '{client_id}'.",
                )
            if secret_expired(app):
                return aad_error(
                    401,
                    "invalid_client",
                    7000222,
                    f"The provided client secret keys for app '{client_id}' are expired. Visit "
                    "the Azure portal to create new keys for your app: "
                    "https://aka.ms/NewClientSecret, or consider using certificate credentials "
                    "for added security: https://aka.ms/certCreds.",
                )
        elif form.get("client_assertion_type") == ASSERTION_TYPE and form.get("client_assertion"):
            problem = check_assertion(form["client_assertion"], app)
            if problem is not None:
                return aad_error(401, "invalid_client", problem[0], problem[1])
        else:
            return aad_error(
                401,
                "invalid_client",
                7000216,
                "'client_assertion', 'client_secret' or 'request' is required for the "
                "'client_credentials' grant type.",
            )
        principal = {"client_id": client_id, "oid": app["oid"]}
        access, exp = issue_access_token(signer, tenant, principal, resource, ttl=knobs.token_ttl)
        return JSONResponse(
            {
                "token_type": "Bearer",
                "expires_in": exp - now(),
                "ext_expires_in": exp - now(),
                "access_token": access,
            }
        )

    def check_assertion(assertion: str, app: dict[str, Any]) -> tuple[int, str] | None:
        try:
            claims = fed_signer.verify(assertion)
        except jwt.ExpiredSignatureError:
            return 700024, "Client assertion is not within its valid time range."
        except jwt.InvalidTokenError as exc:
            return 50027, f"JWT token is invalid or malformed ({exc})."
        issuers = {fc["issuer"] for fc in app["federated_credentials"]}
        if claims.get("iss") not in issuers:
            return 700211, (
                f"No matching federated identity record found for presented assertion issuer "
                f"'{claims.get('iss')}'. Please check your federated identity credential Subject, "
                "Audience and Issuer against the presented assertion."
            )
        aud = claims.get("aud")
        auds = set(aud if isinstance(aud, list) else [aud])
        for fc in app["federated_credentials"]:
            if fc["issuer"] == claims["iss"] and fc["subject"] == claims.get("sub"):
                if auds & set(fc["audiences"]):
                    return None
                return 700212, (
                    f"No matching federated identity record found for presented assertion "
                    f"audience '{sorted(auds)}'."
                )
        return 700213, (
            f"No matching federated identity record found for presented assertion subject "
            f"'{claims.get('sub')}'. Please check your federated identity credential Subject, "
            "Audience and Issuer against the presented assertion."
        )

    async def msi_token(request: Request) -> Response:
        tenant = request.path_params["tenant"]
        ten = store.data["tenants"].get(tenant)
        if ten is None:
            return JSONResponse({"statusCode": 404, "message": "Not found"}, status_code=404)
        header = request.headers.get("x-identity-header", "")
        params = request.query_params
        mis = ten["managed_identities"]
        if not any(hmac.compare_digest(header, mi["identity_header"]) for mi in mis.values()):
            return JSONResponse(
                {"statusCode": 401, "message": "Unauthorized: X-IDENTITY-HEADER mismatch."},
                status_code=401,
            )
        if params.get("api-version") != "2019-08-01" or not params.get("resource"):
            return JSONResponse(
                {"statusCode": 400, "message": "api-version 2019-08-01 and resource required"},
                status_code=400,
            )
        wanted = params.get("client_id") or params.get("object_id") or params.get("principal_id")
        picked = None
        for cid, mi in mis.items():
            if wanted in (None, cid, mi["oid"]):
                picked = (cid, mi)
                break
        if picked is None:
            return JSONResponse(
                {"statusCode": 400, "message": "No MSI found for specified ClientId/ResourceId."},
                status_code=400,
            )
        cid, mi = picked
        resource = params["resource"]
        if resource.endswith("/.default"):
            resource = resource[: -len("/.default")]
        access, exp = issue_access_token(
            signer,
            tenant,
            {"client_id": cid, "oid": mi["oid"]},
            resource,
            idtyp="app",
            ttl=knobs.token_ttl,
        )
        return JSONResponse(
            {
                "access_token": access,
                "expires_on": str(exp),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": cid,
            }
        )

    return Starlette(
        routes=[
            Route("/common/discovery/instance", instance_discovery, methods=["GET"]),
            Route("/{tenant}/v2.0/.well-known/openid-configuration", openid, methods=["GET"]),
            Route("/{tenant}/.well-known/openid-configuration", openid, methods=["GET"]),
            Route("/{tenant}/discovery/v2.0/keys", keys, methods=["GET"]),
            Route("/{tenant}/discovery/keys", keys, methods=["GET"]),
            Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
            Route("/{tenant}/oauth2/token", token, methods=["POST"]),
            Route("/{tenant}/msi/token", msi_token, methods=["GET"]),
        ]
    )


def verify_entra_token(
    signer: Signer, token: str, audiences: set[str]
) -> tuple[dict[str, Any] | None, str]:
    """(claims, "") for a valid Entra token whose aud is in `audiences` (trailing slashes
    ignored), else (None, ARM error code)."""
    try:
        claims = signer.verify(token)
    except jwt.ExpiredSignatureError:
        return None, "ExpiredAuthenticationToken"
    except jwt.InvalidTokenError:
        return None, "InvalidAuthenticationToken"
    aud = str(claims.get("aud", "")).rstrip("/")
    if aud not in {a.rstrip("/") for a in audiences}:
        return None, "InvalidAuthenticationTokenAudience"
    if not claims.get("tid") or not claims.get("oid"):
        return None, "InvalidAuthenticationToken"
    return claims, ""
