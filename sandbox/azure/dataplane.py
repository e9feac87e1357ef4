"""ACR data-plane stand-in for one registry slot ("source" or "target").

``/v2/`` challenge and token endpoints as ACR has them (``/oauth2/exchange``,
``/oauth2/token`` POST and GET), ``/acr/v1/...`` metadata API from
:mod:`sandbox.azure.index`, and a streaming ``/v2/*`` passthrough to the backing registry
with the stand-in's own credentials. Repository/tag/manifest ``changeableAttributes`` are
enforced on requests through this port.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.azure.context import ALL_ACTIONS, Context, Grant
from sandbox.azure.entra import verify_entra_token
from sandbox.azure.index import Index, visible
from sandbox.azure.tokens import iso, now
from sandbox.fault_proxy import HOP_BY_HOP, forward
from sandbox.token_server import parse_scope

V2_ROUTES = [
    (kind, re.compile(pattern))
    for kind, pattern in (
        ("manifests", r"^/v2/(?P<repo>.+)/manifests/(?P<rest>[^/]+)$"),
        ("blobs", r"^/v2/(?P<repo>.+)/blobs/(?P<rest>uploads/.*)$"),
        ("blobs", r"^/v2/(?P<repo>.+)/blobs/(?P<rest>[^/]+)$"),
        ("tags", r"^/v2/(?P<repo>.+)/tags/(?P<rest>list)$"),
        ("referrers", r"^/v2/(?P<repo>.+)/referrers/(?P<rest>[^/]+)$"),
    )
]
ACR_RE = re.compile(r"^/acr/v1/(?P<repo>.+?)(?:/(?P<kind>_tags|_manifests)(?:/(?P<ref>[^/]+))?)?$")
EXPOSE = (
    "Docker-Content-Digest, WWW-Authenticate, Link, X-Ms-Correlation-Request-Id, OCI-Subject, "
    "OCI-Filters-Applied"
)
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
REFRESH_TTL = 3 * 3600
ACCESS_TTL = 75 * 60
MAX_MANIFEST = 4 * 1024 * 1024
DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
SHA256_RE = re.compile(r"^sha256:[a-f0-9]{64}$")  # image-spec: a registered algorithm's form
# Assumed (no public recording): what ACR answers a write to a locked repository/tag/manifest.
LOCKED = ("DENIED", "The operation is disallowed on this registry, repository or image.")


def _headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        "Docker-Distribution-Api-Version": "registry/2.0",
        "Access-Control-Expose-Headers": EXPOSE,
        "X-Content-Type-Options": "nosniff",
        "X-Ms-Correlation-Request-Id": str(uuid.uuid4()),
        **(extra or {}),
    }


def acr_error(status: int, code: str, message: str, detail: Any = None, **hdrs: str) -> Response:
    body = {"errors": [{"code": code, "message": message, "detail": detail}]}
    return JSONResponse(body, status_code=status, headers=_headers(hdrs))


def _basic(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, pw = base64.b64decode(value.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, pw) if sep else None


async def _form(request: Request) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs((await request.body()).decode()).items()}


def _page(items: list[Any], n: str | None, last: str | None, key: Any) -> tuple[list[Any], bool]:
    if last:
        items = [i for i in items if key(i) > last]
    size = int(n) if n and n.isdigit() and int(n) > 0 else 100
    return items[:size], len(items) > size


def create_app(ctx: Context, slot: str) -> Starlette:
    index: Index = ctx.indexes[slot]
    backend = ctx.backends[slot]
    backend_url = httpx.URL(backend.url)
    last_sync = {"catalog": 0.0}

    def service() -> str:
        return ctx.service(slot)

    def realm() -> str:
        return f"https://{service()}/oauth2/token"

    # ------------------------------------------------------------------ tokens
    def issue_refresh(sub: str, tenant: str, actions: set[str]) -> str:
        t = now()
        claims = {
            "jti": str(uuid.uuid4()),
            "sub": sub,
            "nbf": t - 5,
            "exp": t + REFRESH_TTL,
            "iat": t,
            "iss": f"Azure Container Registry {service()}",
            "aud": service(),
            "version": "1.0",
            "rid": uuid.uuid4().hex,
            "grant_type": "refresh_token",
            "tenant": tenant,
            "actions": sorted(actions),
        }
        return ctx.signer.sign(claims)

    def issue_access(grant: Grant, scope: str) -> str:
        """An access token carrying what ``grant`` allows of the requested ``scope`` (the
        rest is left out, as a distribution token server does)."""
        sub = grant.subject
        granted = []
        for entry in parse_scope(scope):
            ok = grant.granted(entry["type"], entry["name"], set(entry["actions"]))
            if ok:
                granted.append(
                    {"type": entry["type"], "name": entry["name"], "actions": sorted(ok)}
                )
        t = now()
        claims = {
            "jti": str(uuid.uuid4()),
            "sub": sub,
            "nbf": t - 5,
            "exp": t + ACCESS_TTL,
            "iat": t,
            "iss": f"Azure Container Registry {service()}",
            "aud": service(),
            "version": "1.0",
            "grant_type": "access_token",
            "access": granted,
        }
        return ctx.signer.sign(claims)

    def challenge(scope: str | None, message: str | None = None) -> Response:
        value = f'Bearer realm="{realm()}",service="{service()}"'
        detail = None
        if scope:
            value += f',scope="{scope}"'
            detail = [
                {"Type": e["type"], "Name": e["name"], "Action": a}
                for e in parse_scope(scope)
                for a in e["actions"]
            ]
        msg = message or (
            "authentication required, visit https://aka.ms/acr/authorization for more information."
        )
        return acr_error(401, "UNAUTHORIZED", msg, detail, **{"WWW-Authenticate": value})

    def authorized(request: Request, need: tuple[str, str, str] | None) -> bool:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            try:
                claims = ctx.signer.verify(value.strip(), audience=service())
            except Exception:
                return False
            if claims.get("grant_type") != "access_token":
                return False
            if need is None:
                return True
            rtype, name, action = need
            for e in claims.get("access") or []:
                if (
                    e["type"] == rtype
                    and e["name"] == name
                    and (action in e["actions"] or "*" in e["actions"])
                ):
                    return True
            return False
        creds = _basic(request)
        if creds is not None:
            got = ctx.authenticate_password(slot, *creds)
            if got is None:
                return False
            if need is None:
                return True
            rtype, name, action = need
            if rtype == "repository":
                return got.allows(name, action)
            return got.repositories is None and (action in got.actions or "*" in got.actions)
        return False

    # ------------------------------------------------------------------ /oauth2
    async def exchange(request: Request) -> Response:
        form = await _form(request)
        if form.get("grant_type") != "access_token":
            return acr_error(400, "UNSUPPORTED", f"grant_type {form.get('grant_type')!r}")
        claims, err = verify_entra_token(
            ctx.signer,
            form.get("access_token", ""),
            {
                "https://containerregistry.azure.net",
                "https://management.azure.com",
                "https://management.core.windows.net",
            },
        )
        tenant = ctx.slot(slot)["tenant"]
        if claims is None:
            return acr_error(401, "UNAUTHORIZED", f"invalid AAD access token ({err})")
        if claims["tid"] != tenant or (form.get("tenant") and form["tenant"] != tenant):
            return acr_error(
                401,
                "UNAUTHORIZED",
                f"The access token's tenant {claims['tid']} is not the registry's tenant",
            )
        actions = ctx.data_actions(tenant, claims["oid"], ctx.registry_scope(slot))
        if not actions:
            return acr_error(
                401,
                "UNAUTHORIZED",
                "The identity has no role on this registry "
                "(visit https://aka.ms/acr/authorization for more information).",
            )
        return JSONResponse(
            {"refresh_token": issue_refresh(claims["oid"], tenant, actions)}, headers=_headers()
        )

    async def token_post(request: Request) -> Response:
        form = await _form(request)
        grant = form.get("grant_type", "")
        got: Grant | None = None
        if grant == "refresh_token":
            refresh = ctx.verify_refresh(slot, form.get("refresh_token", ""))
            if refresh is not None:
                got = Grant(str(refresh["sub"]), frozenset(refresh.get("actions") or []))
        elif grant == "password":
            got = ctx.authenticate_password(
                slot, form.get("username", ""), form.get("password", "")
            )
        else:
            return acr_error(400, "UNSUPPORTED", f"grant_type {grant!r} is not supported")
        if got is None:
            return acr_error(401, "UNAUTHORIZED", "authentication required")
        body = {"access_token": issue_access(got, form.get("scope", ""))}
        return JSONResponse(body, headers=_headers())

    async def token_get(request: Request) -> Response:
        creds = _basic(request)
        got = ctx.authenticate_password(slot, *creds) if creds else None
        if got is None:
            return acr_error(
                401,
                "UNAUTHORIZED",
                "authentication required",
                **{"WWW-Authenticate": f'Basic realm="{realm()}"'},
            )
        scope = " ".join(request.query_params.getlist("scope"))
        return JSONResponse({"access_token": issue_access(got, scope)}, headers=_headers())

    # ------------------------------------------------------------------ /v2 passthrough
    def locked(repo: str, ref: str | None, attr: str) -> bool:
        rec = index.repo(repo)
        if rec is None:
            return False
        if not rec["attrs"].get(attr, True):
            return True
        if ref:
            tag = rec["tags"].get(ref)
            if tag is not None and not tag["attrs"].get(attr, True):
                return True
            digest = tag["digest"] if tag else ref
            man = rec["manifests"].get(digest)
            if man is not None and not man["attrs"].get(attr, True):
                return True
        return False

    async def v2(request: Request) -> Response:
        path = request.url.path
        method = request.method
        if path in ("/v2", "/v2/"):
            if not authorized(request, None):
                return challenge(None)
            return JSONResponse({}, headers=_headers())
        if path == "/v2/_catalog":
            if not authorized(request, ("registry", "catalog", "*")):
                return challenge("registry:catalog:*")
            return await passthrough(request, (), catalog=True)
        for kind, pattern in V2_ROUTES:  # noqa: B007 (kind used after the loop)
            m = pattern.match(path)
            if m:
                break
        else:
            return acr_error(404, "NAME_UNKNOWN", "repository name not known to registry")
        repo, rest = m["repo"], m["rest"]
        action = {"GET": "pull", "HEAD": "pull", "DELETE": "delete"}.get(method, "push")
        if not authorized(request, ("repository", repo, action)):
            return challenge(f"repository:{repo}:{action}")
        if kind == "referrers":
            if method not in ("GET", "HEAD"):
                return acr_error(405, "UNSUPPORTED", "the referrers API only answers GET")
            return referrers(request, repo, rest)
        if kind == "manifests":
            if method == "PUT":
                if locked(repo, rest, "writeEnabled"):
                    return acr_error(403, *LOCKED)
                return await put_manifest(request, repo, rest)
            if method == "DELETE":
                if locked(repo, rest, "deleteEnabled"):
                    return acr_error(403, *LOCKED)
                resp = await passthrough(request, (repo,))
                if resp.status_code == 202:
                    index.remove_manifest(repo, rest)
                return resp
            if locked(repo, rest, "readEnabled"):
                return acr_error(403, *LOCKED)
        elif (
            kind == "blobs"
            and method not in ("GET", "HEAD")
            and locked(repo, None, "writeEnabled" if method != "DELETE" else "deleteEnabled")
        ):
            return acr_error(403, *LOCKED)
        mounts = tuple(request.query_params.getlist("from"))
        return await passthrough(request, (repo, *mounts))

    def backend_headers(request: Request, repos: tuple[str, ...], catalog: bool) -> list:
        headers = [
            (k, v)
            for k, v in request.headers.items()
            if k.lower() not in HOP_BY_HOP and k.lower() != "authorization"
        ]
        headers.append(("Authorization", backend.authorization(repos, catalog)))
        return headers

    async def passthrough(
        request: Request, repos: tuple[str, ...], catalog: bool = False, content: Any = None
    ) -> Response:
        try:
            return await forward(
                request,
                ctx.client,
                backend_url,
                headers=backend_headers(request, repos, catalog),
                content=content,
            )
        except httpx.HTTPError as exc:
            return acr_error(502, "UNAVAILABLE", f"backend error: {exc!r}")

    def referrers(request: Request, repo: str, digest: str) -> Response:
        """OCI distribution spec v1.1 "Listing Referrers", built from the manifests this
        registry holds whose ``subject`` is ``digest``: never a 404 (an unknown repository or
        digest lists nothing), 400 for a bad digest, ``artifactType`` filtered with
        ``OCI-Filters-Applied``, pages of ``referrers_page_size`` behind ``Link``."""
        if not DIGEST_RE.match(digest) or (
            digest.startswith("sha256:") and not SHA256_RE.match(digest)
        ):
            return acr_error(400, "DIGEST_INVALID", "invalid digest", {"digest": digest})
        items = index.referrers(repo, digest)
        params = request.query_params
        wanted = params.get("artifactType")
        extra: dict[str, str] = {}
        if wanted:
            items = [d for d in items if d.get("artifactType") == wanted]
            extra["OCI-Filters-Applied"] = "artifactType"
        if params.get("last"):
            items = [d for d in items if d["digest"] > params["last"]]
        size = ctx.behaviour.referrers_page_size
        page = items[:size]
        if len(items) > size:
            following = {"last": page[-1]["digest"]}
            if wanted:
                following["artifactType"] = wanted
            query = urlencode(following)
            extra["Link"] = f'</v2/{repo}/referrers/{digest}?{query}>; rel="next"'
        body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": page}
        return Response(json.dumps(body), media_type=OCI_INDEX, headers=_headers(extra))

    async def put_manifest(request: Request, repo: str, ref: str) -> Response:
        data = await request.body()
        if len(data) > MAX_MANIFEST:
            return acr_error(400, "MANIFEST_INVALID", "manifest too large")
        resp = await passthrough(request, (repo,), content=data)
        if resp.status_code == 201:
            digest = "sha256:" + __import__("hashlib").sha256(data).hexdigest()
            media = request.headers.get("content-type", "").split(";")[0]
            entry = index.record_manifest(repo, data, media, digest)
            if not DIGEST_RE.match(ref):
                index.record_tag(repo, ref, digest)
            if entry.get("subject"):
                # Spec "Pushing Manifests with Subject": a registry with the referrers API
                # says it processed the subject, so clients skip the tag schema.
                resp.headers["OCI-Subject"] = entry["subject"]
        return resp

    # ------------------------------------------------------------------ /acr/v1
    def login() -> str:
        return service()

    def link(path: str, last: str, n: str | None, orderby: str) -> dict[str, str]:
        n_val = n or "100"
        return {
            "Link": f'<{path}?last={quote(last, safe="")}&n={n_val}&orderby={orderby}>; rel="next"'
        }

    async def catalog(request: Request) -> Response:
        if not authorized(request, ("registry", "catalog", "*")):
            return challenge("registry:catalog:*")
        if time.monotonic() - last_sync["catalog"] > 1.0:
            await index.sync_catalog(backend)
            last_sync["catalog"] = time.monotonic()
        names = sorted(index.repos)
        params = request.query_params
        page, more = _page(names, params.get("n"), params.get("last"), key=lambda x: x)
        hdrs = link("/acr/v1/_catalog", page[-1], params.get("n"), "") if more and page else {}
        return JSONResponse({"repositories": page}, headers=_headers(hdrs))

    def manifest_body(repo: str, entry: dict[str, Any], full: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "digest": entry["digest"],
            "imageSize": entry.get("imageSize", 0),
            "createdTime": entry["createdTime"],
            "lastUpdateTime": entry["lastUpdateTime"],
        }
        if entry.get("architecture"):
            out["architecture"] = entry["architecture"]
            out["os"] = entry.get("os")
        out["mediaType"] = entry.get("mediaType")
        if full and entry.get("configMediaType"):
            out["configMediaType"] = entry["configMediaType"]
        rec = index.repo(repo) or {"tags": {}}
        tags = [t for t in index.tags_of(repo, entry["digest"]) if visible(rec["tags"][t])]
        if tags:
            out["tags"] = tags
        # Listings carry no references (recorded: acr_dataplane_manifests_page.json); only the
        # single-manifest GET does (spec: ManifestAttributes_v1.references).
        if full and entry.get("references"):
            out["references"] = entry["references"]
        out["changeableAttributes"] = dict(entry["attrs"])
        return out

    def tag_body(name: str, tag: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": name,
            "digest": tag["digest"],
            "createdTime": tag["createdTime"],
            "lastUpdateTime": tag["lastUpdateTime"],
            "signed": False,
            "changeableAttributes": dict(tag["attrs"]),
        }

    def repo_body(repo: str, rec: dict[str, Any]) -> dict[str, Any]:
        return {
            "registry": login(),
            "imageName": repo,
            "createdTime": rec["createdTime"],
            "lastUpdateTime": rec["lastUpdateTime"],
            "manifestCount": len(rec["manifests"]),
            "tagCount": len(rec["tags"]),
            "changeableAttributes": dict(rec["attrs"]),
        }

    def apply_attrs(target: dict[str, Any], body: dict[str, Any]) -> None:
        for key in ("deleteEnabled", "writeEnabled", "readEnabled", "listEnabled"):
            if key in body and body[key] is not None:
                target[key] = bool(body[key])
        ctx.store.save_soon()

    def order(items: list[tuple[str, dict]], orderby: str) -> list[tuple[str, dict]]:
        if orderby == "timedesc":
            return sorted(items, key=lambda kv: kv[1]["lastUpdateTime"], reverse=True)
        if orderby == "timeasc":
            return sorted(items, key=lambda kv: kv[1]["lastUpdateTime"])
        return sorted(items, key=lambda kv: kv[0])

    async def acr(request: Request) -> Response:
        m = ACR_RE.match(request.url.path)
        if not m:
            return acr_error(404, "NAME_UNKNOWN", "not found")
        repo, kind, ref = m["repo"], m["kind"], m["ref"]
        method = request.method
        action = {"GET": "metadata_read", "PATCH": "metadata_write", "DELETE": "delete"}[method]
        if not authorized(request, ("repository", repo, action)):
            return challenge(f"repository:{repo}:{action}")
        if method == "DELETE":
            return acr_error(
                405,
                "UNSUPPORTED",
                "deletion through /acr/v1 is not supported by "
                "the sandbox; delete manifests through /v2/",
            )
        await index.sync_repo(backend, repo)
        rec = index.repo(repo)
        if rec is None:
            return acr_error(
                404, "NAME_UNKNOWN", "repository name not known to registry", {"name": repo}
            )
        params = request.query_params
        orderby = params.get("orderby") or ""

        def one_page(kind: str, items: list) -> tuple[list, dict[str, str]]:
            """The page of ``items`` the query asks for, and the ``Link`` to the next one."""
            page, more = _page(items, params.get("n"), params.get("last"), key=lambda kv: kv[0])
            path = f"/acr/v1/{quote(repo, safe='')}/{kind}"
            return page, link(path, page[-1][0], params.get("n"), orderby) if more and page else {}

        body: dict[str, Any] = {}
        if method == "PATCH":
            try:
                body = json.loads(await request.body() or b"{}")
            except ValueError:
                return acr_error(400, "BAD_REQUEST", "body must be JSON")
        if kind is None:
            if method == "PATCH":
                apply_attrs(rec["attrs"], body)
            return JSONResponse(repo_body(repo, rec), headers=_headers())
        if kind == "_tags":
            if ref is None:
                items = order([kv for kv in rec["tags"].items() if visible(kv[1])], orderby)
                if params.get("digest"):
                    items = [kv for kv in items if kv[1]["digest"] == params["digest"]]
                page, hdrs = one_page("_tags", items)
                out = {
                    "registry": login(),
                    "imageName": repo,
                    "tags": [tag_body(k, v) for k, v in page],
                }
                return JSONResponse(out, headers=_headers(hdrs))
            tag = rec["tags"].get(ref)
            if tag is None or not visible(tag):
                return acr_error(404, "TAG_UNKNOWN", "the specified tag does not exist")
            if method == "PATCH":
                apply_attrs(tag["attrs"], body)
            return JSONResponse(
                {"registry": login(), "imageName": repo, "tag": tag_body(ref, tag)},
                headers=_headers(),
            )
        # _manifests
        if ref is None:
            items = order([kv for kv in rec["manifests"].items() if visible(kv[1])], orderby)
            page, hdrs = one_page("_manifests", items)
            for _, entry in page:
                await index.fill_platform(backend, repo, entry)
            out = {
                "registry": login(),
                "imageName": repo,
                "manifests": [manifest_body(repo, v) for _, v in page],
            }
            return JSONResponse(out, headers=_headers(hdrs))
        tag_entry = rec["tags"].get(ref)
        if tag_entry is not None and not visible(tag_entry):
            return acr_error(404, "MANIFEST_UNKNOWN", "manifest unknown", {"tag": ref})
        digest = tag_entry["digest"] if tag_entry is not None else ref
        entry = rec["manifests"].get(digest)
        if entry is None or not visible(entry):
            return acr_error(404, "MANIFEST_UNKNOWN", "manifest unknown", {"digest": ref})
        if method == "PATCH":
            apply_attrs(entry["attrs"], body)
        await index.fill_platform(backend, repo, entry)
        return JSONResponse(
            {
                "registry": login(),
                "imageName": repo,
                "manifest": manifest_body(repo, entry, full=True),
            },
            headers=_headers(),
        )

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "slot": slot, "time": iso()})

    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(
        routes=[
            Route("/oauth2/exchange", exchange, methods=["POST"]),
            Route("/oauth2/token", token_post, methods=["POST"]),
            Route("/oauth2/token", token_get, methods=["GET"]),
            Route("/acr/v1/_catalog", catalog, methods=["GET"]),
            Route("/acr/v1/{path:path}", acr, methods=["GET", "PATCH", "DELETE"]),
            Route("/v2", v2, methods=methods),
            Route("/v2/{path:path}", v2, methods=methods),
            Route("/_sandbox/health", health, methods=["GET"]),
        ]
    )


ALL = ALL_ACTIONS
