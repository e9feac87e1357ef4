"""Target tenant: check that the target holds every manifest row with the same digest."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State

from acr_migrate.models import RegistryEndpoint
from acr_migrate.preflight import Need, refusal
from acr_migrate.report import validation_csv
from acr_migrate.settings import ImportOptions
from acr_migrate.storage import ManifestLocation, StorageSettings
from acr_migrate.validate import validate_rows
from flows.artifacts import artifact_key, markdown
from tasks.handover import fetch_manifest, latest_manifest, upload_report
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
    """Re-inventory the target and compare digests and tags with the manifest."""
    logger = get_run_logger()
    problems = preflight(storage, [Need(target, "target")])
    if problems:
        return Failed(message=refusal(problems))
    location = manifest or latest_manifest(storage, source.name)
    rows = fetch_manifest(storage, location)
    report = validate_rows(rows, read_target(target, rows), options.image_filter())
    run = str(flow_run.id or "local")[:8]
    url = upload_report(storage, location, f"validation-{run}.csv", validation_csv(report))
    counts = report.counts()
    lines = [
        f"# Validation of `{target.login_server}`",
        "",
        f"Manifest: `{location.blob}`; report: {url}",
        "",
        ", ".join(f"{k}: {v}" for k, v in counts.items()),
        "",
    ]
    for row in report.problems()[:100]:
        ref = (
            f"{row.repository}:{row.tag}" if row.tag else f"{row.repository}@{row.expected_digest}"
        )
        lines.append(f"- `{ref}`: {row.check.value} (found {row.found_digest or 'nothing'})")
    markdown(artifact_key("validate", target.name), "\n".join(lines) + "\n", "Validation")
    logger.info("validation: %s", counts)
    if not report.ok:
        return Failed(message=f"{len(report.problems())} row(s) missing or different", data=report)
    return Completed(message=f"{counts['ok']} rows match", data=report)
