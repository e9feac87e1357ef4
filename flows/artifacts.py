"""Artifact keys and helpers shared by the flows."""

from __future__ import annotations

import re

from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact


def artifact_key(*parts: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    text = "-".join(parts).lower()
    return re.sub(r"[^a-z0-9-]+", "-", text).strip("-")[:200]


def manifest_link(source_name: str, url: str, description: str) -> None:
    """Keyed per source registry, so the latest export is one click away."""
    create_link_artifact(
        key=artifact_key("manifest", source_name),
        link=url,
        link_text=f"manifest of {source_name}",
        description=description,
    )


def table(key: str, rows: list[dict[str, object]], description: str) -> None:
    create_table_artifact(key=key, table=rows, description=description)


def markdown(key: str, text: str, description: str) -> None:
    create_markdown_artifact(key=key, markdown=text, description=description)
