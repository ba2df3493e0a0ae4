"""Fault injection: the scenario's rules carried out on a live request.

Before acceptance a request may hang and then lose its connection (``timeout_before``), be
reset (``reset``), or get a 5xx or a 429 in the dialect's own shape; none of them records the
message. After acceptance the message is recorded (it appears in ``/_sandbox/messages`` and
its webhooks go out) and then the answer never comes: ``timeout_after`` hangs and drops the
connection, ``reset_after`` resets it at once. ``slow`` delays the answer by ``delay_ms``.

A hang lasts the scenario's ``hang_ms`` or until the Sandbox stops, whichever is first.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Awaitable, Callable

from aiohttp import web

from waapp.sandbox.scenario import FAULTS_AFTER, FAULTS_BEFORE, FaultRule
from waapp.sandbox.world import World

#: Makes the dialect's answer to an injected fault: (fault name, rule) → response.
FaultAnswer = Callable[[str, FaultRule], web.Response]
#: A read-only handler body, run by :func:`guarded`.
Handler = Callable[[], Awaitable[web.StreamResponse]]


def _drop(request: web.BaseRequest, *, reset: bool) -> web.Response:
    """Close the connection without an answer; with ``reset`` the peer gets a TCP RST."""
    transport = request.transport
    if transport is not None:
        if reset:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        else:
            transport.close()
    # aiohttp's attempt to write this to the closed transport is a "premature client
    # disconnection" that it ignores quietly.
    return web.Response(status=204)


class FaultInjector:
    def __init__(self, world: World, stopping: asyncio.Event) -> None:
        self._world = world
        self._stopping = stopping

    async def _hang(self) -> None:
        await self._pause(self._world.scenario.hang_ms / 1000.0)

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds``, or less if the Sandbox stops meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def before(
        self, request: web.BaseRequest, dialect: str, answer: FaultAnswer, *, send: bool = True
    ) -> web.StreamResponse | None:
        """The response that replaces the real one, or None to go on. Call only when the
        scenario has faults (``Scenario.has_faults``) to keep the fast path free."""
        scenario = self._world.scenario
        if not send and scenario.fault_scope != "all":
            return None
        rng = self._world.fault_rng
        faults = scenario.faults
        slow = faults.get("slow")
        if slow is not None and slow.fires(dialect, rng):
            await self._pause(slow.delay_ms / 1000.0 / scenario.speed)
        for name in FAULTS_BEFORE:
            rule = faults.get(name)
            if rule is None or not rule.fires(dialect, rng):
                continue
            if name == "timeout_before":
                await self._hang()
                return _drop(request, reset=False)
            if name == "reset":
                return _drop(request, reset=True)
            return answer(name, rule)
        return None

    def after_fires(self, dialect: str) -> str | None:
        """Which after-acceptance fault fires for this accepted send, if any."""
        scenario = self._world.scenario
        for name in FAULTS_AFTER:
            rule = scenario.faults.get(name)
            if rule is not None and rule.fires(dialect, self._world.fault_rng):
                return name
        return None

    async def after(self, request: web.BaseRequest, name: str) -> web.StreamResponse:
        if name == "timeout_after":
            await self._hang()
            return _drop(request, reset=False)
        return _drop(request, reset=True)


async def guarded(
    injector: FaultInjector,
    request: web.BaseRequest,
    dialect: str,
    answer: FaultAnswer,
    handler: Handler,
    *,
    send: bool = False,
) -> web.StreamResponse:
    """Run ``handler`` unless the scenario's faults replace its answer: a send under every
    fault rule, a read-only request under the ``fault_scope: all`` ones."""
    if injector._world.scenario.has_faults:
        replaced = await injector.before(request, dialect, answer, send=send)
        if replaced is not None:
            return replaced
    return await handler()
