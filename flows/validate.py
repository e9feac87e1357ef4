"""Target tenant: check that the target holds every manifest row with the same digest."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.states import Completed, Failed, State

from acr_migrate.models import RegistryEndpoint
from acr_migrate.preflight import Need, refusal
from acr_migrate.report import validation_csv, validation_markdown
from acr_migrate.settings import ImportOptions
from acr_migrate.storage import ManifestLocation, StorageSettings
from acr_migrate.validate import validate_rows
from flows.artifacts import artifact_key, markdown, run_tag
from tasks.handover import resolve_manifest, upload_report
from tasks.inventory import read_target
from tasks.preflight import preflight


@flow(name="validate", log_prints=False)
def validate(
    source: RegistryEndpoint,
    target: RegistryEndpoint,
    storage: StorageSettings,
    manifest: ManifestLocation | None = None,
    options: ImportOptions = ImportOptions(),  # noqa: B008 - pydantic defaults are immutable
) -> State:
    """Re-inventory the target and compare digests and tags with the manifest.

    ``target-import`` runs it as a subflow after the images; on its own it checks a target
    at any time. The CSV goes next to the manifest (``validation-<run>.csv``)."""
    problems = preflight(storage, [Need(target, "target")])
    if problems:
        return Failed(message=refusal(problems))
    location, rows = resolve_manifest(storage, source.name, manifest)
    report = validate_rows(rows, read_target(target, rows), options.image_filter())
    name = f"validation-{run_tag()}.csv"
    report.url = upload_report(storage, location, name, validation_csv(report))
    text = validation_markdown(
        report, target=target.login_server, manifest=location.blob, url=report.url
    )
    markdown(artifact_key("validate", target.name), text, "Validation")
    get_run_logger().info("validation: %s", report.counts())
    if not report.ok:
        first = report.problem_lines(1)[0]
        message = f"{len(report.problems())} row(s) missing or different; {first}"
        return Failed(message=message, data=report)
    return Completed(message=f"{report.counts()['ok']} rows match", data=report)
