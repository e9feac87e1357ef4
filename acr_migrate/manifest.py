"""The CSV manifest (schema version 1): write, read and strict validation.

The manifest is the contract between the source-tenant export and the target-tenant import.
Reading checks the blob metadata (schema version, row count, sha256 of the bytes) and every
cell; the first problem is raised as one :class:`ManifestError` naming the blob, the row and
the column. Writing goes through pandas; reading uses the ``csv`` module, which gives exact
record numbers and field counts for those errors. Accepted as harmless: a UTF-8 byte order
mark, CRLF line ends, a header-only file (an empty registry). Refused: anything else, including
cells a spreadsheet would run as a formula (CSV injection) and lines over 64 KiB.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from acr_migrate.mediatypes import MANIFEST_TYPES
from acr_migrate.models import ImageRow, RegistryEndpoint
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
    "subject",
)
#: The columns before ``subject`` was added (referrers): such manifests are still read, their
#: rows are all images.
COLUMNS_WITHOUT_SUBJECT = COLUMNS[:-1]
METADATA_KEYS = (
    "schema_version",
    "row_count",
    "sha256",
    "source_registry",
    "exported_at",
    "flow_run_id",
)
_PLATFORM_RE = re.compile(r"^[a-z0-9._-]+/[a-z0-9._-]+(/[a-zA-Z0-9._-]+)?$")
#: Cells a spreadsheet would run as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER_RE = re.compile(r"^[+-]?\d+(\.\d+)?$")
#: The longest line (characters) a manifest may have; a large index lists ~100 platforms.
MAX_LINE = 64 * 1024
_TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|\+00:00)$")


class ManifestError(ValueError):
    """The manifest is unusable: one error naming the blob, the row and the column.

    ``row`` is 1-based (the header is not a row); ``column`` is a CSV column or, for a problem
    with the blob metadata, ``metadata:<key>``.
    """

    def __init__(
        self,
        message: str,
        row: int | None = None,
        column: str | None = None,
        blob: str | None = None,
    ):
        self.detail = message
        self.row = row
        self.column = column
        self.blob = blob
        super().__init__(self._text())

    def _text(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        parts = [f"manifest {self.blob}" if self.blob else "manifest"]
        if where:
            parts.append(", ".join(where))
        return ": ".join([*parts, self.detail])

    def naming(self, blob: str) -> ManifestError:
        """The same error, naming the blob it came from."""
        return ManifestError(self.detail, self.row, self.column, blob)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.detail, self.row, self.column, self.blob))


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
            "subject": r.subject,
        }
        for r in sort_rows(rows)
    ]
    import pandas as pd  # only the export writes a manifest: a process that reads one never pays

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
        raise ManifestError(
            f"blob metadata is missing {', '.join(missing)} (not an export of this tool?)",
            column=f"metadata:{missing[0]}",
        )
    if lowered["schema_version"] != SCHEMA_VERSION:
        raise ManifestError(
            f"schema_version {lowered['schema_version']!r} is not supported "
            f"(this tool reads version {SCHEMA_VERSION})",
            column="metadata:schema_version",
        )
    actual = hashlib.sha256(data).hexdigest()
    if lowered["sha256"].lower() != actual:
        raise ManifestError(
            f"sha256 of the CSV is {actual}, blob metadata says {lowered['sha256']}: "
            "the file was changed or truncated after export",
            column="metadata:sha256",
        )
    if not lowered["row_count"].isdigit():
        raise ManifestError(
            f"row_count {lowered['row_count']!r} is not a whole number",
            column="metadata:row_count",
        )
    if not is_export_timestamp(lowered["exported_at"]):
        raise ManifestError(
            f"exported_at {lowered['exported_at']!r} is not ISO 8601 UTC",
            column="metadata:exported_at",
        )


def is_export_timestamp(value: str) -> bool:
    """True for an ISO 8601 UTC timestamp as the export writes it."""
    if not _TIMESTAMP_RE.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def read_manifest(
    data: bytes, metadata: Mapping[str, str] | None = None, *, blob: str | None = None
) -> list[ImageRow]:
    """Parse and validate the CSV; with ``metadata`` also check the blob metadata first.

    Harmless variants are accepted: a UTF-8 byte order mark and CRLF (or mixed) line ends.
    The first problem is raised as one :class:`ManifestError` naming ``blob``, row and column.
    """
    try:
        return _read(data, metadata)
    except ManifestError as exc:
        if blob is None:
            raise
        raise exc.naming(blob) from None


def _read(data: bytes, metadata: Mapping[str, str] | None) -> list[ImageRow]:
    if metadata is not None:
        check_metadata(data, metadata)
    if not data.strip():
        raise ManifestError("the file is empty (not even a header)")
    text = _decode(data)
    rows = [_parse_row(number, cells) for number, cells in enumerate(_records(text), start=1)]
    if metadata is not None:
        lowered = {k.lower(): v for k, v in metadata.items()}
        if lowered["row_count"] != str(len(rows)):
            raise ManifestError(
                f"has {len(rows)} rows, blob metadata row_count says {lowered['row_count']}",
                column="metadata:row_count",
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


def _decode(data: bytes) -> str:
    """UTF-8 text without a byte order mark; a bad byte is named by row and column."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise ManifestError(
                "is UTF-16 (byte order mark), not UTF-8; export it as UTF-8"
            ) from None
        row, column = _locate(data, exc.start)
        raise ManifestError(
            f"byte {exc.start} (0x{data[exc.start]:02x}) is not UTF-8", row=row, column=column
        ) from None
    return text.removeprefix("\ufeff")


