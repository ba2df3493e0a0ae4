"""Quitting while campaigns are sending: the dialog that names them and asks first.

Three answers: "Pause and quit" (each campaign is paused through the service — the messages
on their way finish, nobody gets one twice — and waapp quits; they stay paused until the
user presses Resume on each), "Keep sending" (in the system tray when there is one,
otherwise the window stays open) and "Cancel". The dialog only records the answer in
:attr:`QuitDialog.choice`; the window acts on it. It is opened with ``open()``, never
``exec()``, so nothing blocks the loop that is sending.
"""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from waapp.core.entities import Campaign
from waapp.ui.campaigns.notices import remaining

__all__ = ["CANCEL", "KEEP", "PAUSE", "QuitDialog"]

PAUSE, KEEP, CANCEL = "pause", "keep", "cancel"


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class QuitDialog(QDialog):
    def __init__(
        self, sending: list[Campaign], *, tray: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.choice = CANCEL
        self.setWindowTitle("Quit waapp?")
        self.setMinimumWidth(480)
        count = len(sending)
        heading = QLabel(
            "A campaign is still sending:"
            if count == 1
            else f"{count} campaigns are still sending:"
        )
        heading.setStyleSheet("font-size: 15px; font-weight: 600;")
        self.campaigns = QLabel(
            "<ul style='margin-left: -20px'>"
            + "".join(
                f"<li><b>{_html(c.name)}</b>: "
                f"{remaining(c):,} recipient{'' if remaining(c) == 1 else 's'} left</li>"
                for c in sending
            )
            + "</ul>"
        )
        self.campaigns.setWordWrap(True)
        keep_words = (
            "waapp goes on in the system tray and sends the rest"
            if tray
            else "waapp stays open and sends the rest"
        )
        self.explain = explain = QLabel(
            "<p><b>Pause and quit</b>: the messages already on their way finish, then "
            f"{'it pauses' if count == 1 else 'they pause'}. "
            f"{'It stays' if count == 1 else 'They stay'} paused: when you open waapp "
            "again, open "
            f"{'it' if count == 1 else 'each one'} and press Resume to send the rest. "
            "Nobody gets a message twice.</p>"
            f"<p><b>Keep sending</b>: {keep_words}.</p>"
        )
        explain.setWordWrap(True)
        self.pause_btn = QPushButton("Pause and quit")
        self.keep_btn = QPushButton("Keep sending")
        self.keep_btn.setObjectName("primary")
        self.keep_btn.setDefault(True)
        self.cancel_btn = QPushButton("Cancel")
        self.pause_btn.clicked.connect(lambda: self._answer(PAUSE))
        self.keep_btn.clicked.connect(lambda: self._answer(KEEP))
        self.cancel_btn.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch()
        for button in (self.pause_btn, self.keep_btn, self.cancel_btn):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.campaigns)
        layout.addWidget(explain)
        layout.addSpacing(6)
        layout.addLayout(buttons)

    def _answer(self, choice: str) -> None:
        self.choice = choice
        self.accept()
