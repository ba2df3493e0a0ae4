"""The control API under ``/_sandbox/``: configure, simulate customers, inspect.

No authentication: the Sandbox binds to 127.0.0.1 by default and holds nothing secret.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from waapp.sandbox.scenario import DIALECTS, ScenarioError
from waapp.sandbox.settings import SettingsError
from waapp.sandbox.world import parse_recipient

if TYPE_CHECKING:
    from waapp.sandbox.server import Sandbox

PREFIX = "/_sandbox"


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(data, ensure_ascii=False).encode(),
        status=status,
        content_type="application/json",
    )


def _problem(message: str, status: int = 400) -> web.Response:
    return _json({"error": message}, status)


def _when(value: Any) -> float | None:
    """Unix seconds or an ISO 8601 time (``Z`` allowed) → unix seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            return None
        return parsed.timestamp()
    return None


class ControlApi:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{PREFIX}/health", self.health),
            web.get(f"{PREFIX}/config", self.get_config),
            web.post(f"{PREFIX}/config", self.post_config),
            web.post(f"{PREFIX}/inbound", self.inbound),
            web.get(f"{PREFIX}/messages", self.messages),
            web.get(f"{PREFIX}/webhooks", self.webhooks),
            web.post(f"{PREFIX}/reset", self.reset),
            web.post(f"{PREFIX}/settle", self.settle),
            web.post(f"{PREFIX}/verify", self.verify),
        ]

    async def _body(self, request: web.Request) -> Mapping[str, Any] | web.Response:
        if not request.can_read_body:
            return {}
        try:
            data = await request.json()
        except ValueError:
            return _problem("the body is not valid JSON")
        if not isinstance(data, Mapping):
            return _problem("the body must be a JSON object")
        return data

    async def health(self, request: web.Request) -> web.Response:
        sandbox = self._sandbox
        return _json(
            {
                "status": "ok",
                "url": sandbox.url,
                "uptime_s": round(time.time() - sandbox.started_at, 3),
                "messages": len(sandbox.world.messages),
                "pending_events": sandbox.dispatcher.pending,
                "webhooks_delivered": sandbox.dispatcher.delivered,
                "webhooks_failed": sandbox.dispatcher.failed,
                "session": sandbox.world.session,
            }
        )

    async def get_config(self, request: web.Request) -> web.Response:
        return _json(self._sandbox.config)

    async def post_config(self, request: web.Request) -> web.Response:
        data = await self._body(request)
        if isinstance(data, web.Response):
            return data
        try:
            self._sandbox.configure(data)
        except (ScenarioError, SettingsError) as exc:
            return _problem(str(exc))
        return _json(self._sandbox.config)

    async def inbound(self, request: web.Request) -> web.Response:
        data = await self._body(request)
        if isinstance(data, web.Response):
            return data
        phone = parse_recipient(data.get("from"))
        if phone is None:
            return _problem("from: expected an international number such as +14155550123")
        text = data.get("text", "")
        if not isinstance(text, str):
            return _problem("text: expected a string")
        dialect = data.get("dialect")
        if dialect is not None and dialect not in DIALECTS:
            return _problem(f"dialect: one of {', '.join(DIALECTS)}")
        at = None
        if "at" in data:
            at = _when(data["at"])
            if at is None:
                return _problem("at: expected unix seconds or an ISO 8601 time with a zone")
        name = data.get("name", "Sandbox Customer")
        inbound = self._sandbox.inbound(phone, text, dialect=dialect, at=at, name=str(name))
        return _json(
            {"id": inbound.id, "from": phone, "window_open_until": inbound.at + 24 * 3600}, 202
        )

    async def messages(self, request: web.Request) -> web.Response:
        """Every accepted message, oldest first; ``?to=``, ``?dialect=``, and ``?offset=`` /
        ``?limit=`` to read a long list in slices."""
        query = request.query
        to = parse_recipient(query["to"]) if "to" in query else None
        dialect = query.get("dialect")
        try:
            offset = max(0, int(query.get("offset", "0")))
            limit = int(query["limit"]) if "limit" in query else None
        except ValueError:
            return _problem("offset, limit: expected integers")
        found = self._sandbox.world.find(to=to, dialect=dialect)
        chosen = list(found)[offset : None if limit is None else offset + max(0, limit)]
        return _json([m.as_json() for m in chosen])

    async def verify(self, request: web.Request) -> web.Response:
        """Send Meta's GET verification handshake to the configured Meta webhook URL."""
        return _json(await self._sandbox.dispatcher.verify_meta())

    async def webhooks(self, request: web.Request) -> web.Response:
        query = request.query
        items = [
            entry
            for entry in self._sandbox.dispatcher.log
            if ("dialect" not in query or entry["dialect"] == query["dialect"])
            and ("kind" not in query or entry["kind"] == query["kind"])
        ]
        return _json(items)

    async def reset(self, request: web.Request) -> web.Response:
        self._sandbox.reset()
        return _json({"status": "reset"})

    async def settle(self, request: web.Request) -> web.Response:
        """Wait (``?timeout=`` seconds, default 10) until every planned event and webhook is done."""
        try:
            timeout = float(request.query.get("timeout", "10"))
        except ValueError:
            return _problem("timeout: expected seconds")
        done = await self._sandbox.settle(timeout)
        return _json(
            {"settled": done, "pending_events": self._sandbox.dispatcher.pending},
            200 if done else 504,
        )
