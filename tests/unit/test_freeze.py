"""The freeze record: the locks from before any freeze are the ones an unfreeze gives back."""

from __future__ import annotations

from acr_migrate.freeze import FreezeRecord, RepositoryLocks, freeze_markdown, frozen, merged_record

OPEN = RepositoryLocks(repository="app")
NO_DELETE = RepositoryLocks(repository="kept", delete_enabled=False)


def test_a_freeze_locks_writes_and_deletes_only_when_asked() -> None:
    assert frozen(OPEN, delete_too=False) == RepositoryLocks(repository="app", write_enabled=False)
    assert frozen(OPEN, delete_too=True) == RepositoryLocks(
        repository="app", write_enabled=False, delete_enabled=False
    )
    assert frozen(NO_DELETE, delete_too=False).delete_enabled is False  # stays as it was


def test_freezing_again_keeps_the_values_from_before_the_first_freeze() -> None:
    first = merged_record(None, "src.example", [OPEN, NO_DELETE])
    now_frozen = [frozen(OPEN, True), frozen(NO_DELETE, True)]
    new_repo = RepositoryLocks(repository="new")
    second = merged_record(first, "src.example", [*now_frozen, new_repo])
    assert second.previous == [OPEN, NO_DELETE, new_repo]
    assert second.frozen_at == first.frozen_at


def test_after_an_unfreeze_the_next_freeze_records_afresh() -> None:
    restored = FreezeRecord(
        registry="src.example", frozen_at="t0", restored_at="t1", previous=[OPEN]
    )
    assert not restored.active
    locked = RepositoryLocks(repository="app", write_enabled=False)
    assert merged_record(restored, "src.example", [locked]).previous == [locked]


def test_the_report_marks_what_changes() -> None:
    text = freeze_markdown("src.example", [(OPEN, frozen(OPEN, False))], "Freeze", dry_run=True)
    assert "# Would freeze `src.example`" in text
    assert "| `app` | enabled -> **disabled** | enabled |" in text
    assert "1 of 1 repositories change" in text
