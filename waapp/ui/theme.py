"""Light and dark, following the system. Colours come from the palette, so one style sheet
serves both; the few status colours we pick ourselves have a light and a dark variant."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
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
QListWidget#groups::item:selected, QListWidget#groups::item:selected:!active {
    background: palette(highlight); color: palette(highlighted-text);
}
QPushButton#primary { font-weight: 600; padding: 5px 14px; }
"""


def is_dark() -> bool:
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


def status_color(kind: str) -> QColor:
    """Colours for statuses: "ok", "warn", "bad", "muted" — readable on either theme."""
    light = {"ok": "#1b7f3b", "warn": "#9a6700", "bad": "#c62828", "muted": "#6b7280"}
    dark = {"ok": "#5fd38d", "warn": "#f2c14e", "bad": "#ff7b72", "muted": "#9ca3af"}
    return QColor((dark if is_dark() else light)[kind])


def dark_palette() -> QPalette:
    """Fusion's dark palette is only as good as the platform theme's; this one is ours."""
    p = QPalette()
    base, window, text = QColor("#1e1f22"), QColor("#2b2d31"), QColor("#e6e6e6")
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: QColor("#26282c"),
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: QColor("#35373c"),
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.ToolTipBase: window,
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.Highlight: QColor("#2f7de1"),
        QPalette.ColorRole.HighlightedText: QColor("#ffffff"),
        QPalette.ColorRole.Link: QColor("#6cb4ff"),
        QPalette.ColorRole.PlaceholderText: QColor("#8b8f97"),
        QPalette.ColorRole.Mid: QColor("#45484e"),
        QPalette.ColorRole.Dark: QColor("#18191b"),
        QPalette.ColorRole.Light: QColor("#4a4d53"),
    }
    for role, color in roles.items():
        p.setColor(role, color)
    for role in (
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
        QPalette.ColorRole.WindowText,
    ):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b6f76"))
    return p


def _apply(app: QApplication) -> None:
    style = app.style()
    app.setPalette(dark_palette() if is_dark() else style.standardPalette())
    app.setStyleSheet(STYLE)


def apply_theme(app: QApplication) -> None:
    """Fusion with the light or dark palette of the system's colour scheme, re-applied
    when the user switches (our status colours follow through ``status_color``)."""
    app.setStyle("Fusion")
    _apply(app)
    app.styleHints().colorSchemeChanged.connect(lambda _scheme: _apply(app))
