"""Service events → Qt signals, coalesced: a burst of events costs the window one refresh.

Handlers only raise a flag; a single-shot timer (``interval_ms``) emits each raised signal
once (Electrum's rate-limited refresh).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from waapp.services.events import (
    AccountsChanged,
    CampaignChanged,
    ContactsChanged,
    EventBus,
    GroupsChanged,
    InboundReceived,
    SettingsChanged,
    StatusBatchFailed,
    StatusesApplied,
    TemplatesChanged,
    TunnelStateChanged,
)

COALESCE_MS = 250


class Bridge(QObject):
    contactsChanged = Signal()
    groupsChanged = Signal()
    settingsChanged = Signal()
    accountsChanged = Signal()
    templatesChanged = Signal()
    statusesApplied = Signal()  # delivery statuses or replies were written
    intakeChanged = Signal()  # the tunnel's state, or a status batch failed
    campaignsChanged = Signal()  # a campaign's status or counts changed (also by statuses)

    def __init__(
        self, bus: EventBus, *, interval_ms: int = COALESCE_MS, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._pending: set[str] = set()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._flush)
        self._unsubscribers = [
            bus.subscribe(ContactsChanged, lambda _e: self._raise("contactsChanged")),
            bus.subscribe(GroupsChanged, lambda _e: self._raise("groupsChanged")),
            bus.subscribe(SettingsChanged, lambda _e: self._raise("settingsChanged")),
            bus.subscribe(AccountsChanged, lambda _e: self._raise("accountsChanged")),
            bus.subscribe(TemplatesChanged, lambda _e: self._raise("templatesChanged")),
            bus.subscribe(StatusesApplied, lambda _e: self._raise("statusesApplied")),
            bus.subscribe(InboundReceived, lambda _e: self._raise("statusesApplied")),
            bus.subscribe(TunnelStateChanged, lambda _e: self._raise("intakeChanged")),
            bus.subscribe(StatusBatchFailed, lambda _e: self._raise("intakeChanged")),
            bus.subscribe(CampaignChanged, lambda _e: self._raise("campaignsChanged")),
            bus.subscribe(StatusesApplied, lambda _e: self._raise("campaignsChanged")),
        ]

    def _raise(self, name: str) -> None:
        self._pending.add(name)
        if not self._timer.isActive():
            self._timer.start()

    def _flush(self) -> None:
        pending, self._pending = self._pending, set()
        for name in sorted(pending):
            getattr(self, name).emit()

    def close(self) -> None:
        for unsubscribe in self._unsubscribers:
            unsubscribe()
        self._timer.stop()
