"""Source tenant: inventory the registry and hand the manifest over in blob storage."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.events import emit_event
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State
from pydantic import BaseModel

from acr_migrate.changes import ManifestChanges, diff_manifests
from acr_migrate.filters import ImageFilter
from acr_migrate.manifest import manifest_metadata, write_manifest
from acr_migrate.models import RegistryEndpoint
from acr_migrate.preflight import Need, refusal
from acr_migrate.settings import ExportOptions
from acr_migrate.storage import ManifestLocation, StorageSettings, new_export_id
from flows.artifacts import artifact_key, manifest_link, markdown, table
from tasks.azure import document_source
from tasks.handover import previous_manifest, publish_manifest
from tasks.inventory import inventory_registry
from tasks.preflight import preflight


class ExportSummary(BaseModel):
    """What the export produced."""

    source: str
    rows: int
    repositories: int
    manifests: int
    location: ManifestLocation | None
    url: str
    dry_run: bool
    notes: list[str]
    changes: dict[str, int] | None = None


@flow(name="source-export", log_prints=False)
def source_export(
    source: RegistryEndpoint,
    storage: StorageSettings,
    options: ExportOptions = ExportOptions(),  # noqa: B008 - pydantic defaults are immutable
) -> State:
    """Inventory every repository, tag and manifest of ``source``; write the CSV manifest."""
    logger = get_run_logger()
    problems = preflight(
        None if options.dry_run else storage,
        [Need(source, "source")],
        container_must_exist=False,
    )
    if problems:
        return Failed(message=refusal(problems))
    document: dict | None = None
    if source.azure is not None:
        # Preflight: fails here, before anything is written, when content trust is on.
        document, findings = document_source(source)
    rows, notes = inventory_registry(source, options.include, options.exclude)
    if source.azure is not None:
        notes = [*notes, *findings]
    data = write_manifest(rows)
    now = datetime.now(UTC)
    run_id = str(flow_run.id or "")
    metadata = manifest_metadata(
        data, source.login_server, row_count=len(rows), exported_at=now, flow_run_id=run_id
    )
    per_repo = Counter(r.repository for r in rows)
    registry_doc = {
        "name": source.name,
        "login_server": source.login_server,
        "url": source.url,
        "inventory": "acr" if document is not None else "oci",
        "exported_at": metadata["exported_at"],
        "repositories": len(per_repo),
        "rows": len(rows),
        "notes": notes,
        "azure": document,
    }
    changes = _changes_since_last(storage, source.name, rows, options)
    location: ManifestLocation | None = None
    url = ""
    if options.dry_run:
        logger.info("dry run: %d rows inventoried, nothing written", len(rows))
    else:
        export_id = new_export_id(now, uuid.uuid4().hex[:6])
        location, url = publish_manifest(
            storage,
            source.name,
            export_id,
            data,
            metadata,
            json.dumps(registry_doc, indent=2).encode(),
        )
        manifest_link(source.name, url, f"{len(rows)} rows exported at {metadata['exported_at']}")
        logger.info("manifest written to %s (%d rows)", url, len(rows))
        _announce(source, location, url, len(rows))
    summary = ExportSummary(
        source=source.login_server,
        rows=len(rows),
        repositories=len(per_repo),
        manifests=len({(r.repository, r.digest) for r in rows}),
        location=location,
        url=url,
        dry_run=options.dry_run,
        notes=notes,
        changes=changes.counts() if changes else None,
    )
    table(
        artifact_key("export", source.name, "repositories"),
        [{"repository": repo, "rows": count} for repo, count in sorted(per_repo.items())],
        f"Repositories of {source.login_server}",
    )
    report = _report(summary) + ("\n" + changes.markdown() if changes else "")
    kind = "dry-run" if options.dry_run else "report"
    markdown(artifact_key("export", source.name, kind), report, f"Export {kind}")
    return Completed(
        message=f"{summary.rows} rows ({summary.manifests} manifests, {summary.repositories} "
        f"repositories) -> {url or 'dry run: not written'}",
        data=summary,
    )


#: The event that hands a finished export over to the target tenant.
EXPORT_COMPLETED = "acr-migrate.export.completed"


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
    storage: StorageSettings, source_name: str, rows: list, options: ExportOptions
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


def _report(summary: ExportSummary) -> str:
    lines = [
        f"# Export {'dry run' if summary.dry_run else 'report'}: `{summary.source}`",
        "",
        f"- repositories: {summary.repositories}",
        f"- rows (tags and untagged manifests): {summary.rows}",
        f"- unique manifests: {summary.manifests}",
        f"- manifest: {summary.url or '(dry run: not written)'}",
    ]
    if summary.notes:
        lines += ["", "## What this inventory cannot see", ""]
        lines += [f"- {note}" for note in summary.notes]
    return "\n".join(lines) + "\n"
