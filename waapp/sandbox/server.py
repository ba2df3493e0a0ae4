"""The Sandbox server: the app factory and :class:`Sandbox`, its Python face.

    sandbox = Sandbox()
    url = await sandbox.start()              # 127.0.0.1, a free port
    sandbox.configure({"meta": {"webhook_url": "http://127.0.0.1:9000/hook"},
                       "scenario": {"seed": 7, "error_5xx": 0.1}})
    ...
    await sandbox.stop()

It runs on the caller's event loop (``web.AppRunner(handle_signals=False)`` + ``TCPSite``),
so it works inside the application's qasync loop as well as under ``asyncio.run``, and it
stops in milliseconds: hanging fault handlers are released at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from aiohttp import web

from waapp.sandbox.control import ControlApi
from waapp.sandbox.faults import FaultInjector
from waapp.sandbox.meta import MetaApi
from waapp.sandbox.scenario import Scenario, describe, parse_scenario
from waapp.sandbox.settings import DEFAULT_HOST, Settings
from waapp.sandbox.twilio import TwilioApi
from waapp.sandbox.wasender import WaSenderApi
from waapp.sandbox.webhooks import Dispatcher
from waapp.sandbox.world import Inbound, InboundEvent, World

#: Request bodies larger than this are refused (413); no send needs more.
MAX_BODY_BYTES = 1024 * 1024
CONFIG_PARTS = ("twilio", "meta", "wasender", "scenario")


def build_app(sandbox: Sandbox) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    for api in (ControlApi(sandbox), TwilioApi(sandbox), MetaApi(sandbox), WaSenderApi(sandbox)):
        app.add_routes(api.routes())
    return app


class Sandbox:
    """A simulated WhatsApp provider speaking the Twilio, Meta and WaSender dialects.

    ``config`` is the same JSON as ``POST /_sandbox/config`` (see :meth:`configure`).
    One instance serves one ``start()``/``stop()`` life.
    """

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self.settings = Settings()
        self.world = World(self.settings, Scenario())
        self.dispatcher = Dispatcher(self)
        self.world.schedule = self._schedule
        self._stopping = asyncio.Event()
        self.faults = FaultInjector(self.world, self._stopping)
        self.app = build_app(self)
        self._runner: web.AppRunner | None = None
        self._running = False
        self.url = ""
        self.started_at = time.time()
        if config:
            self.configure(config)

    # --- life cycle -----------------------------------------------------------------------

    async def start(self, host: str = DEFAULT_HOST, port: int = 0) -> str:
        """Listen on ``host:port`` (0: a free port) and return the base URL."""
        if self._runner is not None or self._stopping.is_set():
            raise RuntimeError("a Sandbox starts once; create a new one to start again")
        await self.dispatcher.start()
        runner = web.AppRunner(
            self.app, handle_signals=False, access_log=None, shutdown_timeout=1.0
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            await self.dispatcher.stop()
            raise
        self._runner = runner
        self._running = True
        address = runner.addresses[0]
        bound_host, bound_port = address[0], address[1]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.url = f"http://{shown}:{bound_port}"
        self.started_at = time.time()
        return self.url

    async def stop(self) -> None:
        """Stop listening, release hanging requests, drop planned events and webhooks."""
        self._running = False
        self._stopping.set()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        await self.dispatcher.stop()

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        return self._running

    # --- configuration ----------------------------------------------------------------------

    def configure(self, data: Mapping[str, Any] | None = None, **parts: Any) -> None:
        """Apply a config body: ``twilio`` / ``meta`` / ``wasender`` parts are merged field by
        field; a ``scenario`` replaces the current scenario whole. Raises ``ValueError``
        (:class:`~waapp.sandbox.scenario.ScenarioError`, :class:`~waapp.sandbox.settings.SettingsError`)
        without changing anything when a part is wrong."""
        merged = {**(data or {}), **parts}
        unknown = set(merged) - set(CONFIG_PARTS)
        if unknown:
            from waapp.sandbox.scenario import ScenarioError

            raise ScenarioError(
                f"unknown config parts {sorted(unknown)} (known: {', '.join(CONFIG_PARTS)})"
            )
        scenario = (
            parse_scenario(merged["scenario"]) if merged.get("scenario") is not None else None
        )
        self.settings.update(merged)
        if scenario is not None:
            self.world.set_scenario(scenario)
            if self._running:
                self.dispatcher.resize()

    @property
    def config(self) -> dict[str, Any]:
        """The current configuration, credentials included, as ``GET /_sandbox/config``."""
        return {**self.settings.as_dict(), "scenario": describe(self.world.scenario)}

    def reset(self) -> None:
        """Forget messages, windows, webhooks and counters; back to the default scenario.
        Credentials and webhook targets stay."""
        self.dispatcher.clear()
        self.dispatcher.log.clear()
        self.world.reset(Scenario())
        if self._running:
            self.dispatcher.resize()

    # --- simulation and inspection ------------------------------------------------------------

    def _schedule(self, delay: float, event: Any) -> None:
        if self._running:
            self.dispatcher.schedule(delay, event)

    def inbound(
        self,
        phone: str,
        text: str,
        *,
        dialect: str | None = None,
        at: float | None = None,
        name: str = "Sandbox Customer",
    ) -> Inbound:
        """A customer writes: their 24 h window opens (from ``at``, default now) and the
        message goes out as an inbound webhook in ``dialect`` (default: every dialect with
        a webhook target). ``phone`` is ``+E164``."""
        inbound = Inbound(
            id="", dialect=dialect, phone=phone, text=text, at=at or time.time(), name=name
        )
        self.world.record_inbound(inbound)
        self._schedule(0.0, InboundEvent(inbound))
        return inbound

    def messages(self) -> list[dict[str, Any]]:
        """Every accepted message, as ``GET /_sandbox/messages``."""
        return [message.as_json() for message in self.world.messages]

    @property
    def webhooks(self) -> list[dict[str, Any]]:
        """Every webhook delivery attempt, as ``GET /_sandbox/webhooks``."""
        return list(self.dispatcher.log)

    async def settle(self, timeout: float = 10.0) -> bool:
        """Wait until every planned event has fired and every webhook is done."""
        return await self.dispatcher.settle(timeout)
