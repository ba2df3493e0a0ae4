"""A harness for Sandbox tests: the Sandbox in-process on a free port, a webhook receiver,
and one HTTP client, all on the test's own event loop (``asyncio.run`` per test)."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web

from waapp.sandbox import Sandbox
from waapp.sandbox.settings import (
    DEFAULT_META_PHONE_NUMBER_ID,
    DEFAULT_TWILIO_ACCOUNT_SID,
    DEFAULT_TWILIO_AUTH_TOKEN,
)

TWILIO_AUTH = (
    "Basic "
    + base64.b64encode(
        f"{DEFAULT_TWILIO_ACCOUNT_SID}:{DEFAULT_TWILIO_AUTH_TOKEN}".encode()
    ).decode()
)
TWILIO_MESSAGES = f"/2010-04-01/Accounts/{DEFAULT_TWILIO_ACCOUNT_SID}/Messages.json"
META_MESSAGES = f"/v23.0/{DEFAULT_META_PHONE_NUMBER_ID}/messages"
META_AUTH = "Bearer sandbox-access-token"
WASENDER_AUTH = "Bearer sandbox-api-key"

#: Short, fixed delays and no randomness in the world unless a test asks for it.
FAST: dict[str, Any] = {
    "delays_ms": {
        "queued": 0,
        "sent": [5, 15],
        "delivered": [5, 15],
        "read": [5, 15],
        "reply": [5, 15],
        "duplicate": [5, 10],
    },
    "read_rate": 1.0,
    "reply_rate": 0.0,
    "out_of_order_rate": 0.0,
    "duplicate_rate": 0.0,
    "meta_batch_window_ms": 0,
    "hang_ms": 2000,
}

#: Valid numbers nobody has written from (windows closed).
ALICE = "+14155550123"
BOB = "+14155550124"
NOT_ON_WHATSAPP = "+14155550404"


def run(coroutine: Awaitable[Any], timeout: float = 30.0) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coroutine, timeout)

    return asyncio.run(bounded())


@dataclass
class Hook:
    path: str
    url: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return parse_qsl(self.body.decode(), keep_blank_values=True)

    def json(self) -> Any:
        import json

        return json.loads(self.body)


class Receiver:
    """Records every webhook; answers 200, or 500 for the next ``fail`` requests."""

    def __init__(self) -> None:
        self.hooks: list[Hook] = []
        self.fail = 0
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        app.router.add_get("/{tail:.*}", self._handshake)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        self.hooks.append(
            Hook(request.path, str(request.url), dict(request.headers), await request.read())
        )
        if self.fail > 0:
            self.fail -= 1
            return web.Response(status=500)
        return web.Response(text="<Response/>" if request.path.startswith("/twilio") else "ok")

    async def _handshake(self, request: web.Request) -> web.Response:
        """Meta's GET verification, answered as pywa does (403 on a wrong token)."""
        if request.query.get("hub.verify_token") == "sandbox-verify-token":
            return web.Response(text=request.query.get("hub.challenge", ""))
        return web.Response(status=403, text="Forbidden")

    def on(self, prefix: str) -> list[Hook]:
        return [hook for hook in self.hooks if hook.path.startswith(prefix)]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for webhooks")
            await asyncio.sleep(0.01)


@dataclass
class Answer:
    status: int
    body: Any
    headers: Mapping[str, str]


class Harness:
    def __init__(self, sandbox: Sandbox, receiver: Receiver, http: aiohttp.ClientSession) -> None:
        self.sandbox = sandbox
        self.receiver = receiver
        self.http = http

    @property
    def url(self) -> str:
        return self.sandbox.url

    async def request(self, method: str, path: str, **kwargs: Any) -> Answer:
        async with self.http.request(method, self.url + path, **kwargs) as response:
            raw = await response.read()
            try:
                body: Any = await response.json(content_type=None) if raw else None
            except ValueError:
                body = raw.decode()
            return Answer(response.status, body, dict(response.headers))

    async def twilio(
        self, form: Mapping[str, str] | list[tuple[str, str]], *, auth: str | None = TWILIO_AUTH
    ) -> Answer:
        headers = {"Authorization": auth} if auth else {}
        return await self.request("POST", TWILIO_MESSAGES, data=form, headers=headers)

    async def twilio_get(
        self, path: str, *, auth: str | None = TWILIO_AUTH, **kwargs: Any
    ) -> Answer:
        headers = {"Authorization": auth} if auth else {}
        return await self.request("GET", path, headers=headers, **kwargs)

    async def meta(
        self, payload: Any, *, auth: str | None = META_AUTH, path: str = META_MESSAGES
    ) -> Answer:
        headers = {"Authorization": auth} if auth else {}
        return await self.request("POST", path, json=payload, headers=headers)

    async def meta_get(self, path: str, *, auth: str | None = META_AUTH, **kwargs: Any) -> Answer:
        headers = {"Authorization": auth} if auth else {}
        return await self.request("GET", path, headers=headers, **kwargs)

    async def wasender(self, payload: Any, *, auth: str | None = WASENDER_AUTH) -> Answer:
        headers = {"Authorization": auth} if auth else {}
        return await self.request("POST", "/api/send-message", json=payload, headers=headers)

    async def wasender_get(self, path: str, *, auth: str | None = WASENDER_AUTH) -> Answer:
        headers = {"Authorization": auth} if auth else {}
        return await self.request("GET", path, headers=headers)

    async def control(self, method: str, path: str, **kwargs: Any) -> Answer:
        return await self.request(method, "/_sandbox/" + path, **kwargs)

    def configure(self, scenario: Mapping[str, Any] | None = None, **parts: Any) -> None:
        """Apply ``scenario`` on top of :data:`FAST` (a scenario replaces the previous one)."""
        config: dict[str, Any] = dict(parts)
        if scenario is not None:
            config["scenario"] = {**FAST, **scenario}
        self.sandbox.configure(config)

    async def settle(self) -> None:
        assert await self.sandbox.settle(10.0), "the Sandbox did not settle"


def text(to: str, body: str = "Hello", **extra: Any) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "to": to.lstrip("+"),
        "type": "text",
        "text": {"body": body},
        **extra,
    }


def template(
    to: str, name: str, params: list[Any] | None = None, language: str = "en_US"
) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "language": {"code": language}}
    if params is not None:
        spec["components"] = [{"type": "body", "parameters": params}]
    return {
        "messaging_product": "whatsapp",
        "to": to.lstrip("+"),
        "type": "template",
        "template": spec,
    }


def twilio_text(to: str, body: str = "Hello", **extra: str) -> dict[str, str]:
    return {"To": "whatsapp:" + to, "From": "whatsapp:+14155238886", "Body": body, **extra}


@asynccontextmanager
async def harness(
    scenario: Mapping[str, Any] | None = None, *, targets: bool = True
) -> AsyncIterator[Harness]:
    sandbox = Sandbox()
    receiver = Receiver()
    await sandbox.start()
    await receiver.start()
    http = aiohttp.ClientSession()
    try:
        h = Harness(sandbox, receiver, http)
        parts: dict[str, Any] = {}
        if targets:
            parts = {
                "twilio": {
                    "status_callback": receiver.url + "/twilio/status",
                    "inbound_url": receiver.url + "/twilio/inbound",
                },
                "meta": {"webhook_url": receiver.url + "/meta"},
                "wasender": {"webhook_url": receiver.url + "/wasender"},
            }
        h.configure(scenario or {}, **parts)
        yield h
    finally:
        await http.close()
        await sandbox.stop()
        await receiver.stop()
