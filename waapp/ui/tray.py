"""The system-tray icon: waapp keeps sending while its window is closed.

Its menu shows the window, lists the campaigns sending now with their progress (a click
opens one), pauses them all, and quits; its tooltip says what is sending. Notifications
(:meth:`Tray.notify`) are the tray's balloon messages; a click on one asks to open the
campaign it is about. Without a system tray (``available`` False: many CI machines, some
Linux desktops) the icon is never shown and :meth:`Tray.notify` returns False so that the
caller can say it another way.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QColor, QFont, QIcon, QPainter, QPainterPath, QPixmap
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from waapp.core.entities import Campaign
from waapp.ui.campaigns.notices import remaining
from waapp.ui.campaigns.status import progress

__all__ = ["Tray", "app_icon", "sending_summary"]

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
ICON_FILES = ("icons/waapp.svg", "icons/waapp.png", "waapp.svg", "waapp.png")
GREEN = "#1b7f3b"


def _drawn_icon(size: int) -> QPixmap:
    """waapp's mark: a white speech bubble on a green rounded square."""
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    s = float(size)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(GREEN))
    painter.drawRoundedRect(QRectF(0, 0, s, s), s * 0.22, s * 0.22)
    bubble = QPainterPath()
    bubble.addEllipse(QRectF(s * 0.16, s * 0.16, s * 0.68, s * 0.58))
    tail = QPainterPath()
    tail.moveTo(QPointF(s * 0.28, s * 0.62))
    tail.lineTo(QPointF(s * 0.2, s * 0.86))
    tail.lineTo(QPointF(s * 0.46, s * 0.72))
    tail.closeSubpath()
    painter.setBrush(QColor("white"))
    painter.drawPath(bubble.united(tail))
    painter.setPen(QColor(GREEN))
    font = QFont()
    font.setBold(True)
    font.setPixelSize(max(6, int(s * 0.36)))
    painter.setFont(font)
    painter.drawText(
        QRectF(s * 0.16, s * 0.16, s * 0.68, s * 0.56), Qt.AlignmentFlag.AlignCenter, "w"
    )
    painter.end()
    return pixmap


def app_icon() -> QIcon:
    """The icon from ``resources/`` when there is one, else waapp's mark drawn now."""
    for name in ICON_FILES:
        path = RESOURCES / name
        if path.is_file():
            icon = QIcon(str(path))
            if not icon.isNull():
                return icon
    icon = QIcon()
    for size in (16, 22, 24, 32, 48, 64, 128, 256):
        icon.addPixmap(_drawn_icon(size))
    return icon


def _line(campaign: Campaign) -> str:
    done, total = progress(campaign.counters)
    percent = f"{100 * done // total} %" if total else "starting"
    left = remaining(campaign)
    return f"{campaign.name} — {percent}" + (f" ({left:,} left)" if left else "")


def sending_summary(sending: list[Campaign]) -> str:
    """The tooltip: what is sending now."""
    if not sending:
        return "waapp — nothing is sending"
    if len(sending) == 1:
        return f"waapp — sending {_line(sending[0])}"
    return f"waapp — sending {len(sending)} campaigns:\n" + "\n".join(_line(c) for c in sending)


class Tray(QObject):
    """The tray icon and its menu (module doc). ``available`` None: ask the system."""

    showRequested = Signal()
    quitRequested = Signal()
    pauseAllRequested = Signal()
    campaignRequested = Signal(int)

    def __init__(self, *, available: bool | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.available = QSystemTrayIcon.isSystemTrayAvailable() if available is None else available
        self.icon = QSystemTrayIcon(app_icon(), self)
        self.menu = QMenu()
        self.show_action = self.menu.addAction("Show waapp")
        self.show_action.triggered.connect(self.showRequested.emit)
        self.menu.addSeparator()
        self.sending_title = self.menu.addAction("Nothing is sending")
        self.sending_title.setEnabled(False)
        self.sending_actions: list[tuple[int, QAction]] = []
        self.end_of_sending = self.menu.addSeparator()
        self.pause_all_action = self.menu.addAction("Pause all")
        self.pause_all_action.setEnabled(False)
        self.pause_all_action.triggered.connect(self.pauseAllRequested.emit)
        self.quit_action = self.menu.addAction("Quit waapp")
        self.quit_action.triggered.connect(self.quitRequested.emit)
        self.icon.setContextMenu(self.menu)
        self.icon.setToolTip(sending_summary([]))
        self.icon.activated.connect(self._activated)
        self.icon.messageClicked.connect(self._message_clicked)
        self.notice_campaign: int | None = None  # what the last notification was about
        self.shown: list[tuple[str, str]] = []  # (title, text) of every message shown
        if self.available:
            self.icon.show()

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.showRequested.emit()

    def _message_clicked(self) -> None:
        if self.notice_campaign is not None:
            self.campaignRequested.emit(self.notice_campaign)
        else:
            self.showRequested.emit()

    def set_sending(self, sending: list[Campaign]) -> None:
        """The campaigns sending now: menu entries (a click opens one) and the tooltip."""
        for _campaign_id, action in self.sending_actions:
            self.menu.removeAction(action)
            action.deleteLater()
        self.sending_actions = []
        self.sending_title.setText("Sending now:" if sending else "Nothing is sending")
        for campaign in sending:
            if campaign.id is None:
                continue
            action = QAction(_line(campaign), self.menu)
            self.menu.insertAction(self.end_of_sending, action)
            action.triggered.connect(
                lambda _c=False, cid=campaign.id: self.campaignRequested.emit(cid)
            )
            self.sending_actions.append((campaign.id, action))
        self.pause_all_action.setEnabled(bool(sending))
        self.icon.setToolTip(sending_summary(sending))

    def notify(self, title: str, text: str, *, campaign_id: int | None = None, tone: str) -> bool:
        """Show a balloon message (a click on it opens ``campaign_id``); False when there is
        no tray to show it."""
        if not self.available:
            return False
        self.notice_campaign = campaign_id
        self.shown.append((title, text))
        icon = {
            "bad": QSystemTrayIcon.MessageIcon.Warning,
            "warn": QSystemTrayIcon.MessageIcon.Warning,
        }.get(tone, QSystemTrayIcon.MessageIcon.Information)
        self.icon.showMessage(title, text, icon, 10_000)
        return True

    def close(self) -> None:
        """Take the icon out of the tray (waapp is quitting); safe to call twice."""
        self.icon.hide()
