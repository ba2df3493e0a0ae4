"""bench/start — start-up to the first painted window, and until the store and services
are ready (performance.md: ≤ 0.8 s median to the first frame, ≤ 2 s until ready).

The floor is a bare QApplication + QMainWindow painted the same way, in the same run.
Run: ``python -m bench.start [--runs N] [--bundle dist/waapp/waapp]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

FLOOR = """
import json, sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication([])
window = QMainWindow()
window.resize(1200, 760)
class F(QObject):
    def eventFilter(self, o, e):
        if e.type() == QEvent.Type.Paint:
            print(json.dumps({"event": "first_frame", "t": time.time()}), file=sys.stderr, flush=True)
            QTimer.singleShot(0, app.quit)
        return False
f = F(window)
window.installEventFilter(f)
window.show()
app.exec()
"""


def measure(command: list[str], env: dict[str, str]) -> dict[str, float]:
    started = time.time()
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    marks: dict[str, float] = {}
    for line in result.stderr.splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            marks[event["event"]] = event["t"] - started
    if "first_frame" not in marks:
        raise RuntimeError(f"no first frame from {command}: {result.stderr[-2000:]}")
    return marks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--bundle", help="also measure this bundle executable")
    args = parser.parse_args()
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
        "WAAPP_STARTUP_PROBE": "1",
    }
    subjects = {"source": [sys.executable, "-m", "waapp"]}
    if args.bundle:
        subjects["bundle"] = [args.bundle]
    figures: dict[str, dict[str, float]] = {}
    floor = [measure([sys.executable, "-c", FLOOR], env)["first_frame"] for _ in range(args.runs)]
    figures["floor"] = {"first_frame_s": statistics.median(floor)}
    for name, command in subjects.items():
        frames, ready = [], []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as data:  # a fresh store: migrations included
                marks = measure([*command, "--data-dir", data], env)
            frames.append(marks["first_frame"])
            ready.append(marks["ready"])
        figures[name] = {
            "first_frame_s": statistics.median(frames),
            "ready_s": statistics.median(ready),
            "ratio_to_floor": statistics.median(frames) / figures["floor"]["first_frame_s"],
        }
    print(json.dumps({"runs": args.runs, **figures}, indent=2))
    src = figures["source"]
    print(
        f"start: first frame {src['first_frame_s']:.2f} s ({src['ratio_to_floor']:.2f}x floor "
        f"{figures['floor']['first_frame_s']:.2f} s), ready {src['ready_s']:.2f} s (source, median of {args.runs})"
    )


if __name__ == "__main__":
    main()
