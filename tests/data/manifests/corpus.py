"""The bad-manifest corpus as data: each case's bytes, blob metadata and expected outcome."""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
SOURCE_REGISTRY = "myreg.azurecr.io"


@dataclass(frozen=True)
class Case:
    """One entry of ``index.toml``."""

    name: str
    file: str
    data: bytes
    metadata: dict[str, str]
    rows: int | None = None
    error: str | None = None
    row: int | None = None
    column: str | None = None

    @property
    def id(self) -> str:
        return self.name


def export_metadata(data: bytes, overrides: dict[str, object]) -> dict[str, str]:
    """The metadata the export writes for ``data``, with the case's overrides."""
    if overrides.get("drop"):
        return {}
    original = HERE / str(overrides["sha256_of"]) if "sha256_of" in overrides else None
    rows = max(0, len(data.splitlines()) - 1)
    metadata = {
        "schema_version": "1",
        "row_count": str(rows),
        "sha256": hashlib.sha256(original.read_bytes() if original else data).hexdigest(),
        "source_registry": SOURCE_REGISTRY,
        "exported_at": "2026-11-27T10:15:00Z",
        "flow_run_id": "corpus",
    }
    metadata.update({k: str(v) for k, v in overrides.items() if k != "sha256_of"})
    return metadata


def cases() -> list[Case]:
    """Every case of ``index.toml``, in file order."""
    index = tomllib.loads((HERE / "index.toml").read_text())
    out = []
    for entry in index["case"]:
        data = (HERE / entry["file"]).read_bytes()
        out.append(
            Case(
                name=entry["name"],
                file=entry["file"],
                data=data,
                metadata=export_metadata(data, dict(entry.get("metadata", {}))),
                rows=entry.get("rows"),
                error=entry.get("error"),
                row=entry.get("row"),
                column=entry.get("column"),
            )
        )
    return out
