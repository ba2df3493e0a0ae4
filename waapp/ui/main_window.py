"""The main window: a sidebar of screens, the screen stack and a status bar.

The window paints before the store is open (``opening`` state); ``attach`` builds the
screens once the services are ready, so the first frame never waits for the database.

``attach_services`` adds what needs the campaigns: the tray icon (``ui/tray``), desktop
notifications when a campaign finishes, pauses itself or fails (``campaigns/notices``),
and the rules for closing and quitting while campaigns are sending:

- closing the window while something is sending hides it to the tray (the engine keeps
  running; said once), or — without a system tray — asks as quitting does;
- quitting (File ▸ Quit, Ctrl+Q, the tray's Quit) while something is sending asks first
  (``campaigns/quit``): pause and quit, keep sending, or cancel;
- closing or quitting when nothing is sending quits at once.

Quitting for good emits ``quitConfirmed``; the composition root then stops the services
(the engine drains its requests in flight) before the loop ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from waapp import __version__
from waapp.core.entities import Campaign
from waapp.core.states import CampaignStatus
from waapp.paths import DataPaths
from waapp.ui.campaigns.notices import Notice, notice_for
from waapp.ui.campaigns.quit import KEEP, PAUSE, QuitDialog
from waapp.ui.ops import Op
from waapp.ui.tray import Tray, app_icon

#: The timeline's word when "Pause and quit" pauses a campaign.
QUIT_PAUSE_DETAIL = "paused when waapp was quit; resume it to send the rest"
PAUSE_ALL_DETAIL = "paused from the tray (Pause all)"
HIDDEN_NOTE = (
    "waapp keeps sending in the background. Click its icon here to open it, or choose "
    "Quit in its menu."
)

SCREENS: list[tuple[str, str]] = [
    ("dashboard", "Dashboard"),
    ("campaigns", "Campaigns"),
    ("contacts", "Contacts"),
    ("templates", "Templates"),
    ("accounts", "Accounts"),
    ("diagnostics", "Diagnostics"),
]


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def placeholder(key: str, title: str) -> QWidget:
    page = QWidget()
    layout = QVBoxLayout(page)
    heading = QLabel(title)
    heading.setObjectName("screenTitle")
    layout.addWidget(heading)
    text = QLabel(f"{title} is not available in this version yet.")
    text.setObjectName("emptyState")
    text.setAlignment(Qt.AlignmentFlag.AlignCenter)
    layout.addWidget(text, 1)
    return page


class MainWindow(QMainWindow):
    #: Quit for good (nothing sending, or the user answered): stop the services and end.
    quitConfirmed = Signal()

    def __init__(self, paths: DataPaths) -> None:
        super().__init__()
        self.paths = paths
        self.setWindowTitle("waapp")
        self.setWindowIcon(app_icon())
        self.services: Any = None
        self.tray: Tray | None = None
        self.sending: list[Campaign] = []  # the campaigns sending now, as last read
        self.notices: list[Notice] = []  # every notification shown, newest last
        self.quit_dialog: QuitDialog | None = None
        self.quitting = False
        self._seen: dict[int, CampaignStatus] | None = None  # statuses at the last look
        self._watching = False
        self._again = False
        self._told_hidden = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self.setAcceptDrops(True)
        self.resize(1200, 760)
        self.screens: dict[str, QWidget] = {}

        self.sidebar = QListWidget()
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setFixedWidth(190)
        self.sidebar.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.stack = QStackedWidget()
        for n, (key, title) in enumerate(SCREENS, start=1):
            item = QListWidgetItem(title)
            item.setData(Qt.ItemDataRole.UserRole, key)
            item.setToolTip(f"{title} (Ctrl+{n})")
            self.sidebar.addItem(item)
            action = QAction(self)
            action.setShortcut(QKeySequence(f"Ctrl+{n}"))
            action.triggered.connect(lambda _c=False, row=n - 1: self.sidebar.setCurrentRow(row))
            self.addAction(action)
        self.sidebar.currentRowChanged.connect(self._show_row)

        brand = QLabel("waapp")
        brand.setObjectName("brand")
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 8)
        side_layout.addWidget(brand)
        side_layout.addWidget(self.sidebar, 1)
        version = QLabel(f"  version {__version__}")
        version.setObjectName("hint")
        side_layout.addWidget(version)

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(side)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        self.opening = QLabel("Opening your data…")
        self.opening.setObjectName("emptyState")
        self.opening.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack.addWidget(self.opening)
        self.data_label = QLabel(f"Data: {paths.database}")
        self.data_label.setObjectName("hint")
        self.statusBar().addPermanentWidget(self.data_label)
        self.statusBar().showMessage("Opening your data…")

        file_menu = self.menuBar().addMenu("&File")
        self.quit_action = file_menu.addAction("&Quit")
        self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        self.quit_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self.quit_action.triggered.connect(self.request_quit)

    def attach(self, screens: dict[str, QWidget]) -> None:
        """Put the built screens in place; keys missing from ``screens`` say "not yet"."""
        for key, title in SCREENS:
            widget = screens.get(key) or placeholder(key, title)
            self.screens[key] = widget
            self.stack.addWidget(widget)
        self.stack.removeWidget(self.opening)
        self.sidebar.setCurrentRow([key for key, _ in SCREENS].index("contacts"))
        self.statusBar().showMessage("Ready.", 3000)

    def show_failure(self, message: str, *, status: str = "Your data could not be opened.") -> None:
        self.opening.setText(message)
        self.statusBar().showMessage(status)

    def show_screen(self, key: str) -> None:
        self.sidebar.setCurrentRow([k for k, _ in SCREENS].index(key))

    def _show_row(self, row: int) -> None:
        key = SCREENS[row][0]
        if key in self.screens:
            self.stack.setCurrentWidget(self.screens[key])

    # Drop a spreadsheet anywhere on the window: the Contacts screen's import wizard opens.

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._dropped_file(event.mimeData()) is not None and self._importer() is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        path = self._dropped_file(event.mimeData())
        importer = self._importer()
        if path is not None and importer is not None:
            self.show_screen("contacts")
            importer(path)
            event.acceptProposedAction()

    @staticmethod
    def _dropped_file(mime: QMimeData) -> Path | None:
        from waapp.services.spreadsheet import SUPPORTED

        for url in mime.urls():
            if url.isLocalFile() and Path(url.toLocalFile()).suffix.lower() in SUPPORTED:
                return Path(url.toLocalFile())
        return None

    def _importer(self) -> Callable[[Path], None] | None:
        contacts = self.screens.get("contacts")
        importer = getattr(contacts, "import_file", None)
        return importer if callable(importer) else None

    # --- campaigns in the background: tray, notifications -------------------------------

    def attach_services(
        self, services: Any, bridge: Any, *, tray_available: bool | None = None
    ) -> None:
        """Watch the campaigns (``bridge.campaignsChanged``) for the tray, notifications
        and the quit rules (module doc). ``tray_available`` None: ask the system."""
        self.services = services
        self.tray = Tray(available=tray_available, parent=self)
        self.tray.showRequested.connect(self.show_window)
        self.tray.quitRequested.connect(self.request_quit)
        self.tray.pauseAllRequested.connect(self.pause_all)
        self.tray.campaignRequested.connect(self.open_campaign)
        bridge.campaignsChanged.connect(lambda: self._spawn(self.watch()))
        self.watching = self._spawn(self.watch())

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = Op(self, coro).run()
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def watch(self) -> None:
        """Read the campaigns: what is sending (tray, quit rules), and a notification for
        each one that finished, paused itself or failed since the last look. Overlapping
        calls collapse into one more round."""
        if self._watching:
            self._again = True
            return
        self._watching = True
        try:
            while True:
                self._again = False
                await self._look()
                if not self._again:
                    break
        finally:
            self._watching = False

    async def _look(self) -> None:
        service = self.services.campaigns
        campaigns: list[Campaign] = await service.list()
        self.sending = [c for c in campaigns if c.status is CampaignStatus.SENDING]
        if self.tray is not None:
            self.tray.set_sending(self.sending)
        seen, self._seen = self._seen, {c.id: c.status for c in campaigns if c.id is not None}
        if seen is None:
            return  # the first look: the baseline, nothing to tell
        for campaign in campaigns:
            before = seen.get(campaign.id) if campaign.id is not None else None
            if (
                before is None
                or before is campaign.status
                or campaign.status
                not in (
                    CampaignStatus.COMPLETED,
                    CampaignStatus.PAUSED,
                    CampaignStatus.FAILED,
                )
            ):
                continue
            report = await service.show(campaign.id)
            change = next(
                (
                    e
                    for e in reversed(report.timeline)
                    if e.to_status is campaign.status and e.from_status is not e.to_status
                ),
                None,
            )
            notice = notice_for(report.campaign, before, change)
            if notice is not None:
                self.notify(notice)

    def notify(self, notice: Notice) -> None:
        """A tray message (a click opens the campaign), or the status bar without a tray."""
        self.notices.append(notice)
        shown = self.tray is not None and self.tray.notify(
            notice.title, notice.text, campaign_id=notice.campaign_id, tone=notice.tone
        )
        if not shown:
            self.statusBar().showMessage(notice.text, 15_000)  # the text names the campaign

    def show_window(self) -> None:
        self.showNormal()
        self.raise_()
        self.activateWindow()

    def open_campaign(self, campaign_id: int) -> None:
        """Bring the window up on the campaign's view."""
        self.show_window()
        campaigns = self.screens.get("campaigns")
        opener = getattr(campaigns, "open_campaign", None)
        if callable(opener):
            self.show_screen("campaigns")
            opener(campaign_id)

    def pause_all(self) -> asyncio.Task[Any]:
        """The tray's "Pause all": every sending campaign, through the service."""
        return self._spawn(self._pause_sending(PAUSE_ALL_DETAIL))

    async def _pause_sending(self, detail: str) -> int:
        """Pause every campaign sending now (``CampaignService.pause_all``); how many."""
        paused = await self.services.campaigns.pause_all(detail)
        await self.watch()
        return len(paused)

    # --- closing and quitting ----------------------------------------------------------

    def hide_to_tray(self) -> None:
        self.hide()
        if not self._told_hidden and self.tray is not None:
            self._told_hidden = self.tray.notify("waapp is still sending", HIDDEN_NOTE, tone="ok")

    def request_quit(self) -> None:
        """Quit, asking first while campaigns are sending (module doc)."""
        if not self.sending:
            self.really_quit()
            return
        if self.quit_dialog is not None:
            self.quit_dialog.raise_()
            return
        self.show_window()
        available = self.tray is not None and self.tray.available
        dialog = QuitDialog(self.sending, tray=available, parent=self)
        self.quit_dialog = dialog
        dialog.finished.connect(lambda _result: self._quit_answered(dialog))
        dialog.open()

    def _quit_answered(self, dialog: QuitDialog) -> None:
        self.quit_dialog = None
        dialog.deleteLater()
        if dialog.choice == PAUSE:
            self.statusBar().showMessage("Pausing the campaigns, then quitting…")
            self.pausing = self._spawn(self._pause_and_quit())
        elif dialog.choice == KEEP and self.tray is not None and self.tray.available:
            self.hide_to_tray()

    async def _pause_and_quit(self) -> None:
        await self._pause_sending(QUIT_PAUSE_DETAIL)
        self.really_quit()

    def really_quit(self) -> None:
        """Quit for good: close the window and let the composition root stop the services."""
        self.quitting = True
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.sending and not self.quitting:
            event.ignore()
            if self.tray is not None and self.tray.available:
                self.hide_to_tray()
            else:
                self.request_quit()
            return
        for screen in self.screens.values():
            shutdown = getattr(screen, "shutdown", None)
            if callable(shutdown):
                shutdown()
        current = asyncio.current_task() if _loop_running() else None
        for task in list(self._tasks):
            if task is not current:  # "Pause and quit" closes the window from its own task
                task.cancel()
        if self.tray is not None:
            self.tray.close()
        super().closeEvent(event)
        self.quitConfirmed.emit()
