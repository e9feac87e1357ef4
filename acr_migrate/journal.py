"""The import journal: every finished image is appended to a blob next to the manifest as the
run goes (``journal-<run>.jsonl``), so a run that dies half-way leaves a record.

A run that finished wrote ``results-<run>.csv`` beside its journal. The journal of a run that
did not is merged by the next run over the same manifest: the images it landed are planned as
``skip`` (their digests are in the target) and reported with the status the dead run gave them
(``resumed_from`` names that run); the other skipped images are reported ``skipped``. So the
results CSV gives every image of the plan exactly one final status.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from acr_migrate.models import Action, ImportResult, ImportStatus
from acr_migrate.plan import Plan
from acr_migrate.storage import BlobStore, ManifestLocation, StorageSettings

PREFIX = "journal-"
SUFFIX = ".jsonl"
logger = logging.getLogger(__name__)


def journal_name(run: str) -> str:
    return f"{PREFIX}{run}{SUFFIX}"


class Journal:
    """Appends finished images to the run's journal blob, a batch at a time.

    Flushed every ``every`` seconds or ``batch`` images: what a crash loses of the last batch
    is in the target already, and the next run's plan skips it (reported as ``skipped``).
    """

    def __init__(
        self,
        store: BlobStore,
        location: ManifestLocation,
        run: str,
        *,
        every: float = 2.0,
        batch: int = 200,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.blob = location.sibling(journal_name(run))
        self.every = every
        self.batch = batch
        self.clock = clock
        self._pending: list[bytes] = []
        self._last = clock()
        self._lock = threading.Lock()
        self.failed = False

    @classmethod
    def open(cls, storage: StorageSettings, location: ManifestLocation, run: str) -> Journal:
        """The journal of run ``run`` (named like its ``results-<run>.csv``)."""
        return cls(BlobStore(storage), location, run)

    def add(self, result: ImportResult) -> None:
        line = result.model_dump_json(exclude_defaults=False).encode() + b"\n"
        with self._lock:
            self._pending.append(line)
            due = len(self._pending) >= self.batch or self.clock() - self._last >= self.every
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            data, self._pending = b"".join(self._pending), []
            self._last = self.clock()
        if not data:
            return
        try:
            self.store.append(self.blob, data)
        except Exception as exc:  # the journal serves a restart; never fail an import over it
            if not self.failed:
                logger.warning("import journal %s not written: %s", self.blob, exc)
            self.failed = True


def unfinished_results(
    store: BlobStore, location: ManifestLocation
) -> dict[tuple[str, str], ImportResult]:
    """What runs over this manifest that never finished (no ``results-<run>.csv``) imported."""
    names = set(store.names(location.sibling("")))
    found: dict[tuple[str, str], ImportResult] = {}
    for name in sorted(names):
        base = name.rsplit("/", 1)[-1]
        if not (base.startswith(PREFIX) and base.endswith(SUFFIX)):
            continue
        run = base[len(PREFIX) : -len(SUFFIX)]
        if location.sibling(f"results-{run}.csv") in names:
            continue
        data, _ = store.get(name)
        for line in data.splitlines():
            try:
                result = ImportResult.model_validate_json(line)
            except ValueError:
                continue  # a line cut short by the crash
            if result.status is ImportStatus.IMPORTED:
                found[(result.repository, result.digest)] = result.model_copy(
                    update={"resumed_from": run}
                )
    return found


def final_results(
    plan: Plan, results: Iterable[ImportResult], earlier: dict[tuple[str, str], ImportResult]
) -> list[ImportResult]:
    """One final status per image of the plan, in manifest order: this run's result; else,
    for an image the plan skipped, the result of the unfinished run that imported it, or
    ``skipped`` (it was there already). Excluded and conflicting images have none."""
    mine = {(r.repository, r.digest): r for r in results}
    merged: list[ImportResult] = []
    seen: set[tuple[str, str]] = set()
    for planned in plan.items:
        key = (planned.item.repository, planned.item.digest)
        if key in seen:
            continue
        if key in mine:
            merged.append(mine[key])
        elif planned.action is Action.SKIP:
            merged.append(
                earlier.get(key)
                or ImportResult.of(planned.item, ImportStatus.SKIPPED).model_copy(
                    update={"attempts": 0}
                )
            )
        else:
            continue
        seen.add(key)
    return merged
