"""The contacts table: a QAbstractTableModel over the store.

It holds the matching ids (one cheap query) and a cache of rows; a row not yet cached is
fetched with its neighbours (a page) on the database worker when the view first asks for
it, then announced with ``dataChanged``. Sorting and search happen in SQL, never in a proxy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QModelIndex, Qt

from waapp.core.entities import Contact
from waapp.core.phones import display_phone
from waapp.core.ports import ContactQuery, ContactSort
from waapp.services.contacts import ContactService
from waapp.ui.paged_model import Index as _Index
from waapp.ui.paged_model import PagedTableModel
from waapp.ui.theme import status_color

# (header, sort key or None when the column cannot be sorted in SQL)
BASE_COLUMNS: list[tuple[str, ContactSort | None]] = [
    ("Name", ContactSort.NAME),
    ("Phone", ContactSort.PHONE),
    ("Status", ContactSort.OPTED_OUT),
    ("Last reply", ContactSort.LAST_INBOUND),
    ("Added", ContactSort.CREATED),
]


def _date(value: Any) -> str:
    return value.astimezone().strftime("%d %b %Y %H:%M") if value is not None else ""


class ContactsModel(PagedTableModel):
    def __init__(self, service: ContactService, parent: Any = None) -> None:
        super().__init__(parent)
        self._service = service
        self.query = ContactQuery()
        self._fields: list[str] = []
        self._new_fields: list[str] = []

    async def fetch_rows(self, ids: Sequence[int]) -> dict[int, Any]:
        return {c.id: c for c in await self._service.get_many(ids) if c.id is not None}

    # --- loading -------------------------------------------------------------------------

    async def refresh(self, query: ContactQuery | None = None) -> None:
        """Re-run the query (new search, filter or sort, or the data changed)."""
        if query is not None:
            self.query = query
        generation = self.begin_refresh()
        ids = await self._service.ids(self.query)
        self._new_fields = await self._service.field_names()
        if self.is_current(generation):
            await self.install(generation, ids)

    def on_reset(self) -> None:
        self._fields = self._new_fields

    # --- Qt model ------------------------------------------------------------------------

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(BASE_COLUMNS) + len(self._fields)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or role != Qt.ItemDataRole.DisplayRole:
            return None
        if section < len(BASE_COLUMNS):
            return BASE_COLUMNS[section][0]
        if section < self.columnCount():
            return self._fields[section - len(BASE_COLUMNS)]
        return None

    def contact_at(self, row: int) -> Contact | None:
        found: Contact | None = self.cached(row)
        return found

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._ids):
            return None
        contact = self.contact_at(index.row())
        column = index.column()
        if contact is None:
            return "…" if role == Qt.ItemDataRole.DisplayRole and column == 0 else None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(contact, column)
        if role == Qt.ItemDataRole.ToolTipRole and column == 2 and contact.opted_out:
            return f"Opted out on {_date(contact.opted_out_at)}: {contact.opt_out_reason or 'no reason given'}"
        if role == Qt.ItemDataRole.ForegroundRole and column == 2:
            return status_color("bad" if contact.opted_out else "muted")
        if role == Qt.ItemDataRole.UserRole:
            return contact.id
        return None

    def _display(self, contact: Contact, column: int) -> str:
        if column == 0:
            return contact.name or "(no name)"
        if column == 1:
            return display_phone(contact.phone_e164)
        if column == 2:
            return "Opted out" if contact.opted_out else "Subscribed"
        if column == 3:
            return _date(contact.last_inbound_at)
        if column == 4:
            return _date(contact.created_at)
        return contact.fields.get(self._fields[column - len(BASE_COLUMNS)], "")

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if column >= len(BASE_COLUMNS):
            return  # custom fields are not sortable in SQL
        key = BASE_COLUMNS[column][1]
        assert key is not None
        query = replace(self.query, sort=key, descending=order == Qt.SortOrder.DescendingOrder)
        self._spawn(self.refresh(query))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_event_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
