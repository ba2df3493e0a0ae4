"""The control API under /_sandbox/ and the Python face of the Sandbox."""

from __future__ import annotations

import base64

import pytest

from tests.sandbox.helpers import ALICE, BOB, harness, run, text, twilio_text
from waapp.sandbox import Sandbox
from waapp.sandbox.settings import DEFAULT_TWILIO_ACCOUNT_SID


def test_health_and_config() -> None:
    async def body() -> None:
        async with harness({"seed": 9}) as h:
            health = await h.control("GET", "health")
            assert (
                health.status == 200
                and health.body["status"] == "ok"
                and health.body["url"] == h.url
            )
            config = (await h.control("GET", "config")).body
            assert set(config) == {"twilio", "meta", "wasender", "scenario"}
            assert config["twilio"]["account_sid"] == DEFAULT_TWILIO_ACCOUNT_SID
            assert (
                config["scenario"]["seed"] == 9
                and config["scenario"]["not_on_whatsapp_suffix"] == "404"
            )
            # Parts merge field by field; a scenario replaces the previous one whole.
            answer = await h.control(
                "POST",
                "config",
                json={"meta": {"access_token": "fresh"}, "scenario": {"error_5xx": {"count": 2}}},
            )
            assert answer.status == 200
            assert answer.body["meta"]["access_token"] == "fresh"
            assert answer.body["meta"]["webhook_url"] == h.receiver.url + "/meta"
            assert (
                answer.body["scenario"]["seed"] == 0
                and answer.body["scenario"]["error_5xx"]["count"] == 2
            )
            assert (await h.control("POST", "config", json={"meta": {"nope": "x"}})).status == 400
            assert (await h.control("POST", "config", json={"bogus": {}})).status == 400
            assert (await h.control("POST", "config", data=b"{")).status == 400

    run(body())


def test_credentials_from_config_replace_the_defaults() -> None:
    async def body() -> None:
        async with harness() as h:
            await h.control(
                "POST",
                "config",
                json={
                    "twilio": {"account_sid": "AC" + "9" * 32, "auth_token": "t0k"},
                    "meta": {"phone_number_id": "555", "access_token": "meta-token"},
                    "wasender": {"api_key": "ws-key"},
                },
            )
            assert (await h.twilio(twilio_text(ALICE))).status == 401  # old credentials
            auth = "Basic " + base64.b64encode(b"AC" + b"9" * 32 + b":t0k").decode()
            answer = await h.request(
                "POST",
                f"/2010-04-01/Accounts/AC{'9' * 32}/Messages.json",
                data=twilio_text(ALICE),
                headers={"Authorization": auth},
            )
            assert answer.status == 201 and answer.body["account_sid"] == "AC" + "9" * 32
            assert (await h.meta(text(ALICE), auth="Bearer sandbox-access-token")).status == 401
            assert (
                await h.meta(text(ALICE), auth="Bearer meta-token", path="/v23.0/555/messages")
            ).status == 200
            assert (await h.wasender({"to": ALICE, "text": "x"})).status == 401
            assert (
                await h.wasender({"to": ALICE, "text": "x"}, auth="Bearer ws-key")
            ).status == 200

    run(body())


def test_messages_webhooks_reset_and_settle() -> None:
    async def body() -> None:
        async with harness({"window_open": True}) as h:
            await h.meta(text(ALICE))
            await h.meta(text(ALICE))
            await h.wasender({"to": BOB, "text": "x"})
            await h.twilio(
                {
                    "To": "whatsapp:" + BOB,
                    "From": "whatsapp:+14155238886",
                    "ContentSid": "HX" + "0" * 31 + "3",
                    "ContentVariables": '{"first_name": "Bo"}',
                }
            )
            settle = await h.control("POST", "settle", params={"timeout": "5"})
            assert settle.body == {"settled": True, "pending_events": 0}
            everything = (await h.control("GET", "messages")).body
            assert [(m["dialect"], m["to"], m["type"], m["attempt"]) for m in everything] == [
                ("meta", ALICE, "text", 1),
                ("meta", ALICE, "text", 2),
                ("wasender", BOB, "text", 1),
                ("twilio", BOB, "template", 1),
            ]
            assert everything[3]["template"] == "welcome_named"
            assert (
                everything[3]["text"]
                == "Welcome Bo! Use code HELLO10 for 10% off your first order."
            )
            assert all(m["time"].endswith("Z") and m["status"] == "read" for m in everything)
            only = (
                await h.control("GET", "messages", params={"to": ALICE, "dialect": "meta"})
            ).body
            assert len(only) == 2
            hooks = (await h.control("GET", "webhooks", params={"kind": "status"})).body
            assert hooks and {
                "time",
                "dialect",
                "url",
                "attempt",
                "status",
                "events",
                "headers",
                "body",
            } <= set(hooks[0])

            assert (await h.control("POST", "reset")).status == 200
            assert (await h.control("GET", "messages")).body == []
            assert (await h.control("GET", "webhooks")).body == []
            assert (await h.control("GET", "config")).body["meta"][
                "webhook_url"
            ] == h.receiver.url + "/meta"
            # Windows are forgotten too (the default scenario has window_open false again).
            await h.meta(text(ALICE))
            await h.settle()
            assert h.sandbox.messages()[0]["error_code"] == 131047

    run(body())


def test_meta_verification_handshake() -> None:
    async def body() -> None:
        async with harness() as h:
            answer = (await h.control("POST", "verify")).body
            assert answer["verified"] is True and answer["status"] == 200
            assert answer["body"] == answer["challenge"]
            await h.control("POST", "config", json={"meta": {"verify_token": "other"}})
            refused = (await h.control("POST", "verify")).body
            assert refused["verified"] is False and refused["status"] == 403
        async with harness(targets=False) as h:
            assert (await h.control("POST", "verify")).body["verified"] is False

    run(body())


def test_python_api_start_stop_and_context_manager() -> None:
    async def body() -> None:
        sandbox = Sandbox(config={"scenario": {"seed": 1}})
        assert not sandbox.running
        url = await sandbox.start()
        assert url.startswith("http://127.0.0.1:") and sandbox.url == url and sandbox.running
        await sandbox.stop()
        assert not sandbox.running
        with pytest.raises(RuntimeError):
            await sandbox.start()
        async with Sandbox() as other:
            assert other.config["scenario"]["seed"] == 0
            inbound = other.inbound(ALICE, "hi")
            assert other.world.in_window(ALICE, inbound.at + 1)
            assert await other.settle(1.0)

    run(body())
