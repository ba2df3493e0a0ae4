"""The WaSender dialect: send, status, message info, rate limits, session drops, webhooks."""

from __future__ import annotations

import time

from tests.sandbox.helpers import ALICE, BOB, NOT_ON_WHATSAPP, harness, run
from waapp.core.signatures import wasender_valid
from waapp.sandbox.settings import DEFAULT_WASENDER_WEBHOOK_SECRET


def test_send_answers_in_progress_with_an_integer_msg_id() -> None:
    async def body() -> None:
        async with harness() as h:
            answer = await h.wasender({"to": ALICE, "text": "Hello"})
            assert answer.status == 200
            first = answer.body["data"]["msgId"]
            assert isinstance(first, int)
            assert answer.body == {
                "success": True,
                "data": {"msgId": first, "jid": ALICE, "status": "in_progress"},
            }
            assert "X-RateLimit-Limit" not in answer.headers
            second = await h.wasender(
                {"to": "14155550124@s.whatsapp.net", "imageUrl": "https://x/y.jpg"}
            )
            assert second.body["data"]["msgId"] == first + 1 and second.body["data"]["jid"] == BOB
            assert [(m["id"], m["type"]) for m in h.sandbox.messages()] == [
                (str(first), "text"),
                (str(first + 1), "image"),
            ]

    async def again() -> int:
        async with harness() as h:
            return int((await h.wasender({"to": ALICE, "text": "Hello"})).body["data"]["msgId"])

    # Ids never come back, not even from a new Sandbox: an app outlives Sandbox restarts.
    assert run(again()) != run(again())

    run(body())


def test_auth_and_validation_bodies() -> None:
    async def body() -> None:
        async with harness() as h:
            missing = await h.wasender({"to": ALICE, "text": "x"}, auth=None)
            assert (missing.status, missing.body) == (
                401,
                {"success": False, "message": "API key is required"},
            )
            wrong = await h.wasender({"to": ALICE, "text": "x"}, auth="Bearer other")
            assert (wrong.status, wrong.body) == (
                401,
                {"success": False, "message": "Invalid API key"},
            )
            no_to = await h.wasender({"text": "x"})
            assert no_to.status == 422 and no_to.body["errors"] == {
                "to": ["The to field is required."]
            }
            bad_to = await h.wasender({"to": "12", "text": "x"})
            assert bad_to.status == 422 and "to" in bad_to.body["errors"]
            no_text = await h.wasender({"to": ALICE})
            assert (
                no_text.status == 422
                and "text" in no_text.body["errors"]
                and no_text.body["success"] is False
            )
            assert h.sandbox.messages() == []

    run(body())


def test_status_and_message_info() -> None:
    async def body() -> None:
        async with harness() as h:
            assert (await h.wasender_get("/api/status")).body == {"status": "connected"}
            assert (await h.wasender_get("/api/status", auth=None)).status == 401
            number = (await h.wasender({"to": ALICE, "text": "Hi"})).body["data"]["msgId"]
            first = await h.wasender_get(f"/api/messages/{number}/info")
            assert first.body["success"] is True
            info = first.body["data"]
            assert info["msgId"] == number and info["status"] in (1, 2, 3, 4)
            assert (
                info["remoteJid"] == ALICE[1:] + "@s.whatsapp.net" and info["key"]["fromMe"] is True
            )
            assert info["key"]["id"] == info["id"] and info["message"] == {"conversation": "Hi"}
            await h.settle()
            assert (await h.wasender_get(f"/api/messages/{number}/info")).body["data"][
                "status"
            ] == 4
            missing = await h.wasender_get("/api/messages/7/info")
            assert missing.status == 404 and missing.body["success"] is False
            exists = await h.wasender_get(f"/api/on-whatsapp/{NOT_ON_WHATSAPP[1:]}")
            assert exists.body == {"success": True, "data": {"exists": False}}

    run(body())


