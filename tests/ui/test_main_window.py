"""The shell: sidebar, screens not built yet saying so, and the data location shown."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from waapp.paths import DataPaths
from waapp.ui.main_window import SCREENS, MainWindow


def test_sidebar_lists_every_screen_and_unbuilt_ones_say_so(tmp_path: Path, qtbot: QtBot) -> None:
    window = MainWindow(DataPaths(tmp_path))
    qtbot.addWidget(window)
    assert window.opening.text() == "Opening your data…"
    window.attach({})
    titles = [window.sidebar.item(i).text() for i in range(window.sidebar.count())]
    assert titles == ["Dashboard", "Campaigns", "Contacts", "Templates", "Accounts", "Diagnostics"]
    assert window.sidebar.currentItem().text() == "Contacts"
    for key, _title in SCREENS:
        window.show_screen(key)
        texts = " ".join(
            label.text() for label in window.stack.currentWidget().findChildren(QLabel)
        )
        if key != "contacts":
            assert "not available in this version yet" in texts
    assert str(tmp_path / "waapp.db") in window.data_label.text()


def test_ctrl_number_switches_screens(tmp_path: Path, qtbot: QtBot) -> None:
    window = MainWindow(DataPaths(tmp_path))
    qtbot.addWidget(window)
    window.attach({})
    window.show()
    window.stack.setFocus()  # offscreen, the window is active once something in it has focus
    qtbot.waitUntil(lambda: window.isActiveWindow(), timeout=2000)
    qtbot.keyClick(window, Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)
    assert window.sidebar.currentItem().text() == "Templates"
