"""The Campaigns screen (and the Dashboard: the same screen with a summary on top).

A table of campaigns colour-coded by status with a progress bar each, quick filters by
status with counts, search by name, sort by column; live while sending (the bridge's
coalesced ``campaignsChanged``). Double-click or Enter opens the campaign view.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from waapp.core.entities import Campaign
from waapp.core.states import CampaignStatus
from waapp.ui.bridge import Bridge
from waapp.ui.campaigns.list_model import PROGRESS_COLUMN, CampaignsModel, ProgressDelegate
from waapp.ui.campaigns.panel import CampaignPanel
from waapp.ui.campaigns.status import CAMPAIGN_KINDS, CAMPAIGN_LABELS, SENT_STATES
from waapp.ui.screen import Screen
from waapp.ui.theme import status_color

if TYPE_CHECKING:
    from waapp.app import Services


@dataclass(frozen=True)
class Summary:
    """The dashboard's figures, computed from the store."""

    sending_now: int
    sent_today: int
    delivery_rate: float | None  # delivered or read / sent or further, over every campaign
    read_rate: float | None
    failed: int  # failed recipients in campaigns not yet retried
    unknown: int  # recipients whose outcome the user must decide
    paused: int

    @staticmethod
    def of(campaigns: list[Campaign], sent_today: int) -> Summary:
        sent = delivered = read = failed = unknown = 0
        for c in campaigns:
            sent += sum(v for k, v in c.counters.items() if k in SENT_STATES)
            delivered += c.counters.get("delivered", 0) + c.counters.get("read", 0)
            read += c.counters.get("read", 0)
            if c.status is not CampaignStatus.CANCELLED:
                failed += c.counters.get("failed", 0)
            unknown += c.counters.get("unknown", 0)
        return Summary(
            sending_now=sum(c.status is CampaignStatus.SENDING for c in campaigns),
            sent_today=sent_today,
            delivery_rate=delivered / sent if sent else None,
            read_rate=read / sent if sent else None,
            failed=failed,
            unknown=unknown,
            paused=sum(c.status is CampaignStatus.PAUSED for c in campaigns),
        )


def _card(title: str) -> tuple[QFrame, QLabel, QLabel]:
    frame = QFrame()
    frame.setFrameShape(QFrame.Shape.StyledPanel)
    frame.setObjectName("card")
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(14, 10, 14, 10)
    value = QLabel("—")
    value.setStyleSheet("font-size: 22px; font-weight: 600")
    caption = QLabel(title)
    caption.setObjectName("hint")
    note = QLabel("")
    note.setObjectName("hint")
    layout.addWidget(caption)
    layout.addWidget(value)
    layout.addWidget(note)
    return frame, value, note


