"""Artifact keys and helpers shared by the flows."""

from __future__ import annotations

import re
import time
from uuid import UUID

from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.runtime import flow_run


def artifact_key(*parts: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    text = "-".join(parts).lower()
    return re.sub(r"[^a-z0-9-]+", "-", text).strip("-")[:200]


def run_tag() -> str:
    """Eight characters of the top-level flow run's id: a run's report files share it, also
    those its subflows write."""
    run = flow_run.root_flow_run_id or flow_run.id
    return str(run or "local")[:8]


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


class Progress:
    """A progress artifact (0-100 %) updated as images finish, at most every ``every`` s."""

    def __init__(self, key: str, total: int, description: str, every: float = 1.0):
        self.total = total
        self.description = description
        self.every = every
        self._last = 0.0
        self._shown: tuple[float, str | None] = (-1.0, None)
        start = 0.0 if total else 100.0
        self.id: UUID | None = create_progress_artifact(start, key=key, description=description)  # type: ignore[assignment]

    def update(self, done: int, *, force: bool = False, note: str | None = None) -> None:
        """Show ``done`` of the total; ``note`` (e.g. the concurrency now) follows the
        description."""
        if self.id is None or not self.total:
            return
        percent = round(100.0 * done / self.total, 1)
        text = f"{self.description}; {note}" if note else None
        now = time.monotonic()
        if (percent, text) == self._shown or (
            not force and done < self.total and now - self._last < self.every
        ):
            return
        self._last, self._shown = now, (percent, text)
        try:
            update_progress_artifact(self.id, percent, description=text)
        except Exception:
            pass  # progress is for people; never fail an import over it
