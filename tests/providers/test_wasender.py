"""WaSender against MockTransport fixtures built from providers.md §3."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.providers.conftest import NOW, Mock, clock, json_of, run, webhook_json
from waapp.core.entities import Template, TemplateKind
from waapp.core.ports import InboundText, StatusUpdate, WebhookRequest
from waapp.core.states import DeliveryStatus
from waapp.providers import ProviderRequestError
from waapp.providers.wasender import WaSenderProvider

BASE = "https://wasender.test"
SENT = {"success": True, "data": {"msgId": 100000, "jid": "+123456789", "status": "in_progress"}}


def wasender(mock: Mock, **overrides: str) -> WaSenderProvider:
    options = {"api_key": "session-key", "webhook_secret": "hook-secret", "base_url": BASE}
    options.update(overrides)
    return WaSenderProvider(client=mock.client, clock=clock, **options)  # type: ignore[arg-type]


def refused(status: int, message: str, **extra: Any) -> httpx.Response:
    headers = extra.pop("headers", {})
    return httpx.Response(
        status, json={"success": False, "message": message, **extra}, headers=headers
    )


# --- sending --------------------------------------------------------------------------------


def test_send_text_posts_json_with_the_session_key() -> None:
    mock = Mock(httpx.Response(200, json=SENT))
    result = run(wasender(mock).send_text("+1234567890", "Hello", reference="msg-1"))

    assert result.accepted
    assert result.provider_message_id == "100000"
    assert result.wa_id == "123456789"
    request = mock.last
    assert (request.method, str(request.url)) == ("POST", f"{BASE}/api/send-message")
    assert request.headers["authorization"] == "Bearer session-key"
    assert request.headers["accept"] == "application/json"
    assert json_of(request) == {"to": "+1234567890", "text": "Hello"}


def test_templates_are_rendered_locally_and_sent_as_text() -> None:
    mock = Mock(httpx.Response(200, json=SENT))
    template = Template(
        account_id=1,
        kind=TemplateKind.APPROVED,
        name="promo",
        body="Hi {{1}}, code {{2}}",
        header={"format": "TEXT", "text": "Sale"},
        footer="Reply STOP to opt out",
    )
    result = run(
        wasender(mock).send_template(
            "+1234567890", template, {"1": "Ana", "2": "X9"}, reference="r"
        )
    )

    assert result.accepted
    assert json_of(mock.last) == {
        "to": "+1234567890",
        "text": "Sale\n\nHi Ana, code X9\n\nReply STOP to opt out",
    }


def test_template_with_a_missing_value_is_not_sent() -> None:
    mock = Mock(httpx.Response(200, json=SENT))
    template = Template(account_id=1, kind=TemplateKind.FREEFORM, name="x", body="Hi {{name}}")
    result = run(wasender(mock).send_template("+1234567890", template, {}, reference="r"))

    assert result.error is not None
    assert result.error.code == "http_422" and "{{name}}" in result.error.detail
    assert mock.requests == []


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "code", "title"),
    [
        (refused(401, "API key is required"), "http_401", "WaSender API key refused"),
        (refused(401, "Invalid API key"), "http_401", "WaSender API key refused"),
        (
            refused(401, "WhatsApp session is not connected. Current status: need_scan"),
            "session_need_scan",
            "Scan the QR code again",
        ),
        (refused(403, "Your plan has expired"), "http_403", "WaSender refused access"),
        (
            refused(
                422, "The given data was invalid.", errors={"to": ["The to field is required."]}
            ),
            "http_422",
            "Message not accepted",
        ),
        (
            refused(400, "WhatsApp session is not connected"),
            "session_disconnected",
            "WhatsApp session disconnected",
        ),
        (
            refused(400, "Session status is need_scan. Please scan the QR code"),
            "session_need_scan",
            "Scan the QR code again",
        ),
        (refused(400, "Session logged out"), "session_logged_out", "Logged out of WhatsApp"),
        (refused(400, "The number is not on WhatsApp"), "not_on_whatsapp", "Not a WhatsApp user"),
        (httpx.Response(500, text="Server Error"), "http_500", "WaSender is having trouble"),
        (
            refused(200, "Session not connected"),
            "session_disconnected",
            "WhatsApp session disconnected",
        ),
        (refused(200, "Something odd"), "http_400", "Message refused"),
    ],
    ids=[
        "401",
        "401-invalid-key",
        "401-session-dropped",
        "403",
        "422",
        "disconnected",
        "need_scan",
        "logged_out",
        "not-on-wa",
        "500",
        "200-false-session",
        "200-false",
    ],
)
def test_refusals_map_to_the_catalogue(response: httpx.Response, code: str, title: str) -> None:
    result = run(wasender(Mock(response)).send_text("+1234567890", "Hi", reference="r"))

    assert result.error is not None
    assert (result.error.code, result.error.title) == (code, title)
    assert result.error.may_have_reached is False


def test_validation_errors_are_in_the_detail() -> None:
    response = refused(
        422, "The given data was invalid.", errors={"to": ["The to field is required."]}
    )
    result = run(wasender(Mock(response)).send_text("+1", "Hi", reference="r"))
    assert result.error is not None
    assert result.error.detail == "The given data was invalid. (The to field is required.)"


@pytest.mark.parametrize(
    ("response", "wait"),
    [
        (
            refused(
                429,
                "You are on a free trial. You can only send 1 message every 1 minute.",
                retry_after=60,
            ),
            60.0,
        ),
        (refused(429, "Slow down", retry_after=60, headers={"Retry-After": "5"}), 60.0),
        (refused(429, "Slow down", headers={"Retry-After": "12"}), 12.0),
        (
            refused(
                429,
                "Slow down",
                headers={
                    "X-RateLimit-Limit": "256",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": "30",
                },
            ),
            30.0,
        ),
        (
            refused(
                429, "Slow down", headers={"X-RateLimit-Reset": str(int(NOW.timestamp()) + 45)}
            ),
            45.0,
        ),
        (refused(429, "Slow down"), None),
    ],
    ids=["body", "body-wins", "retry-after", "reset-seconds", "reset-timestamp", "none"],
)
def test_rate_limit_waits(response: httpx.Response, wait: float | None) -> None:
    result = run(wasender(Mock(response)).send_text("+1234567890", "Hi", reference="r"))

    assert result.error is not None
    assert result.error.code == "http_429"
    assert result.error.title == "Sending too fast for your plan"
    assert result.error.retry_after_seconds == wait


@pytest.mark.parametrize(
    "body", [b"", b"ok", b'{"success": true}', b'{"success": true, "data": {"msgId": null}}']
)
def test_success_without_a_msg_id_is_an_unknown_outcome(body: bytes) -> None:
    result = run(
        wasender(Mock(httpx.Response(200, content=body))).send_text("+1", "Hi", reference="r")
    )
    assert result.error is not None
    assert (result.error.code, result.error.may_have_reached) == ("bad_response", True)


# --- polling --------------------------------------------------------------------------------


def info(status: object) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "success": True,
            "data": {
                "msgId": 100000,
                "id": "EN82FV",
                "remoteJid": "15551234567@s.whatsapp.net",
                "key": {"id": "EN82FV", "fromMe": True, "remoteJid": "15551234567@s.whatsapp.net"},
                "message": {"conversation": "Hi"},
                "messageTimestamp": "1751297488",
                "status": status,
            },
        },
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (0, DeliveryStatus.FAILED),
        (2, DeliveryStatus.SENT),
        (3, DeliveryStatus.DELIVERED),
        (4, DeliveryStatus.READ),
        (5, DeliveryStatus.READ),
        ("delivered", DeliveryStatus.DELIVERED),
        ("READ", DeliveryStatus.READ),
        ("error", DeliveryStatus.FAILED),
    ],
)
def test_fetch_status_numeric_and_string(status: object, expected: DeliveryStatus) -> None:
    mock = Mock(info(status))
    update = run(wasender(mock).fetch_status("100000"))

    assert update is not None
    assert (update.provider_message_id, update.status) == ("100000", expected)
    assert update.recipient == "+15551234567"
    assert update.key_id == "EN82FV"  # what its webhooks will call it
    assert (update.error is not None) == (expected is DeliveryStatus.FAILED)
    assert mock.last.url.path == "/api/messages/100000/info"
    assert mock.last.headers["authorization"] == "Bearer session-key"


@pytest.mark.parametrize("status", [1, "pending"])
def test_fetch_status_pending_says_nothing_yet(status: object) -> None:
    assert run(wasender(Mock(info(status))).fetch_status("100000")) is None


def test_fetch_status_failure_carries_message_error() -> None:
    update = run(wasender(Mock(info(0))).fetch_status("100000"))
    assert update is not None and update.error is not None
    assert (update.error.code, update.error.title) == ("message_error", "Message failed")


def test_fetch_status_errors_raise() -> None:
    with pytest.raises(ProviderRequestError) as caught:
        run(wasender(Mock(refused(404, "Message not found"))).fetch_status("1"))
    assert caught.value.error.code == "http_404"

    with pytest.raises(ProviderRequestError) as caught:
        run(wasender(Mock(httpx.Response(200, json={"success": True}))).fetch_status("1"))
    assert caught.value.error.code == "bad_response"


def test_no_templates_and_no_request() -> None:
    mock = Mock(httpx.Response(200))
    assert run(wasender(mock).list_templates()) == []
    assert mock.requests == []


# --- health ---------------------------------------------------------------------------------


def test_health_connected() -> None:
    mock = Mock(httpx.Response(200, json={"status": "connected"}))
    report = run(wasender(mock).check_health())

    assert report.ok and report.details == {"session_status": "connected"}
    assert mock.last.url.path == "/api/status"


def test_health_need_scan_says_what_to_do() -> None:
    report = run(wasender(Mock(httpx.Response(200, json={"status": "need_scan"}))).check_health())
    assert not report.ok
    assert report.summary.startswith("Scan the QR code in your WaSender dashboard")


@pytest.mark.parametrize("state", ["disconnected", "logged_out", "expired", "connecting"])
def test_health_other_session_states(state: str) -> None:
    report = run(wasender(Mock(httpx.Response(200, json={"status": state}))).check_health())
    assert not report.ok and report.details["session_status"] == state
    assert report.details["what_to_do"]


def test_health_tolerates_a_data_wrapper_and_unknown_states() -> None:
    wrapped = run(
        wasender(
            Mock(httpx.Response(200, json={"success": True, "data": {"status": "connected"}}))
        ).check_health()
    )
    assert wrapped.ok
    odd = run(wasender(Mock(httpx.Response(200, json={"status": "sleeping"}))).check_health())
    assert not odd.ok and "sleeping" in odd.summary


def test_health_with_a_bad_key_or_no_connection() -> None:
    report = run(wasender(Mock(refused(401, "Invalid API key"))).check_health())
    assert not report.ok and report.details["error_code"] == "http_401"

    offline = run(wasender(Mock(httpx.ConnectError("down"))).check_health())
    assert not offline.ok and offline.details["error_code"] == "connection_failed"


# --- webhooks --------------------------------------------------------------------------------


def hook(payload: Any, **headers: str) -> WebhookRequest:
    body = payload if isinstance(payload, bytes) else webhook_json(payload)
    return WebhookRequest("POST", "https://hooks.example.net/wasender/1", headers, body)


@pytest.mark.parametrize(
    ("headers", "valid"),
    [
        ({"X-Webhook-Signature": "hook-secret"}, True),
        ({"x-webhook-signature": "hook-secret"}, True),
        ({"X-Webhook-Signature": "hook-secreT"}, False),
        ({"X-Webhook-Signature": ""}, False),
        ({}, False),
    ],
    ids=["match", "lowercase-header", "wrong", "empty", "unsigned"],
)
def test_verify_shared_secret(headers: dict[str, str], valid: bool) -> None:
    assert (
        wasender(Mock(httpx.Response(200))).verify_webhook(hook({"event": "x"}, **headers)) is valid
    )


def test_no_webhook_secret_refuses_everything() -> None:
    provider = wasender(Mock(httpx.Response(200)), webhook_secret="")
    assert not provider.verify_webhook(hook({}, **{"X-Webhook-Signature": ""}))
    assert provider.verify_subscription({"hub.mode": "subscribe"}) is None


def parse(payload: Any) -> list[StatusUpdate | InboundText]:
    return wasender(Mock(httpx.Response(200))).parse_webhook(hook(payload))


# providers.md §3.6, messages.update as documented (object, numeric status, ms timestamp).
UPDATE_DOC = {
    "event": "messages.update",
    "sessionId": "s1",
    "timestamp": 1747775431467,
    "data": {
        "update": {"status": 2},
        "key": {"remoteJid": "15551234567@s.whatsapp.net", "id": "34874643876", "fromMe": False},
    },
}


def test_status_update_object_numeric_ms_timestamp() -> None:
    assert parse(UPDATE_DOC) == [
        StatusUpdate(
            "34874643876",
            DeliveryStatus.SENT,
            datetime.fromtimestamp(1747775431.467, UTC),
            "+15551234567",
        )
    ]


def test_status_update_array_with_string_statuses_and_seconds() -> None:
    payload = {
        "event": "messages.update",
        "timestamp": 1747775431,
        "data": [
            {
                "update": {"status": "delivered"},
                "key": {"id": "A", "remoteJid": "15551234567@s.whatsapp.net"},
            },
            {"update": {"status": "read"}, "key": {"id": "B", "remoteJid": "123@lid"}},
            {"update": {"status": "error"}, "key": {"id": "C"}},
            {"update": {"status": 1}, "key": {"id": "D"}},
            {"update": {}, "key": {"id": "E"}},
        ],
    }
    events = parse(payload)

    assert [(e.provider_message_id, e.status) for e in events if isinstance(e, StatusUpdate)] == [
        ("A", DeliveryStatus.DELIVERED),
        ("B", DeliveryStatus.READ),
        ("C", DeliveryStatus.FAILED),
    ]
    assert isinstance(events[0], StatusUpdate)
    assert events[0].occurred_at == datetime.fromtimestamp(1747775431, UTC)
    assert isinstance(events[1], StatusUpdate) and events[1].recipient is None  # a LID
    assert isinstance(events[2], StatusUpdate) and events[2].error is not None
    assert events[2].error.code == "message_error"


# providers.md §3.6, messages.received as documented (data.messages an object).
RECEIVED_DOC = {
    "event": "messages.received",
    "timestamp": 1747775431,
    "data": {
        "messages": {
            "key": {
                "id": "3EB0X",
                "fromMe": False,
                "remoteJid": "123456789@lid",
                "addressingMode": "lid",
                "senderPn": "15551234567@s.whatsapp.net",
                "cleanedSenderPn": "15551234567",
                "senderLid": "123456789@lid",
            },
            "messageBody": "STOP",
            "message": {"conversation": "STOP"},
            "pushName": "Ana",
            "messageTimestamp": 1747775430,
        }
    },
}


def test_received_message_object_uses_cleaned_sender_pn() -> None:
    assert parse(RECEIVED_DOC) == [
        InboundText("+15551234567", "STOP", datetime.fromtimestamp(1747775430, UTC), "3EB0X")
    ]


def test_upsert_array_keeps_only_incoming_personal_messages() -> None:
    payload = {
        "event": "messages.upsert",
        "timestamp": 1747775431,
        "data": {
            "messages": [
                {
                    "key": {"id": "OUT", "fromMe": True, "remoteJid": "15551234567@s.whatsapp.net"},
                    "message": {"conversation": "our campaign"},
                },
                {
                    "key": {
                        "id": "IN1",
                        "fromMe": False,
                        "remoteJid": "15551234567@s.whatsapp.net",
                    },
                    "message": {"extendedTextMessage": {"text": "thanks!"}},
                    "messageTimestamp": "1747775400",
                },
                {
                    "key": {
                        "id": "GRP",
                        "fromMe": False,
                        "remoteJid": "1203630@g.us",
                        "cleanedSenderPn": "15551234567",
                    },
                    "message": {"conversation": "group chat"},
                },
                {
                    "key": {"id": "LID", "fromMe": False, "remoteJid": "99999@lid"},
                    "message": {"conversation": "no number"},
                },
                {
                    "key": {
                        "id": "IMG",
                        "fromMe": False,
                        "remoteJid": "15557654321@s.whatsapp.net",
                    },
                    "message": {"imageMessage": {"caption": "receipt"}},
                    "messageTimestamp": {"low": 1747775401, "high": 0, "unsigned": False},
                },
            ]
        },
    }
    assert parse(payload) == [
        InboundText("+15551234567", "thanks!", datetime.fromtimestamp(1747775400, UTC), "IN1"),
        InboundText("+15557654321", "receipt", datetime.fromtimestamp(1747775401, UTC), "IMG"),
    ]


def test_inbound_without_message_timestamp_uses_the_envelope() -> None:
    payload = {
        "event": "messages.received",
        "timestamp": 1747775431,
        "data": {
            "messages": {
                "key": {"id": "X", "cleanedSenderPn": "15551234567"},
                "message": {"conversation": "hi"},
            }
        },
    }
    (event,) = parse(payload)
    assert isinstance(event, InboundText)
    assert event.received_at == datetime.fromtimestamp(1747775431, UTC)


def test_session_status_and_other_events_are_not_delivery_events() -> None:
    assert (
        parse({"event": "session.status", "data": {"status": "need_scan", "session_id": "s"}}) == []
    )
    assert parse({"event": "chats.update", "data": {}}) == []
    assert parse({"event": "messages.update", "timestamp": 1, "data": "nope"}) == []


@pytest.mark.parametrize(
    "body",
    [b"{", b"\xff", b"[1,2]", webhook_json({"data": {}})],
    ids=["truncated", "binary", "array", "no-event"],
)
def test_malformed_bodies_give_nothing_and_a_warning(
    body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="waapp.providers"):
        assert parse(body) == []
    assert caplog.records


def test_status_update_without_a_timestamp_uses_now() -> None:
    payload = {"event": "messages.update", "data": {"update": {"status": 3}, "key": {"id": "Z"}}}
    (event,) = parse(payload)
    assert isinstance(event, StatusUpdate) and event.occurred_at == NOW