def _locate(data: bytes, offset: int) -> tuple[int | None, str | None]:
    """Row and column of the byte at ``offset`` (row 0 is the header)."""
    before = data[:offset].decode("utf-8", errors="replace").removeprefix("\ufeff")
    lines = before.splitlines() or [""]
    if before.endswith(("\n", "\r")):
        lines.append("")
    row = len(lines) - 1
    index = lines[-1].count(",")
    column = COLUMNS[index] if index < len(COLUMNS) else None
    return (row if row > 0 else None), column


def _records(text: str) -> list[list[str]]:
    """The cells of every record after the header, which is checked first."""
    for number, line in enumerate(text.splitlines(), start=1):
        if len(line) > MAX_LINE:
            cells = line.split(",")
            widest = max(range(len(cells)), key=lambda i: len(cells[i]))
            raise ManifestError(
                f"line {number} is {len(line)} characters long, more than {MAX_LINE}",
                row=number - 1 if number > 1 else None,
                column=COLUMNS[widest] if number > 1 and widest < len(COLUMNS) else None,
            )
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[list[str]] = []
    columns: tuple[str, ...] = COLUMNS
    row = 0  # the record being read (0 is the header)
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ManifestError(
                f"CSV cannot be parsed: {exc}", row=row if row > 0 else None
            ) from None
        if row == 0:
            columns = _check_header(tuple(cells))
        elif not cells:
            raise ManifestError(f"is blank (line {reader.line_num})", row=row)
        elif len(cells) != len(columns):
            raise ManifestError(
                f"has {len(cells)} fields, the header has {len(columns)} "
                "(a truncated line, or a comma outside quotes)",
                row=row,
            )
        else:
            records.append(cells + [""] * (len(COLUMNS) - len(columns)))
        row += 1
    if row == 0:
        _check_header(())
    return records


def _show(value: str, limit: int = 80) -> str:
    """``repr`` of a cell, shortened: errors quote the input, never all of a huge cell."""
    return repr(value) if len(value) <= limit else repr(value[:limit]) + f"... ({len(value)} chars)"


def _check_header(header: tuple[str, ...]) -> tuple[str, ...]:
    """The columns of a good header (an older manifest has no ``subject``); else the error."""
    if header in (COLUMNS, COLUMNS_WITHOUT_SUBJECT):
        return header
    missing = [c for c in COLUMNS if c not in header and c != "subject"]
    extra = [c for c in header if c not in COLUMNS]
    repeated = sorted({c for c in header if header.count(c) > 1})
    detail = []
    if missing:
        detail.append(f"missing {', '.join(missing)}")
    if extra:
        detail.append(f"unexpected {', '.join(extra)}")
    if repeated:
        detail.append(f"repeated {', '.join(repeated)}")
    named = missing or extra or repeated
    if named:
        column = named[0]
    else:
        expected = COLUMNS if "subject" in header else COLUMNS_WITHOUT_SUBJECT
        column = next(c for c, h in zip(expected, header, strict=False) if c != h)
        detail.append(f"columns are out of order, {column!r} is not in its place")
    raise ManifestError(f"header must be {','.join(COLUMNS)} ({'; '.join(detail)})", column=column)


