"""Target tenant: create the new registry to match the documented source configuration."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.states import Completed, Failed, State

from acr_migrate.azure.registry_config import ProvisionReport, compare
from acr_migrate.models import RegistryEndpoint
from acr_migrate.preflight import Need, refusal
from acr_migrate.storage import ManifestLocation, StorageSettings
from flows.artifacts import artifact_key, markdown
from tasks.azure import document_target, provision_target
from tasks.handover import fetch_registry_document, latest_manifest
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
    logger = get_run_logger()
    problems = preflight(storage, [Need(target, "target", must_exist=False, reach=False)])
    if problems:
        return Failed(message=refusal(problems))
    location = manifest or latest_manifest(storage, source.name)
    exported = fetch_registry_document(storage, location)
    document = exported.get("azure")
    if not document:
        return Failed(
            message=f"{location.sibling('registry.json')} has no ARM documentation: "
            "export from an Azure registry ([source.azure]) to provision from it"
        )
    report = provision_target(target, document, dry_run)
    diffs: list[str] = []
    if not dry_run:
        diffs = compare(document, document_target(target))
    markdown(
        artifact_key("provision", target.name),
        _report(report, diffs),
        f"Provisioning of {target.name}",
    )
    logger.info(
        "provisioned %s: created=%s, %d sub-resources, %d gap(s)",
        report.registry,
        report.created,
        len(report.children_created),
        len(report.gaps),
    )
    if diffs:
        return Failed(message=f"target differs from the source: {diffs[0]}", data=report)
    done = "exists" if report.existed else ("would be created" if dry_run else "created")
    return Completed(
        message=f"{report.registry} {done}, {len(report.children_created)} sub-resource(s) "
        f"{'to create' if dry_run else 'created'}; {len(report.gaps)} item(s) need the operator",
        data=report,
    )


def _report(report: ProvisionReport, diffs: list[str]) -> str:
    head = "Provisioning plan (dry run)" if report.dry_run else "Provisioning"
    state = "already existed" if report.existed else ("created" if report.created else "to create")
    lines = [f"# {head}: `{report.registry}`", "", f"- registry: {state}"]
    lines += [f"- created: `{c}`" for c in report.children_created]
    lines += [f"- already there: `{c}`" for c in report.children_existing]
    if diffs:
        lines += ["", "## Differences after provisioning", ""] + [f"- {d}" for d in diffs]
    if report.gaps:
        lines += ["", "## Not mirrored: what you must do", "", "| what | why | action |"]
        lines += ["|---|---|---|"]
        lines += [f"| {g.what} | {g.why} | {g.action} |" for g in report.gaps]
    return "\n".join(lines) + "\n"
