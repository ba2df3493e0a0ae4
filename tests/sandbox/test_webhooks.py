"""Webhook delivery: order, duplicates, retries, replies, inbound messages, determinism."""

from __future__ import annotations

from typing import Any

from pywa.utils import webhook_updates_validator
from twilio.request_validator import RequestValidator

from tests.sandbox.helpers import ALICE, BOB, harness, run, text, twilio_text
from waapp.core.signatures import meta_valid, twilio_valid, wasender_valid
from waapp.sandbox.settings import (
    DEFAULT_META_APP_SECRET,
    DEFAULT_TWILIO_AUTH_TOKEN,
    DEFAULT_WASENDER_WEBHOOK_SECRET,
)

RECIPIENTS = [f"+1415555{2000 + i}" for i in range(12)]


def meta_statuses(h: Any) -> list[dict[str, Any]]:
    return [
        s
        for hook in h.receiver.on("/meta")
        for s in hook.json()["entry"][0]["changes"][0]["value"].get("statuses", [])
    ]


def test_out_of_order_statuses_never_move_the_message_backwards() -> None:
    async def body() -> None:
        async with harness(
            {
                "window_open": True,
                "seed": 4,
                "out_of_order_rate": 1.0,
                "delays_ms": {"sent": 5, "delivered": 40, "read": 40},
            }
        ) as h:
            wamid = (await h.meta(text(ALICE))).body["messages"][0]["id"]
            await h.settle()
            assert [s["status"] for s in meta_statuses(h) if s["id"] == wamid] == [
                "sent",
                "read",
                "delivered",
            ]
            assert h.sandbox.messages()[0]["status"] == "read"

            h.configure(
                {
                    "window_open": True,
                    "seed": 4,
                    "out_of_order_rate": 1.0,
                    "read_rate": 0.0,
                    "delays_ms": {"sent": 5, "delivered": 40},
                }
            )
            sid = (await h.twilio(twilio_text(BOB))).body["sid"]
            await h.settle()
            order = [
                hook.form["MessageStatus"]
                for hook in h.receiver.on("/twilio/status")
                if hook.form["MessageSid"] == sid
            ]
            assert order == ["queued", "delivered", "sent"]
            assert next(m for m in h.sandbox.messages() if m["id"] == sid)["status"] == "delivered"

    run(body())


def test_duplicates_are_marked_in_the_log() -> None:
    async def body() -> None:
        async with harness({"window_open": True, "duplicate_rate": 1.0, "read_rate": 0.0}) as h:
            number = (await h.wasender({"to": ALICE, "text": "x"})).body["data"]["msgId"]
            await h.settle()
            statuses = sorted(
                hook.json()["data"]["update"]["status"] for hook in h.receiver.on("/wasender")
            )
            assert statuses == [2, 2, 3, 3]
            log = (await h.control("GET", "webhooks", params={"dialect": "wasender"})).body
            assert sorted(entry["events"][0]["duplicate"] for entry in log) == [
                False,
                False,
                True,
                True,
            ]
            assert all(entry["status"] == 200 and entry["attempt"] == 1 for entry in log)
            assert h.sandbox.world.by_number[number].status == "delivered"

    run(body())


