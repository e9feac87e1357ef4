"""Either tenant, the runbook's last step: take back the access granted for the migration.

Every role assignment on the registry held by one of the named migration identities (their
object ids) is removed, and the report lists each. Others' assignments are never touched; a
rerun finds nothing left.
"""

from __future__ import annotations

from prefect import flow
from prefect.states import Completed, Failed, State

from acr_migrate.models import ConfigError, RegistryEndpoint
from acr_migrate.rbac import check_principals, granted_to, revoke_markdown
from flows.artifacts import artifact_key, markdown
from tasks.rbac import remove_assignments, target_assignments


@flow(name="revoke-access", log_prints=False)
def revoke_access(
    registry: RegistryEndpoint, principals: list[str], dry_run: bool = False
) -> State:
    """Remove every role assignment on ``registry`` held by ``principals`` (object ids of the
    identities the migration was given access with)."""
    try:
        wanted = check_principals(principals)
    except ConfigError as exc:
        return Failed(message=str(exc))
    found = granted_to(target_assignments(registry), wanted)
    removed = [] if dry_run or not found else remove_assignments(registry, [a["id"] for a in found])
    text = revoke_markdown(registry.login_server, found, dry_run)
    markdown(artifact_key("revoke", registry.name), text, f"Access revoked on {registry.name}")
    verb = "would remove" if dry_run else "removed"
    return Completed(
        message=f"{verb} {len(found) if dry_run else sum(removed)} role assignment(s) of "
        f"{len(wanted)} principal(s) on {registry.name}"
    )
