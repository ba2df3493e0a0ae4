"""Python's cyclic garbage collector, run on the GUI thread only.

CPython collects in whichever thread crosses an allocation threshold — with waapp that is
often the database thread or an executor thread. A cycle that holds Qt objects (a widget
whose slot refers back to it, a closed dialog) is then destroyed from the wrong thread;
Qt either warns (“Timers cannot be stopped from another thread”), crashes, or — as seen
in our test suite — deadlocks in ``QObject::~QObject`` while the other thread waits for
the GIL. So the window turns automatic collection off and collects from a timer on its
own thread, generation by generation as CPython's thresholds would (the pattern calibre
and pyqtgraph use).
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

__all__ = ["MainThreadCollector"]


class MainThreadCollector(QObject):
    """:meth:`start` turns automatic collection off and collects every ``interval_ms``
    when the thresholds say so; :meth:`stop` turns it back on."""

    def __init__(self, parent: QObject | None = None, *, interval_ms: int = 500) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)
        self.collections = 0

    def start(self) -> None:
        gc.disable()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        gc.enable()

    def check(self) -> None:
        """Collect the oldest generation whose count is over its threshold, if any."""
        counts = gc.get_count()
        due = [
            g
            for g, (count, limit) in enumerate(zip(counts, gc.get_threshold(), strict=True))
            if count > limit
        ]
        if due:
            gc.collect(max(due))
            self.collections += 1
