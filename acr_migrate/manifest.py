"""The CSV manifest (schema version 1): write, read and strict validation.

The manifest is the contract between the source-tenant export and the target-tenant import.
Reading checks the blob metadata (schema version, row count, sha256 of the bytes) and every
cell; the first problem is raised as one :class:`ManifestError` naming the row and column.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from acr_migrate.mediatypes import MANIFEST_TYPES
from acr_migrate.models import ImageRow
from acr_migrate.references import is_digest, is_repository, is_tag

SCHEMA_VERSION = "1"
COLUMNS = (
    "source_registry",
    "repository",
    "tag",
    "digest",
    "media_type",
    "size_bytes",
    "created_at",
    "updated_at",
    "platforms",
)
METADATA_KEYS = (
    "schema_version",
    "row_count",
    "sha256",
    "source_registry",
    "exported_at",
    "flow_run_id",
)
_PLATFORM_RE = re.compile(r"^[a-z0-9._-]+/[a-z0-9._-]+(/[a-zA-Z0-9._-]+)?$")
_TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|\+00:00)$")


class ManifestError(ValueError):
    """The manifest is unusable. ``row`` is 1-based (the header is not a row)."""

    def __init__(self, message: str, row: int | None = None, column: str | None = None):
        where = []
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        prefix = f"manifest {', '.join(where)}: " if where else "manifest: "
        super().__init__(prefix + message)
        self.row = row
        self.column = column


def format_timestamp(value: datetime | None) -> str:
    """ISO 8601 in UTC with a ``Z``; empty for ``None``."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def sort_rows(rows: Iterable[ImageRow]) -> list[ImageRow]:
    """Stable order: repository, then tagged rows by tag, then untagged rows by digest."""
    return sorted(rows, key=lambda r: (r.repository, r.tag == "", r.tag, r.digest))


def write_manifest(rows: Iterable[ImageRow]) -> bytes:
    """Serialise rows as the schema-1 CSV (UTF-8, ``\\n`` line ends)."""
    records = [
        {
            "source_registry": r.source_registry,
            "repository": r.repository,
            "tag": r.tag,
            "digest": r.digest,
            "media_type": r.media_type,
            "size_bytes": str(r.size_bytes),
            "created_at": format_timestamp(r.created_at),
            "updated_at": format_timestamp(r.updated_at),
            "platforms": r.platforms,
        }
        for r in sort_rows(rows)
    ]
    frame = pd.DataFrame(records, columns=list(COLUMNS), dtype=str)
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def manifest_metadata(
    data: bytes,
    source_registry: str,
    *,
    row_count: int,
    exported_at: datetime,
    flow_run_id: str = "",
) -> dict[str, str]:
    """The blob metadata that travels with the CSV bytes."""
    return {
        "schema_version": SCHEMA_VERSION,
        "row_count": str(row_count),
        "sha256": hashlib.sha256(data).hexdigest(),
        "source_registry": source_registry,
        "exported_at": format_timestamp(exported_at),
        "flow_run_id": flow_run_id,
    }


def check_metadata(data: bytes, metadata: Mapping[str, str]) -> None:
    """Check the blob metadata against the bytes; raise :class:`ManifestError`."""
    lowered = {k.lower(): v for k, v in metadata.items()}
    missing = [k for k in METADATA_KEYS if k not in lowered]
    if missing:
        raise ManifestError(f"blob metadata is missing {', '.join(missing)}")
    if lowered["schema_version"] != SCHEMA_VERSION:
        raise ManifestError(
            f"schema_version {lowered['schema_version']!r} is not supported "
            f"(this tool reads version {SCHEMA_VERSION})"
        )
    actual = hashlib.sha256(data).hexdigest()
    if lowered["sha256"].lower() != actual:
        raise ManifestError(
            f"sha256 of the CSV is {actual}, blob metadata says {lowered['sha256']}: "
            "the file was changed or truncated after export"
        )
    if not _TIMESTAMP_RE.match(lowered["exported_at"]):
        raise ManifestError(f"exported_at {lowered['exported_at']!r} is not ISO 8601 UTC")


