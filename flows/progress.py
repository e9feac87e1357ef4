"""The flows-to-CLI channel: listeners told about each image as it finishes (the CLI, a face
above the flows, draws its progress bar with them)."""

from __future__ import annotations

from collections.abc import Callable

from acr_migrate.models import ImportResult

Listener = Callable[[ImportResult, int, int], None]
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> Callable[[], None]:
    """Call ``listener(result, done, total)`` per finished image; returns an unsubscribe."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def publish(result: ImportResult, done: int, total: int) -> None:
    """Tell every listener; a failing listener never breaks the import."""
    for listener in list(_listeners):
        try:
            listener(result, done, total)
        except Exception:
            pass
