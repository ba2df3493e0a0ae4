"""The one thread all database work runs on.

SQLite has one writer; doing every repository call on one dedicated thread keeps the event
loop (and so the window) free, and serialises writes without locks of our own::

    worker = DatabaseWorker()
    contact = await worker.run(db.contacts.get, contact_id)

Hazards:

- Work already running cannot be interrupted: cancelling the awaiting task abandons the
  result, but the function still runs to its end (and commits) on the worker thread.
- Calls run one at a time, in submission order; a long call (an import) delays the rest.
  Long jobs should be split into batches so that other work can interleave.
- Never call :meth:`DatabaseWorker.run` or wait on :meth:`DatabaseWorker.submit` from
  the worker thread itself: it would wait for itself forever.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

__all__ = ["DatabaseWorker"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


class DatabaseWorker:
    """A single-thread executor (``waapp-db``) for synchronous database work."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="waapp-db")
        self._thread_ident: int | None = None
        # Learn the worker thread's identity as its first job.
        self._executor.submit(self._remember_thread)

    def _remember_thread(self) -> None:
        self._thread_ident = threading.get_ident()

    def in_worker_thread(self) -> bool:
        """True when called on the worker thread (for assertions in repositories' callers)."""
        return threading.get_ident() == self._thread_ident

    async def run(self, fn: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        """``fn(*args, **kwargs)`` on the worker thread; its result or exception, awaited.

        Needs a running event loop (any: asyncio's own or qasync's).
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def submit(self, fn: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_R]:
        """Queue ``fn(*args, **kwargs)`` on the worker thread; for callers without a loop."""
        return self._executor.submit(fn, *args, **kwargs)

    def shutdown(self, *, wait: bool = True, cancel_pending: bool = False) -> None:
        """Refuse new work; by default finish what is queued and wait for it.

        ``cancel_pending=True`` drops queued calls that have not started (their futures are
        cancelled); the one running, if any, always finishes.
        """
        self._executor.shutdown(wait=wait, cancel_futures=cancel_pending)

    def __enter__(self) -> DatabaseWorker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()
