"""Target tenant: check that the target holds every manifest row with the same digest, and
report drift: rows whose tag moved or is gone in the source since the export."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.states import Completed, Failed, State

from acr_migrate.models import ImageRow, RegistryEndpoint
from acr_migrate.ports import TargetState
from acr_migrate.preflight import Need, refusal
from acr_migrate.report import validation_csv, validation_markdown
from acr_migrate.settings import ImportOptions
from acr_migrate.storage import ManifestLocation, StorageSettings
from acr_migrate.validate import SourceNow, validate_rows
from flows.artifacts import artifact_key, markdown, run_tag
from tasks.handover import resolve_manifest, upload_report
from tasks.inventory import read_source_now, read_target
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
    at any time. The CSV goes next to the manifest (``validation-<run>.csv``). With
    ``options.check_drift`` the source is read too (with the import's pull login): tags moved
    or deleted there since the export are drift, reported apart and never a failure; a source
    that cannot be read is "not checked"."""
    problems = preflight(storage, [Need(target, "target")])
    if problems:
        return Failed(message=refusal(problems))
    location, rows = resolve_manifest(storage, source.name, manifest)
    return check_target(source, target, storage, location, rows, options, read_target(target, rows))


def check_target(
    source: RegistryEndpoint,
    target: RegistryEndpoint,
    storage: StorageSettings,
    location: ManifestLocation,
    rows: list[ImageRow],
    options: ImportOptions,
    target_state: TargetState,
) -> State:
    """Compare ``target_state`` (the target as read) with the manifest's rows; the CSV next to
    the manifest, the markdown artifact, drift in the log. Completed or Failed, the report as
    its data."""
    image_filter = options.image_filter()
    if options.check_drift:
        # excluded rows are not read; referrers go with their image, whatever their own tag
        in_scope = [
            r for r in rows if r.subject or image_filter.reason(r.repository, r.tag) is None
        ]
        source_now = read_source_now(source, in_scope)
    else:
        source_now = SourceNow.unread("check_drift is off")
    report = validate_rows(rows, target_state, image_filter, source_now)
    name = f"validation-{run_tag()}.csv"
    report.url = upload_report(storage, location, name, validation_csv(report))
    text = validation_markdown(
        report, target=target.login_server, manifest=location.blob, url=report.url
    )
    markdown(artifact_key("validate", target.name), text, "Validation")
    logger = get_run_logger()
    logger.info("validation: %s; %s", report.counts(), report.drift_text())
    for line in report.drift_lines(20):
        logger.warning("drift (not a failure): %s", line)
    if not report.ok:
        first = report.problem_lines(1)[0]
        message = f"{len(report.problems())} row(s) missing or different; {first}"
        return Failed(message=f"{message}; {report.drift_text()}", data=report)
    message = f"{report.counts()['ok']} rows match; {report.drift_text()}"
    return Completed(message=message, data=report)