def test_rate_limit_429_with_retry_after_and_headers() -> None:
    async def body() -> None:
        async with harness({"wasender_per_minute": 2}) as h:
            first = await h.wasender({"to": ALICE, "text": "1"})
            assert (
                first.headers["X-RateLimit-Limit"] == "2"
                and first.headers["X-RateLimit-Remaining"] == "1"
            )
            reset = int(first.headers["X-RateLimit-Reset"])
            assert time.time() < reset <= time.time() + 61  # a unix timestamp by default
            await h.wasender({"to": ALICE, "text": "2"})
            limited = await h.wasender({"to": ALICE, "text": "3"})
            assert limited.status == 429
            assert limited.body["success"] is False and 1 <= limited.body["retry_after"] <= 60
            assert limited.headers["X-RateLimit-Remaining"] == "0"
            assert limited.headers["Retry-After"] == str(limited.body["retry_after"])

            h.configure({"wasender_per_minute": 1, "wasender_rate_reset": "seconds"})
            limited = await h.wasender({"to": ALICE, "text": "4"})
            assert limited.status == 429 and int(limited.headers["X-RateLimit-Reset"]) <= 60

            h.sandbox.reset()  # forget the sends above: they were less than 5 s ago
            h.configure({"wasender_account_protection": True})
            assert (await h.wasender({"to": ALICE, "text": "5"})).status == 200
            protected = await h.wasender({"to": BOB, "text": "6"})
            assert protected.status == 429 and protected.body["retry_after"] == 5
            assert "5 seconds" in protected.body["message"]

    run(body())


def test_webhooks_numeric_then_string_statuses() -> None:
    async def body() -> None:
        async with harness() as h:
            number = (await h.wasender({"to": ALICE, "text": "Hi"})).body["data"]["msgId"]
            await h.wasender({"to": NOT_ON_WHATSAPP, "text": "Hi"})
            await h.settle()
            key_id = (await h.wasender_get(f"/api/messages/{number}/info")).body["data"]["key"][
                "id"
            ]
            updates = {}
            for hook in h.receiver.on("/wasender"):
                assert hook.headers["X-Webhook-Signature"] == DEFAULT_WASENDER_WEBHOOK_SECRET
                assert wasender_valid(
                    hook.headers["X-Webhook-Signature"], DEFAULT_WASENDER_WEBHOOK_SECRET
                )
                payload = hook.json()
                assert payload["event"] == "messages.update" and payload["sessionId"]
                assert payload["timestamp"] > 10**12  # milliseconds, as in the documentation
                updates.setdefault(payload["data"]["key"]["id"], []).append(
                    payload["data"]["update"]["status"]
                )
            assert updates.pop(key_id) == [2, 3, 4]
            assert list(updates.values()) == [[0]]

            h.receiver.hooks.clear()
            h.configure({"wasender_status_type": "string"})
            await h.wasender({"to": BOB, "text": "Hi"})
            await h.settle()
            names = [
                hook.json()["data"][0]["update"]["status"] for hook in h.receiver.on("/wasender")
            ]
            assert names == ["sent", "delivered", "read"]

    run(body())


def test_session_drop_refuses_sends_until_reconnected() -> None:
    async def body() -> None:
        async with harness({"session_drop_after": 2}) as h:
            assert (await h.wasender({"to": ALICE, "text": "1"})).status == 200
            assert (await h.wasender({"to": ALICE, "text": "2"})).status == 200
            refused = await h.wasender({"to": ALICE, "text": "3"})
            assert refused.status == 401 and refused.body["success"] is False
            assert "not connected" in refused.body["message"]
            assert (await h.wasender_get("/api/status")).body == {"status": "need_scan"}
            await h.settle()
            sessions = [
                hook.json()
                for hook in h.receiver.on("/wasender")
                if hook.json()["event"] == "session.status"
            ]
            assert [s["data"]["status"] for s in sessions] == ["need_scan"]

            h.configure({})  # a new scenario: the session is connected again
            assert (await h.wasender_get("/api/status")).body == {"status": "connected"}
            assert (await h.wasender({"to": ALICE, "text": "4"})).status == 200
            h.configure(
                {
                    "session": "logged_out",
                    "http_status": {"wasender": {"session_not_connected": 400}},
                }
            )
            assert (await h.wasender({"to": ALICE, "text": "5"})).status == 400
            assert len(h.sandbox.messages()) == 3

    run(body())