def test_meta_retries_failed_deliveries_and_twilio_does_not() -> None:
    async def body() -> None:
        async with harness(
            {
                "window_open": True,
                "read_rate": 0.0,
                "meta_batch_window_ms": 0,
                "delays_ms": {"sent": 5, "delivered": 400},
                "webhook_retry_ms": {"meta": [20, 20]},
            }
        ) as h:
            h.receiver.fail = 2
            await h.meta(text(ALICE))
            await h.settle()
            log = (await h.control("GET", "webhooks", params={"dialect": "meta"})).body
            assert [(entry["attempt"], entry["status"]) for entry in log][:3] == [
                (1, 500),
                (2, 500),
                (3, 200),
            ]
            assert [s["status"] for s in meta_statuses(h)].count(
                "sent"
            ) == 3  # the same update, again

            h.receiver.hooks.clear()
            h.receiver.fail = 1
            await h.twilio(twilio_text(ALICE))
            await h.settle()
            tw = (await h.control("GET", "webhooks", params={"dialect": "twilio"})).body
            assert [entry["attempt"] for entry in tw] == [1, 1, 1]
            assert tw[0]["status"] == 500 and h.sandbox.dispatcher.failed >= 1

            # A target that refuses connections is given up on after the retries.
            h.sandbox.configure(meta={"webhook_url": "http://127.0.0.1:9/closed"})
            await h.meta(text(BOB))
            await h.settle()
            closed = [
                e for e in (await h.control("GET", "webhooks")).body if e["url"].endswith("/closed")
            ]
            assert closed and all(e["status"] is None and e["error"] for e in closed)

    run(body())


def test_replies_and_stop_arrive_in_the_message_dialect_and_open_the_window() -> None:
    async def body() -> None:
        async with harness({"reply_rate": 1.0, "stop_rate": 1.0}) as h:
            await h.meta(
                {
                    "messaging_product": "whatsapp",
                    "to": ALICE[1:],
                    "type": "template",
                    "template": {"name": "hello_world", "language": {"code": "en_US"}},
                }
            )
            await h.twilio(
                {
                    "To": "whatsapp:" + BOB,
                    "From": "whatsapp:+14155238886",
                    "ContentSid": "HX" + "0" * 31 + "1",
                }
            )
            await h.settle()
            inbound = [
                hook.json()
                for hook in h.receiver.on("/meta")
                if "messages" in hook.json()["entry"][0]["changes"][0]["value"]
            ]
            [reply] = inbound
            value = reply["entry"][0]["changes"][0]["value"]
            assert value["messages"][0]["text"] == {"body": "STOP"}
            assert (
                value["messages"][0]["from"] == ALICE[1:]
                and value["contacts"][0]["wa_id"] == ALICE[1:]
            )
            assert isinstance(value["messages"][0]["timestamp"], str)
            [twilio_reply] = h.receiver.on("/twilio/inbound")
            assert twilio_reply.form["Body"] == "STOP" and twilio_reply.form["WaId"] == BOB[1:]
            assert twilio_reply.form["From"] == "whatsapp:" + BOB
            assert twilio_reply.form["To"] == "whatsapp:+14155238886"
            assert not h.receiver.on("/wasender")
            # Both customers wrote: free-form messages to them now go through.
            h.configure({"reply_rate": 0.0})
            await h.meta(text(ALICE))
            await h.twilio(twilio_text(BOB))
            await h.settle()
            assert [m["status"] for m in h.sandbox.messages()[-2:]] == ["read", "read"]

    run(body())


def test_inbound_goes_to_every_configured_dialect_signed() -> None:
    async def body() -> None:
        async with harness() as h:
            answer = await h.control(
                "POST", "inbound", json={"from": ALICE, "text": "Hola ñandú", "name": "Ana"}
            )
            assert answer.status == 202
            h.configure({"wasender_messages_shape": "array"})
            await h.control(
                "POST",
                "inbound",
                json={"from": BOB, "text": "only wasender", "dialect": "wasender"},
            )
            await h.settle()
            [tw] = h.receiver.on("/twilio/inbound")
            form = tw.form
            assert (form["Body"], form["WaId"], form["ProfileName"], form["SmsStatus"]) == (
                "Hola ñandú",
                ALICE[1:],
                "Ana",
                "received",
            )
            assert form["MessageSid"].startswith("SM") and form["NumMedia"] == "0"
            assert twilio_valid(
                tw.url, tw.pairs, tw.headers["X-Twilio-Signature"], DEFAULT_TWILIO_AUTH_TOKEN
            )
            assert RequestValidator(DEFAULT_TWILIO_AUTH_TOKEN).validate(
                tw.url, form, tw.headers["X-Twilio-Signature"]
            )

            [meta] = h.receiver.on("/meta")
            assert "ñandú".encode() in meta.body  # raw UTF-8, signed as sent
            assert meta_valid(
                meta.body, meta.headers["X-Hub-Signature-256"], DEFAULT_META_APP_SECRET
            )
            assert webhook_updates_validator(
                DEFAULT_META_APP_SECRET, meta.body, meta.headers["X-Hub-Signature-256"]
            )
            message = meta.json()["entry"][0]["changes"][0]["value"]["messages"][0]
            assert message["type"] == "text" and message["id"].startswith("wamid.")

            ws = [hook.json() for hook in h.receiver.on("/wasender")]
            assert [p["event"] for p in ws] == ["messages.received", "messages.received"]
            assert ws[0]["data"]["messages"]["key"]["cleanedSenderPn"] == ALICE[1:]
            assert ws[1]["data"]["messages"][0]["messageBody"] == "only wasender"
            for hook in h.receiver.on("/wasender"):
                assert wasender_valid(
                    hook.headers["X-Webhook-Signature"], DEFAULT_WASENDER_WEBHOOK_SECRET
                )

    run(body())


