"""Typed events that services publish and the UI (through ``ui/bridge``) subscribes to.

Callbacks run synchronously on the publishing thread, which is the application loop's
thread: services publish from coroutines, never from the database worker.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

E = TypeVar("E")


@dataclass(frozen=True, slots=True)
class ContactsChanged:
    """Contacts were added, edited, deleted or opted in/out. ``ids`` is None for "many"."""

    ids: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class GroupsChanged:
    """Groups were created, renamed, deleted, or their members changed."""


@dataclass(frozen=True, slots=True)
class SettingsChanged:
    key: str


class EventBus:
    def __init__(self) -> None:
        self._subscribers: defaultdict[type, list[Callable[[Any], None]]] = defaultdict(list)

    def subscribe(self, event_type: type[E], callback: Callable[[E], None]) -> Callable[[], None]:
        """Call ``callback`` for every published ``event_type``; returns the unsubscriber."""
        self._subscribers[event_type].append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers[event_type]:
                self._subscribers[event_type].remove(callback)

        return unsubscribe

    def publish(self, event: object) -> None:
        for callback in list(self._subscribers[type(event)]):
            callback(event)
