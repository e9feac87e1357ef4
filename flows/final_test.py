"""Target tenant, the runbook's final test: the new registry serves what applications need.

Every manifest of the migration is pulled by digest with a pull-only credential of the new
registry (``puller``: its login server with a token's or service principal's user), one blob
of each is downloaded and checked, and the role assignments the principal mapping planned are
compared with the target's. One report; the run fails when anything is missing.
"""

from __future__ import annotations

from prefect import flow
from prefect.states import Completed, Failed, State

from acr_migrate.final_test import final_test_markdown
from acr_migrate.models import RegistryEndpoint
from acr_migrate.storage import ManifestLocation, StorageSettings
from flows.artifacts import artifact_key, markdown
from tasks.final_test import missing_assignments, pull_every_image
from tasks.handover import resolve_manifest


@flow(name="final-test", log_prints=False)
def final_test(
    source: RegistryEndpoint,
    target: RegistryEndpoint,
    storage: StorageSettings,
    puller: RegistryEndpoint | None = None,
    manifest: ManifestLocation | None = None,
    mapping_blob: str = "",
) -> State:
    """Pull every migrated image from ``target`` as ``puller`` (a pull-only credential; the
    target's own user if unset) and compare the planned role assignments."""
    location, rows = resolve_manifest(storage, source.name, manifest)
    checks = pull_every_image(puller or target, rows)
    missing = missing_assignments(storage, source.name, target, location, mapping_blob)
    text = final_test_markdown(target.login_server, checks, missing or [])
    markdown(artifact_key("final-test", target.name), text, f"Final test of {target.name}")
    failed = [c for c in checks if c.problem]
    rbac = "not compared" if missing is None else f"{len(missing)} role assignment(s) missing"
    if failed or missing:
        first = f" (first: {failed[0].label}: {failed[0].problem})" if failed else ""
        return Failed(
            message=f"final test: {len(failed)} of {len(checks)} pulls failed{first}; {rbac}"
        )
    return Completed(
        message=f"final test: pulled {len(checks)} manifests and a blob of each; {rbac}"
    )
