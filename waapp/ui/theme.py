"""Light and dark, following the system. Colours come from the palette, so one style sheet
serves both; the few status colours we pick ourselves have a light and a dark variant."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication
from PySide6.QtWidgets import QApplication

STYLE = """
QListWidget#sidebar {
    border: none;
    background: palette(window);
    padding-top: 12px;
    font-size: 14px;
}
QListWidget#sidebar::item { padding: 9px 14px; border-radius: 6px; margin: 1px 8px; }
QListWidget#sidebar::item:selected { background: palette(highlight); color: palette(highlighted-text); }
QLabel#screenTitle { font-size: 20px; font-weight: 600; }
QLabel#emptyState { color: palette(placeholder-text); font-size: 14px; }
QLabel#hint { color: palette(placeholder-text); }
QLabel#brand { font-size: 18px; font-weight: 700; padding: 14px 18px 4px 18px; }
QListWidget#groups { border: none; background: transparent; }
QListWidget#groups::item { padding: 6px 8px; border-radius: 4px; }
QPushButton#primary { font-weight: 600; padding: 5px 14px; }
"""


def is_dark() -> bool:
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


def status_color(kind: str) -> QColor:
    """Colours for statuses: "ok", "warn", "bad", "muted" — readable on either theme."""
    light = {"ok": "#1b7f3b", "warn": "#9a6700", "bad": "#c62828", "muted": "#6b7280"}
    dark = {"ok": "#5fd38d", "warn": "#f2c14e", "bad": "#ff7b72", "muted": "#9ca3af"}
    return QColor((dark if is_dark() else light)[kind])


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    app.setStyleSheet(STYLE)
    # Fusion picks the light or dark palette from the system's colour scheme; re-polish
    # when the user switches so our status colours follow too.
    app.styleHints().colorSchemeChanged.connect(lambda _scheme: app.setStyleSheet(STYLE))
