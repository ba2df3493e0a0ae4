"""What every screen of the sidebar shares: background refreshes through ``ui/ops``,
keyboard shortcuts, status-bar messages, and stopping its work when the window closes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from waapp.ui.ops import Op


class Screen(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._tasks: set[asyncio.Task[Any]] = set()

    async def load(self) -> None:
        """The first load, once the services are ready."""

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a refresh in the background; its errors go through the ops error dialog."""
        task = Op(self, coro).run()
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def shortcut(
        self, keys: Any, slot: Callable[[], object], *, widget: QWidget | None = None
    ) -> QAction:
        """``keys`` anywhere in the screen, or only while ``widget`` has the focus."""
        owner = widget or self
        action = QAction(owner)
        action.setShortcut(QKeySequence(keys))
        action.setShortcutContext(
            Qt.ShortcutContext.WidgetShortcut
            if widget is not None
            else Qt.ShortcutContext.WidgetWithChildrenShortcut
        )
        action.triggered.connect(slot)
        owner.addAction(action)
        return action

    def status(self, text: str) -> None:
        """A message in the window's status bar for a few seconds."""
        bar = getattr(self.window(), "statusBar", None)
        if callable(bar):
            bar().showMessage(text, 5000)

    def shutdown(self) -> None:
        """Stop background refreshes: the window is closing (or the test is over)."""
        for task in list(self._tasks):
            task.cancel()
