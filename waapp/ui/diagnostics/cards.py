"""Small building blocks of the Diagnostics screen: an account's health card, an overview
tile, a counter, and a URL row with a Copy button."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from waapp.core.troubleshooting import entries_for_code
from waapp.services.diagnostics import AccountHealth
from waapp.ui.diagnostics import text
from waapp.ui.theme import status_color

CARD_STYLE = """
QFrame#card {
    border: 1px solid palette(mid);
    border-radius: 8px;
    background: palette(base);
}
QFrame#card QLabel { background: transparent; }
"""


def coloured(label: QLabel, kind: str, *, bold: bool = False) -> None:
    weight = "font-weight: 600;" if bold else ""
    label.setStyleSheet(f"color: {status_color(kind).name()}; {weight}")


def dot(kind: str, words: str) -> str:
    """Rich text: a coloured dot and the words."""
    return f"<span style='color:{status_color(kind).name()}'>●</span>&nbsp;{words}"


class Card(QFrame):
    """A bordered panel."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.setStyleSheet(CARD_STYLE)


class Tile(Card):
    """An overview tile: a caption, a value line and a detail line; clicking it emits
    ``clicked`` (the screen shows the matching tab)."""

    clicked = Signal()

    def __init__(self, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.caption = QLabel(caption)
        self.caption.setObjectName("hint")
        self.value = QLabel("—")
        self.value.setTextFormat(Qt.TextFormat.RichText)
        self.value.setStyleSheet("font-size: 15px; font-weight: 600;")
        self.detail = QLabel("")
        self.detail.setObjectName("hint")
        self.detail.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 10)
        layout.setSpacing(2)
        layout.addWidget(self.caption)
        layout.addWidget(self.value)
        layout.addWidget(self.detail)
        layout.addStretch(1)

    def set(self, kind: str, value: str, detail: str = "") -> None:
        self.value.setText(dot(kind, value))
        self.detail.setText(detail)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mousePressEvent(event)


class Counter(QWidget):
    """A number over its caption."""

    def __init__(self, caption: str, tooltip: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.number = QLabel("0")
        self.number.setStyleSheet("font-size: 18px; font-weight: 600;")
        self.caption = QLabel(caption)
        self.caption.setObjectName("hint")
        self.setToolTip(tooltip)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 18, 0)
        layout.setSpacing(0)
        layout.addWidget(self.number)
        layout.addWidget(self.caption)

    def set(self, value: int, *, alarm: bool = False) -> None:
        self.number.setText(f"{value:,}".replace(",", " "))
        if alarm and value:
            coloured(self.number, "bad", bold=True)
            self.number.setStyleSheet(self.number.styleSheet() + "font-size: 18px;")
        else:
            self.number.setStyleSheet("font-size: 18px; font-weight: 600;")


class CopyButton(QPushButton):
    """Copies ``value`` to the clipboard and says so for a moment."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Copy", parent)
        self.value = ""
        self.setToolTip("Copy to the clipboard")
        self.clicked.connect(self._copy)

    def _copy(self) -> None:
        QApplication.clipboard().setText(self.value)
        self.setText("Copied")
        QTimer.singleShot(1500, lambda: self.setText("Copy"))


def guide_key_for(health: AccountHealth) -> str | None:
    """The guide entry that explains a not-ok account, if there is one."""
    if health.state != "bad":
        return None
    session = health.session_status
    if session and session != "connected":
        return "session-disconnected"
    code = health.error_code
    if code and health.dialect is not None:
        found = entries_for_code(health.dialect, code)
        if found:
            return found[0].key
    return None


class AccountCard(Card):
    """One account: its state, what the check found, and what to do."""

    checkRequested = Signal(int)
    guideRequested = Signal(str)

    def __init__(self, account_id: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.account_id = account_id
        self.guide_key: str | None = None
        self.name = QLabel()
        self.name.setStyleSheet("font-size: 14px; font-weight: 600;")
        self.kind = QLabel()
        self.kind.setObjectName("hint")
        self.state = QLabel()
        self.state.setTextFormat(Qt.TextFormat.RichText)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.advice = QLabel()
        self.advice.setWordWrap(True)
        self.check_btn = QPushButton("Check now")
        self.check_btn.clicked.connect(lambda: self.checkRequested.emit(self.account_id))
        self.guide_btn = QPushButton("What to do…")
        self.guide_btn.setToolTip("Open the matching entry of the troubleshooting guide")
        self.guide_btn.clicked.connect(
            lambda: self.guideRequested.emit(self.guide_key) if self.guide_key else None
        )

        self.facts = QGridLayout()
        self.facts.setHorizontalSpacing(24)
        self.facts.setVerticalSpacing(2)
        self.fact_labels: dict[str, QLabel] = {}
        self._fact_heads: dict[str, QLabel] = {}
        for column, (key, caption) in enumerate(
            (
                ("quality", "Quality rating"),
                ("limit", "Messaging limit"),
                ("session", "WhatsApp session"),
                ("checked", "Last checked"),
            )
        ):
            head = QLabel(caption)
            head.setObjectName("hint")
            value = QLabel("—")
            value.setTextFormat(Qt.TextFormat.RichText)
            self.facts.addWidget(head, 0, column)
            self.facts.addWidget(value, 1, column)
            self.fact_labels[key] = value
            self._fact_heads[key] = head
        self.facts.setColumnStretch(4, 1)

        top = QHBoxLayout()
        names = QVBoxLayout()
        names.setSpacing(0)
        names.addWidget(self.name)
        names.addWidget(self.kind)
        top.addLayout(names)
        top.addStretch(1)
        top.addWidget(self.state)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.guide_btn)
        buttons.addWidget(self.check_btn)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.setSpacing(6)
        layout.addLayout(top)
        layout.addWidget(self.summary)
        layout.addLayout(self.facts)
        layout.addWidget(self.advice)
        layout.addLayout(buttons)

    def show_health(self, health: AccountHealth, now: datetime) -> None:
        self.name.setText(health.name)
        self.kind.setText(text.kind_name(health.kind))
        if health.checking:
            self.state.setText(dot("warn", "Checking…"))
        elif health.state == "ok":
            self.state.setText(dot("ok", "Ready to send"))
        elif health.state == "bad":
            self.state.setText(dot("bad", "<b>Needs attention</b>"))
        else:
            self.state.setText(dot("muted", "Not checked yet"))
        summary = health.summary
        if health.state == "unknown":
            summary = "Press “Check now” to ask the provider how this number is doing."
        self.summary.setText(summary)
        if health.state == "bad":
            coloured(self.summary, "bad")
        else:
            self.summary.setStyleSheet("")
        self._fact("quality", health.quality_rating, text.quality)
        self._fact(
            "limit",
            health.messaging_limit,
            lambda v: (text.messaging_limit(v), ""),
        )
        self._fact("session", health.session_status, text.session)
        self.fact_labels["checked"].setText(text.ago(health.checked_at, now))
        advice = health.what_to_do
        self.advice.setVisible(bool(advice))
        self.advice.setText(f"<b>What to do:</b> {advice}" if advice else "")
        self.guide_key = guide_key_for(health)
        self.guide_btn.setVisible(self.guide_key is not None)
        self.check_btn.setEnabled(not health.checking)

    def _fact(self, key: str, value: str | None, words: Callable[[str], tuple[str, str]]) -> None:
        label, head = self.fact_labels[key], self._fact_heads[key]
        shown = value is not None
        label.setVisible(shown)
        head.setVisible(shown)
        if value is None:
            return
        said, kind = words(value)
        label.setText(dot(kind, said) if kind else said)
