"""Target tenant: create the new registry to match the documented source configuration."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.states import Completed, Failed, State

from acr_migrate.models import RegistryEndpoint
from acr_migrate.preflight import Need, refusal
from acr_migrate.report import provision_markdown
from acr_migrate.storage import ManifestLocation, StorageSettings
from flows.artifacts import artifact_key, markdown
from tasks.azure import compare_target, provision_target
from tasks.handover import fetch_registry_document
from tasks.preflight import preflight


@flow(name="provision-target", log_prints=False)
def provision_registry(
    source: RegistryEndpoint,
    target: RegistryEndpoint,
    storage: StorageSettings,
    manifest: ManifestLocation | None = None,
    dry_run: bool = False,
) -> State:
    """Create ``target`` from the source's ``registry.json`` (latest export if unset).

    Checks the name (ACR names are global), creates the registry and its replications,
    webhooks, scope maps, tokens and cache rules, then compares field by field. What cannot be
    mirrored is listed with what the operator must do; nothing is silently dropped.
    """
    problems = preflight(storage, [Need(target, "target", must_exist=False, reach=False)])
    if problems:
        return Failed(message=refusal(problems))
    blob, exported = fetch_registry_document(storage, source.name, manifest)
    document = exported.get("azure")
    if not document:
        return Failed(
            message=f"{blob} has no ARM documentation: export from an Azure registry "
            "([source.azure]) to provision from it"
        )
    report = provision_target(target, document, dry_run)
    diffs = [] if dry_run else compare_target(target, document)
    text = provision_markdown(report, diffs)
    markdown(artifact_key("provision", target.name), text, f"Provisioning of {target.name}")
    get_run_logger().info(
        "provisioned %s: created=%s, %d sub-resources, %d gap(s)",
        report.registry,
        report.created,
        len(report.children_created),
        len(report.gaps),
    )
    if diffs:
        return Failed(message=f"target differs from the source: {diffs[0]}", data=report)
    return Completed(message=report.message(), data=report)
