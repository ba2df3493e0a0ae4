"""One sending process per data folder.

The engine's start-up recovery turns every row left ``sending`` into ``unknown``: right
after a crash, and wrong while another process (the window, ``waapp run``, a
``campaign … --wait``) is sending from the same folder — its requests in flight would be
taken for lost. So whoever starts the network holds :class:`SendingLock`, an exclusive
OS file lock in the data folder that the OS frees when the process ends, even by SIGKILL.
Next to it, ``sending.owner`` says who holds it, for the message the others show. The
window holds it from the moment it opens, sending or not: to a second window, the refusal
says plainly that waapp is already open (:meth:`AlreadySending.for_window`).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from filelock import FileLock, Timeout

from waapp.core.errors import WaappError

__all__ = ["RUN", "WINDOW", "AlreadySending", "SendingLock"]


#: How the window and ``waapp run`` name themselves (``Services.start_network(owner=…)``).
WINDOW = "the waapp window"
RUN = "waapp run"


class AlreadySending(WaappError):
    """Another waapp process (a window, ``waapp run``, a command with ``--wait``) has the
    data folder open to send from it — idle or not. ``owner``, ``pid`` and ``since``
    (local HH:MM) say which, when its record could be read."""

    def __init__(
        self,
        *,
        owner: str | None = None,
        pid: int | None = None,
        since: str | None = None,
    ) -> None:
        self.owner, self.pid, self.since = owner, pid, since
        if owner is None:
            holder = "another waapp process"
        else:
            holder = f"{owner} (process {pid}, since {since})"
        if owner == WINDOW:
            what_to_do = "Use that window (it may be hidden in the system tray), or quit it first."
        elif owner == RUN:
            what_to_do = "Let it send, or stop it first (Ctrl+C where it runs) and try again."
        else:
            what_to_do = "Wait until it ends, or stop it first, and try again."
        super().__init__(
            f"waapp is already open on this data folder: {holder}.", what_to_do=what_to_do
        )

    def for_window(self) -> tuple[str, str]:
        """(what happened, what to do) for a waapp window that cannot open because of it:
        a second window, while the first may well be idle."""
        since = f" since {self.since}" if self.since else ""
        if self.owner == WINDOW:
            return (
                f"waapp is already open in another window{since}, on the same data folder.",
                "Switch to that window — it may be hidden in the system tray: click the "
                "waapp icon there. Then close this one.",
            )
        if self.owner == RUN:
            return (
                f"waapp is already open: “waapp run” has been running{since} on the same "
                f"data folder (process {self.pid}).",
                "Let it send without a window, or stop “waapp run” first (Ctrl+C where it "
                "runs), then open waapp again.",
            )
        if self.owner is not None:
            return (
                f"waapp is already busy with the same data folder: {self.owner} (process "
                f"{self.pid}) has been running{since}.",
                "Wait until it ends, or stop it first (Ctrl+C where it runs), then open "
                "waapp again.",
            )
        return (
            "waapp is already open on the same data folder, in another window or as “waapp run”.",
            "Switch to that window (it may be hidden in the system tray), or stop “waapp "
            "run” first, then open waapp again.",
        )


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
            raise self._refusal() from None
        record = {"owner": self._owner, "pid": os.getpid(), "since": time.time()}
        self._owner_file.write_text(json.dumps(record), encoding="utf-8")

    def release(self) -> None:
        if self._lock.is_locked:
            self._owner_file.unlink(missing_ok=True)
            self._lock.release()

    def _refusal(self) -> AlreadySending:
        try:
            record = json.loads(self._owner_file.read_text(encoding="utf-8"))
            since = time.strftime("%H:%M", time.localtime(float(record["since"])))
            return AlreadySending(owner=str(record["owner"]), pid=int(record["pid"]), since=since)
        except (OSError, ValueError, KeyError, TypeError):
            return AlreadySending()
