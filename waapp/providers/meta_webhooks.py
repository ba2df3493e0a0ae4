"""Meta's webhook payloads (providers.md §2.5), and Kapso's native ones (§4), as core events.

Meta: ``entry[].changes[]`` with ``field == "messages"``; each ``value`` may carry a batch
of ``statuses[]`` (sent / delivered / read / failed with ``errors[]``, and ``played`` for
voice, read as READ) and ``messages[]`` (inbound). ``field == "user_preferences"``
carries ``user_preferences[]``: ``{wa_id, detail, category, value, timestamp}``, read as
:class:`~waapp.core.ports.MarketingPreference` when ``category`` is ``marketing_messages``
(``value`` "stop" or "resume"; anything else is skipped with a warning). Other fields
(``message_template_status_update``, quality and account updates) are not delivery
events and are skipped. ``value.errors[]`` (system-level) are logged.

Kapso native events (``whatsapp.message.received|sent|delivered|read|failed``, one per
request or ``data[]`` when batched) carry a Meta-shaped ``message`` with a ``kapso``
object; that shape comes from Kapso's documentation pages, not from providers.md, so it
is read as tolerantly as possible and anything unexpected is skipped.

Never raises for a body it does not understand: it logs why (never the body: it holds
phone numbers and message text) and returns what it could read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from waapp.core.catalogue import Dialect
from waapp.core.ports import (
    InboundText,
    MarketingPreference,
    ProviderError,
    StatusUpdate,
    WebhookEvent,
    WebhookRequest,
)
from waapp.core.states import DeliveryStatus
from waapp.providers import base
from waapp.providers.base import log

__all__ = ["parse"]

_DIALECT = Dialect.META

_STATUSES: dict[str, DeliveryStatus] = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "played": DeliveryStatus.READ,  # a voice message listened to: read and more
    "failed": DeliveryStatus.FAILED,
}

#: Inbound message types that are not the customer writing (no text, no window).
_NOT_CUSTOMER_MESSAGES = frozenset({"system", "reaction"})

#: ``user_preferences[].value`` of the ``marketing_messages`` category → opted out.
_MARKETING_PREFERENCES = {"stop": True, "resume": False}

Event = WebhookEvent


def parse(request: WebhookRequest, *, now: datetime) -> list[Event]:
    try:
        payload = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        log.warning("meta webhook: body is not JSON")
        return []
    if not isinstance(payload, dict):
        log.warning("meta webhook: body is not a JSON object")
        return []
    if "entry" in payload or payload.get("object") == "whatsapp_business_account":
        return list(_meta_events(payload, now))
    event = base.header(request.headers, "X-Webhook-Event") or _text(payload.get("event"))
    if event or "message" in payload or "data" in payload:
        return list(_kapso_events(payload, event, request, now))
    log.warning("meta webhook: neither a Meta nor a Kapso payload")
    return []


# --- Meta ------------------------------------------------------------------------------


def _meta_events(payload: dict[str, Any], now: datetime) -> Iterator[Event]:
    for entry in _dicts(payload.get("entry")):
        for change in _dicts(entry.get("changes")):
            field = change.get("field")
            if field not in ("messages", "user_preferences"):
                continue  # template status / quality / account updates
            value = change.get("value")
            if not isinstance(value, dict):
                log.warning("meta webhook: a change without a value object")
                continue
            if field == "user_preferences":
                for item in _dicts(value.get("user_preferences")):
                    preference = _preference(item, now)
                    if preference is not None:
                        yield preference
                continue
            for status in _dicts(value.get("statuses")):
                update = _status(status, now)
                if update is not None:
                    yield update
            for message in _dicts(value.get("messages")):
                inbound = _inbound(message, now)
                if inbound is not None:
                    yield inbound
            for error in _dicts(value.get("errors")):
                log.warning("meta webhook: error %s reported for the account", error.get("code"))


def _status(status: dict[str, Any], now: datetime) -> StatusUpdate | None:
    message_id = _text(status.get("id"))
    delivery = _STATUSES.get(_text(status.get("status")).lower())
    if not message_id or delivery is None:
        if not message_id:
            log.warning("meta webhook: a status without an id")
        return None
    error = None
    if delivery is DeliveryStatus.FAILED:
        error = _error(next(_dicts(status.get("errors")), None))
    return StatusUpdate(
        provider_message_id=message_id,
        status=delivery,
        occurred_at=base.epoch_to_datetime(status.get("timestamp"), now),
        recipient=base.phone_e164(status.get("recipient_id")),
        error=error,
        reference=_text(status.get("biz_opaque_callback_data")) or None,
    )


def _error(error: dict[str, Any] | None) -> ProviderError:
    """``{code, title, message, error_data: {details}}`` → catalogue-named error."""
    if error is None:
        return base.async_failure(_DIALECT, None, "failed without an error object")
    data = error.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    detail = _text(details) or _text(error.get("message")) or _text(error.get("title"))
    code = error.get("code")
    return base.async_failure(_DIALECT, code if isinstance(code, int | str) else None, detail)


def _inbound(message: dict[str, Any], now: datetime) -> InboundText | None:
    kind = _text(message.get("type")).lower()
    if kind in _NOT_CUSTOMER_MESSAGES:
        return None
    sender = base.phone_e164(message.get("from"))
    if sender is None:
        log.warning("meta webhook: an inbound message without a phone number skipped")
        return None
    return InboundText(
        from_phone=sender,
        body=_message_text(message, kind),
        received_at=base.epoch_to_datetime(message.get("timestamp"), now),
        provider_message_id=_text(message.get("id")) or None,
    )


def _preference(item: dict[str, Any], now: datetime) -> MarketingPreference | None:
    """One ``user_preferences[]`` item; None (with a warning) for anything but a readable
    ``marketing_messages`` stop / resume."""
    category = _text(item.get("category")).lower()
    if category != "marketing_messages":
        log.warning("meta webhook: a user preference of category %r skipped", category[:40])
        return None
    opted_out = _MARKETING_PREFERENCES.get(_text(item.get("value")).lower())
    phone = base.phone_e164(item.get("wa_id"))
    if opted_out is None or phone is None:
        log.warning("meta webhook: a marketing preference without a phone number or value skipped")
        return None
    return MarketingPreference(
        phone=phone,
        opted_out=opted_out,
        occurred_at=base.epoch_to_datetime(item.get("timestamp"), now),
        detail=_text(item.get("detail")),
    )


def _message_text(message: dict[str, Any], kind: str) -> str:
    """What the customer wrote or tapped: text body, quick-reply button text, interactive
    reply title, media caption; "" for content without text (it still opens the window)."""
    content = message.get(kind)
    if not isinstance(content, dict):
        return ""
    if kind == "text":
        return _text(content.get("body"))
    if kind == "button":
        return _text(content.get("text")) or _text(content.get("payload"))
    if kind == "interactive":
        for reply_kind in ("button_reply", "list_reply"):
            reply = content.get(reply_kind)
            if isinstance(reply, dict):
                return _text(reply.get("title")) or _text(reply.get("id"))
        return ""
    return _text(content.get("caption"))


# --- Kapso native ------------------------------------------------------------------------


def _kapso_events(
    payload: dict[str, Any], event: str, request: WebhookRequest, now: datetime
) -> Iterator[Event]:
    batched = (base.header(request.headers, "X-Webhook-Batch") or "").lower() == "true"
    if batched or payload.get("batch") is True:
        items = list(_dicts(payload.get("data")))
    else:
        items = [payload]
    for item in items:
        name = event or _text(item.get("event"))
        found = _kapso_event(item, name, now)
        if found is not None:
            yield found


def _kapso_event(item: dict[str, Any], event: str, now: datetime) -> Event | None:
    message = item.get("message")
    if not isinstance(message, dict):
        return None  # conversation events and the like
    kapso = _dict(message.get("kapso"))
    conversation = _dict(item.get("conversation"))
    action = event.rsplit(".", 1)[-1].lower() if event else _text(kapso.get("status")).lower()
    if action == "received":
        sender = base.phone_e164(message.get("from")) or base.phone_e164(
            conversation.get("phone_number")
        )
        if sender is None:
            log.warning("kapso webhook: an inbound message without a phone number skipped")
            return None
        kind = _text(message.get("type")).lower()
        return InboundText(
            from_phone=sender,
            body=_message_text(message, kind) or _text(kapso.get("content")),
            received_at=base.epoch_to_datetime(message.get("timestamp"), now),
            provider_message_id=_text(message.get("id")) or None,
        )
    delivery = _STATUSES.get(action)
    message_id = _text(message.get("id"))
    if delivery is None or not message_id:
        return None
    # The matching entry of the raw status history, when Kapso includes it.
    history = [s for s in _dicts(kapso.get("statuses")) if _text(s.get("status")) == action]
    latest = history[-1] if history else {}
    error = None
    if delivery is DeliveryStatus.FAILED:
        errors = latest.get("errors") or message.get("errors") or kapso.get("errors")
        error = _error(next(_dicts(errors), None))
    return StatusUpdate(
        provider_message_id=message_id,
        status=delivery,
        occurred_at=base.epoch_to_datetime(latest.get("timestamp"), now),
        recipient=base.phone_e164(latest.get("recipient_id") or message.get("to"))
        or base.phone_e164(conversation.get("phone_number")),
        error=error,
        reference=_text(latest.get("biz_opaque_callback_data")) or None,
    )


# --- small readers -----------------------------------------------------------------------


def _dicts(value: object) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                yield item


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str:
    if value is None or isinstance(value, bool | dict | list):
        return ""
    return str(value).strip()
