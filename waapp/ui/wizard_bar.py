"""The bottom bar every multi-step dialog shares: an inline error, Back, Next, Cancel."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton

from waapp.ui.theme import status_color


def error_label() -> QLabel:
    """A hidden, wrapping, red label for a mistake the user can fix in place."""
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {status_color('bad').name()};")
    label.hide()
    return label


class WizardBar(QHBoxLayout):
    def __init__(
        self,
        *,
        back: Callable[[], object],
        next: Callable[[], object],
        cancel: Callable[[], object],
    ) -> None:
        super().__init__()
        self.error = error_label()
        self.back_btn = QPushButton("Back")
        self.back_btn.clicked.connect(back)
        self.next_btn = QPushButton("Next")
        self.next_btn.setObjectName("primary")
        self.next_btn.setDefault(True)
        self.next_btn.clicked.connect(next)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.clicked.connect(cancel)
        self.addWidget(self.error, 1)
        self.addStretch()
        for button in (self.back_btn, self.next_btn, self.cancel_btn):
            self.addWidget(button)