def test_meta_ascii_json_signs_the_escaped_bytes() -> None:
    async def body() -> None:
        async with harness({"meta_ascii_json": True}) as h:
            h.sandbox.inbound(ALICE, "ñ", dialect="meta")
            await h.settle()
            [hook] = h.receiver.on("/meta")
            assert b"\\u00f1" in hook.body
            assert meta_valid(
                hook.body, hook.headers["X-Hub-Signature-256"], DEFAULT_META_APP_SECRET
            )

    run(body())


def test_an_old_inbound_leaves_the_window_closed() -> None:
    async def body() -> None:
        async with harness() as h:
            import time

            await h.control(
                "POST",
                "inbound",
                json={"from": ALICE, "text": "old", "at": time.time() - 25 * 3600},
            )
            await h.control(
                "POST",
                "inbound",
                json={"from": BOB, "text": "recent", "at": "2000-01-01T00:00:00Z"},
            )
            bad = await h.control("POST", "inbound", json={"from": "nope", "text": "x"})
            assert bad.status == 400
            await h.meta(text(ALICE))
            await h.settle()
            assert h.sandbox.messages()[0]["error_code"] == 131047

    run(body())


def test_the_same_seed_gives_the_same_run() -> None:
    scenario = {
        "seed": 21,
        "window_open": True,
        "read_rate": 0.5,
        "out_of_order_rate": 0.3,
        "duplicate_rate": 0.3,
        "reply_rate": 0.6,
        "stop_rate": 0.5,
        "delays_ms": {"sent": [5, 30], "delivered": [5, 30], "read": [5, 30], "reply": [5, 30]},
    }

    async def one_run(seed: int) -> tuple[list[str], list[tuple[str, str, bool]]]:
        async with harness({**scenario, "seed": seed}) as h:
            ids = [
                (await h.wasender({"to": number, "text": "x"})).body["data"]["msgId"]
                for number in RECIPIENTS
            ]
            ids += [(await h.twilio(twilio_text(number))).body["sid"] for number in RECIPIENTS]
            await h.settle()
            # Ids differ from run to run (never reused); what happens to each message does not.
            index = {str(i): f"message {n}" for n, i in enumerate(ids)}
            events = sorted(
                (
                    index.get(str(event.get("id")), str(event.get("from"))),
                    str(event.get("status", event.get("text"))),
                    bool(event.get("duplicate")),
                )
                for entry in (await h.control("GET", "webhooks")).body
                for event in entry["events"]
            )
            return sorted(index.values()), events

    async def body() -> None:
        first, again, other = await one_run(21), await one_run(21), await one_run(22)
        assert first == again
        assert first[1] != other[1]
        statuses = [status for _, status, _ in first[1]]
        assert "read" in statuses and "delivered" in statuses
        assert any(who.startswith("+") for who, _, _ in first[1])  # replies came in
        assert any(duplicate for _, _, duplicate in first[1])

    run(body())
