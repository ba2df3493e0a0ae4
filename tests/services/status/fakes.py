"""Hand-written fake providers for the status intake (no patching): real signature schemes
(``waapp.core.signatures``) and the webhook shapes of providers.md §1.7–1.9, §2.5–2.7 and
§3.6, plus the client side — how each provider signs what it sends.

They are strict where a real module may be lenient: ``parse_webhook`` raises on a body it
cannot read, so the receiver's own handling of parser failures is exercised.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from waapp.core.catalogue import Dialect
from waapp.core.entities import AccountKind, Template
from waapp.core.ports import (
    HealthReport,
    InboundText,
    ProviderError,
    SendResult,
    StatusUpdate,
    WebhookRequest,
)
from waapp.core.signatures import (
    meta_signature,
    meta_valid,
    twilio_signature,
    twilio_valid,
    wasender_valid,
)
from waapp.core.states import DeliveryStatus

D = DeliveryStatus


class FakeProviderBase:
    """The parts of the Provider port the intake never calls."""

    kind: AccountKind
    dialect: Dialect
    supports_polling = False

    async def send_text(self, to: str, text: str, *, reference: str) -> SendResult:
        raise NotImplementedError

    async def send_template(
        self, to: str, template: Template, variables: Mapping[str, str], *, reference: str
    ) -> SendResult:
        raise NotImplementedError

    async def fetch_status(self, provider_message_id: str) -> StatusUpdate | None:
        raise NotImplementedError

    async def list_templates(self) -> list[Template]:
        return []

    async def check_health(self) -> HealthReport:
        return HealthReport(ok=True, summary="fake")

    def verify_subscription(self, query: Mapping[str, str]) -> str | None:
        return None


def _seconds(value: Any) -> datetime:
    number = int(value)
    if number > 10**11:  # milliseconds (WaSender's messages.update)
        number //= 1000
    return datetime.fromtimestamp(number, UTC)


# --- Meta Cloud API ------------------------------------------------------------------------

_META_STATUS = {"sent": D.SENT, "delivered": D.DELIVERED, "read": D.READ, "failed": D.FAILED}


class FakeMeta(FakeProviderBase):
    kind = AccountKind.META
    dialect = Dialect.META

    def __init__(self, app_secret: str = "meta-app-secret", verify_token: str = "vt-123") -> None:
        self.app_secret = app_secret
        self.verify_token = verify_token

    def verify_webhook(self, request: WebhookRequest) -> bool:
        return meta_valid(request.body, request.headers.get("X-Hub-Signature-256"), self.app_secret)

    def verify_subscription(self, query: Mapping[str, str]) -> str | None:
        if (
            query.get("hub.mode") == "subscribe"
            and query.get("hub.verify_token") == self.verify_token
        ):
            return query.get("hub.challenge")
        return None

    def parse_webhook(self, request: WebhookRequest) -> list[StatusUpdate | InboundText]:
        payload = json.loads(request.body)
        if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
            raise ValueError("not a WhatsApp Business Account webhook")
        events: list[StatusUpdate | InboundText] = []
        for entry in payload["entry"]:
            for change in entry.get("changes", []):
                value = change.get("value", {})
                for item in value.get("statuses", []):
                    delivery = _META_STATUS.get(item.get("status"))
                    if delivery is None:
                        continue  # "played", "deleted": nothing for the ledger
                    error = None
                    if item.get("errors"):
                        first = item["errors"][0]
                        error = ProviderError(
                            str(first.get("code")),
                            first.get("title", ""),
                            first.get("error_data", {}).get("details", ""),
                        )
                    events.append(
                        StatusUpdate(
                            provider_message_id=item["id"],
                            status=delivery,
                            occurred_at=_seconds(item["timestamp"]),
                            recipient="+" + item["recipient_id"]
                            if item.get("recipient_id")
                            else None,
                            error=error,
                            reference=item.get("biz_opaque_callback_data"),
                        )
                    )
                for item in value.get("messages", []):
                    body = (item.get("text") or {}).get("body") or (item.get("button") or {}).get(
                        "text", ""
                    )
                    events.append(
                        InboundText(
                            from_phone="+" + item["from"],
                            body=body,
                            received_at=_seconds(item["timestamp"]),
                            provider_message_id=item["id"],
                        )
                    )
        return events


def meta_status(
    wamid: str,
    status: str,
    timestamp: int,
    *,
    recipient: str = "15551234567",
    reference: str | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(timestamp),
        "recipient_id": recipient,
        "conversation": {"id": "c1", "origin": {"type": "marketing"}},
        "pricing": {"billable": True, "pricing_model": "PMP", "category": "marketing"},
    }
    if reference is not None:
        item["biz_opaque_callback_data"] = reference
    if errors is not None:
        item["errors"] = errors
    return item


def meta_inbound(wamid: str, phone_digits: str, text: str, timestamp: int) -> dict[str, Any]:
    return {
        "from": phone_digits,
        "id": wamid,
        "timestamp": str(timestamp),
        "type": "text",
        "text": {"body": text},
    }


def meta_envelope(
    *, statuses: list[dict[str, Any]] | None = None, messages: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
    }
    if statuses is not None:
        value["statuses"] = statuses
    if messages is not None:
        value["messages"] = messages
        value["contacts"] = [{"profile": {"name": "Sheena"}, "wa_id": m["from"]} for m in messages]
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": value}]}],
    }


def meta_signed(payload: Any, app_secret: str = "meta-app-secret") -> tuple[bytes, dict[str, str]]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return body, {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": meta_signature(body, app_secret),
    }


# --- Twilio --------------------------------------------------------------------------------

_TWILIO_STATUS = {
    "sent": D.SENT,
    "delivered": D.DELIVERED,
    "read": D.READ,
    "failed": D.FAILED,
    "undelivered": D.FAILED,
}


class FakeTwilio(FakeProviderBase):
    kind = AccountKind.TWILIO
    dialect = Dialect.TWILIO
    supports_polling = True

    def __init__(self, auth_token: str = "twilio-auth-token") -> None:
        self.auth_token = auth_token
        #: What ``fetch_status`` answers, by message SID; a ProviderError value raises.
        self.remote: dict[str, StatusUpdate | Exception] = {}
        self.fetched: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0

    def verify_webhook(self, request: WebhookRequest) -> bool:
        params = parse_qsl(
            request.body.decode("utf-8"), keep_blank_values=True, strict_parsing=False
        )
        return twilio_valid(
            request.url, params, request.headers.get("X-Twilio-Signature"), self.auth_token
        )

    def parse_webhook(self, request: WebhookRequest) -> list[StatusUpdate | InboundText]:
        params = dict(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
        sid = params["MessageSid"]
        status = params.get("MessageStatus") or params.get("SmsStatus", "")
        now = datetime.now(UTC)
        if status == "received":
            phone = (
                "+" + params["WaId"]
                if params.get("WaId")
                else params["From"].removeprefix("whatsapp:")
            )
            return [InboundText(phone, params.get("Body", ""), now, sid)]
        delivery = _TWILIO_STATUS.get(status)
        if delivery is None:
            return []
        error = None
        if params.get("ErrorCode"):
            error = ProviderError(params["ErrorCode"], params.get("ErrorMessage", ""))
        return [
            StatusUpdate(sid, delivery, now, params.get("To", "").removeprefix("whatsapp:"), error)
        ]

    async def fetch_status(self, provider_message_id: str) -> StatusUpdate | None:
        import asyncio

        self.fetched.append(provider_message_id)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.01)
            answer = self.remote.get(provider_message_id)
            if isinstance(answer, Exception):
                raise answer
            return answer
        finally:
            self.in_flight -= 1


def twilio_status_params(sid: str, status: str, **extra: str) -> dict[str, str]:
    params = {
        "SmsSid": sid,
        "SmsStatus": status,
        "MessageStatus": status,
        "ChannelToAddress": "+9184000000",
        "To": "whatsapp:+9184000000",
        "ChannelPrefix": "whatsapp",
        "MessageSid": sid,
        "AccountSid": "AC123",
        "From": "whatsapp:+14155238886",
        "ApiVersion": "2010-04-01",
        "ChannelInstallSid": "XE123",
    }
    if status == "read":
        params["EventType"] = "READ"
    params.update(extra)
    return params


def twilio_inbound_params(sid: str, phone: str, body: str) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": "AC123",
        "From": f"whatsapp:{phone}",
        "To": "whatsapp:+14155238886",
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "ApiVersion": "2010-04-01",
        "SmsStatus": "received",
        "ProfileName": "Customer",
        "WaId": phone.lstrip("+"),
    }


def twilio_signed(
    url: str, params: Mapping[str, str], auth_token: str = "twilio-auth-token"
) -> tuple[bytes, dict[str, str]]:
    return urlencode(params).encode(), {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(url, params, auth_token),
    }


# --- WaSender ------------------------------------------------------------------------------

_WASENDER_STATUS = {0: D.FAILED, 2: D.SENT, 3: D.DELIVERED, 4: D.READ, 5: D.READ}
_WASENDER_NAMES = {
    "error": D.FAILED,
    "sent": D.SENT,
    "delivered": D.DELIVERED,
    "read": D.READ,
    "played": D.READ,
}


class FakeWaSender(FakeProviderBase):
    kind = AccountKind.WASENDER
    dialect = Dialect.WASENDER
    supports_polling = True

    def __init__(self, secret: str = "wasender-webhook-secret") -> None:
        self.secret = secret

    def verify_webhook(self, request: WebhookRequest) -> bool:
        return wasender_valid(request.headers.get("X-Webhook-Signature"), self.secret)

    def parse_webhook(self, request: WebhookRequest) -> list[StatusUpdate | InboundText]:
        payload = json.loads(request.body)
        event = payload["event"]
        when = _seconds(payload["timestamp"])
        data = payload["data"]
        events: list[StatusUpdate | InboundText] = []
        if event == "messages.update":
            for item in data if isinstance(data, list) else [data]:
                raw = item["update"]["status"]
                delivery = (
                    _WASENDER_NAMES.get(raw) if isinstance(raw, str) else _WASENDER_STATUS.get(raw)
                )
                if delivery is not None:
                    events.append(StatusUpdate(item["key"]["id"], delivery, when))
        elif event == "messages.received":
            items = data["messages"]
            for item in items if isinstance(items, list) else [items]:
                events.append(
                    InboundText(
                        "+" + item["key"]["cleanedSenderPn"],
                        item.get("messageBody", ""),
                        when,
                        item["key"]["id"],
                    )
                )
        return events


def wasender_signed(
    payload: Any, secret: str = "wasender-webhook-secret"
) -> tuple[bytes, dict[str, str]]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return body, {"Content-Type": "application/json", "X-Webhook-Signature": secret}


def wasender_update(key_id: str, status: int | str, timestamp_ms: int) -> dict[str, Any]:
    return {
        "event": "messages.update",
        "sessionId": "s1",
        "data": {
            "update": {"status": status},
            "key": {"remoteJid": "15551234567@s.whatsapp.net", "id": key_id, "fromMe": True},
        },
        "timestamp": timestamp_ms,
    }
