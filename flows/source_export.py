"""Source tenant: inventory the registry and hand the manifest over in blob storage."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.events import emit_event
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State

from acr_migrate.changes import ManifestChanges, diff_manifests
from acr_migrate.filters import ImageFilter
from acr_migrate.freeze import FreezeOptions
from acr_migrate.manifest import manifest_metadata, registry_document, write_manifest
from acr_migrate.models import ImageRow, RegistryEndpoint
from acr_migrate.preflight import Need, refusal
from acr_migrate.report import export_markdown
from acr_migrate.settings import ExportOptions
from acr_migrate.storage import ManifestLocation, StorageSettings, new_export_id
from acr_migrate.summaries import ExportSummary
from flows.artifacts import artifact_key, manifest_link, markdown, table
from flows.freeze import freeze_source
from tasks.azure import document_source
from tasks.handover import previous_manifest, publish_manifest
from tasks.inventory import inventory_registry
from tasks.preflight import preflight

#: The event that hands a finished export over to the target tenant.
EXPORT_COMPLETED = "acr-migrate.export.completed"


@flow(name="source-export", log_prints=False)
def source_export(
    source: RegistryEndpoint,
    storage: StorageSettings,
    options: ExportOptions = ExportOptions(),  # noqa: B008 - pydantic defaults are immutable
) -> State:
    """Inventory every repository, tag and manifest of ``source``; write the CSV manifest,
    ``registry.json`` beside it, and announce it to the target tenant."""
    problems = preflight(
        None if options.dry_run else storage, [Need(source, "source")], container_must_exist=False
    )
    if problems:
        return Failed(message=refusal(problems))
    if options.freeze and not options.dry_run:
        scope = FreezeOptions(include=options.include, exclude=options.exclude)
        frozen = freeze_source(source, storage, scope, return_state=True)
        if not frozen.is_completed():
            return Failed(message=f"not exported: the freeze failed: {frozen.message}")
    # An ACR's configuration; fails here, before anything is written, when content trust is on.
    document, findings = document_source(source)
    rows, notes = inventory_registry(source, options.include, options.exclude)
    notes = [*notes, *findings]
    changes = _changes_since_last(storage, source.name, rows, options)
    location, url = None, ""
    if options.dry_run:
        get_run_logger().info("dry run: %d rows inventoried, nothing written", len(rows))
    else:
        location, url = _publish(source, storage, rows, notes, document)
    summary = ExportSummary.of(
        source.login_server,
        rows,
        location=location,
        url=url,
        dry_run=options.dry_run,
        notes=notes,
        changes=changes.counts() if changes else None,
    )
    _report(source, rows, summary, changes)
    return Completed(message=summary.message(), data=summary)


def _publish(
    source: RegistryEndpoint,
    storage: StorageSettings,
    rows: list[ImageRow],
    notes: list[str],
    document: dict[str, Any] | None,
) -> tuple[ManifestLocation, str]:
    """Write the manifest and ``registry.json``, link them, announce them."""
    data = write_manifest(rows)
    now = datetime.now(UTC)
    metadata = manifest_metadata(
        data,
        source.login_server,
        row_count=len(rows),
        exported_at=now,
        flow_run_id=str(flow_run.id or ""),
    )
    registry_json = registry_document(
        source, rows, exported_at=metadata["exported_at"], notes=notes, azure=document
    )
    export_id = new_export_id(now, uuid.uuid4().hex[:6])
    location, url = publish_manifest(storage, source.name, export_id, data, metadata, registry_json)
    manifest_link(source.name, url, f"{len(rows)} rows exported at {metadata['exported_at']}")
    get_run_logger().info("manifest written to %s (%d rows)", url, len(rows))
    _announce(source, location, url, len(rows))
    return location, url


def _report(
    source: RegistryEndpoint,
    rows: list[ImageRow],
    summary: ExportSummary,
    changes: ManifestChanges | None,
) -> None:
    per_repo = Counter(r.repository for r in rows)
    table(
        artifact_key("export", source.name, "repositories"),
        [{"repository": repo, "rows": count} for repo, count in sorted(per_repo.items())],
        f"Repositories of {source.login_server}",
    )
    kind = "dry-run" if summary.dry_run else "report"
    markdown(
        artifact_key("export", source.name, kind),
        export_markdown(summary, changes),
        f"Export {kind}",
    )


def _announce(source: RegistryEndpoint, location: ManifestLocation, url: str, rows: int) -> None:
    """Tell Prefect where the manifest is; a deployment trigger starts the import dry-run."""
    emit_event(
        event=EXPORT_COMPLETED,
        resource={
            "prefect.resource.id": f"acr-migrate.registry.{artifact_key(source.name)}",
            "prefect.resource.name": source.name,
            "acr-migrate.login-server": source.login_server,
        },
        payload={
            "source": source.name,
            "manifest": location.model_dump(mode="json"),
            "url": url,
            "rows": rows,
        },
    )


def _changes_since_last(
    storage: StorageSettings, source_name: str, rows: list[ImageRow], options: ExportOptions
) -> ManifestChanges | None:
    """New, moved and deleted tags since the latest manifest (None if it cannot be read)."""
    state = previous_manifest(storage, source_name, return_state=True)
    if not state.is_completed():
        get_run_logger().warning("previous manifest unreadable: %s", state.message)
        return None
    location, old_rows = state.result()
    keep = ImageFilter.from_patterns(options.include, options.exclude)
    old_rows = [r for r in old_rows if keep.reason(r.repository, "") is None]
    return diff_manifests(old_rows, rows, previous_blob=location.blob if location else "")
