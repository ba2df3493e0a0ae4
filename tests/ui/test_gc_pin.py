"""The window's garbage collection runs on the GUI thread (waapp.ui.gc_pin)."""

from __future__ import annotations

import gc
import threading
import weakref

from pytestqt.qtbot import QtBot

from waapp.ui.gc_pin import MainThreadCollector


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None
        self.collected_on: str | None = None


def test_cycles_are_collected_on_the_gui_thread_not_where_they_were_dropped(
    qtbot: QtBot,
) -> None:
    collector = MainThreadCollector(interval_ms=20)
    collector.start()
    try:
        assert not gc.isenabled()
        finalised: list[str] = []

        def make_garbage() -> None:  # in another thread, as the database thread would
            for _ in range(2000):  # over the first threshold
                a, b = Node(), Node()
                a.other, b.other = b, a
            last = Node()
            last.other = last
            weakref.finalize(last, lambda: finalised.append(threading.current_thread().name))

        worker = threading.Thread(target=make_garbage, name="not-the-gui")
        worker.start()
        worker.join()
        assert finalised == []  # nothing collected in that thread
        qtbot.waitUntil(lambda: bool(finalised), timeout=5000)
        assert finalised == [threading.main_thread().name]
        assert collector.collections >= 1
    finally:
        collector.stop()
    assert gc.isenabled()
