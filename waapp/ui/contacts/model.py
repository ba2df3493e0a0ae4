"""The contacts table: a QAbstractTableModel over the store.

It holds the matching ids (one cheap query) and a cache of rows; a row not yet cached is
fetched with its neighbours (a page) on the database worker when the view first asks for
it, then announced with ``dataChanged``. Sorting and search happen in SQL, never in a proxy.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal

from waapp.core.entities import Contact
from waapp.core.phones import display_phone
from waapp.core.ports import ContactQuery, ContactSort
from waapp.services.contacts import ContactService
from waapp.ui.theme import status_color

PAGE = 200
MAX_CACHED = 20_000

# (header, sort key or None when the column cannot be sorted in SQL)
BASE_COLUMNS: list[tuple[str, ContactSort | None]] = [
    ("Name", ContactSort.NAME),
    ("Phone", ContactSort.PHONE),
    ("Status", ContactSort.OPTED_OUT),
    ("Last reply", ContactSort.LAST_INBOUND),
    ("Added", ContactSort.CREATED),
]

_Index = QModelIndex | QPersistentModelIndex


def _date(value: Any) -> str:
    return value.astimezone().strftime("%d %b %Y %H:%M") if value is not None else ""


class ContactsModel(QAbstractTableModel):
    #: Emitted after every refresh with the total number of matching contacts.
    refreshed = Signal(int)

    def __init__(self, service: ContactService, parent: Any = None) -> None:
        super().__init__(parent)
        self._service = service
        self.query = ContactQuery()
        self._ids: list[int] = []
        self._cache: dict[int, Contact] = {}
        self._loading: set[int] = set()  # page numbers being fetched
        self._fields: list[str] = []
        self._generation = 0  # bumps on every refresh: stale page fetches are dropped
        self._tasks: set[asyncio.Task[None]] = set()

    # --- loading -------------------------------------------------------------------------

    async def refresh(self, query: ContactQuery | None = None) -> None:
        """Re-run the query (new search, filter or sort, or the data changed)."""
        if query is not None:
            self.query = query
        self._generation += 1
        generation = self._generation
        ids = await self._service.ids(self.query)
        fields = await self._service.field_names()
        first = await self._service.get_many(ids[:PAGE])
        if generation != self._generation:
            return  # a newer refresh is under way
        self.beginResetModel()
        try:
            self._ids = ids
            self._fields = fields
            self._cache = {c.id: c for c in first if c.id is not None}
            self._loading.clear()
        finally:
            self.endResetModel()
        self.refreshed.emit(len(ids))

    def _fetch_page(self, page: int) -> None:
        if page in self._loading:
            return
        self._loading.add(page)
        task = asyncio.get_event_loop().create_task(self._load_page(page, self._generation))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _load_page(self, page: int, generation: int) -> None:
        start = page * PAGE
        ids = self._ids[start : start + PAGE]
        try:
            rows = await self._service.get_many(ids)
        finally:
            self._loading.discard(page)
        if generation != self._generation:
            return
        if len(self._cache) > MAX_CACHED:
            self._cache.clear()
        for contact in rows:
            assert contact.id is not None
            self._cache[contact.id] = contact
        last = min(start + PAGE, len(self._ids)) - 1
        if last >= start:
            self.dataChanged.emit(self.index(start, 0), self.index(last, self.columnCount() - 1))

    def cancel_pending(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    # --- Qt model ------------------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._ids)

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
        if 0 <= row < len(self._ids):
            contact = self._cache.get(self._ids[row])
            if contact is None:
                self._fetch_page(row // PAGE)
            return contact
        return None

    def id_at(self, row: int) -> int:
        return self._ids[row]

    def row_of(self, contact_id: int) -> int | None:
        try:
            return self._ids.index(contact_id)
        except ValueError:
            return None

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