def _parse_row(number: int, cells: list[str]) -> ImageRow:
    cell = dict(zip(COLUMNS, cells, strict=True))

    def fail(column: str, message: str) -> ManifestError:
        return ManifestError(message, row=number, column=column)

    for column in COLUMNS:
        value = cell[column]
        if value.startswith(_FORMULA_START) and not _NUMBER_RE.match(value):
            raise fail(
                column,
                f"{_show(value, 40)} starts with {value[0]!r}: a spreadsheet formula "
                "(CSV injection) is never a valid value",
            )

    if not cell["source_registry"]:
        raise fail("source_registry", "is empty")
    if not is_repository(cell["repository"]):
        raise fail("repository", f"{_show(cell['repository'])} is not a valid repository name")
    if cell["tag"] and not is_tag(cell["tag"]):
        raise fail("tag", f"{_show(cell['tag'])} is not a valid tag")
    if not is_digest(cell["digest"]):
        raise fail(
            "digest", f"{_show(cell['digest'])} is not sha256: followed by 64 hex characters"
        )
    if cell["media_type"] not in MANIFEST_TYPES:
        raise fail("media_type", f"{_show(cell['media_type'])} is not a manifest media type")
    size = cell["size_bytes"]
    if not size.isdigit():
        raise fail("size_bytes", f"{_show(size)} is not a non-negative whole number")
    stamps: dict[str, datetime | None] = {}
    for column in ("created_at", "updated_at"):
        value = cell[column]
        if not value:
            stamps[column] = None
            continue
        if not _TIMESTAMP_RE.match(value):
            raise fail(column, f"{_show(value)} is not an ISO 8601 UTC timestamp")
        try:
            stamps[column] = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise fail(column, f"{_show(value)} is not a valid date and time") from None
    platforms = cell["platforms"]
    if platforms:
        for platform in platforms.split(";"):
            if not _PLATFORM_RE.match(platform):
                raise fail("platforms", f"{_show(platform)} is not os/arch[/variant]")
    subject = cell["subject"]
    if subject and not is_digest(subject):
        raise fail(
            "subject", f"{_show(subject)} is not empty or sha256: followed by 64 hex characters"
        )
    if subject == cell["digest"]:
        raise fail("subject", "a manifest cannot refer to itself")
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
        subject=subject,
    )


def _check_duplicates(rows: list[ImageRow]) -> None:
    tagged: dict[tuple[str, str], tuple[int, str]] = {}
    untagged: dict[tuple[str, str], int] = {}
    shape: dict[tuple[str, str], tuple[int, str, int]] = {}
    for number, row in enumerate(rows, start=1):
        if row.tag:
            key = (row.repository, row.tag)
            if key in tagged:
                earlier, digest = tagged[key]
                if digest != row.digest:
                    raise ManifestError(
                        f"{row.repository}:{row.tag} has two digests: {digest} at row {earlier} "
                        f"and {row.digest} here",
                        row=number,
                        column="digest",
                    )
                raise ManifestError(
                    f"{row.repository}:{row.tag} is listed again (first at row {earlier})",
                    row=number,
                    column="tag",
                )
            tagged[key] = (number, row.digest)
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


def registry_document(
    source: RegistryEndpoint,
    rows: Sequence[ImageRow],
    *,
    exported_at: str,
    notes: Sequence[str],
    azure: Mapping[str, Any] | None,
) -> bytes:
    """``registry.json``, written beside the manifest: what was exported, from where, what the
    inventory could not see, and (for an Azure registry) the documented ARM configuration."""
    document = {
        "name": source.name,
        "login_server": source.login_server,
        "url": source.url,
        "inventory": "acr" if azure is not None else "oci",
        "exported_at": exported_at,
        "repositories": len({r.repository for r in rows}),
        "rows": len(rows),
        "notes": list(notes),
        "azure": azure,
    }
    return json.dumps(document, indent=2).encode()