def read_manifest(data: bytes, metadata: Mapping[str, str] | None = None) -> list[ImageRow]:
    """Parse and validate the CSV; with ``metadata`` also check the blob metadata first."""
    if metadata is not None:
        check_metadata(data, metadata)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise ManifestError("the file is empty (not even a header)")
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.ParserError as exc:
        raise ManifestError(f"CSV cannot be parsed: {exc}") from None
    header = tuple(str(c) for c in frame.columns)
    if header != COLUMNS:
        missing = [c for c in COLUMNS if c not in header]
        extra = [c for c in header if c not in COLUMNS]
        detail = []
        if missing:
            detail.append(f"missing {', '.join(missing)}")
        if extra:
            detail.append(f"unexpected {', '.join(extra)}")
        if not detail:
            detail.append("columns are out of order")
        raise ManifestError(
            f"header must be {','.join(COLUMNS)} ({'; '.join(detail)})", row=None, column=None
        )
    rows = [_parse_row(i + 1, record) for i, record in enumerate(frame.to_dict("records"))]
    if metadata is not None:
        lowered = {k.lower(): v for k, v in metadata.items()}
        if lowered["row_count"] != str(len(rows)):
            raise ManifestError(
                f"has {len(rows)} rows, blob metadata row_count says {lowered['row_count']}"
            )
        for number, row in enumerate(rows, start=1):
            if row.source_registry != lowered["source_registry"]:
                raise ManifestError(
                    f"{row.source_registry!r} differs from the blob's source_registry "
                    f"{lowered['source_registry']!r}",
                    row=number,
                    column="source_registry",
                )
    _check_duplicates(rows)
    return rows


def _parse_row(number: int, record: Mapping[Any, object]) -> ImageRow:
    cell = {k: str(v) for k, v in record.items()}

    def fail(column: str, message: str) -> ManifestError:
        return ManifestError(message, row=number, column=column)

    if not cell["source_registry"]:
        raise fail("source_registry", "is empty")
    if not is_repository(cell["repository"]):
        raise fail("repository", f"{cell['repository']!r} is not a valid repository name")
    if cell["tag"] and not is_tag(cell["tag"]):
        raise fail("tag", f"{cell['tag']!r} is not a valid tag")
    if not is_digest(cell["digest"]):
        raise fail("digest", f"{cell['digest']!r} is not sha256: followed by 64 hex characters")
    if cell["media_type"] not in MANIFEST_TYPES:
        raise fail("media_type", f"{cell['media_type']!r} is not a manifest media type")
    size = cell["size_bytes"]
    if not size.isdigit():
        raise fail("size_bytes", f"{size!r} is not a non-negative whole number")
    stamps: dict[str, datetime | None] = {}
    for column in ("created_at", "updated_at"):
        value = cell[column]
        if not value:
            stamps[column] = None
            continue
        if not _TIMESTAMP_RE.match(value):
            raise fail(column, f"{value!r} is not an ISO 8601 UTC timestamp")
        try:
            stamps[column] = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise fail(column, f"{value!r} is not a valid date and time") from None
    platforms = cell["platforms"]
    if platforms:
        for platform in platforms.split(";"):
            if not _PLATFORM_RE.match(platform):
                raise fail("platforms", f"{platform!r} is not os/arch[/variant]")
    return ImageRow(
        source_registry=cell["source_registry"],
        repository=cell["repository"],
        tag=cell["tag"],
        digest=cell["digest"],
        media_type=cell["media_type"],
        size_bytes=int(size),
        created_at=stamps["created_at"],
        updated_at=stamps["updated_at"],
        platforms=platforms,
    )


def _check_duplicates(rows: list[ImageRow]) -> None:
    tagged: dict[tuple[str, str], int] = {}
    untagged: dict[tuple[str, str], int] = {}
    shape: dict[tuple[str, str], tuple[int, str, int]] = {}
    for number, row in enumerate(rows, start=1):
        if row.tag:
            key = (row.repository, row.tag)
            if key in tagged:
                raise ManifestError(
                    f"{row.repository}:{row.tag} is listed again (first at row {tagged[key]})",
                    row=number,
                    column="tag",
                )
            tagged[key] = number
        else:
            key = (row.repository, row.digest)
            if key in untagged:
                raise ManifestError(
                    f"untagged {row.repository}@{row.digest} is listed again "
                    f"(first at row {untagged[key]})",
                    row=number,
                    column="digest",
                )
            untagged[key] = number
        first = shape.setdefault(
            (row.repository, row.digest), (number, row.media_type, row.size_bytes)
        )
        if first[1] != row.media_type:
            raise ManifestError(
                f"media type differs from row {first[0]} for the same digest",
                row=number,
                column="media_type",
            )
        if first[2] != row.size_bytes:
            raise ManifestError(
                f"size differs from row {first[0]} for the same digest",
                row=number,
                column="size_bytes",
            )
