"""Qt + qasync for the UI tests (style.md): one session-scoped qasync loop, tasks awaited
with ``qtbot.waitUntil``, leftover tasks cancelled per test, and never ``loop.stop()``."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
import qasync
from pytestqt.qtbot import QtBot

from waapp.app import Services, open_services
from waapp.paths import DataPaths

T = TypeVar("T")
Runner = Callable[[Coroutine[Any, Any, T]], T]


@pytest.fixture(scope="session")
def qloop(qapp: Any) -> Iterator[qasync.QEventLoop]:
    loop = qasync.QEventLoop(qapp, already_running=True)
    # qasync's own default executor runs QThreads, and a QThread still alive when the
    # interpreter exits aborts the process; this loop is never closed (style.md), so give
    # it an executor we can shut down ourselves.
    executor = ThreadPoolExecutor(thread_name_prefix="waapp-test-executor")
    loop.set_default_executor(executor)
    asyncio.set_event_loop(loop)
    yield loop
    executor.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(autouse=True)
def _collect_on_the_gui_thread() -> Iterator[None]:
    """No garbage collection in other threads while a UI test runs: a cycle holding Qt
    objects destroyed from the database thread deadlocked the suite once (ui/gc_pin.py).
    What the test left is collected here, on the GUI thread, after its widgets closed."""
    gc.collect()
    gc.disable()
    yield
    gc.collect()
    gc.enable()


@pytest.fixture
def run(qloop: qasync.QEventLoop, qtbot: QtBot) -> Iterator[Runner[Any]]:
    """Run a coroutine on the qasync loop while Qt keeps processing events."""
    asyncio.set_event_loop(qloop)  # other tests may have run asyncio.run() meanwhile
    # qasync marks its loop as this thread's running loop for good (already_running=True);
    # mark it only while a UI test runs, so that a later asyncio.run() in a non-UI test
    # does not find "a running event loop".
    asyncio.events._set_running_loop(qloop)

    def runner(coro: Coroutine[Any, Any, T], timeout: int = 10_000) -> T:
        task = qloop.create_task(coro)
        qtbot.waitUntil(task.done, timeout=timeout)
        return task.result()

    yield runner
    for task in asyncio.all_tasks(qloop):
        task.cancel()
    qtbot.wait(10)
    asyncio.events._set_running_loop(None)


@pytest.fixture
def services(tmp_path: Path, run: Runner[Any]) -> Iterator[Services]:
    opened: Services = run(open_services(DataPaths(tmp_path)))
    yield opened
    run(opened.close())
