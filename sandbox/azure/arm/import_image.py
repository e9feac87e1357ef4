"""``importImage``: a ``Location``-polled long-running operation that really copies the image
between the backing registries (by ``resourceId`` or ``registryUri`` + credentials; ``NoForce``
or ``Force``; at most 50 manifests in an index)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sandbox.azure.arm.common import arm_error, num, read_json
from sandbox.azure.arm.operations import Operation, op_location
from sandbox.azure.arm.state import Arm
from sandbox.azure.backend import copy_manifest, is_index
from sandbox.azure.resources import PROVIDER
from sandbox.azure.store import ARM_READ_ROLES


def _repository_of(src_image: str) -> str:
    repo, sep, _ = src_image.partition("@")
    return repo if sep else src_image.partition(":")[0]


async def import_image(
    arm: Arm, request: Request, claims: dict[str, Any], rec: dict[str, Any], api: str
) -> Response:
    """Start an import: 202 + ``Location`` of its operation; the copy runs in the background."""
    if not arm.faults.import_admitted():
        ra = num(max(1.0, 1.0 / max(arm.faults.config.import_rate_per_second, 1e-3)))
        return arm_error(
            429,
            "TooManyRequests",
            "Too many import requests for this registry; retry later. (sandbox import rate limit)",
            {"Retry-After": ra},
        )
    body = await read_json(request)
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
        src_rec = arm.store.registry_by_id(str(source["resourceId"]))
        linked_ok = False
        if src_rec is not None and src_rec["tenant"] == claims["tid"]:
            roles = arm.store.principal_roles(
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
        src_slot = arm.ctx.slot_of_login_server(str(source["registryUri"]))
        if src_slot is None:
            return arm_error(
                400,
                "InvalidParameters",
                f"sandbox: registryUri '{source['registryUri']}' is not a sandbox registry "
                "(no internet registries here).",
            )
        cred = source.get("credentials") or {}
        got = (
            arm.ctx.authenticate_password(
                src_slot, str(cred.get("username") or ""), str(cred.get("password") or "")
            )
            if cred
            else None
        )
        creds_ok = got is not None and got.allows(_repository_of(src_image), "pull")
        if not cred:
            src_reg = arm.ctx.slot_registry(src_slot)
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
    # By digest, the digest is what is copied (never a tag resolved now); by tag, the tag is
    # resolved when the copy runs. Spec ImportImageParameters.targetTags: "When tag is
    # omitted the source will be used (or 'latest' if source tag is also omitted)".
    targets: list[tuple[str, str]] = []
    for t in body.get("targetTags") or []:
        t_repo, _, t_tag = str(t).partition(":")
        targets.append((t_repo, t_tag or (ref if not sep else "latest")))
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
        min_polls=arm.faults.config.lro_min_polls,
    )
    arm.ops[op.id] = op
    arm.faults.counters.imports_started += 1
    job = asyncio.create_task(
        run_import(
            arm,
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
    arm.tasks.add(job)
    job.add_done_callback(arm.tasks.discard)
    return Response(
        "null",
        status_code=202,
        media_type="application/json; charset=utf-8",
        headers={
            "Location": op_location(arm, op),
            "Retry-After": num(arm.faults.config.lro_retry_after),
        },
    )


def fail_op(arm: Arm, op: Operation, status: int, code: str, message: str) -> None:
    op.result_status = status
    op.result = {"error": {"code": code, "message": message}, "status": "Failed"}
    op.done = True
    arm.faults.counters.imports_failed += 1


async def run_import(
    arm: Arm,
    op: Operation,
    src_slot: str,
    creds_ok: bool,
    repo: str,
    ref: str,
    target_slot: str,
    targets: list[tuple[str, str]],
    untagged: list[str],
    mode: str,
    target_id: str,
) -> None:
    """Copy the image between the backing registries and finish ``op`` (Succeeded or
    Failed)."""
    src, dst = arm.ctx.backends[src_slot], arm.ctx.backends[target_slot]
    dst_index = arm.ctx.indexes[target_slot]
    label = ", ".join(op.pending)
    try:
        async with arm.import_gate:
            if not creds_ok:
                # Assumed code (no public recording): the source registry refused us.
                fail_op(
                    arm,
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
                    arm,
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
                    arm,
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
                            arm,
                            op,
                            409,
                            "TagAlreadyExists",
                            f"Operation {op.id} failed. "
                            f"Resource {target_id} {t_repo}:{t_tag} Tag "
                            f"{t_repo}:{t_tag} already exists in target registry.",
                        )
                        return
            repos = sorted({r for r, _ in targets} | set(untagged))
            if arm.faults.lro_should_fail(repos):
                arm.faults.counters.lro_failures_injected += 1
                arm.faults.counters.imports_failed += 1
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
            arm.faults.counters.imports_completed += 1
    except Exception as exc:  # an internal error: logged (fails the test) and answered 500
        arm.ctx.record_error(f"importImage {op.id} {label}", exc)
        fail_op(arm, op, 500, "InternalServerError", f"Operation {op.id} failed: {exc!r}")
