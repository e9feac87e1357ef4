"""Target tenant, cutover: re-create the source registry's role assignments on the new one.

The source's registry-scope assignments come from its documented ``registry.json``; the
principal mapping (a CSV in the container) says who each source principal is in the target
tenant, or ``drop``. Unmapped principals are listed, never guessed; a rerun creates nothing.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.states import Completed, Failed, State

from acr_migrate.models import ConfigError, RegistryEndpoint
from acr_migrate.preflight import Need, refusal
from acr_migrate.rbac import Decision, plan_assignments, rbac_markdown
from acr_migrate.storage import ManifestLocation, StorageSettings
from flows.artifacts import artifact_key, markdown
from tasks.handover import fetch_registry_document
from tasks.preflight import preflight
from tasks.rbac import create_assignments, principal_mapping, target_assignments


@flow(name="reconnect-rbac", log_prints=False)
def reconnect_rbac(
    source: RegistryEndpoint,
    target: RegistryEndpoint,
    storage: StorageSettings,
    manifest: ManifestLocation | None = None,
    mapping_blob: str = "",
    dry_run: bool = False,
) -> State:
    """Create on ``target`` the documented role assignments of ``source`` whose principals the
    mapping names (``mapping_blob``, else ``<source>/principal-mapping.csv``)."""
    phase = None if dry_run else "rbac"
    problems = preflight(storage, [Need(target, "target", reach=False, phase=phase)])
    if problems:
        return Failed(message=refusal(problems))
    blob, exported = fetch_registry_document(storage, source.name, manifest)
    documented = (exported.get("azure") or {}).get("role_assignments")
    if documented is None:
        return Failed(
            message=f"{blob} holds no role assignments of the source (not an ACR, or "
            "the documenting identity could not read them): export again"
        )
    try:
        mapping = principal_mapping(storage, source.name, mapping_blob)
    except ConfigError as exc:
        return Failed(message=str(exc))
    plan = plan_assignments(documented, mapping, target_assignments(target))
    todo = [p for p in plan if p.decision is Decision.CREATE]
    created = [] if dry_run or not todo else create_assignments(target, todo)
    text = rbac_markdown(target.login_server, plan, dry_run)
    markdown(artifact_key("rbac", target.name), text, f"Role assignments on {target.name}")
    unmapped = sorted({p.source_principal for p in plan if p.decision is Decision.UNMAPPED})
    if unmapped:
        get_run_logger().warning("unmapped principals (nothing assigned): %s", ", ".join(unmapped))
    verb = "to create" if dry_run else "created"
    return Completed(
        message=f"{len(todo)} assignment(s) {verb} ({sum(created)} new), "
        f"{len(plan) - len(todo)} not created, {len(unmapped)} unmapped principal(s)"
    )
