"""The Last events table: status updates and replies, newest first."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from waapp.core.phones import display_phone
from waapp.services.diagnostics import LastEvent
from waapp.ui.diagnostics.text import clock
from waapp.ui.theme import status_color

_Index = QModelIndex | QPersistentModelIndex

COLUMNS = ["Time", "Account", "What", "To / from", "Status / text", "Error"]
_STATUS_COLOUR = {"delivered": "ok", "read": "ok", "failed": "bad", "sent": "muted"}
#: The table never holds more than this many rows.
MAX_ROWS = 200


def _short_id(reference: str) -> str:
    """A provider message id is long (``wamid.HBgM…``); its end tells ids apart."""
    return reference if len(reference) <= 22 else f"{reference[:8]}…{reference[-10:]}"


class EventsModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[LastEvent] = []

    def set_events(self, events: list[LastEvent] | tuple[LastEvent, ...]) -> None:
        rows = list(events)[:MAX_ROWS]
        if rows == self._rows:
            return
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()

    def event_at(self, row: int) -> LastEvent:
        return self._rows[row]

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            orientation is Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(COLUMNS)
        ):
            return COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        event = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(event, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(event, column)
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == 4 and event.kind == "status" and event.text in _STATUS_COLOUR:
                return status_color(_STATUS_COLOUR[event.text])
            if column == 5 and event.error_code:
                return status_color("bad")
        return None

    @staticmethod
    def _display(event: LastEvent, column: int) -> str:
        if column == 0:
            return clock(event.at)
        if column == 1:
            return event.account
        if column == 2:
            if event.kind == "reply":
                return "Reply"
            return "Status (polled)" if event.source == "poll" else "Status"
        if column == 3:
            if event.kind == "reply":
                return display_phone(event.reference)
            if event.recipient:
                return f"To {display_phone(event.recipient)}"
            return _short_id(event.reference)
        if column == 4:
            return event.text.capitalize() if event.kind == "status" else event.text
        if column == 5 and event.error_code:
            return f"{event.error_code} — {event.error_title or 'error'}"
        return ""

    @staticmethod
    def _tooltip(event: LastEvent, column: int) -> str | None:
        if column == 3:
            return event.reference if event.kind == "reply" else f"Message {event.reference}"
        if column == 5 and event.error_code:
            parts = [f"{event.error_code}: {event.error_title}"]
            if event.error_meaning:
                parts.append(event.error_meaning)
            if event.error_detail:
                parts.append(f"The provider said: {event.error_detail}")
            if event.error_what_to_do:
                parts.append(f"What to do: {event.error_what_to_do}")
            return "\n\n".join(parts)
        if column == 4 and event.kind == "reply":
            return event.text
        return None
