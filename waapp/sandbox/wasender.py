"""WaSender's dialect: a linked-device WhatsApp session behind a JSON API (providers.md §3).

``/api/send-message``, ``/api/status``, ``/api/messages/{msgId}/info`` and
``/api/on-whatsapp/{phone}``, all with the session's API key as a Bearer token. No
templates and no 24 h window; the session itself can drop (scenario ``session``,
``session_drop_after``), after which sends are refused until it is connected again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from waapp.sandbox.faults import Handler, guarded
from waapp.sandbox.scenario import FaultRule
from waapp.sandbox.world import Inbound, Message, RateAnswer, parse_recipient

if TYPE_CHECKING:
    from waapp.sandbox.server import Sandbox

#: providers.md §3.5: 0 ERROR, 1 PENDING, 2 SENT, 3 DELIVERED, 4 READ, 5 PLAYED.
STATUS_CODES = {"failed": 0, "accepted": 1, "queued": 1, "sent": 2, "delivered": 3, "read": 4}
#: The official TS SDK's string form of the same (providers.md §3.6, §8.6).
STATUS_NAMES = {0: "error", 1: "pending", 2: "sent", 3: "delivered", 4: "read", 5: "played"}
CONTENT_FIELDS = (
    "text",
    "imageUrl",
    "videoUrl",
    "documentUrl",
    "audioUrl",
    "stickerUrl",
    "contact",
    "location",
)


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers=headers,
        content_type="application/json",
    )


def jid(e164: str) -> str:
    return e164[1:] + "@s.whatsapp.net"


# --- webhooks (providers.md §3.6) -----------------------------------------------------------------


def update_payload(sandbox: Sandbox, message: Message, status: str) -> dict[str, Any]:
    code = STATUS_CODES[status]
    key = {"remoteJid": jid(message.to), "id": message.key_id, "fromMe": True}
    data: Any
    if sandbox.world.scenario.wasender_status_type == "string":
        data = [{"key": key, "update": {"status": STATUS_NAMES[code]}}]
    else:
        data = {"update": {"status": code}, "key": key}
    return {
        "event": "messages.update",
        "sessionId": sandbox.settings.wasender.session_id,
        "data": data,
        "timestamp": int(time.time() * 1000),
    }


def received_payload(sandbox: Sandbox, inbound: Inbound, key_id: str) -> dict[str, Any]:
    digits = inbound.phone[1:]
    message = {
        "key": {
            "id": key_id,
            "fromMe": False,
            "remoteJid": digits + "@s.whatsapp.net",
            "addressingMode": "pn",
            "senderPn": digits + "@s.whatsapp.net",
            "cleanedSenderPn": digits,
            "senderLid": f"{int(digits) % 10**14}@lid",
        },
        "messageBody": inbound.text,
        "message": {"conversation": inbound.text},
        "pushName": inbound.name,
        "messageTimestamp": int(inbound.at),
    }
    shape = sandbox.world.scenario.wasender_messages_shape
    return {
        "event": "messages.received",
        "sessionId": sandbox.settings.wasender.session_id,
        "data": {"messages": [message] if shape == "array" else message},
        "timestamp": int(inbound.at),
    }


def session_payload(sandbox: Sandbox, status: str) -> dict[str, Any]:
    session_id = sandbox.settings.wasender.session_id
    return {
        "event": "session.status",
        "sessionId": session_id,
        "timestamp": int(time.time()),
        "data": {"status": status, "session_id": session_id},
    }


# --- the API --------------------------------------------------------------------------------------


def _failure(
    message: str,
    status: int,
    errors: dict[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
    retry_after: int | None = None,
) -> web.Response:
    body: dict[str, Any] = {"success": False, "message": message}
    if errors:
        body["errors"] = errors
    if retry_after is not None:
        body["retry_after"] = retry_after
    return _json(body, status, headers)


def _invalid(field: str, message: str) -> web.Response:
    return _failure(message, 422, {field: [message]})


class WaSenderApi:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        self._auth_cache: tuple[str, str] = ("", "")

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/send-message", self.send_message),
            web.get("/api/status", self.status),
            web.get("/api/messages/{msg_id}/info", self.message_info),
            web.get("/api/on-whatsapp/{phone}", self.on_whatsapp),
        ]

    def fault_answer(self, name: str, rule: FaultRule) -> web.Response:
        if name == "rate_limit":
            now = time.time()
            retry = rule.retry_after or 1
            return self._rate_limited(RateAnswer(False, 1, 0, now + retry, retry), now)
        return _failure("Server Error", rule.status)

    def _rate_headers(self, answer: RateAnswer, now: float) -> dict[str, str]:
        if answer.limit is None or answer.reset_at is None:
            return {}
        if self._sandbox.world.scenario.wasender_rate_reset == "seconds":
            reset = str(max(0, int(answer.reset_at - now + 0.999)))
        else:
            reset = str(int(answer.reset_at + 0.999))
        return {
            "X-RateLimit-Limit": str(answer.limit),
            "X-RateLimit-Remaining": str(answer.remaining or 0),
            "X-RateLimit-Reset": reset,
        }

    def _rate_limited(self, answer: RateAnswer, now: float) -> web.Response:
        headers = self._rate_headers(answer, now)
        headers["Retry-After"] = str(answer.retry_after)
        if self._sandbox.world.scenario.wasender_account_protection and answer.limit == 1:
            message = "Account protection is enabled. You can only send 1 message every 5 seconds."
        else:
            message = "Too many requests. Please slow down."
        return _failure(message, 429, headers=headers, retry_after=answer.retry_after)

    def _check_auth(self, request: web.Request) -> web.Response | None:
        key = self._sandbox.settings.wasender.api_key
        if self._auth_cache[0] != key:
            self._auth_cache = (key, "Bearer " + key)
        header = request.headers.get("Authorization")
        if not header:
            return _failure("API key is required", 401)
        if header != self._auth_cache[1]:
            return _failure("Invalid API key", 401)
        error = self._sandbox.world.account_error("wasender")
        if error is not None:
            if error.code == 403:
                return _failure("Your account has been suspended. Please contact support.", 403)
            return _failure("Invalid API key", 401)
        return None

    def _read(self, request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
        return guarded(self._sandbox.faults, request, "wasender", self.fault_answer, handler)

    async def send_message(self, request: web.Request) -> web.StreamResponse:
        return await guarded(
            self._sandbox.faults,
            request,
            "wasender",
            self.fault_answer,
            lambda: self._send(request),
            send=True,
        )

    async def _send(self, request: web.Request) -> web.StreamResponse:
        sandbox = self._sandbox
        world = sandbox.world
        problem = self._check_auth(request)
        if problem is not None:
            return problem
        try:
            data = await request.json()
        except ValueError:
            return _failure("The request body must be JSON.", 422)
        if not isinstance(data, Mapping):
            return _failure("The request body must be a JSON object.", 422)
        to = data.get("to")
        if to is None or to == "":
            return _invalid("to", "The to field is required.")
        if isinstance(to, str) and to.endswith(("@g.us", "@newsletter")):
            return _invalid("to", "The Sandbox does not simulate groups or channels.")
        e164 = parse_recipient(to)
        if e164 is None:
            return _invalid("to", "The to must be a valid phone number.")
        present = [name for name in CONTENT_FIELDS if data.get(name)]
        if not present:
            return _invalid(
                "text",
                "The text field is required when none of image url / video url / "
                "document url / audio url / sticker url / contact / location are present.",
            )
        text = data.get("text")
        if text is not None and not isinstance(text, str):
            return _invalid("text", "The text must be a string.")
        if world.session != "connected":
            status = world.scenario.http_status_for("wasender", "session_not_connected", 401)
            return _failure(
                f"WhatsApp session is not connected. Current status: {world.session}", status
            )
        now = time.time()
        answer = world.wasender_rate(now)
        if not answer.allowed:
            return self._rate_limited(answer, now)
        kind = (
            "text"
            if present == ["text"]
            else next(n for n in present if n != "text").removesuffix("Url")
        )
        number = world.next_wasender_number()
        message = Message(
            id=str(number),
            dialect="wasender",
            to=e164,
            type=kind,
            text=text,
            template=None,
            language=None,
            variables=None,
            time=now,
            attempt=0,
            sender=sandbox.settings.wasender.session_id,
            key_id=world.wasender_key_id(),
            number=number,
        )
        world.accept(message, world.async_failure("wasender", e164, kind, None, now), None)
        after = sandbox.faults.after_fires("wasender") if world.scenario.has_faults else None
        if after is not None:
            return await sandbox.faults.after(request, after)
        return _json(
            {"success": True, "data": {"msgId": number, "jid": e164, "status": "in_progress"}},
            headers=self._rate_headers(answer, now),
        )

    async def status(self, request: web.Request) -> web.StreamResponse:
        async def handle() -> web.StreamResponse:
            problem = self._check_auth(request)
            return problem or _json({"status": self._sandbox.world.session})

        return await self._read(request, handle)

    async def message_info(self, request: web.Request) -> web.StreamResponse:
        async def handle() -> web.StreamResponse:
            problem = self._check_auth(request)
            if problem is not None:
                return problem
            try:
                number = int(request.match_info["msg_id"])
            except ValueError:
                number = -1
            message = self._sandbox.world.by_number.get(number)
            if message is None:
                return _failure("Message not found", 404)
            remote = jid(message.to)
            content: dict[str, Any] = (
                {"conversation": message.text}
                if message.type == "text"
                else {f"{message.type}Message": {"caption": message.text or ""}}
            )
            return _json(
                {
                    "success": True,
                    "data": {
                        "msgId": number,
                        "id": message.key_id,
                        "remoteJid": remote,
                        "key": {"id": message.key_id, "fromMe": True, "remoteJid": remote},
                        "message": content,
                        "messageTimestamp": str(int(message.time)),
                        "status": STATUS_CODES[message.status],
                    },
                }
            )

        return await self._read(request, handle)

    async def on_whatsapp(self, request: web.Request) -> web.StreamResponse:
        async def handle() -> web.StreamResponse:
            problem = self._check_auth(request)
            if problem is not None:
                return problem
            e164 = parse_recipient(request.match_info["phone"])
            if e164 is None:
                return _invalid("phone", "The phone must be a valid phone number.")
            return _json(
                {"success": True, "data": {"exists": self._sandbox.world.on_whatsapp(e164)}}
            )

        return await self._read(request, handle)
