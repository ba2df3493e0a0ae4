"""``waapp run`` run as a user runs it (``python -m waapp run``) in a subprocess: it prints
what it runs, sends the campaigns left sending and those started while it runs (to the
in-process Sandbox), prints their status changes, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

PEOPLE = [("+14155550201", "Ann Lee"), ("+14155550202", "Bob Roy"), ("+14155550203", "Cy Dee")]
#: Generous: a loaded 2-core CI machine starts Python and the Sandbox slowly.
WAIT = 90.0


def command(data: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "waapp", "--data-dir", str(data), *args]


ENV = {**os.environ, "PYTHONIOENCODING": "utf-8"}


def ok(data: Path, *args: str) -> str:
    done = subprocess.run(
        command(data, *args), capture_output=True, text=True, timeout=120, env=ENV
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def show(data: Path, campaign_id: int) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(ok(data, "campaign", "show", str(campaign_id), "--json"))
    return report


def send(data: Path, *extra: str) -> tuple[int, str]:
    """``campaign send`` without --wait: the campaign id and what was printed."""
    out = ok(
        data,
        "campaign",
        "send",
        "--account",
        "Sandbox",
        "--group",
        "G",
        "--template",
        "hello_world",
        *extra,
    )
    first = out.splitlines()[0]  # Campaign 1 “…”: sending (…)
    return int(first.split()[1]), out


class Running:
    """``waapp run`` in a subprocess, its output read line by line as it comes."""

    def __init__(self, data: Path) -> None:
        self.process = subprocess.Popen(
            command(data, "run"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        self.lines: list[str] = []
        self._ended = False  # the whole output was read
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout:
            for line in self.process.stdout:
                self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, *parts: str) -> str:
        """The first line (from now on) that holds every one of ``parts``."""
        deadline = time.monotonic() + WAIT
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no line with {parts} in:\n" + "\n".join(self.lines)
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            assert line is not None, (
                "waapp run ended:\n"
                + "\n".join(self.lines)
                + (self.process.stderr.read() if self.process.stderr else "")
            )
            self.lines.append(line)
            if all(part in line for part in parts):
                return line

    def stop(self) -> tuple[int, str]:
        """SIGTERM, then the exit code and the rest of the output."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=WAIT)
        while (line := self._queue.get(timeout=WAIT)) is not None:
            self.lines.append(line)
        self._ended = True
        assert self.process.stderr is not None
        with self.process.stderr:
            return code, self.process.stderr.read()

    def kill(self) -> None:
        """After a failure: end it, and close what is still open."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        assert self.process.stderr is not None
        self.process.stderr.close()
        while not self._ended and self._queue.get(timeout=WAIT) is not None:
            pass  # the reader thread closes stdout when it reaches the end
        self._ended = True


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("prepared")
    data = tmp_path / "data"
    ok(data, "templates", "sync", "--account", "Sandbox")
    sheet = tmp_path / "people.csv"
    sheet.write_text("phone,name\n" + "".join(f"{p},{n}\n" for p, n in PEOPLE), encoding="utf-8")
    ok(data, "contacts", "import", str(sheet), "--group", "G")
    return data


def copy_of(prepared: Path, tmp_path: Path) -> Path:
    import shutil

    data = tmp_path / "data"
    shutil.copytree(prepared, data)
    return data


def delivered_to_everyone(report: dict[str, Any]) -> bool:
    counts = report["counts"]
    return sum(counts.values()) == 3 and set(counts) <= {"sent", "delivered", "read"}


def test_help_says_what_it_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "waapp", "run", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=ENV,
    )
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    for words in (
        "without a window",
        "campaign engine",
        "scheduler",
        "webhook receiver",
        "tunnel",
        "status poller",
        "SIGTERM stops it cleanly",
        "carry on at the next start",
    ):
        assert words in text, words
    listed = subprocess.run(
        [sys.executable, "-m", "waapp", "--help"], capture_output=True, text=True, env=ENV
    ).stdout
    assert "run" in listed and "without the window" in listed


def test_run_sends_waiting_and_new_campaigns_and_stops_cleanly(
    prepared: Path, tmp_path: Path
) -> None:
    data = copy_of(prepared, tmp_path)
    first, printed = send(data, "--name", "Left sending", "--rate", "50")
    assert "waapp run" in printed  # where it gets sent without --wait
    assert show(data, first)["status"] == "sending"

    run = Running(data)
    try:
        run.wait_for("Sandbox", "reports delivered inside waapp")
        run.wait_for("Webhook receiver: http://127.0.0.1:")
        # Three messages at 50/s may be sent while the engine starts, before the setup
        # lists the campaigns: listed while it is still sending, and only then.
        sending = run.wait_for("Campaigns sending: ")
        assert sending in ("Campaigns sending: 0", "Campaigns sending: 1"), sending
        if sending.endswith("1"):
            assert run.wait_for("").startswith(f"  {first} “Left sending”")
        run.wait_for("Ready.")
        # Certain even if it completed while the engine started: the statuses are read
        # before, and the change is printed after the setup lines.
        run.wait_for(f"Campaign {first} “Left sending”: sending → completed")

        # Started by another command while it runs: picked up and sent.
        second, _ = send(data, "--name", "Sent meanwhile", "--rate", "50")
        run.wait_for(f"Campaign {second} “Sent meanwhile”", "completed")

        code, err = run.stop()
    finally:
        run.kill()
    assert code == 0, err
    assert "Traceback" not in err
    assert any(
        line.endswith("Stopped. Campaigns still sending go on at the next start.")
        for line in run.lines
    )
    for campaign_id in (first, second):
        report = show(data, campaign_id)
        assert report["status"] == "completed"
        assert delivered_to_everyone(report), report["counts"]


def test_sigterm_mid_campaign_leaves_it_sending_and_the_next_start_finishes_it(
    prepared: Path, tmp_path: Path
) -> None:
    data = copy_of(prepared, tmp_path)
    # One message every 10 s: SIGTERM comes after the first and well before the last (20 s
    # later), even when each `show` below takes seconds on a loaded machine.
    campaign, _ = send(data, "--name", "Slow", "--rate", "0.1")
    run = Running(data)
    try:
        run.wait_for("Ready.")
        deadline = time.monotonic() + WAIT
        while not {"sent", "delivered", "read"} & set(show(data, campaign)["counts"]):
            assert time.monotonic() < deadline, "nothing was sent"
            time.sleep(0.2)
        code, err = run.stop()
    finally:
        run.kill()
    assert code == 0, err
    stopped = show(data, campaign)
    assert stopped["status"] == "sending"  # not paused: it carries on at the next start
    counts = stopped["counts"]
    # The requests in flight were finished and written: nothing is left in between.
    assert not {"sending", "unknown"} & set(counts), counts
    waiting = counts.get("pending", 0) + counts.get("retry_wait", 0)  # still to be sent
    assert sum(counts.values()) == 3 and waiting >= 1, counts

    again = Running(data)
    try:
        # Sending at the start (read before the engine starts); whether it is still
        # sending when the setup is printed depends on how many were left.
        again.wait_for("Campaigns sending: ")
        again.wait_for("Ready.")
        again.wait_for(f"Campaign {campaign} “Slow”: sending → completed")
        code, err = again.stop()
    finally:
        again.kill()
    assert code == 0, err
    report = show(data, campaign)
    assert report["status"] == "completed"
    assert delivered_to_everyone(report), report["counts"]
    assert not [e for e in report["timeline"] if e["cause"] == "recovery"]
