"""The main window: a sidebar of screens, the screen stack and a status bar.

The window paints before the store is open (``opening`` state); ``attach`` builds the
screens once the services are ready, so the first frame never waits for the database.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QMimeData, Qt
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
from waapp.paths import DataPaths

SCREENS: list[tuple[str, str]] = [
    ("dashboard", "Dashboard"),
    ("campaigns", "Campaigns"),
    ("contacts", "Contacts"),
    ("templates", "Templates"),
    ("accounts", "Accounts"),
    ("diagnostics", "Diagnostics"),
]


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
    def __init__(self, paths: DataPaths) -> None:
        super().__init__()
        self.paths = paths
        self.setWindowTitle("waapp")
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

    def attach(self, screens: dict[str, QWidget]) -> None:
        """Put the built screens in place; keys missing from ``screens`` say "not yet"."""
        for key, title in SCREENS:
            widget = screens.get(key) or placeholder(key, title)
            self.screens[key] = widget
            self.stack.addWidget(widget)
        self.stack.removeWidget(self.opening)
        self.sidebar.setCurrentRow([key for key, _ in SCREENS].index("contacts"))
        self.statusBar().showMessage("Ready.", 3000)

    def show_failure(self, message: str) -> None:
        self.opening.setText(message)
        self.statusBar().showMessage("Your data could not be opened.")

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

    def closeEvent(self, event: QCloseEvent) -> None:
        for screen in self.screens.values():
            shutdown = getattr(screen, "shutdown", None)
            if callable(shutdown):
                shutdown()
        super().closeEvent(event)
