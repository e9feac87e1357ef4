"""Source tenant: inventory the registry and hand the manifest over in blob storage."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from pydantic import BaseModel

from acr_migrate.manifest import manifest_metadata, write_manifest
from acr_migrate.models import RegistryEndpoint
from acr_migrate.settings import ExportOptions
from acr_migrate.storage import ManifestLocation, StorageSettings, new_export_id
from flows.artifacts import artifact_key, manifest_link, markdown, table
from tasks.azure import document_source
from tasks.handover import publish_manifest
from tasks.inventory import inventory_registry


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


@flow(name="source-export", log_prints=False)
def source_export(
    source: RegistryEndpoint,
    storage: StorageSettings,
    options: ExportOptions = ExportOptions(),  # noqa: B008 - pydantic defaults are immutable
) -> ExportSummary:
    """Inventory every repository, tag and manifest of ``source``; write the CSV manifest."""
    logger = get_run_logger()
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
    summary = ExportSummary(
        source=source.login_server,
        rows=len(rows),
        repositories=len(per_repo),
        manifests=len({(r.repository, r.digest) for r in rows}),
        location=location,
        url=url,
        dry_run=options.dry_run,
        notes=notes,
    )
    table(
        artifact_key("export", source.name, "repositories"),
        [{"repository": repo, "rows": count} for repo, count in sorted(per_repo.items())],
        f"Repositories of {source.login_server}",
    )
    markdown(artifact_key("export", source.name, "report"), _report(summary), "Export report")
    return summary


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
