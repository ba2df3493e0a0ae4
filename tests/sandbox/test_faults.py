"""Scenario fault injection: every fault, in every dialect's shape, deterministic by seed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from tests.sandbox.helpers import (
    ALICE,
    BOB,
    Harness,
    harness,
    run,
    template,
    text,
    twilio_text,
)
from waapp.sandbox.scenario import ScenarioError, parse_scenario


async def send(h: Harness, dialect: str, to: str = ALICE) -> Any:
    if dialect == "twilio":
        return await h.twilio(twilio_text(to))
    if dialect == "meta":
        return await h.meta(text(to))
    return await h.wasender({"to": to, "text": "Hello"})


DIALECTS = ("twilio", "meta", "wasender")


def test_error_5xx_count_in_each_dialect_shape() -> None:
    async def body() -> None:
        async with harness({"window_open": True, "error_5xx": {"count": 1}}) as h:
            twilio = await send(h, "twilio")
            assert (
                twilio.status == 500
                and twilio.body["code"] == 20500
                and twilio.body["status"] == 500
            )
            assert (await send(h, "twilio")).status == 201
        async with harness({"window_open": True, "error_5xx": {"count": 1, "status": 503}}) as h:
            meta = await send(h, "meta")
            assert meta.status == 503 and meta.body["error"]["code"] == 131016
            assert meta.body["error"]["is_transient"] is True
            assert (await send(h, "meta")).status == 200
        async with harness({"error_5xx": {"count": 1, "dialects": ["wasender"]}}) as h:
            assert (await send(h, "meta")).status == 200  # not this rule's dialect
            wasender = await send(h, "wasender")
            assert wasender.status == 500 and wasender.body == {
                "success": False,
                "message": "Server Error",
            }
            assert [m["dialect"] for m in h.sandbox.messages()] == ["meta"]

    run(body())


def test_injected_429_in_each_dialect_shape() -> None:
    async def body() -> None:
        async with harness(
            {"rate_limit": {"every": 2, "retry_after": 3}, "http_status": {"meta": {"130429": 429}}}
        ) as h:
            answers = {dialect: [await send(h, dialect) for _ in range(2)] for dialect in DIALECTS}
            # "every": 2 counts per rule across dialects: requests 2, 4 and 6 are limited.
            twilio = answers["twilio"][1]
            assert (
                twilio.status == 429
                and twilio.body["code"] == 20429
                and twilio.headers["Retry-After"] == "3"
            )
            meta = answers["meta"][1]
            assert (
                meta.status == 429
                and meta.body["error"]["code"] == 130429
                and meta.headers["Retry-After"] == "3"
            )
            wasender = answers["wasender"][1]
            assert wasender.status == 429 and wasender.body["retry_after"] == 3
            assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(
                wasender.headers
            )
            assert len(h.sandbox.messages()) == 3

    run(body())


def test_timeouts_before_and_after_acceptance() -> None:
    async def body() -> None:
        async with harness(
            {"window_open": True, "timeout_before": {"count": 1}, "hang_ms": 300}
        ) as h:
            started = time.monotonic()
            with pytest.raises(aiohttp.ServerDisconnectedError):
                await send(h, "meta")
            assert time.monotonic() - started >= 0.25
            assert h.sandbox.messages() == []
            with pytest.raises(TimeoutError):
                h.configure({"timeout_before": {"count": 1}, "hang_ms": 5000})
                async with h.http.post(
                    h.url + "/api/send-message",
                    json={"to": ALICE, "text": "x"},
                    headers={"Authorization": "Bearer sandbox-api-key"},
                    timeout=aiohttp.ClientTimeout(total=0.2),
                ) as response:
                    await response.read()
            assert h.sandbox.messages() == []

            h.configure({"window_open": True, "timeout_after": {"count": 1}, "hang_ms": 200})
            with pytest.raises(aiohttp.ServerDisconnectedError):
                await send(h, "twilio")
            [recorded] = h.sandbox.messages()
            assert recorded["dialect"] == "twilio" and recorded["to"] == ALICE
            await h.settle()  # the accepted message lives on: its webhooks go out
            assert [hook.form["MessageStatus"] for hook in h.receiver.on("/twilio/status")][
                -1
            ] == "read"
            assert (await send(h, "twilio")).status == 201

    run(body())


def test_resets_before_and_after_acceptance() -> None:
    async def body() -> None:
        async with harness({"window_open": True, "reset": {"count": 1}}) as h:
            with pytest.raises((aiohttp.ClientOSError, aiohttp.ServerDisconnectedError)):
                await send(h, "meta")
            assert h.sandbox.messages() == []
            h.configure({"window_open": True, "reset_after": {"count": 1}})
            with pytest.raises((aiohttp.ClientOSError, aiohttp.ServerDisconnectedError)):
                await send(h, "wasender")
            assert [m["dialect"] for m in h.sandbox.messages()] == ["wasender"]
            assert (await send(h, "wasender")).status == 200

    run(body())


def test_slow_answers() -> None:
    async def body() -> None:
        async with harness({"window_open": True, "slow": {"rate": 1.0, "delay_ms": 250}}) as h:
            started = time.monotonic()
            assert (await send(h, "meta")).status == 200
            assert time.monotonic() - started >= 0.24

    run(body())


def test_rates_are_deterministic_for_a_seed() -> None:
    async def pattern(seed: int) -> list[int]:
        async with harness(
            {"seed": seed, "error_5xx": 0.3, "rate_limit": {"rate": 0.2, "after": 5}}
        ) as h:
            return [(await send(h, "meta")).status for _ in range(30)]

    async def body() -> None:
        first, again, other = await pattern(11), await pattern(11), await pattern(12)
        assert first == again
        assert first != other
        assert 500 in first and 400 in first and 200 in first
        assert 400 not in first[:5]  # "after": 5

    run(body())


def test_account_errors() -> None:
    async def body() -> None:
        async with harness(
            {
                "window_open": True,
                "account_error": {
                    "meta": {"code": 190, "after": 2},
                    "twilio": 20003,
                    "wasender": 401,
                },
            }
        ) as h:
            assert (await send(h, "meta")).status == 200
            assert (await send(h, "meta")).status == 200
            expired = await send(h, "meta")
            assert expired.status == 401 and expired.body["error"]["code"] == 190
            assert expired.body["error"]["error_subcode"] == 463
            twilio = await send(h, "twilio")
            assert twilio.status == 401 and twilio.body["code"] == 20003
            wasender = await send(h, "wasender")
            assert wasender.status == 401 and wasender.body["message"] == "Invalid API key"
        for code in (368, 131031):
            async with harness({"account_error": {"meta": code}}) as h:
                answer = await send(h, "meta")
                assert answer.status == 400 and answer.body["error"]["code"] == code
                assert answer.body["error"]["error_data"]["details"]

    run(body())


def test_template_paused_mid_run() -> None:
    params = [{"type": "text", "text": "Ana"}, {"type": "text", "text": "#9"}]

    async def body() -> None:
        async with harness({"template_paused": [{"name": "order_update", "after": 2}]}) as h:
            for _ in range(2):
                assert (await h.meta(template(ALICE, "order_update", params))).status == 200
            paused = await h.meta(template(BOB, "order_update", params))
            assert paused.status == 400 and paused.body["error"]["code"] == 132015
            assert (await h.meta(template(BOB, "hello_world"))).status == 200
            listed = await h.meta_get(
                "/v23.0/200000000000002/message_templates", params={"name": "order_update"}
            )
            assert listed.body["data"][0]["status"] == "PAUSED"
            approvals = await h.twilio_get("/v1/ContentAndApprovals")
            assert {
                c["friendly_name"]: c["approval_requests"]["status"]
                for c in approvals.body["contents"]
            }["order_update"] == "paused"
            sid = (
                await h.twilio(
                    {
                        "To": "whatsapp:" + BOB,
                        "From": "whatsapp:+14155238886",
                        "ContentSid": "HX" + "0" * 31 + "2",
                    }
                )
            ).body["sid"]
            await h.settle()
            assert next(m for m in h.sandbox.messages() if m["id"] == sid)["error_code"] == 63027

    run(body())


def test_fault_scope_all_reaches_read_endpoints() -> None:
    async def body() -> None:
        async with harness({"error_5xx": {"count": 1}}) as h:
            assert (await h.wasender_get("/api/status")).status == 200  # sends only, by default
        async with harness({"error_5xx": {"count": 1}, "fault_scope": "all"}) as h:
            assert (await h.wasender_get("/api/status")).status == 500
            assert (await h.wasender_get("/api/status")).status == 200

    run(body())


def test_stop_releases_hanging_requests_at_once() -> None:
    async def body() -> None:
        async with harness({"timeout_before": 1.0, "hang_ms": 60000}) as h:
            request = asyncio.ensure_future(send(h, "meta"))
            await asyncio.sleep(0.1)
            started = time.monotonic()
            await h.sandbox.stop()
            assert time.monotonic() - started < 2.0
            with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
                await request

    run(body())


def test_bad_scenarios_are_refused_whole() -> None:
    for bad, where in [
        ({"error_5xx": 2}, "error_5xx"),
        ({"nonsense": 1}, "nonsense"),
        ({"error_5xx": {"count": -1}}, "error_5xx.count"),
        ({"session": "asleep"}, "session"),
        ({"account_error": {"meta": 12345}}, "account_error.meta"),
        ({"delays_ms": {"sent": "soon"}}, "delays_ms.sent"),
    ]:
        with pytest.raises(ScenarioError, match=where):
            parse_scenario(bad)

    async def body() -> None:
        async with harness({"seed": 3}) as h:
            answer = await h.control(
                "POST",
                "config",
                json={"meta": {"webhook_url": "http://x/"}, "scenario": {"speed": 0}},
            )
            assert answer.status == 400 and "speed" in answer.body["error"]
            config = (await h.control("GET", "config")).body
            assert config["scenario"]["seed"] == 3 and config["meta"]["webhook_url"] != "http://x/"

    run(body())
