"""One sending process per data folder (waapp.instance)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from waapp.app import open_services
from waapp.instance import RUN, WINDOW, AlreadySending, SendingLock
from waapp.paths import DataPaths

HOLD = """
import sys, time
from pathlib import Path
from waapp.instance import SendingLock
lock = SendingLock(Path(sys.argv[1]), owner="waapp run")
lock.acquire()
print("held", flush=True)
time.sleep(60)
"""


def _holder(root: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(root)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_process_is_refused_with_who_sends_and_gets_it_once_that_one_is_killed(
    tmp_path: Path,
) -> None:
    holder = _holder(tmp_path)
    try:
        lock = SendingLock(tmp_path, owner=WINDOW)
        with pytest.raises(AlreadySending) as refused:
            lock.acquire()
        error = refused.value
        assert error.message.startswith(
            f"waapp is already open on this data folder: waapp run (process {holder.pid}, since "
        )
        assert error.what_to_do == (
            "Let it send, or stop it first (Ctrl+C where it runs) and try again."
        )
        assert (error.owner, error.pid) == (RUN, holder.pid)
        # What a window opened on that folder says: already open, since when, what to do.
        what, to_do = error.for_window()
        assert what == (
            f"waapp is already open: “waapp run” has been running since {error.since} on the "
            f"same data folder (process {holder.pid})."
        )
        assert "stop “waapp run” first" in to_do
        assert not lock.held
        os.kill(holder.pid, signal.SIGKILL)  # the OS frees the lock of a killed process
        holder.wait(timeout=10)
        deadline = time.monotonic() + 10
        while True:
            try:
                lock.acquire()
                break
            except AlreadySending:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        assert lock.held
        lock.release()
        assert not (tmp_path / "sending.owner").exists()
    finally:
        holder.kill()
        holder.wait(timeout=10)
        assert holder.stdout is not None
        holder.stdout.close()


def test_services_of_one_folder_send_from_one_place_only(tmp_path: Path) -> None:
    async def main() -> None:
        first = await open_services(DataPaths(tmp_path))
        second = await open_services(DataPaths(tmp_path))
        try:
            await first.start_network(owner="the waapp window")
            with pytest.raises(AlreadySending) as refused:
                await second.start_network(owner="waapp run")
            assert "the waapp window (process" in refused.value.message
            assert second.sandbox is None  # nothing of the network was started
            # A second window on the folder: the first one is idle, but waapp is open there.
            with pytest.raises(AlreadySending) as refused:
                await second.start_network(owner=WINDOW)
            what, to_do = refused.value.for_window()
            assert what == (
                f"waapp is already open in another window since {refused.value.since}, on "
                "the same data folder."
            )
            assert "sending" not in what
            assert to_do.startswith("Switch to that window")
        finally:
            await first.close()  # frees the lock
        try:
            await second.start_network(owner="waapp run")
            assert second.sending_lock is not None and second.sending_lock.held
        finally:
            await second.close()

    asyncio.run(main())


def test_a_refusal_whose_holder_is_not_known_still_says_what_to_do() -> None:
    error = AlreadySending()
    assert error.message == "waapp is already open on this data folder: another waapp process."
    what, to_do = error.for_window()
    assert "in another window or as “waapp run”" in what
    assert "stop “waapp run” first" in to_do
