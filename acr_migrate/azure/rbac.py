"""Role assignments on an ACR through ARM (``Microsoft.Authorization/roleAssignments``)."""

from __future__ import annotations

from typing import Any

from azure.core.rest import HttpRequest
from azure.mgmt.containerregistry import ContainerRegistryManagementClient

from acr_migrate.azure.document import ROLE_API, role_assignments
from acr_migrate.azure.settings import AcrRegistryRef
from acr_migrate.errors import MigrationError
from acr_migrate.rbac import PlannedAssignment


def registry_assignments(
    arm: ContainerRegistryManagementClient, ref: AcrRegistryRef
) -> list[dict[str, Any]]:
    """The assignments on the registry itself; an error when the identity may not read them."""
    gaps: list[dict[str, Any]] = []
    found = role_assignments(arm, ref, gaps)
    if found is None:
        raise MigrationError(
            f"cannot read the role assignments of registry {ref.registry!r}: grant the identity "
            "Microsoft.Authorization/roleAssignments/read (Reader) on it"
        )
    return found


def assign(
    arm: ContainerRegistryManagementClient, ref: AcrRegistryRef, planned: PlannedAssignment
) -> bool:
    """Create ``planned`` on the registry; False when an equal assignment is already there."""
    url = (
        f"{ref.resource_manager.rstrip('/')}{ref.resource_id}/providers/"
        f"Microsoft.Authorization/roleAssignments/{planned.name(ref.resource_id)}"
        f"?api-version={ROLE_API}"
    )
    response = arm.send_request(HttpRequest("PUT", url, json=planned.body(ref.subscription_id)))
    if response.status_code in (200, 201):
        return True
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    if response.status_code == 409 and error.get("code") == "RoleAssignmentExists":
        return False
    raise MigrationError(
        f"ARM refused role {planned.role} for principal {planned.target_principal} on "
        f"{ref.registry!r} (HTTP {response.status_code} {error.get('code', '')}): "
        f"{str(error.get('message') or response.text())[:300]}"
    )


def unassign(
    arm: ContainerRegistryManagementClient, ref: AcrRegistryRef, assignment_id: str
) -> bool:
    """Delete one role assignment by its id; False when it was already gone."""
    url = f"{ref.resource_manager.rstrip('/')}{assignment_id}?api-version={ROLE_API}"
    response = arm.send_request(HttpRequest("DELETE", url))
    if response.status_code == 200:
        return True
    if response.status_code in (204, 404):
        return False
    raise MigrationError(
        f"ARM refused to delete role assignment {assignment_id} (HTTP {response.status_code}): "
        f"{response.text()[:300]}"
    )
