"""Meta webhook payloads (providers.md §2.5, pywa fixtures) and Kapso's native events (§4)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.providers.conftest import NOW, Mock, webhook_json
from tests.providers.test_meta import kapso, meta
from waapp.core.ports import InboundText, StatusUpdate, WebhookRequest
from waapp.core.states import DeliveryStatus

METADATA = {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"}


def envelope(*values: dict[str, Any], field: str = "messages") -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": field,
                        "value": {"messaging_product": "whatsapp", "metadata": METADATA, **v},
                    }
                    for v in values
                ],
            }
        ],
    }


def parse(payload: Any, **headers: str) -> list[StatusUpdate | InboundText]:
    body = payload if isinstance(payload, bytes) else webhook_json(payload)
    request = WebhookRequest("POST", "https://hooks.example.net/meta/1", headers, body)
    return meta(Mock(httpx.Response(200))).parse_webhook(request)


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def status(wamid: str, state: str, ts: str, **extra: Any) -> dict[str, Any]:
    return {"id": wamid, "status": state, "timestamp": ts, "recipient_id": "16505551234", **extra}


PRICING = {"billable": True, "pricing_model": "PMP", "category": "marketing", "type": "regular"}


def test_batched_statuses_in_one_delivery() -> None:
    payload = envelope(
        {
            "statuses": [
                status(
                    "wamid.A",
                    "sent",
                    "1749416000",
                    biz_opaque_callback_data="msg-1",
                    conversation={"id": "c1", "origin": {"type": "marketing"}},
                    pricing=PRICING,
                ),
                status("wamid.A", "delivered", "1749416003", biz_opaque_callback_data="msg-1"),
                status("wamid.B", "read", "1749416009"),
            ]
        }
    )
    events = parse(payload)

    assert events == [
        StatusUpdate("wamid.A", DeliveryStatus.SENT, at(1749416000), "+16505551234", None, "msg-1"),
        StatusUpdate(
            "wamid.A", DeliveryStatus.DELIVERED, at(1749416003), "+16505551234", None, "msg-1"
        ),
        StatusUpdate("wamid.B", DeliveryStatus.READ, at(1749416009), "+16505551234", None, None),
    ]


def test_several_entries_and_changes_are_all_read() -> None:
    payload = envelope(
        {"statuses": [status("wamid.1", "sent", "1700000000")]},
        {"statuses": [status("wamid.2", "delivered", "1700000001")]},
    )
    payload["entry"].append(
        envelope({"statuses": [status("wamid.3", "read", "1700000002")]})["entry"][0]
    )
    assert [e.provider_message_id for e in parse(payload)] == ["wamid.1", "wamid.2", "wamid.3"]


def test_played_voice_message_counts_as_read() -> None:
    (event,) = parse(envelope({"statuses": [status("wamid.V", "played", "1700000000")]}))
    assert isinstance(event, StatusUpdate) and event.status is DeliveryStatus.READ


@pytest.mark.parametrize(
    ("error", "code", "title"),
    [
        (
            {
                "code": 131047,
                "title": "Re-engagement message",
                "message": "Re-engagement message",
                "error_data": {
                    "details": "Message failed to send "
                    "because more than 24 hours have passed since the customer last replied to this number."
                },
                "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
            },
            "131047",
            "Outside the 24-hour window",
        ),
        (
            {
                "code": 130472,
                "title": "User's number is part of an experiment",
                "message": "User's number is part of an experiment",
                "error_data": {
                    "details": "Failed to send message because this user's phone number is "
                    "part of an experiment"
                },
                "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
            },
            "130472",
            "Held back by a WhatsApp experiment",
        ),
        (
            {"code": 131026, "title": "Message undeliverable", "message": "Message undeliverable"},
            "131026",
            "Message could not be delivered",
        ),
        (
            {
                "code": 131049,
                "title": "This message was not delivered to maintain healthy ecosystem engagement.",
            },
            "131049",
            "Held back to avoid too much marketing",
        ),
        ({"code": 999999, "title": "Something new"}, "999999", "Unrecognised error 999999"),
    ],
    ids=["131047", "130472", "131026", "131049", "unknown"],
)
def test_failed_status_carries_the_mapped_error(
    error: dict[str, Any], code: str, title: str
) -> None:
    payload = envelope(
        {
            "statuses": [
                status(
                    "wamid.F",
                    "failed",
                    "1689380458",
                    biz_opaque_callback_data="msg-9",
                    errors=[error],
                )
            ]
        }
    )
    (event,) = parse(payload)

    assert isinstance(event, StatusUpdate)
    assert event.status is DeliveryStatus.FAILED and event.reference == "msg-9"
    assert event.error is not None
    assert (event.error.code, event.error.title) == (code, title)
    expected = (
        (error.get("error_data") or {}).get("details") or error.get("message") or error["title"]
    )
    assert event.error.detail == expected


def test_failed_without_errors_still_fails() -> None:
    (event,) = parse(envelope({"statuses": [status("wamid.F", "failed", "1689380458")]}))
    assert isinstance(event, StatusUpdate) and event.error is not None


def test_unknown_status_values_and_ids_are_skipped() -> None:
    payload = envelope(
        {
            "statuses": [
                status("wamid.X", "deleted", "1700000000"),
                {"status": "sent", "timestamp": "1"},
            ]
        }
    )
    assert parse(payload) == []


def test_bad_timestamp_falls_back_to_now() -> None:
    (event,) = parse(envelope({"statuses": [status("wamid.T", "sent", "soon")]}))
    assert isinstance(event, StatusUpdate) and event.occurred_at == NOW


# --- inbound ----------------------------------------------------------------------------------

CONTACTS = [{"profile": {"name": "Sheena"}, "wa_id": "16505551234"}]


def inbound(message: dict[str, Any]) -> list[StatusUpdate | InboundText]:
    base = {"from": "16505551234", "id": "wamid.IN", "timestamp": "1749416383"}
    return parse(envelope({"contacts": CONTACTS, "messages": [{**base, **message}]}))


@pytest.mark.parametrize(
    ("message", "text"),
    [
        ({"type": "text", "text": {"body": "STOP"}}, "STOP"),
        (
            {
                "type": "button",
                "button": {"payload": "unsub", "text": "Unsubscribe"},
                "context": {"from": "15550783881", "id": "wamid.TEMPLATE"},
            },
            "Unsubscribe",
        ),
        (
            {
                "type": "interactive",
                "interactive": {
                    "type": "button_reply",
                    "button_reply": {"id": "b1", "title": "Yes"},
                },
            },
            "Yes",
        ),
        (
            {
                "type": "interactive",
                "interactive": {
                    "type": "list_reply",
                    "list_reply": {"id": "r1", "title": "Tuesday", "description": "am"},
                },
            },
            "Tuesday",
        ),
        (
            {
                "type": "image",
                "image": {
                    "id": "m1",
                    "mime_type": "image/jpeg",
                    "sha256": "x",
                    "caption": "my receipt",
                },
            },
            "my receipt",
        ),
        ({"type": "location", "location": {"latitude": 1, "longitude": 2}}, ""),
        ({"type": "unsupported", "errors": [{"code": 131051, "title": "Unsupported"}]}, ""),
    ],
    ids=["text", "button", "button_reply", "list_reply", "image", "location", "unsupported"],
)
def test_inbound_messages(message: dict[str, Any], text: str) -> None:
    assert inbound(message) == [InboundText("+16505551234", text, at(1749416383), "wamid.IN")]


@pytest.mark.parametrize(
    "message",
    [
        {"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": "👍"}},
        {"type": "system", "system": {"body": "changed number"}},
        {"type": "text", "text": {"body": "hi"}, "from": None},
    ],
    ids=["reaction", "system", "no-phone"],
)
def test_not_customer_writing_is_skipped(message: dict[str, Any]) -> None:
    assert inbound(message) == []


def test_argentinian_wa_id_is_normalised() -> None:
    (event,) = parse(
        envelope(
            {
                "messages": [
                    {
                        "from": "5491123456789",
                        "id": "wamid.AR",
                        "timestamp": "1749416383",
                        "type": "text",
                        "text": {"body": "hola"},
                    }
                ]
            }
        )
    )
    assert isinstance(event, InboundText) and event.from_phone == "+5491123456789"


def test_statuses_and_messages_in_one_value() -> None:
    events = parse(
        envelope(
            {
                "statuses": [status("wamid.S", "delivered", "1700000000")],
                "messages": [
                    {
                        "from": "16505551234",
                        "id": "wamid.M",
                        "timestamp": "1700000005",
                        "type": "text",
                        "text": {"body": "thanks"},
                    }
                ],
            }
        )
    )
    assert [type(e).__name__ for e in events] == ["StatusUpdate", "InboundText"]


def test_other_fields_are_not_delivery_events() -> None:
    value = {
        "event": "APPROVED",
        "message_template_id": 123,
        "message_template_name": "x",
        "message_template_language": "en_US",
        "reason": "NONE",
        # even a statuses-looking key is not read outside the "messages" field
        "statuses": [status("wamid.Q", "sent", "1700000000")],
    }
    assert parse(envelope(value, field="message_template_status_update")) == []


def test_account_level_errors_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="waapp.providers"):
        assert parse(envelope({"errors": [{"code": 131000, "title": "Something"}]})) == []
    assert "131000" in caplog.text


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'"text"',
        webhook_json({"hello": "world"}),
        webhook_json({"object": "whatsapp_business_account", "entry": "nope"}),
        webhook_json(
            {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages"}]}]}
        ),
    ],
    ids=["text", "binary", "array", "string", "foreign", "entry-not-list", "no-value"],
)
def test_malformed_bodies_give_nothing(body: bytes, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="waapp.providers"):
        assert parse(body) == []


def test_malformed_bodies_are_logged_without_their_content(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="waapp.providers"):
        parse(b"secret-ish +16505551234 text")
    assert caplog.records and "16505551234" not in caplog.text


# --- Kapso native events -------------------------------------------------------------------


def kapso_parse(payload: Any, **headers: str) -> list[StatusUpdate | InboundText]:
    request = WebhookRequest(
        "POST", "https://hooks.example.net/kapso/1", headers, webhook_json(payload)
    )
    return kapso(Mock(httpx.Response(200))).parse_webhook(request)


KAPSO_RECEIVED = {
    "message": {
        "id": "wamid.K1",
        "timestamp": "1705395000",
        "type": "text",
        "from": "14155550123",
        "text": {"body": "Hello, I need help"},
        "kapso": {"direction": "inbound", "status": "received", "content": "Hello, I need help"},
    },
    "conversation": {"id": "c63ced48", "phone_number": "+14155550123", "status": "active"},
    "phone_number_id": "123456789012345",
}
KAPSO_DELIVERED = {
    "message": {
        "id": "wamid.K2",
        "timestamp": "1705395000",
        "type": "text",
        "to": "14155550123",
        "kapso": {
            "direction": "outbound",
            "status": "delivered",
            "statuses": [
                {
                    "id": "wamid.K2",
                    "status": "sent",
                    "timestamp": "1705395001",
                    "recipient_id": "14155550123",
                },
                {
                    "id": "wamid.K2",
                    "status": "delivered",
                    "timestamp": "1705395005",
                    "recipient_id": "14155550123",
                },
            ],
        },
    },
    "conversation": {"id": "c63ced48", "phone_number": "+14155550123"},
    "phone_number_id": "123456789012345",
}


def test_kapso_received_and_delivered() -> None:
    assert kapso_parse(KAPSO_RECEIVED, **{"X-Webhook-Event": "whatsapp.message.received"}) == [
        InboundText("+14155550123", "Hello, I need help", at(1705395000), "wamid.K1")
    ]
    assert kapso_parse(KAPSO_DELIVERED, **{"X-Webhook-Event": "whatsapp.message.delivered"}) == [
        StatusUpdate("wamid.K2", DeliveryStatus.DELIVERED, at(1705395005), "+14155550123")
    ]


def test_kapso_batch_and_event_in_body() -> None:
    batch = {
        "batch": True,
        "data": [
            {**KAPSO_DELIVERED, "event": "whatsapp.message.delivered"},
            {**KAPSO_RECEIVED, "event": "whatsapp.message.received"},
            {"conversation": {"id": "c1"}, "event": "whatsapp.conversation.created"},
        ],
    }
    events = kapso_parse(batch)
    assert [type(e).__name__ for e in events] == ["StatusUpdate", "InboundText"]


def test_kapso_failed_with_errors() -> None:
    failed = {
        "message": {
            "id": "wamid.K3",
            "to": "14155550123",
            "kapso": {
                "statuses": [
                    {
                        "id": "wamid.K3",
                        "status": "failed",
                        "timestamp": "1705395009",
                        "errors": [{"code": 131047, "title": "Re-engagement message"}],
                    },
                ]
            },
        }
    }
    (event,) = kapso_parse(failed, **{"X-Webhook-Event": "whatsapp.message.failed"})
    assert isinstance(event, StatusUpdate) and event.status is DeliveryStatus.FAILED
    assert event.error is not None and event.error.code == "131047"
    assert event.occurred_at == at(1705395009)
