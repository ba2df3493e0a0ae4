"""The campaigns table: every campaign (a shop has tens to hundreds, so the list is held
whole), filtered by status and name and sorted in memory; a progress bar per row painted
by :class:`ProgressDelegate` from the counters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QRect, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
)

from waapp.core.entities import Campaign
from waapp.core.states import CampaignStatus
from waapp.ui.campaigns.status import (
    CAMPAIGN_KINDS,
    CAMPAIGN_LABELS,
    SENT_STATES,
    day_and_time,
    progress,
)
from waapp.ui.theme import status_color

#: (done, total) of a row, for the progress delegate.
PROGRESS_ROLE = Qt.ItemDataRole.UserRole + 1

_Index = QModelIndex | QPersistentModelIndex


def _when(value: datetime | None) -> str:
    return value.astimezone().strftime("%d %b %Y %H:%M") if value is not None else ""


def _sent(c: Campaign) -> int:
    return sum(v for k, v in c.counters.items() if k in SENT_STATES)


def _delivered(c: Campaign) -> int:
    return c.counters.get("delivered", 0) + c.counters.get("read", 0)


def _scheduled(c: Campaign) -> bool:
    return c.status is CampaignStatus.SCHEDULED and c.scheduled_at is not None


def _progress_text(c: Campaign) -> str:
    """A scheduled campaign shows when it starts instead of an empty bar."""
    if _scheduled(c):
        assert c.scheduled_at is not None
        return f"Starts {_short_when(c.scheduled_at)}"
    return ""


def _short_when(at: datetime) -> str:
    """“12:50”, “tomorrow 09:00”, “24 Nov 09:00” (local time; the Start column has it all)."""
    local = at.astimezone()
    today = datetime.now().astimezone().date()
    if local.date() == today:
        return f"{local:%H:%M}"
    if (local.date() - today).days == 1:
        return f"tomorrow {local:%H:%M}"
    return f"{local:%d %b %H:%M}"


def _fraction(c: Campaign) -> float:
    done, total = progress(c.counters)
    return done / total if total else 0.0


_ORDER = list(CampaignStatus)

# (header, display text, sort key)
COLUMNS: list[tuple[str, Callable[[Campaign], str], Callable[[Campaign], Any]]] = [
    ("Name", lambda c: c.name, lambda c: c.name.casefold()),
    ("Status", lambda c: CAMPAIGN_LABELS[c.status], lambda c: _ORDER.index(c.status)),
    ("Progress", _progress_text, _fraction),
    ("Recipients", lambda c: f"{sum(c.counters.values()):,}", lambda c: sum(c.counters.values())),
    ("Sent", lambda c: f"{_sent(c):,}", _sent),
    ("Delivered", lambda c: f"{_delivered(c):,}", _delivered),
    ("Read", lambda c: f"{c.counters.get('read', 0):,}", lambda c: c.counters.get("read", 0)),
    (
        "Failed",
        lambda c: f"{c.counters.get('failed', 0):,}",
        lambda c: c.counters.get("failed", 0),
    ),
    (
        "Start",
        lambda c: _when(c.started_at or c.scheduled_at),
        lambda c: (c.started_at or c.scheduled_at or c.created_at or datetime.min).isoformat(),
    ),
    ("Created", lambda c: _when(c.created_at), lambda c: c.id or 0),
]
STATUS_COLUMN = 1
PROGRESS_COLUMN = 2
FAILED_COLUMN = 7
_NUMERIC = {3, 4, 5, 6, 7}


class CampaignsModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._all: list[Campaign] = []
        self._rows: list[Campaign] = []
        self.status: CampaignStatus | None = None
        self.search = ""
        self._sort: tuple[int, Qt.SortOrder] = (len(COLUMNS) - 1, Qt.SortOrder.DescendingOrder)

    # --- content -------------------------------------------------------------------------

    def set_campaigns(self, campaigns: list[Campaign]) -> None:
        """New data (a refresh): the filter and sort stay."""
        self._all = list(campaigns)
        self._apply()

    def set_filter(self, *, status: CampaignStatus | None, search: str) -> None:
        self.status = status
        self.search = search.strip()
        self._apply()

    def counts(self) -> dict[CampaignStatus, int]:
        """Campaigns per status, over every campaign (for the filter buttons)."""
        result = dict.fromkeys(CampaignStatus, 0)
        for c in self._all:
            result[c.status] += 1
        return result

    def all_campaigns(self) -> list[Campaign]:
        return list(self._all)

    def _apply(self) -> None:
        needle = self.search.casefold()
        rows = [
            c
            for c in self._all
            if (self.status is None or c.status is self.status)
            and (not needle or needle in c.name.casefold())
        ]
        column, order = self._sort
        rows.sort(key=COLUMNS[column][2], reverse=order == Qt.SortOrder.DescendingOrder)
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()

    def campaign_at(self, row: int) -> Campaign | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, campaign_id: int) -> int | None:
        for row, c in enumerate(self._rows):
            if c.id == campaign_id:
                return row
        return None

    # --- Qt model ------------------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section][0]
        if role == Qt.ItemDataRole.TextAlignmentRole and section in _NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        campaign = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[column][1](campaign)
        if role == Qt.ItemDataRole.UserRole:
            return campaign.id
        if role == PROGRESS_ROLE:
            return None if _scheduled(campaign) else progress(campaign.counters)
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == STATUS_COLUMN:
                return status_color(CAMPAIGN_KINDS[campaign.status])
            if column == FAILED_COLUMN and campaign.counters.get("failed"):
                return status_color("bad")
        if role == Qt.ItemDataRole.TextAlignmentRole and column in _NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and column == PROGRESS_COLUMN:
            if _scheduled(campaign):
                assert campaign.scheduled_at is not None
                return f"Starts {day_and_time(campaign.scheduled_at)}"
            done, total = progress(campaign.counters)
            return f"{done:,} of {total:,} recipients done" if total else "Not started"
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(COLUMNS):
            return
        self._sort = (column, order)
        self._apply()


class ProgressDelegate(QStyledItemDelegate):
    """A progress bar painted from ``PROGRESS_ROLE`` (done, total) with "n %" on it."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        value = index.data(PROGRESS_ROLE)
        if not value:
            super().paint(painter, option, index)
            return
        done, total = value
        # The row's selection background first, then the bar inset within the cell.
        QApplication.style().drawPrimitive(
            QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, option.widget
        )
        bar = QStyleOptionProgressBar()
        rect = QRect(option.rect)
        bar.rect = rect.adjusted(4, 5, -4, -5)
        bar.minimum = 0
        bar.maximum = max(total, 1)
        bar.progress = min(done, max(total, 1))
        bar.textVisible = True
        bar.text = f"{100 * done // total} %" if total else "—"
        bar.state = option.state
        bar.palette = option.palette
        QApplication.style().drawControl(
            QStyle.ControlElement.CE_ProgressBar, bar, painter, option.widget
        )
