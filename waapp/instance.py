"""One sending process per data folder.

The engine's start-up recovery turns every row left ``sending`` into ``unknown``: right
after a crash, and wrong while another process (the window, ``waapp run``, a
``campaign … --wait``) is sending from the same folder — its requests in flight would be
taken for lost. So whoever starts the network holds :class:`SendingLock`, an exclusive
OS file lock in the data folder that the OS frees when the process ends, even by SIGKILL.
Next to it, ``sending.owner`` says who holds it, for the message the others show.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from filelock import FileLock, Timeout

from waapp.core.errors import WaappError

__all__ = ["AlreadySending", "SendingLock"]


class AlreadySending(WaappError):
    """Another process sends from this data folder."""


class SendingLock:
    """The data folder's sending lock (module doc); :meth:`acquire` / :meth:`release`."""

    def __init__(self, root: Path, *, owner: str) -> None:
        self._lock = FileLock(root / "sending.lock", timeout=0)
        self._owner_file = root / "sending.owner"
        self._owner = owner

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    def acquire(self) -> None:
        """Take the lock, or raise :class:`AlreadySending` naming who holds it."""
        try:
            self._lock.acquire()
        except Timeout:
            raise AlreadySending(
                f"waapp is already sending from this data folder: {self._holder()}.",
                what_to_do="Let that one send (it finishes the campaigns), or stop it first "
                "and try again.",
            ) from None
        record = {"owner": self._owner, "pid": os.getpid(), "since": time.time()}
        self._owner_file.write_text(json.dumps(record), encoding="utf-8")

    def release(self) -> None:
        if self._lock.is_locked:
            self._owner_file.unlink(missing_ok=True)
            self._lock.release()

    def _holder(self) -> str:
        try:
            record = json.loads(self._owner_file.read_text(encoding="utf-8"))
            since = time.strftime("%H:%M", time.localtime(float(record["since"])))
            return f"{record['owner']} (process {int(record['pid'])}, since {since})"
        except (OSError, ValueError, KeyError, TypeError):
            return "another waapp process"
