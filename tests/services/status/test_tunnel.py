"""The tunnel with tiny fake commands (Python one-liners) instead of a real tunnel client."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable

import pytest

from waapp.services.status.tunnel import Tunnel, TunnelState, TunnelStatus, tunnel_argv

BANNER = (
    "import sys, time\n"
    "print('INF Thank you for trying Cloudflare Tunnel. https://www.cloudflare.com/website-terms/',"
    " file=sys.stderr, flush=True)\n"
    "print('INF Requesting new quick Tunnel on trycloudflare.com...', file=sys.stderr, flush=True)\n"
)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie still answers; it is reaped by the asyncio child watcher.
    return False


def test_the_public_url_is_read_from_the_output_and_stop_ends_the_command() -> None:
    code = BANNER + (
        "print('|  https://quiet-river-1234.trycloudflare.com  |', file=sys.stderr, flush=True)\n"
        "time.sleep(60)\n"
    )

    async def main() -> None:
        seen: list[TunnelStatus] = []
        tunnel = Tunnel(python(code), port=8080, on_change=seen.append)
        tunnel.start()
        await until(lambda: tunnel.state is TunnelState.RUNNING)
        assert tunnel.public_url == "https://quiet-river-1234.trycloudflare.com"
        pid = tunnel.pid
        assert pid is not None
        status = tunnel.status()
        assert any("website-terms" in line for line in status.last_lines)  # kept, not taken
        await tunnel.stop()
        assert tunnel.state is TunnelState.STOPPED and tunnel.public_url is None
        await until(lambda: gone(pid))
        assert [s.state for s in seen] == [
            TunnelState.STARTING,
            TunnelState.RUNNING,
            TunnelState.STOPPED,
        ]

    asyncio.run(main())


def test_a_dying_command_is_restarted_with_back_off_and_a_new_url() -> None:
    code = (
        "import os, sys, time\n"
        "print(f'https://run-{os.getpid()}.trycloudflare.com', flush=True)\n"
        "time.sleep(0.2)\n"
        "sys.exit(3)\n"
    )

    async def main() -> None:
        seen: list[TunnelStatus] = []
        tunnel = Tunnel(python(code), port=1, on_change=seen.append, first_backoff=0.05)
        tunnel.start()
        await until(lambda: tunnel.status().restarts >= 2 and tunnel.state is TunnelState.RUNNING)
        await tunnel.stop()
        failures = [s for s in seen if s.state is TunnelState.FAILED]
        assert failures and all(s.error == "exited with code 3" for s in failures)
        assert all(s.public_url is None for s in failures)
        urls = [s.public_url for s in seen if s.state is TunnelState.RUNNING]
        assert len(urls) >= 3 and len(set(urls)) == len(urls)  # a new URL on every start

    asyncio.run(main())


def test_a_command_that_ignores_terminate_is_killed() -> None:
    code = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('https://stubborn.ngrok-free.app', flush=True)\n"
        "time.sleep(60)\n"
    )

    async def main() -> None:
        tunnel = Tunnel(python(code), port=1, stop_grace=0.3)
        tunnel.start()
        await until(lambda: tunnel.state is TunnelState.RUNNING)
        pid = tunnel.pid
        assert pid is not None and tunnel.public_url == "https://stubborn.ngrok-free.app"
        await tunnel.stop()
        await until(lambda: gone(pid))

    asyncio.run(main())


def test_a_command_that_cannot_start_fails_plainly() -> None:
    async def main() -> None:
        tunnel = Tunnel("/nonexistent/cloudflared tunnel --url http://127.0.0.1:{port}", port=5)
        tunnel.start()
        await until(lambda: tunnel.state is TunnelState.FAILED)
        status = tunnel.status()
        assert status.error is not None and status.error.startswith("cannot start")
        assert "/nonexistent/cloudflared" in status.last_lines[-1]
        await tunnel.stop()
        assert tunnel.state is TunnelState.STOPPED

    asyncio.run(main())


def test_the_port_is_substituted_in_every_argument() -> None:
    assert tunnel_argv("cloudflared tunnel --url http://127.0.0.1:{port}", 8123) == [
        "cloudflared",
        "tunnel",
        "--url",
        "http://127.0.0.1:8123",
    ]
    assert tunnel_argv(["ngrok", "http", "{port}"], 9) == ["ngrok", "http", "9"]
    with pytest.raises(ValueError, match="empty"):
        tunnel_argv("  ", 1)
