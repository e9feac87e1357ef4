"""A browser check: headless Chromium opens the Prefect UI page of a finished import run, goes
to its Task Runs tab, finds a task run per image, and saves a screenshot in test-output/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.browser import show_task_runs
from tests.e2e.conftest import FinishedImport

pytestmark = [pytest.mark.e2e]


def test_ui_shows_a_task_run_per_image(finished_import: FinishedImport, output_dir: Path) -> None:
    run = finished_import.import_run
    names = sorted(finished_import.image_runs)
    assert names
    shot = output_dir / "ui-import-task-runs.png"
    text = show_task_runs(finished_import.api.ui, run.id, run.name, names, shot)
    assert shot.stat().st_size > 10_000
    for name in names:
        assert name in text
