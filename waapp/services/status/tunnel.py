"""The tunnel: a user-configured command that makes the webhook receiver public.

For example ``cloudflared tunnel --url http://127.0.0.1:{port}`` or
``ngrok http {port} --log stdout``: ``{port}`` is replaced by the receiver's port. waapp
starts the command (no shell), reads its output (stdout and stderr) line by line until a
public ``https://`` URL of a known tunnel service appears, and then exposes it as
:attr:`Tunnel.public_url`. The output is read to the end so that the command never blocks
on a full pipe; the last lines are kept for Diagnostics.

If the command exits — crash, network loss — it is started again after a back-off
(1 s, 2 s, 4 s … up to ``max_backoff``; back to 1 s once a run lasted a minute). Quick
tunnels get a **new URL** on every start: whoever uses the URL (Twilio's
``StatusCallback`` for new sends) must read :attr:`Tunnel.public_url` each time, and
listen to :class:`~waapp.services.events.TunnelStateChanged`. Callbacks already addressed
to the old URL are lost; the poller covers Twilio and WaSender.

:meth:`Tunnel.stop` terminates the command (its whole process group on POSIX), and kills
it if it has not exited after ``stop_grace`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shlex
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["DEFAULT_URL_PATTERN", "Tunnel", "TunnelState", "TunnelStatus", "tunnel_argv"]

log = logging.getLogger(__name__)

#: Public URLs of the common quick-tunnel services. The command's output also holds other
#: URLs (cloudflared prints its terms and docs pages), hence a list of known hosts.
DEFAULT_URL_PATTERN = re.compile(
    r"https://[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9-]+)*\."
    r"(?:trycloudflare\.com|ngrok-free\.app|ngrok-free\.dev|ngrok\.app|ngrok\.dev|ngrok\.io"
    r"|loca\.lt|lhr\.life|serveo\.net|serveousercontent\.com|pinggy\.link|pinggy\.online"
    r"|tunnelmole\.net|devtunnels\.ms|bore\.pub)\b",
    re.IGNORECASE,
)


class TunnelState(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"  # the command runs; no public URL yet (or restarting)
    RUNNING = "running"  # the public URL is known
    FAILED = "failed"  # the command exited or cannot start; a restart is scheduled


@dataclass(frozen=True, slots=True)
class TunnelStatus:
    state: TunnelState
    public_url: str | None
    last_lines: tuple[str, ...]
    restarts: int
    error: str | None = None  # why it failed, in a few words


def tunnel_argv(command: str | Sequence[str], port: int) -> list[str]:
    """The command as an argument list, ``{port}`` replaced in every argument."""
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    if not argv:
        raise ValueError("the tunnel command is empty")
    return [arg.replace("{port}", str(port)) for arg in argv]


class Tunnel:
    """See the module doc. ``start()`` on the application loop; ``await stop()``."""

    def __init__(
        self,
        command: str | Sequence[str],
        *,
        port: int,
        on_change: Callable[[TunnelStatus], None] | None = None,
        url_pattern: re.Pattern[str] = DEFAULT_URL_PATTERN,
        first_backoff: float = 1.0,
        max_backoff: float = 60.0,
        stable_after: float = 60.0,
        stop_grace: float = 5.0,
        keep_lines: int = 40,
    ) -> None:
        self.argv = tunnel_argv(command, port)
        self._on_change = on_change
        self._pattern = url_pattern
        self._first_backoff = first_backoff
        self._max_backoff = max_backoff
        self._stable_after = stable_after
        self._stop_grace = stop_grace
        self._lines: deque[str] = deque(maxlen=keep_lines)
        self._state = TunnelState.STOPPED
        self._url: str | None = None
        self._error: str | None = None
        self._restarts = 0
        self._process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None

    # --- what the rest of waapp reads --------------------------------------------------

    @property
    def public_url(self) -> str | None:
        """The public base URL while running, else None."""
        return self._url if self._state is TunnelState.RUNNING else None

    @property
    def state(self) -> TunnelState:
        return self._state

    @property
    def pid(self) -> int | None:
        """The running command's process id (Diagnostics), or None."""
        return None if self._process is None else self._process.pid

    def status(self) -> TunnelStatus:
        return TunnelStatus(
            self._state, self.public_url, tuple(self._lines), self._restarts, self._error
        )

    def _set(self, state: TunnelState, *, url: str | None = None, error: str | None = None) -> None:
        self._state, self._url, self._error = state, url, error
        if self._on_change is not None:
            try:
                self._on_change(self.status())
            except Exception:
                log.exception("Tunnel state listener failed")

    # --- life cycle --------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._set(TunnelState.STARTING)
            self._task = asyncio.get_running_loop().create_task(self._supervise(), name="tunnel")

    async def stop(self) -> None:
        """Terminate the command (kill after ``stop_grace``) and stop restarting. Idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._end_process()
        if self._state is not TunnelState.STOPPED:
            self._set(TunnelState.STOPPED)

    async def _supervise(self) -> None:
        backoff = self._first_backoff
        while True:
            started = time.monotonic()
            error = await self._run_once()
            if time.monotonic() - started >= self._stable_after:
                backoff = self._first_backoff
            log.warning("Tunnel command %s; restarting in %.0f s", error, backoff)
            self._set(TunnelState.FAILED, error=error)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)
            self._restarts += 1
            self._set(TunnelState.STARTING)

    async def _run_once(self) -> str:
        """Run the command until it exits; why it ended, in a few words."""
        try:
            self._process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=sys.platform != "win32",
            )
        except OSError as exc:
            self._lines.append(f"cannot start {self.argv[0]}: {exc.strerror or exc}")
            return f"cannot start ({exc.strerror or exc})"
        process = self._process
        assert process.stdout is not None
        log.info("Tunnel command started (pid %s)", process.pid)
        while True:
            try:
                raw = await process.stdout.readline()
            except ValueError:  # a line longer than the stream limit: skip it
                continue
            if not raw:
                break
            line = raw.decode("utf-8", "replace").rstrip()
            self._lines.append(line)
            if self._state is not TunnelState.RUNNING:
                found = self._pattern.search(line)
                if found:
                    url = found.group(0).rstrip("/")
                    log.info("Tunnel is public at %s", url)
                    self._set(TunnelState.RUNNING, url=url)
        code = await process.wait()
        self._process = None
        return f"exited with code {code}"

    async def _end_process(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        self._signal(process, signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), self._stop_grace)
        except TimeoutError:
            log.warning("Tunnel command did not stop in %.0f s; killing it", self._stop_grace)
            self._signal(process, signal.SIGKILL if sys.platform != "win32" else signal.SIGTERM)
            await process.wait()

    @staticmethod
    def _signal(process: asyncio.subprocess.Process, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            if sys.platform != "win32":
                # Its own session: the group holds whatever the command started.
                os.killpg(process.pid, sig)
            elif sig == signal.SIGTERM:
                process.terminate()
            else:
                process.kill()
