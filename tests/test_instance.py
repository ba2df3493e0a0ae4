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
from waapp.instance import AlreadySending, SendingLock
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
        lock = SendingLock(tmp_path, owner="the waapp window")
        with pytest.raises(AlreadySending) as refused:
            lock.acquire()
        assert f"waapp run (process {holder.pid}, since " in refused.value.message
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
        finally:
            await first.close()  # frees the lock
        try:
            await second.start_network(owner="waapp run")
            assert second.sending_lock is not None and second.sending_lock.held
        finally:
            await second.close()

    asyncio.run(main())
