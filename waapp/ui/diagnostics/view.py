"""The Diagnostics screen: an overview strip, then four tabs — Accounts health, Delivery
reports (webhooks and tunnel), Last events, and the Troubleshooting guide.

It refreshes when the bridge says the intake, the accounts or the statuses changed, within
a second of the receiver or the writer counting something new, and every few seconds
while it is visible (for the "… ago" times). The first time it is shown it checks every
account's health.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QPushButton,
    QScrollArea,
    QStackedLayout,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from waapp.core.entities import AccountKind
from waapp.core.errors import WaappError
from waapp.services.diagnostics import DiagnosticsService, DiagnosticsSnapshot
from waapp.ui.bridge import Bridge
from waapp.ui.diagnostics import text
from waapp.ui.diagnostics.cards import AccountCard, Tile, coloured
from waapp.ui.diagnostics.events_model import EventsModel
from waapp.ui.diagnostics.guide import GuidePanel
from waapp.ui.diagnostics.webhooks import DeliveryPanel
from waapp.ui.ops import Op

if TYPE_CHECKING:
    from waapp.app import Services

log = logging.getLogger(__name__)

REFRESH_MS = 5000
PULSE_MS = 1000

ACCOUNTS_TAB, DELIVERY_TAB, EVENTS_TAB, GUIDE_TAB = range(4)


def make_service(services: Services) -> DiagnosticsService:
    from waapp.app import TUNNEL_COMMAND_KEY, WEBHOOK_PORT_KEY

    return DiagnosticsService(
        accounts=services.accounts,
        intake=lambda: services.intake,
        statuses=services.db.statuses,
        settings=services.db.settings,
        worker=services.worker,
        bus=services.bus,
        port_key=WEBHOOK_PORT_KEY,
        tunnel_key=TUNNEL_COMMAND_KEY,
    )


class DiagnosticsView(QWidget):
    def __init__(
        self,
        services: Services,
        bridge: Bridge,
        *,
        auto_check: bool = True,
        refresh_ms: int = REFRESH_MS,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.services = services
        self.bridge = bridge
        self.service = make_service(services)
        self.snapshot: DiagnosticsSnapshot | None = None
        self._auto_check = auto_check
        self._shown_once = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._refreshing: asyncio.Task[Any] | None = None
        self._again = False
        self.cards: dict[int, AccountCard] = {}

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)

        # --- header and overview ---------------------------------------------------------
        title = QLabel("Diagnostics")
        title.setObjectName("screenTitle")
        self.updated = QLabel()
        self.updated.setObjectName("hint")
        self.refresh_btn = QPushButton("Refresh")
        self.refresh_btn.setToolTip("Read everything again (it also refreshes by itself)")
        self.refresh_btn.clicked.connect(self.request_refresh)
        header = QHBoxLayout()
        header.addWidget(title)
        header.addStretch(1)
        header.addWidget(self.updated)
        header.addWidget(self.refresh_btn)

        self.accounts_tile = Tile("Accounts")
        self.delivery_tile = Tile("Delivery reports")
        self.events_tile = Tile("Last event received")
        tiles = QHBoxLayout()
        for tab, tile in (
            (ACCOUNTS_TAB, self.accounts_tile),
            (DELIVERY_TAB, self.delivery_tile),
            (EVENTS_TAB, self.events_tile),
        ):
            tile.clicked.connect(lambda tab=tab: self.tabs.setCurrentIndex(tab))
            tiles.addWidget(tile, 1)

        # --- accounts health ---------------------------------------------------------------
        self.check_all_btn = QPushButton("Check all")
        self.check_all_btn.setObjectName("primary")
        self.check_all_btn.setToolTip("Ask every provider now how its number is doing")
        self.check_all_btn.clicked.connect(self.check_all)
        accounts_top = QHBoxLayout()
        accounts_top.addWidget(
            self._hint("How each account's number is doing, as its provider reports it."), 1
        )
        accounts_top.addWidget(self.check_all_btn)
        self.cards_box = QVBoxLayout()
        self.cards_box.setSpacing(10)
        self.no_accounts = self._hint("No account yet. Add one in Accounts.")
        self.no_accounts.setObjectName("emptyState")
        self.cards_box.addWidget(self.no_accounts)
        self.cards_box.addStretch(1)
        accounts_page = QWidget()
        accounts_layout = QVBoxLayout(accounts_page)
        accounts_layout.addLayout(accounts_top)
        accounts_layout.addWidget(self._scroll(self.cards_box), 1)

        # --- delivery reports --------------------------------------------------------------
        self.delivery = DeliveryPanel()
        self.delivery.applyRequested.connect(self.apply_webhook_settings)
        self.delivery.retryRequested.connect(self.retry_dead_letters)
        delivery_page = QWidget()
        delivery_layout = QVBoxLayout(delivery_page)
        delivery_layout.addWidget(
            self._hint(
                "Providers tell waapp what happened to each message (sent, delivered, read, "
                "failed) and pass on replies by calling this computer's webhook receiver."
            )
        )
        holder = QVBoxLayout()
        holder.addWidget(self.delivery)
        delivery_layout.addWidget(self._scroll(holder), 1)

        # --- last events -------------------------------------------------------------------
        self.events_model = EventsModel(self)
        self.events_table = QTableView()
        self.events_table.setModel(self.events_model)
        self.events_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.events_table.verticalHeader().hide()
        self.events_table.verticalHeader().setDefaultSectionSize(26)
        self.events_table.horizontalHeader().setStretchLastSection(True)
        self.events_table.setAlternatingRowColors(True)
        self.events_table.setShowGrid(False)
        self.events_table.setWordWrap(False)
        for column, width in enumerate((90, 130, 110, 230, 200)):
            self.events_table.setColumnWidth(column, width)
        self.events_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.Interactive
        )
        self.no_events = QLabel(
            "Nothing received yet.\nSend a test message, or read “No delivery reports arrive” "
            "in the troubleshooting guide."
        )
        self.no_events.setObjectName("emptyState")
        self.no_events.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.events_stack = QStackedLayout()
        self.events_stack.addWidget(self.events_table)
        self.events_stack.addWidget(self.no_events)
        events_page = QWidget()
        events_layout = QVBoxLayout(events_page)
        events_layout.addWidget(
            self._hint(
                "The last delivery reports and replies received, newest first; it updates by "
                "itself. Point at an error to read what it means and what to do."
            )
        )
        events_layout.addLayout(self.events_stack, 1)

        # --- guide ---------------------------------------------------------------------------
        self.guide = GuidePanel()

        self.tabs.addTab(accounts_page, "Accounts health")
        self.tabs.addTab(delivery_page, "Delivery reports")
        self.tabs.addTab(events_page, "Last events")
        self.tabs.addTab(self.guide, "Troubleshooting guide")

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addLayout(tiles)
        layout.addSpacing(4)
        layout.addWidget(self.tabs, 1)

        self._timer = QTimer(self)
        self._timer.setInterval(refresh_ms)
        self._timer.timeout.connect(self.request_refresh)
        # Status updates of messages waapp does not know publish no event, yet they belong
        # in Last events: a cheap look at the intake's counters catches them within a second.
        self._pulse = QTimer(self)
        self._pulse.setInterval(PULSE_MS)
        self._pulse.timeout.connect(self._check_pulse)
        self._last_pulse: tuple[object, ...] | None = None
        bridge.intakeChanged.connect(self.request_refresh)
        bridge.accountsChanged.connect(self.request_refresh)
        bridge.settingsChanged.connect(self.request_refresh)
        bridge.statusesApplied.connect(self.request_refresh)

    # --- plumbing --------------------------------------------------------------------------

    @staticmethod
    def _hint(words: str) -> QLabel:
        label = QLabel(words)
        label.setObjectName("hint")
        label.setWordWrap(True)
        return label

    @staticmethod
    def _scroll(inner: QVBoxLayout) -> QScrollArea:
        page = QWidget()
        page.setLayout(inner)
        area = QScrollArea()
        area.setWidgetResizable(True)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        area.setFrameShape(QScrollArea.Shape.NoFrame)
        area.setWidget(page)
        return area

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A quiet background refresh: a failure is logged, never a dialog every 5 s."""
        task = asyncio.get_event_loop().create_task(coro)
        self._tasks.add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            self._tasks.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                log.error("Diagnostics refresh failed", exc_info=finished.exception())

        task.add_done_callback(done)
        return task

    def _op(self, op: Op[Any]) -> asyncio.Task[Any]:
        task = op.run()
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _say(self, message: str) -> None:
        window = self.window()
        if isinstance(window, QMainWindow):
            window.statusBar().showMessage(message, 5000)

    def _intake_pulse(self) -> tuple[object, ...]:
        intake = self.services.intake
        writer = intake.writer.stats()
        tunnel = intake.tunnel.state if intake.tunnel is not None else None
        return (
            id(intake),
            intake.receiver.stats().requests,
            writer.events_written,
            writer.dead_letter_events,
            tunnel,
        )

    def _check_pulse(self) -> None:
        pulse = self._intake_pulse()
        if pulse != self._last_pulse:
            self._last_pulse = pulse
            self.request_refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._timer.start()
        self._pulse.start()
        if not self._shown_once:
            self._shown_once = True
            if self._auto_check:
                self.check_all()
        self.request_refresh()

    def hideEvent(self, event: QHideEvent) -> None:
        self._timer.stop()
        self._pulse.stop()
        super().hideEvent(event)

    def shutdown(self) -> None:
        """Stop refreshing: the window is closing (or the test is over)."""
        self._timer.stop()
        self._pulse.stop()
        for task in list(self._tasks):
            task.cancel()
        self.service.close()

    # --- loading ---------------------------------------------------------------------------

    async def load(self) -> None:
        await self.refresh()

    def request_refresh(self) -> None:
        """Refresh soon; a burst of requests while one runs costs one more refresh."""
        if self._refreshing is not None and not self._refreshing.done():
            self._again = True
            return
        self._refreshing = self._spawn(self._refresh_until_current())

    async def _refresh_until_current(self) -> None:
        while True:
            self._again = False
            await self.refresh()
            if not self._again:
                return

    async def refresh(self) -> None:
        snap = await self.service.snapshot()
        self.snapshot = snap
        self.updated.setText(f"Updated {text.clock(snap.taken_at)}")
        self._show_accounts(snap)
        self.delivery.show_snapshot(snap)
        self.events_model.set_events(snap.events)
        has_events = self.events_model.rowCount() > 0
        self.events_stack.setCurrentWidget(self.events_table if has_events else self.no_events)
        self._show_tiles(snap)

    def _show_accounts(self, snap: DiagnosticsSnapshot) -> None:
        ids = [health.account_id for health in snap.accounts]
        for gone in set(self.cards) - set(ids):
            old = self.cards.pop(gone)
            self.cards_box.removeWidget(old)
            old.deleteLater()
        for position, health in enumerate(snap.accounts):
            card = self.cards.get(health.account_id)
            if card is None:
                card = AccountCard(health.account_id)
                card.checkRequested.connect(self.check_account)
                card.guideRequested.connect(self.show_guide)
                self.cards[health.account_id] = card
            if self.cards_box.indexOf(card) != position:
                self.cards_box.removeWidget(card)
                self.cards_box.insertWidget(position, card)
            card.show_health(health, snap.taken_at)
        self.no_accounts.setVisible(not ids)
        self.check_all_btn.setEnabled(bool(ids))

    def _show_tiles(self, snap: DiagnosticsSnapshot) -> None:
        accounts = snap.accounts
        bad = [a.name for a in accounts if a.state == "bad"]
        ok = sum(a.state == "ok" for a in accounts)
        if not accounts:
            self.accounts_tile.set("muted", "No account", "Add one in Accounts.")
        elif bad:
            self.accounts_tile.set(
                "bad", f"{len(bad)} need{'s' if len(bad) == 1 else ''} attention", ", ".join(bad)
            )
        elif ok == len(accounts):
            self.accounts_tile.set(
                "ok", f"{ok} of {ok} ready to send", "Checked with the provider."
            )
        else:
            checked = f"{ok} of {len(accounts)} ready" if ok else "Not checked yet"
            self.accounts_tile.set("muted", checked, "Press “Check all” to ask the providers.")

        receiver, tunnel, writer = snap.receiver, snap.tunnel, snap.writer
        only_sandbox = all(a.kind is AccountKind.SANDBOX for a in accounts)
        if not receiver.running:
            self.delivery_tile.set("bad", "Receiver stopped", "No report can arrive.")
        elif writer.dead_letters:
            self.delivery_tile.set(
                "bad", "Some reports not saved", f"{writer.dead_letter_events} waiting to retry."
            )
        elif tunnel.public_url:
            self.delivery_tile.set("ok", "Reachable from the internet", tunnel.public_url)
        elif tunnel.configured:
            words = text.TUNNEL.get(tunnel.state, (tunnel.state, "warn"))[0]
            self.delivery_tile.set("warn", f"Tunnel: {words.lower()}", "No public address yet.")
        elif only_sandbox:
            self.delivery_tile.set(
                "ok", "Listening on this computer", "Enough for the built-in Sandbox."
            )
        else:
            self.delivery_tile.set(
                "warn",
                "This computer only",
                "Set up a tunnel so providers can reach waapp.",
            )
        if receiver.stats.forged and receiver.running:
            self.delivery_tile.detail.setText(
                f"{receiver.stats.forged} forged report{'s' if receiver.stats.forged > 1 else ''} "
                "refused — check the secrets."
            )

        if snap.events:
            newest = snap.events[0]
            what = "reply" if newest.kind == "reply" else newest.text
            self.events_tile.set(
                "ok" if not newest.error_code else "warn",
                text.ago(newest.at, snap.taken_at),
                f"{newest.account}: {what}",
            )
        else:
            self.events_tile.set("muted", "Nothing yet", "Reports appear here as they arrive.")

    # --- actions -------------------------------------------------------------------------

    def check_account(self, account_id: int) -> asyncio.Task[Any]:
        task = self._op(
            Op(self, lambda: self.service.check(account_id)).success(
                lambda _report: self.request_refresh()
            )
        )
        self.request_refresh()  # shows "Checking…"
        return task

    def check_all(self) -> asyncio.Task[Any]:
        self.check_all_btn.setEnabled(False)

        def done(_reports: object = None) -> None:
            self.check_all_btn.setEnabled(True)
            self.request_refresh()

        task = self._op(Op(self, self.service.check_all).success(done).failure(lambda _e: done()))
        self.request_refresh()
        return task

    def apply_webhook_settings(self, port: int, command: str) -> asyncio.Task[Any]:
        self.delivery.set_applying(True, "Restarting the receiver…")

        def applied(_result: object) -> None:
            snap_port = self.services.intake.receiver.port
            self.delivery.set_applying(False, f"Applied: listening on port {snap_port}.")
            self.delivery.fill_form(port, command or None)
            self._say("Webhook settings applied.")
            self.request_refresh()

        def failed(error: BaseException) -> None:
            message = error.message if isinstance(error, WaappError) else str(error)
            advice = (
                f" {error.what_to_do}" if isinstance(error, WaappError) and error.what_to_do else ""
            )
            self.delivery.set_applying(False, f"Not applied: {message}{advice}")
            coloured(self.delivery.apply_state, "bad")
            self.request_refresh()

        self.delivery.apply_state.setStyleSheet("")
        return self._op(
            Op(
                self,
                lambda: self.services.apply_webhook_settings(
                    port=port, tunnel_command=command or None
                ),
            )
            .success(applied)
            .failure(failed)
        )

    def retry_dead_letters(self) -> asyncio.Task[Any]:
        def done(count: int) -> None:
            self._say(f"{count} events queued to be saved again.")
            self.request_refresh()

        return self._op(Op(self, self.service.retry_dead_letters).success(done))

    def show_guide(self, key: str) -> None:
        self.tabs.setCurrentIndex(GUIDE_TAB)
        self.guide.show_entry(key)
