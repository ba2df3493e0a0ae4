"""The recipient table of a campaign: a QAbstractTableModel over message ids.

It holds the matching ids (one query, filtered by status and sorted in SQL) and a cache of
rows; a row not yet cached is fetched with its page on the database worker when the view
first asks for it, then announced with ``dataChanged`` (as the contacts table does). A live
refresh keeps the ids when they did not change and re-reads only the cached rows, so a
sending campaign's table updates in place without jumping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QModelIndex, Qt

from waapp.core.catalogue import Dialect
from waapp.core.entities import Message
from waapp.core.phones import display_phone
from waapp.core.states import MessageState
from waapp.services.campaigns.results import STATE_LABELS, error_meaning
from waapp.store.campaigns import CampaignRepository
from waapp.store.worker import DatabaseWorker
from waapp.ui.campaigns.status import MESSAGE_KINDS
from waapp.ui.paged_model import Index as _Index
from waapp.ui.paged_model import PagedTableModel
from waapp.ui.theme import status_color

# (header, sort key of CampaignRepository.RECIPIENT_SORTS or None)
COLUMNS: list[tuple[str, str | None]] = [
    ("Name", "name"),
    ("Phone", "phone"),
    ("Status", "state"),
    ("Last change", "updated"),
    ("Attempts", None),
    ("Error", "error"),
]
STATUS_COLUMN = 2
ERROR_COLUMN = 5

Row = tuple[Message, str | None]


def _when(message: Message) -> str:
    times = message.state_times
    for key in ("read", "delivered", "failed", "sent", "sending"):
        if key in times:
            return times[key].astimezone().strftime("%d %b %H:%M:%S")
    return ""


class RecipientsModel(PagedTableModel):
    def __init__(
        self,
        repo: CampaignRepository,
        worker: DatabaseWorker,
        *,
        dialect: Callable[[], Dialect | None] = lambda: None,
        parent: Any = None,
    ) -> None:
        super().__init__(parent)
        self._repo = repo
        self._worker = worker
        self._dialect = dialect
        self.campaign_id: int | None = None
        self.states: list[str] | None = None
        self.sort_key = "id"
        self.descending = False

    async def fetch_rows(self, ids: Sequence[int]) -> dict[int, Any]:
        rows = await self._worker.run(self._repo.recipients, list(ids))
        return {m.id: (m, name) for m, name in rows if m.id is not None}

    # --- loading -------------------------------------------------------------------------

    async def refresh(
        self,
        campaign_id: int | None = None,
        *,
        states: Sequence[str] | bool | None = False,
    ) -> None:
        """Re-run the query. ``campaign_id`` switches campaign; ``states`` (a list, or None
        for every status; False keeps the current filter) filters by status."""
        if campaign_id is not None and campaign_id != self.campaign_id:
            self.campaign_id = campaign_id
            self._cache.clear()
        if states is not False:
            self.states = None if states is None else [str(s) for s in states]  # type: ignore[union-attr]
        if self.campaign_id is None:
            return
        generation = self.begin_refresh()
        ids = await self._worker.run(
            self._repo.recipient_ids,
            self.campaign_id,
            states=self.states,
            sort=self.sort_key,
            descending=self.descending,
        )
        if not self.is_current(generation):
            return
        if ids == self._ids and self._cache:
            await self._reload_cached(generation)
            self.refreshed.emit(len(ids))
            return
        await self.install(generation, ids)

    async def _reload_cached(self, generation: int) -> None:
        """Same ids: re-read the rows we hold, announce the changed ones."""
        fresh = await self.fetch_rows([i for i in self._ids if i in self._cache])
        if not self.is_current(generation):
            return
        changed = {k: v for k, v in fresh.items() if self._cache.get(k) != v}
        self._cache.update(changed)
        if changed and self._ids:
            self.dataChanged.emit(
                self.index(0, 0), self.index(len(self._ids) - 1, self.columnCount() - 1)
            )

    # --- reading -------------------------------------------------------------------------

    def row_at(self, row: int) -> Row | None:
        found: Row | None = self.cached(row)
        return found

    # --- Qt model ------------------------------------------------------------------------

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(COLUMNS)
        ):
            return COLUMNS[section][0]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._ids):
            return None
        found = self.row_at(index.row())
        column = index.column()
        if found is None:
            return "…" if role == Qt.ItemDataRole.DisplayRole and column == 0 else None
        message, name = found
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(message, name, column)
        if role == Qt.ItemDataRole.UserRole:
            return message.id
        if role == Qt.ItemDataRole.ForegroundRole and column == STATUS_COLUMN:
            return status_color(MESSAGE_KINDS[MessageState(message.state)])
        if role == Qt.ItemDataRole.ToolTipRole and column in (STATUS_COLUMN, ERROR_COLUMN):
            _title, meaning, what_to_do = error_meaning(self._dialect(), message)
            parts = [p for p in (meaning, what_to_do) if p]
            return "\n\n".join(parts) or None
        return None

    def _display(self, message: Message, name: str | None, column: int) -> str:
        if column == 0:
            return name or "(no name)"
        if column == 1:
            return display_phone(message.phone_e164)
        if column == 2:
            return STATE_LABELS[MessageState(message.state)]
        if column == 3:
            return _when(message)
        if column == 4:
            return str(message.attempts)
        if message.error_code:
            title, _meaning, _todo = error_meaning(self._dialect(), message)
            return f"{message.error_code} · {title}"
        return message.error_title or message.error_detail or ""

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(COLUMNS) or COLUMNS[column][1] is None:
            return
        key = COLUMNS[column][1]
        assert key is not None
        self.sort_key = key
        self.descending = order == Qt.SortOrder.DescendingOrder
        task = asyncio.get_event_loop().create_task(self.refresh())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
