"""The campaign view: progress with counts and rate, the breakdown, the delivery funnel,
failures grouped by error (meaning and what to do), the timeline, the recipient table
filterable by status, export, and exactly the actions the campaign's state allows.

A draft is edited, scheduled, started, deleted or duplicated; a scheduled campaign shows its
time and is edited (it stays scheduled until the edit is saved; an abandoned edit changes
nothing), started now or cancelled. When the scheduler left it waiting for the user (its time passed while
waapp was closed and its policy is "ask me"), the view asks: send now, or don't send."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from waapp.core.catalogue import Dialect, lookup
from waapp.core.entities import Campaign, CampaignEvent
from waapp.core.states import CampaignStatus, MessageState
from waapp.services.campaigns.results import STATE_LABELS, export_results
from waapp.services.campaigns.scheduler import ASK_NOTE
from waapp.services.campaigns.scheduler import CAUSE as SCHEDULER
from waapp.ui.campaigns.recipients_model import RecipientsModel
from waapp.ui.campaigns.status import (
    CAMPAIGN_KINDS,
    CAMPAIGN_LABELS,
    MESSAGE_KINDS,
    SENT_STATES,
    day_and_time,
    missed_words,
    progress,
)
from waapp.ui.ops import Op
from waapp.ui.theme import status_color

if TYPE_CHECKING:
    from waapp.app import Services

_C = CampaignStatus
_M = MessageState

#: The actions and the states that allow them (product.md part 4: edit/schedule a draft;
#: edit/cancel a scheduled one; pause a sending one; resume/cancel a paused one; report,
#: duplicate, retry failed on a finished one).
ACTIONS: dict[str, frozenset[CampaignStatus]] = {
    "edit": frozenset({_C.DRAFT, _C.SCHEDULED}),  # a scheduled one stays so until saved
    "schedule": frozenset({_C.DRAFT}),
    "start": frozenset({_C.DRAFT, _C.SCHEDULED}),  # a scheduled one: "Start now"
    "pause": frozenset({_C.SENDING}),
    "resume": frozenset({_C.PAUSED}),
    "cancel": frozenset({_C.SCHEDULED, _C.PAUSED}),
    "delete": frozenset({_C.DRAFT}),
    "duplicate": frozenset({_C.DRAFT, _C.COMPLETED, _C.FAILED, _C.CANCELLED}),
    "retry": frozenset({_C.COMPLETED, _C.FAILED}),  # and only with failed recipients
}
#: The breakdown's order.
BREAKDOWN = (
    _M.PENDING,
    _M.SENDING,
    _M.RETRY_WAIT,
    _M.SENT,
    _M.DELIVERED,
    _M.READ,
    _M.FAILED,
    _M.UNKNOWN,
    _M.SKIPPED,
    _M.CANCELLED,
)


@dataclass
class Snapshot:
    """What one refresh reads from the store."""

    campaign: Campaign
    counts: dict[str, int]
    timeline: list[CampaignEvent]
    failures: list[tuple[str | None, str, int]]
    per_minute: int | None  # sent during the last minute, while sending
    extra: dict[str, Any] = field(default_factory=dict)


def _when(value: datetime) -> str:
    return value.astimezone().strftime("%d %b %Y %H:%M:%S")


def waiting_for_user(campaign: Campaign, timeline: list[CampaignEvent]) -> bool:
    """Whether the scheduler left this scheduled campaign waiting for the user's word (its
    time passed while waapp was closed, and its policy is "ask me")."""
    if campaign.status is not _C.SCHEDULED:
        return False
    for event in reversed(timeline):
        if event.cause == SCHEDULER and event.detail == ASK_NOTE:
            return True
        if event.to_status is _C.SCHEDULED and event.from_status is not _C.SCHEDULED:
            return False  # scheduled again since
    return False


class CampaignPanel(QWidget):
    """Opened from the campaigns list; ``back`` asks to return to it; ``changed`` after an
    action (the list refreshes)."""

    back = Signal()
    changed = Signal()

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._services = services
        self._service = services.campaigns
        self._worker = services.worker
        self.campaign: Campaign | None = None
        self.snapshot: Snapshot | None = None
        self.model = RecipientsModel(
            self._service.repo, self._worker, dialect=self.dialect, parent=self
        )
        self._refreshing: asyncio.Future[None] | None = None  # the refresh under way
        self._again = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self.wizard: Any = None  # the edit wizard, while it is open
        self._build()

    # --- building ------------------------------------------------------------------------

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        head = QHBoxLayout()
        self.back_button = QPushButton("← Campaigns")
        self.back_button.setFlat(True)
        self.back_button.clicked.connect(self.back.emit)
        self.title = QLabel()
        self.title.setObjectName("screenTitle")
        self.status_label = QLabel()
        self.status_label.setStyleSheet("font-size: 14px; font-weight: 600")
        head.addWidget(self.back_button)
        head.addWidget(self.title)
        head.addSpacing(8)
        head.addWidget(self.status_label)
        head.addStretch(1)
        self.buttons: dict[str, QPushButton] = {}
        for key, text, slot in (
            ("edit", "Edit…", self.edit),
            ("schedule", "Schedule…", self.schedule),
            ("start", "Start sending", self.start),
            ("pause", "Pause", self.pause),
            ("resume", "Resume", self.resume),
            ("cancel", "Cancel campaign", self.cancel),
            ("delete", "Delete", self.delete),
            ("retry", "Retry failed", self.retry_failed),
            ("duplicate", "Duplicate", self.duplicate),
            ("export", "Export results…", self.export),
        ):
            button = QPushButton(text)
            button.clicked.connect(slot)
            button.setVisible(False)
            if key in ("start", "resume"):
                button.setObjectName("primary")
            self.buttons[key] = button
            head.addWidget(button)
        layout.addLayout(head)

        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setMinimumHeight(22)
        self.progress_label = QLabel()
        self.reason_label = QLabel()
        self.reason_label.setWordWrap(True)
        self.reason_label.setVisible(False)
        layout.addWidget(self.progress)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.reason_label)
        layout.addWidget(self._ask_box())

        middle = QHBoxLayout()
        grid = QGridLayout()
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(2)
        self.breakdown: dict[MessageState, QPushButton] = {}
        for n, state in enumerate(BREAKDOWN):
            button = QPushButton()
            button.setFlat(True)
            button.setToolTip(f"Show the recipients who are {STATE_LABELS[state].lower()}")
            button.setStyleSheet("text-align: left; padding: 2px 6px")
            button.clicked.connect(lambda _c=False, s=state: self.filter_by(s))
            self.breakdown[state] = button
            grid.addWidget(button, n % 5, n // 5)
        breakdown_box = QWidget()
        breakdown_box.setLayout(grid)
        breakdown_box.setMinimumWidth(330)
        middle.addWidget(breakdown_box, 0, Qt.AlignmentFlag.AlignTop)
        from waapp.ui.campaigns.funnel import FunnelChart  # QtCharts on first use

        self.funnel = FunnelChart()
        middle.addWidget(self.funnel, 1)
        layout.addLayout(middle)

        self.tabs = QTabWidget()
        self.tabs.addTab(self._recipients_tab(), "Recipients")
        self.failures = QTableWidget(0, 5)
        self.failures.setHorizontalHeaderLabels(
            ["Code", "Recipients", "Error", "What it means", "What to do"]
        )
        self._plain_table(self.failures)
        self.failures.setWordWrap(True)
        self.failures.cellDoubleClicked.connect(self._show_failure_recipients)
        self.tabs.addTab(self.failures, "Failures")
        self.timeline = QTableWidget(0, 4)
        self.timeline.setHorizontalHeaderLabels(["When", "Status", "By", "Detail"])
        self._plain_table(self.timeline)
        self.tabs.addTab(self.timeline, "Timeline")
        layout.addWidget(self.tabs, 1)

    def _ask_box(self) -> QWidget:
        """The question for a scheduled campaign whose time passed while waapp was closed."""
        self.ask_box = QFrame()
        self.ask_box.setObjectName("askBox")
        self.ask_box.setFrameShape(QFrame.Shape.StyledPanel)
        self.ask_label = QLabel()
        self.ask_label.setWordWrap(True)
        self.send_now_btn = QPushButton("Send now")
        self.send_now_btn.setObjectName("primary")
        self.send_now_btn.clicked.connect(self.send_now)
        self.dont_send_btn = QPushButton("Don't send")
        self.dont_send_btn.setToolTip("Keep it as a draft: you can schedule it again or delete it")
        self.dont_send_btn.clicked.connect(self.dont_send)
        row = QHBoxLayout(self.ask_box)
        row.addWidget(self.ask_label, 1)
        row.addWidget(self.send_now_btn)
        row.addWidget(self.dont_send_btn)
        self.ask_box.hide()
        return self.ask_box

    @staticmethod
    def _plain_table(table: QTableWidget) -> None:
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.verticalHeader().hide()
        table.horizontalHeader().setStretchLastSection(True)
        table.setAlternatingRowColors(True)

    def _recipients_tab(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Show:"))
        self.state_filter = QComboBox()
        self.state_filter.addItem("Everyone", None)
        for state in BREAKDOWN:
            self.state_filter.addItem(STATE_LABELS[state], state.value)
        self.state_filter.currentIndexChanged.connect(self._filter_changed)
        bar.addWidget(self.state_filter)
        self.shown_label = QLabel()
        self.shown_label.setObjectName("hint")
        bar.addWidget(self.shown_label)
        bar.addStretch(1)
        self.mark_sent = QPushButton("Mark as sent")
        self.mark_sent.setToolTip(
            "For recipients whose outcome is unknown: you checked that the message arrived."
        )
        self.send_again = QPushButton("Send again")
        self.send_again.setToolTip(
            "For recipients whose outcome is unknown: queue the message again (it may "
            "arrive twice if the first one did go out)."
        )
        self.mark_sent.clicked.connect(lambda: self.resolve_unknown(send_again=False))
        self.send_again.clicked.connect(lambda: self.resolve_unknown(send_again=True))
        bar.addWidget(self.mark_sent)
        bar.addWidget(self.send_again)
        layout.addLayout(bar)
        self.table = QTableView()
        self.table.setModel(self.model)
        # The indicator first: enabling sorting sorts by it (none: the order of sending).
        self.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(24)
        # Fixed row heights: Qt then sizes 100 000 rows without asking each one.
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        header.resizeSection(0, 180)
        header.resizeSection(1, 160)
        header.resizeSection(2, 120)
        header.resizeSection(3, 140)
        header.resizeSection(4, 70)
        self.table.selectionModel().selectionChanged.connect(self._update_resolve_buttons)
        self.model.modelReset.connect(self._update_resolve_buttons)
        self.model.refreshed.connect(self._shown)
        layout.addWidget(self.table)
        self._update_resolve_buttons()
        return page

    # --- loading -------------------------------------------------------------------------

    def dialect(self) -> Dialect | None:
        if self.campaign is None:
            return None
        provider = self._services.accounts.providers().get(self.campaign.account_id)
        return None if provider is None else provider.dialect

    async def load(self, campaign_id: int) -> None:
        """Show a campaign (its recipients unfiltered)."""
        if self.campaign is None or self.campaign.id != campaign_id:
            self.state_filter.blockSignals(True)
            self.state_filter.setCurrentIndex(0)
            self.state_filter.blockSignals(False)
            self.model.states = None
        snapshot = await self._read(campaign_id)
        self._show(snapshot)
        await self.model.refresh(campaign_id)

    async def refresh(self) -> None:
        """Read again (live while sending). Overlapping calls collapse into one more pass,
        and every caller returns only once the data read after its call is shown."""
        if self.campaign is None or self.campaign.id is None:
            return
        if self._refreshing is not None:
            self._again = True
            await asyncio.shield(self._refreshing)
            return
        self._refreshing = asyncio.get_running_loop().create_future()
        try:
            while self.campaign is not None and self.campaign.id is not None:
                self._again = False
                campaign_id = self.campaign.id
                snapshot = await self._read(campaign_id)
                # Another campaign opened meanwhile (duplicate, a click in the list): this
                # read is stale, and showing it would open the old campaign again.
                if self.campaign is not None and self.campaign.id == campaign_id:
                    self._show(snapshot)
                    await self.model.refresh()
                if not self._again:
                    break
        finally:
            done, self._refreshing = self._refreshing, None
            done.set_result(None)

    async def _read(self, campaign_id: int) -> Snapshot:
        repo = self._service.repo
        report = await self._service.show(campaign_id)
        failures = await self._worker.run(repo.failures_by_code, campaign_id)
        per_minute = None
        if report.campaign.status is _C.SENDING:
            since = datetime.now(UTC) - timedelta(minutes=1)
            per_minute = await self._worker.run(repo.sent_since, since, campaign_id=campaign_id)
        return Snapshot(report.campaign, report.counts, report.timeline, failures, per_minute)

    # --- showing -------------------------------------------------------------------------

    def _show(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        campaign = self.campaign = snapshot.campaign
        counts = snapshot.counts
        self.title.setText(campaign.name)
        self.status_label.setText(CAMPAIGN_LABELS[campaign.status])
        self.status_label.setStyleSheet(
            "font-size: 14px; font-weight: 600; "
            f"color: {status_color(CAMPAIGN_KINDS[campaign.status]).name()}"
        )
        failed = counts.get(_M.FAILED, 0)
        for key, button in self.buttons.items():
            allowed = campaign.status in ACTIONS.get(key, frozenset())
            if key == "retry":
                allowed = allowed and failed > 0
            if key == "export":
                allowed = sum(counts.values()) > 0
            button.setVisible(allowed)
            button.setEnabled(allowed)
        self.buttons["start"].setText(
            "Start now" if campaign.status is _C.SCHEDULED else "Start sending"
        )
        waiting = waiting_for_user(campaign, snapshot.timeline)
        self.ask_box.setVisible(waiting)
        if waiting and campaign.scheduled_at is not None:
            self.ask_label.setText(
                f"This campaign was scheduled for {day_and_time(campaign.scheduled_at)}, "
                "but waapp was closed then. Send it now?"
            )

        done, total = progress(counts)
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(min(done, max(total, 1)))
        self.progress.setFormat(f"{100 * done // total} %" if total else "Not started")
        sent = sum(v for k, v in counts.items() if k in SENT_STATES)
        if campaign.status is _C.SCHEDULED and campaign.scheduled_at is not None:
            text = f"Scheduled for {day_and_time(campaign.scheduled_at)}."
            if not waiting:  # the question below says the rest
                missed = missed_words(campaign.missed_schedule_policy, campaign.missed_after_hours)
                text += f" If waapp is closed then, {missed}."
            self.progress.setFormat("Scheduled")
        elif campaign.status is _C.DRAFT:
            text = "A draft: nothing is sent until you start or schedule it."
        elif total:
            text = f"{done:,} of {total:,} recipients done · {sent:,} sent · {failed:,} failed"
        else:
            text = "No recipients yet: the audience is frozen when the campaign starts."
        if snapshot.per_minute is not None:
            text += f" · {snapshot.per_minute:,} messages/min"
        self.progress_label.setText(text)
        reason = self._reason(snapshot)
        self.reason_label.setText(reason)
        self.reason_label.setVisible(bool(reason))
        self.reason_label.setStyleSheet(f"color: {status_color('warn').name()}")

        for state, button in self.breakdown.items():
            count = counts.get(state, 0)
            button.setText(f"{STATE_LABELS[state]}: {count:,}")
            kind = MESSAGE_KINDS[state] if count else "muted"
            button.setStyleSheet(
                "text-align: left; padding: 2px 6px; "
                + (f"color: {status_color(kind).name()}; " if count else "")
                + ("font-weight: 600" if count else "")
            )
        delivered = counts.get(_M.DELIVERED, 0) + counts.get(_M.READ, 0)
        self.funnel.set_values(total, sent, delivered, counts.get(_M.READ, 0))
        self._show_failures(snapshot.failures)
        self._show_timeline(snapshot.timeline)
        for position, state in enumerate(BREAKDOWN, start=1):
            self.state_filter.setItemText(
                position, f"{STATE_LABELS[state]} ({counts.get(state, 0):,})"
            )
        self.state_filter.setItemText(0, f"Everyone ({total:,})")
        self.tabs.setTabText(1, f"Failures ({failed:,})" if failed else "Failures")

    @staticmethod
    def _reason(snapshot: Snapshot) -> str:
        """Why a campaign paused or failed by itself (the last such timeline entry)."""
        status = snapshot.campaign.status
        if status not in (_C.PAUSED, _C.FAILED):
            return ""
        for event in reversed(snapshot.timeline):
            if event.to_status is status and event.from_status is not status:
                if event.cause != "user" and event.detail:
                    return f"{CAMPAIGN_LABELS[status]} by waapp: {event.detail}"
                return ""
        return ""

    def _show_failures(self, failures: list[tuple[str | None, str, int]]) -> None:
        dialect = self.dialect()
        self.failures.setRowCount(len(failures))
        for row, (code, title, count) in enumerate(failures):
            meaning, what_to_do = "", ""
            if code and dialect is not None:
                entry = lookup(str(dialect), code)
                title, meaning, what_to_do = entry.title, entry.meaning, entry.what_to_do
            cells = [code or "—", f"{count:,}", title or "No error code", meaning, what_to_do]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                item.setData(Qt.ItemDataRole.UserRole, code)
                if column == 1:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.failures.setItem(row, column, item)
        header = self.failures.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.resizeSection(2, 200)
        header.resizeSection(3, 320)
        self.failures.resizeRowsToContents()

    def _show_timeline(self, timeline: list[CampaignEvent]) -> None:
        self.timeline.setRowCount(len(timeline))
        for row, event in enumerate(reversed(timeline)):  # newest first
            if event.from_status is None or event.from_status is event.to_status:
                change = CAMPAIGN_LABELS[event.to_status]
            else:
                change = (
                    f"{CAMPAIGN_LABELS[event.from_status]} → {CAMPAIGN_LABELS[event.to_status]}"
                )
            cells = [_when(event.at), change, event.cause or "", event.detail or ""]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if column == 1:
                    item.setForeground(status_color(CAMPAIGN_KINDS[event.to_status]))
                self.timeline.setItem(row, column, item)
        self.timeline.resizeColumnsToContents()

    def _shown(self, count: int) -> None:
        self.shown_label.setText(f"{count:,} shown")

    # --- recipients ----------------------------------------------------------------------

    def filter_by(self, state: str | None) -> None:
        """Show only the recipients in ``state`` (None: everyone)."""
        index = self.state_filter.findData(state)
        self.tabs.setCurrentIndex(0)
        if index == self.state_filter.currentIndex():
            self._filter_changed()
        else:
            self.state_filter.setCurrentIndex(max(index, 0))

    def _filter_changed(self) -> None:
        state = self.state_filter.currentData()
        self._spawn(self.model.refresh(states=None if state is None else [state]))

    def _show_failure_recipients(self, _row: int, _column: int) -> None:
        self.filter_by(_M.FAILED.value)

    def selected_unknown(self) -> list[int]:
        ids: list[int] = []
        for index in self.table.selectionModel().selectedRows():
            found = self.model.row_at(index.row())
            if found is not None and found[0].state is _M.UNKNOWN and found[0].id is not None:
                ids.append(found[0].id)
        return ids

    def _update_resolve_buttons(self) -> None:
        has = bool(self.selected_unknown())
        self.mark_sent.setEnabled(has)
        self.send_again.setEnabled(has)
        any_unknown = bool(self.snapshot and self.snapshot.counts.get(_M.UNKNOWN, 0))
        self.mark_sent.setVisible(any_unknown)
        self.send_again.setVisible(any_unknown)

    # --- actions -------------------------------------------------------------------------

    def confirm(self, text: str, detail: str = "") -> bool:
        box = QMessageBox(QMessageBox.Icon.Question, "waapp", text, parent=self)
        box.setInformativeText(detail)
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        return box.exec() == QMessageBox.StandardButton.Yes

    def choose_export_path(self) -> Path | None:
        name = (self.campaign.name if self.campaign else "campaign").replace("/", "-")
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Export results",
            str(Path.home() / f"{name} results.xlsx"),
            "Excel workbook (*.xlsx);;CSV (*.csv)",
        )
        return Path(path) if path else None

    def _act(
        self, work: Callable[[], Awaitable[Any]], done: str, *, refresh: bool = True
    ) -> asyncio.Task[Any]:
        async def run() -> Any:
            try:
                return await work()
            finally:
                if refresh:
                    await self.refresh()
                self.changed.emit()

        task = Op(self, run).success(lambda _r: done and self._status(done)).run()
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _id(self) -> int:
        assert self.campaign is not None and self.campaign.id is not None
        return self.campaign.id

    def start(self) -> asyncio.Task[Any] | None:
        campaign_id = self._id()
        return self._act(lambda: self._service.start(campaign_id), "Sending started.")

    def pause(self) -> asyncio.Task[Any] | None:
        campaign_id = self._id()
        return self._act(lambda: self._service.pause(campaign_id), "Campaign paused.")

    def resume(self) -> asyncio.Task[Any] | None:
        campaign_id = self._id()
        return self._act(lambda: self._service.resume(campaign_id), "Sending resumed.")

    def cancel(self) -> asyncio.Task[Any] | None:
        campaign_id = self._id()
        if not self.confirm(
            "Cancel this campaign?",
            "Recipients who have not been sent to yet will not get the message. A cancelled "
            "campaign cannot be resumed (you can duplicate it).",
        ):
            return None
        return self._act(lambda: self._service.cancel(campaign_id), "Campaign cancelled.")

    def retry_failed(self) -> asyncio.Task[Any] | None:
        campaign_id = self._id()
        return self._act(
            lambda: self._service.retry_failed(campaign_id),
            "Failed recipients queued again.",
        )

    def duplicate(self) -> asyncio.Task[Any] | None:
        campaign_id = self._id()

        async def work() -> None:
            copy = await self._service.duplicate(campaign_id)
            assert copy.id is not None
            await self.load(copy.id)

        return self._act(work, "A new draft was made from this campaign.")

    def delete(self) -> asyncio.Task[Any] | None:
        campaign_id = self._id()
        name = self.campaign.name if self.campaign else ""
        if not self.confirm(
            f"Delete the draft “{name}”?", "It has not been sent to anyone. This cannot be undone."
        ):
            return None

        async def work() -> None:
            await self._service.delete(campaign_id)
            self.campaign = None
            self.back.emit()

        return self._act(work, f"The draft “{name}” was deleted.", refresh=False)

    # --- editing and scheduling ------------------------------------------------------------

    def edit(self, *, page: int = 0, later: bool = False) -> asyncio.Task[Any] | None:
        """Open the wizard on this campaign (a draft or a scheduled one). Nothing changes
        until the wizard saves: a scheduled campaign stays scheduled while it is edited,
        and an abandoned edit leaves it exactly as it was."""
        original = self.campaign
        if original is None or original.id is None or self.wizard is not None:
            return None

        async def work() -> None:
            self._open_wizard(original, page=page, later=later)

        return self._act(work, "")

    def schedule(self) -> asyncio.Task[Any] | None:
        """The wizard on its schedule step, "at a date and time" chosen."""
        from waapp.ui.campaigns.wizard import SCHEDULE

        return self.edit(page=SCHEDULE, later=True)

    def _open_wizard(self, original: Campaign, *, page: int, later: bool) -> None:
        from waapp.ui.campaigns.wizard import CampaignWizard

        wizard = CampaignWizard(
            self._services, editing=original, page=page, later=later, parent=self
        )
        self.wizard = wizard
        wizard.finished.connect(lambda result: self._wizard_finished(wizard, result))
        wizard.open()

    def _wizard_finished(self, wizard: Any, result: int) -> None:
        if self.wizard is wizard:
            self.wizard = None
        wizard.deleteLater()
        abandoned = result != QDialog.DialogCode.Accepted
        done = "" if abandoned else self._saved_words(wizard.campaign)
        self._act(self._nothing, done)

    @staticmethod
    async def _nothing() -> None:
        return None

    @staticmethod
    def _saved_words(campaign: Campaign | None) -> str:
        if campaign is None:
            return ""
        if campaign.status is _C.SCHEDULED and campaign.scheduled_at is not None:
            return f"Scheduled for {day_and_time(campaign.scheduled_at)}."
        if campaign.status is _C.SENDING:
            return "Sending started."
        return "The draft was saved."

    def send_now(self) -> asyncio.Task[Any] | None:
        """The user's answer to a missed schedule: send it now."""
        campaign_id = self._id()
        return self._act(
            lambda: self._service.start(
                campaign_id, note="the scheduled time was missed; you chose to send it now"
            ),
            "Sending started.",
        )

    def dont_send(self) -> asyncio.Task[Any] | None:
        """The user's answer to a missed schedule: don't send it (it stays as a draft)."""
        campaign_id = self._id()
        return self._act(
            lambda: self._service.unschedule(
                campaign_id,
                detail="not sent: the scheduled time was missed and you chose not to send "
                "it; back to draft",
            ),
            "Not sent: the campaign is a draft again.",
        )

    def resolve_unknown(self, *, send_again: bool) -> asyncio.Task[Any] | None:
        ids = self.selected_unknown()
        if not ids:
            return None
        campaign_id = self._id()
        status = self.campaign.status if self.campaign else None
        after = (
            " Resume the campaign to send them."
            if send_again and status in (_C.PAUSED, _C.FAILED)
            else ""
        )
        done = (
            f"{len(ids)} recipient(s) queued again.{after}"
            if send_again
            else f"{len(ids)} recipient(s) marked as sent."
        )
        return self._act(
            lambda: self._service.resolve_unknown(campaign_id, ids, send_again=send_again), done
        )

    def export(self, path: Path | None = None) -> asyncio.Task[Any] | None:
        target = path or self.choose_export_path()
        if target is None:
            return None
        if target.suffix.lower() not in (".xlsx", ".csv"):
            target = target.with_suffix(".xlsx")
        campaign_id = self._id()
        dialect = self.dialect()

        async def work() -> int:
            return await export_results(
                self._service, self._worker, campaign_id, target, dialect=dialect
            )

        task = (
            Op(self, work)
            .success(lambda n: self._status(f"{n:,} recipients exported to {target.name}."))
            .with_progress("Exporting results…")
            .run()
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _status(self, text: str) -> None:
        bar = getattr(self.window(), "statusBar", None)
        if callable(bar):
            bar().showMessage(text, 5000)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_event_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self.model.cancel_pending()
