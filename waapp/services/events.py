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


# --- status intake (services/status) -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusesApplied:
    """A batch of provider status updates was written. ``count`` updates moved a message
    forward; ``message_ids`` are the rows that changed (state or a timestamp)."""

    campaign_ids: tuple[int, ...]
    message_ids: tuple[int, ...]
    count: int


@dataclass(frozen=True, slots=True)
class InboundReceived:
    """New inbound messages were written (``count``, may be 0 when a batch only held a
    marketing "stop"). ``contact_ids``: contacts whose last inbound time or opt-out changed;
    ``opted_out_ids``: those opted out by a keyword or a marketing "stop" just now."""

    count: int
    contact_ids: tuple[int, ...]
    opted_out_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class StatusBatchFailed:
    """Events could not be written (after one retry) and wait in the writer's dead-letter
    list (Diagnostics)."""

    events: int
    error: str


@dataclass(frozen=True, slots=True)
class TunnelStateChanged:
    """The tunnel started, got its public URL, died, or stopped."""

    state: str  # stopped / starting / running / failed
    public_url: str | None


@dataclass(frozen=True, slots=True)
class AccountsChanged:
    """An account was added, edited or removed (its provider was rebuilt or dropped)."""


@dataclass(frozen=True, slots=True)
class TemplatesChanged:
    """Templates were synced from a provider, or a local message was saved or deleted."""


@dataclass(frozen=True, slots=True)
class CampaignChanged:
    """A campaign's status, counters or rows changed."""

    campaign_id: int
