"""WaSender, a WhatsApp-Web session gateway (providers.md §3).

Requests: JSON with ``Authorization: Bearer <session API key>``; ``POST /api/send-message``
answers ``{success, data: {msgId, jid, status}}``. No templates and no 24 h window: an
"approved" template is rendered here with ``waapp.core.templates`` and sent as text.

Ids. A send returns WaSender's integer ``msgId`` (our ``provider_message_id``) and nothing
else that names the message (``{msgId, jid, status}``, providers.md §3.2). Status webhooks
(``messages.update``) name it by its WhatsApp ``key.id`` instead, which only the info
endpoint relates to the ``msgId``: :meth:`WaSenderProvider.fetch_status` (polling
``/api/messages/{msgId}/info``) returns that ``key.id`` as ``StatusUpdate.key_id``, the
store keeps it on the message, and from then on the webhooks, returned with the ``key.id``
as ``provider_message_id``, find their message (those that came earlier are merged then).

Errors. WaSender has no error codes: refusals are classified by HTTP status, except that
the message text is read for what the catalogue names (session needing a QR scan,
disconnected, logged out, expired, still connecting; number not on WhatsApp) — on a 401
too, which is also how a session that is not connected is refused: a dropped session must
say "scan the QR code again", not "API key refused".
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from waapp.core import catalogue, signatures
from waapp.core.catalogue import Dialect
from waapp.core.entities import AccountKind, Template
from waapp.core.errors import ValidationError
from waapp.core.ports import (
    HealthReport,
    InboundText,
    ProviderError,
    SendResult,
    StatusUpdate,
    WebhookEvent,
    WebhookRequest,
)
from waapp.core.states import DeliveryStatus
from waapp.core.templates import VariableSource, render
from waapp.providers import base
from waapp.providers.base import Clock, log, utc_now
from waapp.providers.fields import WASENDER_BASE_URL

__all__ = ["WaSenderProvider", "render_template_text"]

_DIALECT = Dialect.WASENDER

#: Numeric statuses of ``/info`` and ``messages.update`` (§3.5): 0 ERROR, 1 PENDING,
#: 2 SENT, 3 DELIVERED, 4 READ, 5 PLAYED; the TypeScript SDK's strings, and Baileys'
#: names, mean the same. PENDING is before "sent" and not reported.
_STATUSES: dict[str, DeliveryStatus | None] = {
    "0": DeliveryStatus.FAILED,
    "error": DeliveryStatus.FAILED,
    "failed": DeliveryStatus.FAILED,
    "1": None,
    "pending": None,
    "2": DeliveryStatus.SENT,
    "sent": DeliveryStatus.SENT,
    "server_ack": DeliveryStatus.SENT,
    "3": DeliveryStatus.DELIVERED,
    "delivered": DeliveryStatus.DELIVERED,
    "delivery_ack": DeliveryStatus.DELIVERED,
    "4": DeliveryStatus.READ,
    "read": DeliveryStatus.READ,
    "5": DeliveryStatus.READ,
    "played": DeliveryStatus.READ,
}

#: Phrases of WaSender's refusal messages → catalogue codes (first match wins).
_MESSAGE_CODES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("need_scan", "need scan", "scan the qr", "qr code"), "session_need_scan"),
    (("logged_out", "logged out"), "session_logged_out"),
    (("session expired", "session has expired"), "session_expired"),
    (("connecting",), "session_connecting"),
    (("not connected", "disconnected"), "session_disconnected"),
    (
        (
            "not on whatsapp",
            "not registered on whatsapp",
            "does not exist on whatsapp",
            "not a whatsapp",
            "not exists on whatsapp",
        ),
        "not_on_whatsapp",
    ),
)

_INBOUND_EVENTS = frozenset({"messages.received", "messages.upsert", "messages-personal.received"})
_STATUS_EVENTS = frozenset({"messages.update", "message-receipt.update"})
#: Chats that are not one person: groups, channels, broadcast lists.
_NOT_PERSONAL = ("@g.us", "@newsletter", "@broadcast")

_NEED_SCAN_SUMMARY = (
    "Scan the QR code in your WaSender dashboard with WhatsApp on your phone (Settings, "
    "Linked devices): the session is waiting for it and cannot send until then."
)


class WaSenderProvider:
    """One WaSender WhatsApp session."""

    supports_polling = True
    dialect = _DIALECT

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        api_key: str,
        webhook_secret: str = "",
        base_url: str = WASENDER_BASE_URL,
        kind: AccountKind = AccountKind.WASENDER,
        clock: Clock = utc_now,
    ) -> None:
        if not api_key:
            raise ValidationError("A WaSender account needs its session API key.")
        self.kind = kind
        self._client = client
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        self._webhook_secret = webhook_secret
        self._api = f"{base_url.rstrip('/')}/api"
        self._clock = clock

    # --- sending ----------------------------------------------------------------------

    async def send_text(self, to: str, text: str, *, reference: str) -> SendResult:
        """``reference`` is not sent: WaSender has nowhere to carry it back."""
        target = to.strip()
        if target.isdigit():
            target = "+" + target
        url = f"{self._api}/send-message"
        response = await base.request(
            self._client,
            _DIALECT,
            "POST",
            url,
            json={"to": target, "text": text},
            headers=self._headers,
        )
        if isinstance(response, ProviderError):
            return SendResult(error=response)
        body = base.json_body(response)
        if not response.is_success or (isinstance(body, dict) and body.get("success") is False):
            return SendResult(error=self._refusal(response, body))
        data = body.get("data") if isinstance(body, dict) else None
        message_id = data.get("msgId") if isinstance(data, dict) else None
        if (
            isinstance(message_id, bool)
            or not isinstance(message_id, int | str)
            or not str(message_id).strip()
        ):
            return SendResult(
                error=base.bad_response(_DIALECT, f"HTTP {response.status_code} without a msgId")
            )
        jid = data.get("jid") if isinstance(data, dict) else None
        return SendResult(
            provider_message_id=str(message_id).strip(),
            wa_id=str(jid).lstrip("+").split("@", 1)[0] if isinstance(jid, str) and jid else None,
        )

    async def send_template(
        self, to: str, template: Template, variables: Mapping[str, str], *, reference: str
    ) -> SendResult:
        """WaSender has no templates: the template is rendered here and sent as text."""
        try:
            text = render_template_text(template, variables)
        except ValidationError as exc:  # RenderError included: a value is missing
            return SendResult(error=base.refusal(_DIALECT, status=422, detail=f"Not sent: {exc}"))
        return await self.send_text(to, text, reference=reference)

    def _refusal(self, response: httpx.Response, body: object) -> ProviderError:
        """``{success: false, message, errors: {field: [...]}, retry_after}`` (§3.3)."""
        detail = ""
        retry_value: object = None
        if isinstance(body, dict):
            detail = str(body.get("message") or "")
            errors = body.get("errors")
            if isinstance(errors, dict):
                reasons = [
                    str(reason)
                    for value in errors.values()
                    for reason in (value if isinstance(value, list) else [value])
                ]
                if reasons:
                    detail = f"{detail} ({'; '.join(reasons)})" if detail else "; ".join(reasons)
            retry_value = body.get("retry_after")
        elif response.text.strip():
            detail = response.text.strip()[:200]
        status = response.status_code if response.status_code >= 300 else 400
        return base.refusal(
            _DIALECT,
            status=status,
            code=_code_of(detail) if status != 429 else None,
            detail=detail,
            retry_after=base.retry_after_seconds(
                response, body_value=retry_value, now=self._clock()
            ),
        )

    # --- polling ----------------------------------------------------------------------

    async def fetch_status(self, provider_message_id: str) -> StatusUpdate | None:
        """``GET /api/messages/{msgId}/info`` (§3.5): None while PENDING; raises
        :class:`~waapp.providers.base.ProviderRequestError` when WaSender cannot say."""
        url = f"{self._api}/messages/{quote(provider_message_id.strip())}/info"
        response = await base.request(self._client, _DIALECT, "GET", url, headers=self._headers)
        if isinstance(response, ProviderError):
            raise base.raise_for(_DIALECT, response)
        body = base.json_body(response)
        if not response.is_success or (isinstance(body, dict) and body.get("success") is False):
            raise base.raise_for(_DIALECT, self._refusal(response, body))
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or "status" not in data:
            raise base.raise_for(_DIALECT, base.bad_response(_DIALECT, "no data.status"))
        delivery = _STATUSES.get(_text(data.get("status")).lower())
        if delivery is None:
            return None
        key = _dict(data.get("key"))
        key_id = _text(key.get("id") or data.get("id"))
        return StatusUpdate(
            provider_message_id=provider_message_id.strip(),
            status=delivery,
            occurred_at=self._clock(),
            recipient=base.phone_e164(data.get("remoteJid") or key.get("remoteJid")),
            error=_message_error() if delivery is DeliveryStatus.FAILED else None,
            key_id=key_id if key_id and key_id != provider_message_id.strip() else None,
        )

    async def list_templates(self) -> list[Template]:
        return []  # no templates on a WhatsApp-Web gateway

    # --- health -----------------------------------------------------------------------

    async def check_health(self) -> HealthReport:
        """The session state of ``GET /api/status`` (§3.4); only ``connected`` sends."""
        url = f"{self._api}/status"
        response = await base.request(self._client, _DIALECT, "GET", url, headers=self._headers)
        if isinstance(response, ProviderError):
            return base.unhealthy(_DIALECT, response)
        body = base.json_body(response)
        if not response.is_success or (isinstance(body, dict) and body.get("success") is False):
            return base.unhealthy(_DIALECT, self._refusal(response, body))
        status = ""
        if isinstance(body, dict):
            data = body.get("data")
            status = _text(
                body.get("status") or (data.get("status") if isinstance(data, dict) else None)
            ).lower()
        if not status:
            return base.unhealthy(_DIALECT, base.bad_response(_DIALECT, "no session status"))
        details = {"session_status": status}
        if status == "connected":
            return HealthReport(True, "The WhatsApp session is connected.", details)
        if status == "need_scan":
            return HealthReport(False, _NEED_SCAN_SUMMARY, details)
        entry = catalogue.lookup(_DIALECT, f"session_{status}")
        if entry.known:
            return HealthReport(
                False, entry.meaning, {**details, "what_to_do": entry.account_advice}
            )
        return HealthReport(
            False, f"WaSender reports the session as “{status}”; it cannot send now.", details
        )

    # --- webhooks ---------------------------------------------------------------------

    def verify_webhook(self, request: WebhookRequest) -> bool:
        """``X-Webhook-Signature`` must equal the webhook secret (§3.6; no HMAC)."""
        return signatures.wasender_valid(
            base.header(request.headers, "X-Webhook-Signature"), self._webhook_secret
        )

    def verify_subscription(self, query: Mapping[str, str]) -> str | None:
        return None  # Meta's handshake only

    def parse_webhook(self, request: WebhookRequest) -> list[WebhookEvent]:
        """``messages.update`` → status updates; ``messages.received`` / ``.upsert`` →
        inbound texts (not ``fromMe``, not groups); ``data`` or ``data.messages`` may be an
        object or an array, statuses numbers or strings, timestamps seconds or ms."""
        try:
            return self._parse(request)
        except Exception as exc:  # a webhook must never take the receiver down
            log.warning("wasender webhook not understood (%s)", type(exc).__name__)
            return []

    def _parse(self, request: WebhookRequest) -> list[WebhookEvent]:
        try:
            payload = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            log.warning("wasender webhook: body is not JSON")
            return []
        if not isinstance(payload, dict):
            log.warning("wasender webhook: body is not a JSON object")
            return []
        event = _text(payload.get("event")).lower()
        now = self._clock()
        sent_at = base.epoch_to_datetime(payload.get("timestamp"), now)
        data = payload.get("data")
        if event in _STATUS_EVENTS:
            return [u for u in map(lambda i: _status(i, sent_at), _items(data)) if u]
        if event in _INBOUND_EVENTS:
            messages = (
                data.get("messages") if isinstance(data, dict) and "messages" in data else data
            )
            return [m for m in map(lambda i: _inbound(i, sent_at), _items(messages)) if m]
        if event == "session.status":
            state = data.get("status") if isinstance(data, dict) else None
            log.info("wasender webhook: session is now %s", _text(state) or "unknown")
        elif not event:
            log.warning("wasender webhook without an event name ignored")
        return []


# --- rendering ---------------------------------------------------------------------------------


def render_template_text(template: Template, variables: Mapping[str, str]) -> str:
    """The text a template reads as, variables filled in: TEXT header, body and footer,
    separated by blank lines. Raises ``ValidationError`` / ``RenderError`` like
    ``waapp.core.templates.render``."""
    header = template.header or {}
    parts = [
        str(header.get("text") or "") if str(header.get("format") or "").upper() == "TEXT" else "",
        template.body,
        template.footer or "",
    ]
    text = "\n\n".join(part for part in parts if part.strip())
    mapping = {name: VariableSource(text=value) for name, value in variables.items()}
    return render(text, mapping, {}).text


# --- webhook payloads ----------------------------------------------------------------------


def _status(item: dict[str, Any], sent_at: datetime) -> StatusUpdate | None:
    key = _dict(item.get("key"))
    update = _dict(item.get("update"))
    message_id = _text(key.get("id") or item.get("id") or item.get("msgId"))
    raw = update.get("status", item.get("status"))
    delivery = _STATUSES.get(_text(raw).lower())
    if not message_id or delivery is None:
        return None
    return StatusUpdate(
        provider_message_id=message_id,
        status=delivery,
        occurred_at=sent_at,
        recipient=base.phone_e164(key.get("remoteJid")),
        error=_message_error() if delivery is DeliveryStatus.FAILED else None,
    )


def _inbound(item: dict[str, Any], sent_at: datetime) -> InboundText | None:
    key = _dict(item.get("key"))
    if key.get("fromMe") is True or item.get("fromMe") is True:
        return None  # our own message, echoed by messages.upsert
    chat = _text(key.get("remoteJid") or item.get("remoteJid"))
    if chat.endswith(_NOT_PERSONAL):
        return None
    sender = (
        base.phone_e164(key.get("cleanedSenderPn") or item.get("cleanedSenderPn"))
        or base.phone_e164(key.get("senderPn") or item.get("senderPn"))
        or base.phone_e164(chat)  # a phone JID; a "@lid" gives None
    )
    if sender is None:
        log.warning("wasender webhook: an inbound message without a phone number skipped")
        return None
    return InboundText(
        from_phone=sender,
        body=_message_text(item),
        received_at=base.epoch_to_datetime(_timestamp(item.get("messageTimestamp")), sent_at),
        provider_message_id=_text(key.get("id") or item.get("id")) or None,
    )


def _message_text(item: dict[str, Any]) -> str:
    if isinstance(item.get("messageBody"), str) and item["messageBody"]:
        return str(item["messageBody"])
    message = item.get("message")
    if not isinstance(message, dict):
        return ""
    if isinstance(message.get("conversation"), str):
        return str(message["conversation"])
    paths = (
        ("extendedTextMessage", "text"),
        ("imageMessage", "caption"),
        ("videoMessage", "caption"),
        ("documentMessage", "caption"),
        ("buttonsResponseMessage", "selectedDisplayText"),
        ("templateButtonReplyMessage", "selectedDisplayText"),
        ("listResponseMessage", "title"),
    )
    for outer, inner in paths:
        part = message.get(outer)
        if isinstance(part, dict) and isinstance(part.get(inner), str):
            return str(part[inner])
    return ""


def _timestamp(value: object) -> object:
    """Baileys may serialise a Long as ``{"low", "high", "unsigned"}``."""
    if isinstance(value, dict) and isinstance(value.get("low"), int):
        return (int(value.get("high") or 0) << 32) + (value["low"] & 0xFFFFFFFF)
    return value


def _message_error() -> ProviderError:
    return base.async_failure(_DIALECT, "message_error", "WaSender reported status ERROR")


def _code_of(message: str) -> str | None:
    lowered = message.lower()
    for phrases, code in _MESSAGE_CODES:
        if any(phrase in lowered for phrase in phrases):
            return code
    return None


def _items(value: object) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                yield item


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str:
    if value is None or isinstance(value, bool | dict | list):
        return ""
    return str(value).strip()