class CampaignsView(Screen):
    def __init__(
        self,
        services: Services,
        bridge: Bridge,
        *,
        dashboard: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._services = services
        self._service = services.campaigns
        self.dashboard = dashboard
        self.model = CampaignsModel(self)
        self.summary: Summary | None = None
        self._refreshing = False
        self._again = False
        self.stack = QStackedWidget()
        self.panel = CampaignPanel(services)
        self.panel.back.connect(self.show_list)
        self.panel.changed.connect(lambda: self.spawn(self.refresh()))
        self.stack.addWidget(self._list_page())
        self.stack.addWidget(self.panel)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.stack)
        bridge.campaignsChanged.connect(self._live)
        self.shortcut("Ctrl+N", self.new_campaign)
        self.shortcut("Ctrl+F", self.search.setFocus)
        self.shortcut("F5", lambda: self.spawn(self.refresh()))
        self.shortcut(Qt.Key.Key_Escape, self.show_list, widget=self.panel)
        self.shortcut(Qt.Key.Key_Return, self.open_current, widget=self.table)
        self.shortcut(Qt.Key.Key_Enter, self.open_current, widget=self.table)

    # --- building ------------------------------------------------------------------------

    def _list_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        head = QHBoxLayout()
        title = QLabel("Dashboard" if self.dashboard else "Campaigns")
        title.setObjectName("screenTitle")
        head.addWidget(title)
        head.addStretch(1)
        self.new_button = QPushButton("New campaign…")
        self.new_button.setObjectName("primary")
        self.new_button.setToolTip("Ctrl+N")
        self.new_button.clicked.connect(self.new_campaign)
        head.addWidget(self.new_button)
        layout.addLayout(head)

        self.cards: dict[str, tuple[QLabel, QLabel]] = {}
        if self.dashboard:
            cards = QHBoxLayout()
            for key, text in (
                ("sending", "Sending now"),
                ("today", "Messages sent today"),
                ("delivered", "Delivered"),
                ("read", "Read"),
                ("attention", "Needing attention"),
            ):
                frame, value, note = _card(text)
                self.cards[key] = (value, note)
                cards.addWidget(frame)
            layout.addLayout(cards)

        filters = QHBoxLayout()
        self.filter_group = QButtonGroup(self)
        self.filter_group.setExclusive(True)
        self.filter_buttons: dict[CampaignStatus | None, QPushButton] = {}
        for status in [None, *CampaignStatus]:
            button = QPushButton()
            button.setCheckable(True)
            button.setFlat(True)
            button.clicked.connect(lambda _c=False, s=status: self.set_status_filter(s))
            self.filter_group.addButton(button)
            self.filter_buttons[status] = button
            filters.addWidget(button)
        self.filter_buttons[None].setChecked(True)
        filters.addStretch(1)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search by name  (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.setMaximumWidth(260)
        self.search.textChanged.connect(self._filter_changed)
        filters.addWidget(self.search)
        layout.addLayout(filters)

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setItemDelegateForColumn(PROGRESS_COLUMN, ProgressDelegate(self.table))
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSortIndicator(
            self.model.columnCount() - 1, Qt.SortOrder.DescendingOrder
        )
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(28)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)  # the name takes the rest
        header.setMinimumSectionSize(60)
        header.resizeSection(1, 100)
        header.resizeSection(PROGRESS_COLUMN, 170)
        for column in range(3, 8):
            header.resizeSection(column, 86)
        for column in (8, 9):  # start, created
            header.resizeSection(column, 130)
        self.table.doubleClicked.connect(lambda index: self.open_row(index.row()))
        layout.addWidget(self.table, 1)
        self.empty = QLabel(
            "No campaigns yet.\nPress “New campaign…” to send a message to a group of contacts."
        )
        self.empty.setObjectName("emptyState")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.empty, 1)
        self.empty.hide()
        self._update_filter_buttons()
        return page

    # --- loading -------------------------------------------------------------------------

    async def load(self) -> None:
        await self.refresh()

    async def refresh(self) -> None:
        """Read the campaigns (and the summary, and the open campaign) again. Calls that
        overlap collapse into one more round."""
        if self._refreshing:
            self._again = True
            return
        self._refreshing = True
        try:
            while True:
                self._again = False
                campaigns = await self._service.list()
                sent_today = None
                if self.dashboard:
                    midnight = datetime.combine(datetime.now().date(), time()).astimezone()
                    sent_today = await self._sent_since(midnight)
                self._show(campaigns, sent_today)
                if self.stack.currentWidget() is self.panel:
                    await self.panel.refresh()
                if not self._again:
                    break
        finally:
            self._refreshing = False

    async def _sent_since(self, since: datetime) -> int:
        repo = self._service.repo
        return await self._services.worker.run(repo.sent_since, since)

    def _live(self) -> None:
        self.spawn(self.refresh())

    def _show(self, campaigns: list[Campaign], sent_today: int | None) -> None:
        selected = self.current_id()
        self.model.set_campaigns(campaigns)
        self._update_filter_buttons()
        self.empty.setVisible(not campaigns)
        self.table.setVisible(bool(campaigns))
        if selected is not None:
            row = self.model.row_of(selected)
            if row is not None:
                self.table.selectRow(row)
        if sent_today is not None:
            self.summary = Summary.of(campaigns, sent_today)
            self._show_summary(self.summary)

    def _show_summary(self, s: Summary) -> None:
        def put(key: str, value: str, note: str, kind: str | None = None) -> None:
            label, caption = self.cards[key]
            label.setText(value)
            caption.setText(note)
            color = f"color: {status_color(kind).name()}; " if kind else ""
            label.setStyleSheet(f"font-size: 22px; font-weight: 600; {color}")

        put("sending", f"{s.sending_now}", f"{s.paused} paused" if s.paused else "campaigns")
        put("today", f"{s.sent_today:,}", "since midnight")
        put(
            "delivered",
            "—" if s.delivery_rate is None else f"{100 * s.delivery_rate:.0f} %",
            "of sent messages",
        )
        put("read", "—" if s.read_rate is None else f"{100 * s.read_rate:.0f} %", "of sent")
        attention = s.failed + s.unknown
        put(
            "attention",
            f"{attention:,}",
            f"{s.failed:,} failed · {s.unknown:,} unknown" if attention else "all clear",
            "bad" if s.failed else "warn" if s.unknown else "ok",
        )

    def _update_filter_buttons(self) -> None:
        counts = self.model.counts()
        total = sum(counts.values())
        for status, button in self.filter_buttons.items():
            if status is None:
                button.setText(f"All {total}")
                continue
            count = counts[status]
            button.setText(f"{CAMPAIGN_LABELS[status]} {count}")
            color = status_color(CAMPAIGN_KINDS[status]).name()
            button.setStyleSheet(
                f"QPushButton {{ color: {color}; padding: 4px 10px; border-radius: 10px; }}"
                f"QPushButton:checked {{ background: palette(highlight); "
                f"color: palette(highlighted-text); }}"
            )
            # Hide empty statuses unless it is the chosen one: fewer, calmer buttons.
            button.setVisible(count > 0 or self.model.status is status)

    # --- filtering -----------------------------------------------------------------------

    def set_status_filter(self, status: CampaignStatus | None) -> None:
        self.filter_buttons[status].setChecked(True)
        self.model.set_filter(status=status, search=self.search.text())
        self._update_filter_buttons()

    def _filter_changed(self) -> None:
        self.model.set_filter(status=self.model.status, search=self.search.text())

    # --- opening -------------------------------------------------------------------------

    def current_id(self) -> int | None:
        index = self.table.currentIndex()
        campaign = self.model.campaign_at(index.row()) if index.isValid() else None
        return None if campaign is None else campaign.id

    def open_current(self) -> None:
        index = self.table.currentIndex()
        if index.isValid():
            self.open_row(index.row())

    def open_row(self, row: int) -> None:
        campaign = self.model.campaign_at(row)
        if campaign is not None and campaign.id is not None:
            self.open_campaign(campaign.id)

    def open_campaign(self, campaign_id: int) -> Any:
        """Show the campaign view (returns the loading task)."""
        self.stack.setCurrentWidget(self.panel)
        self.panel.setFocus()
        return self.spawn(self.panel.load(campaign_id))

    def show_list(self) -> None:
        self.stack.setCurrentIndex(0)
        self.table.setFocus()

    # --- the wizard ----------------------------------------------------------------------

    def new_campaign(self) -> None:
        self.open_wizard()

    def open_wizard(self) -> None:
        from waapp.ui.campaigns.wizard import CampaignWizard

        wizard = CampaignWizard(self._services, parent=self)
        wizard.finished.connect(lambda *_: self.spawn(self.refresh()))
        wizard.open()

    def shutdown(self) -> None:
        super().shutdown()
        self.panel.shutdown()
