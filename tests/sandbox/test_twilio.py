"""The Twilio dialect: Messages, account and Content API bodies, callbacks and the 24 h rule."""

from __future__ import annotations

import re

from twilio.request_validator import RequestValidator

from tests.sandbox.helpers import (
    ALICE,
    BOB,
    NOT_ON_WHATSAPP,
    TWILIO_MESSAGES,
    harness,
    run,
    twilio_text,
)
from waapp.core.signatures import twilio_valid
from waapp.sandbox.settings import DEFAULT_TWILIO_ACCOUNT_SID, DEFAULT_TWILIO_AUTH_TOKEN

RFC2822 = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$")
ORDER_UPDATE_SID = "HX" + "0" * 31 + "2"
PENDING_SID = "HX" + "0" * 31 + "4"


def test_create_answers_201_with_the_message_resource() -> None:
    async def body() -> None:
        async with harness({"window_open": True}) as h:
            answer = await h.twilio(twilio_text(ALICE, "Hi there"))
            assert answer.status == 201
            message = answer.body
            assert re.fullmatch(r"SM[0-9a-f]{32}", message["sid"])
            assert message["status"] == "queued"
            assert message["to"] == "whatsapp:" + ALICE
            assert message["from"] == "whatsapp:+14155238886"
            assert message["body"] == "Hi there"
            assert message["direction"] == "outbound-api"
            assert message["account_sid"] == DEFAULT_TWILIO_ACCOUNT_SID
            assert RFC2822.match(message["date_created"])
            assert message["date_sent"] is None and message["error_code"] is None
            assert (
                message["uri"] == TWILIO_MESSAGES.removesuffix(".json") + f"/{message['sid']}.json"
            )
            assert set(message) >= {
                "api_version",
                "num_segments",
                "num_media",
                "price",
                "subresource_uris",
                "messaging_service_sid",
                "date_updated",
                "error_message",
                "price_unit",
            }

    run(body())


def test_wrong_credentials_get_20003_and_a_foreign_account_404() -> None:
    async def body() -> None:
        async with harness() as h:
            for auth in (None, "Basic " + "QUM6eA==", "Bearer x"):
                answer = await h.twilio(twilio_text(ALICE), auth=auth)
                assert answer.status == 401
                assert answer.body == {
                    "code": 20003,
                    "message": "Authenticate",
                    "more_info": "https://www.twilio.com/docs/errors/20003",
                    "status": 401,
                }
                assert "WWW-Authenticate" in answer.headers
            other = TWILIO_MESSAGES.replace(DEFAULT_TWILIO_ACCOUNT_SID, "AC" + "1" * 32)
            answer = await h.request(
                "POST", other, data=twilio_text(ALICE), headers={"Authorization": h_auth()}
            )
            assert answer.status == 404 and answer.body["code"] == 20404
            assert h.sandbox.messages() == []

    run(body())


def h_auth() -> str:
    from tests.sandbox.helpers import TWILIO_AUTH

    return TWILIO_AUTH


def test_validation_errors_use_twilio_codes() -> None:
    cases = [
        ({"From": "whatsapp:+14155238886", "Body": "x"}, 21604),
        (twilio_text("+1415"), 21211),
        ({**twilio_text(ALICE), "To": ALICE}, 21211),
        ({**twilio_text(ALICE), "To": "whatsapp:14155550123x"}, 21211),
        ({"To": "whatsapp:" + ALICE, "Body": "x"}, 21603),
        ({**twilio_text(ALICE), "From": "+14155238886"}, 21910),
        ({**twilio_text(ALICE), "ContentVariables": '{"1": "x"}'}, 21654),
        (
            {
                "To": "whatsapp:" + ALICE,
                "From": "whatsapp:+14155238886",
                "ContentSid": "HX" + "f" * 32,
            },
            21655,
        ),
        (
            {
                "To": "whatsapp:" + ALICE,
                "From": "whatsapp:+14155238886",
                "ContentSid": ORDER_UPDATE_SID,
                "ContentVariables": "[1,2]",
            },
            21656,
        ),
        ({"To": "whatsapp:" + ALICE, "From": "whatsapp:+14155238886"}, 21602),
        (twilio_text(ALICE, "x" * 1601), 21617),
        ({**twilio_text(ALICE), "StatusCallback": "ftp://example.com/x"}, 21609),
    ]

    async def body() -> None:
        async with harness() as h:
            for form, code in cases:
                answer = await h.twilio(form)
                assert (answer.status, answer.body["code"]) == (400, code), form
                assert answer.body["status"] == 400
                assert answer.body["more_info"].endswith(str(code))
            assert h.sandbox.messages() == []

    run(body())


def test_messaging_service_and_content_template() -> None:
    async def body() -> None:
        async with harness() as h:
            answer = await h.twilio(
                {
                    "To": "whatsapp:" + ALICE,
                    "MessagingServiceSid": "MG" + "a" * 32,
                    "ContentSid": ORDER_UPDATE_SID,
                    "ContentVariables": '{"1": "Ana", "2": "#77"}',
                }
            )
            assert answer.status == 201
            assert answer.body["messaging_service_sid"] == "MG" + "a" * 32
            assert answer.body["body"] == "Hi Ana, your order #77 is on its way."
            await h.settle()
            [message] = h.sandbox.messages()
            assert message["type"] == "template" and message["template"] == "order_update"
            assert message["variables"] == {"1": "Ana", "2": "#77"}
            # Templates are not subject to the 24 h window.
            assert message["status"] == "read"

    run(body())


def test_fetch_follows_the_status_and_unknown_sids_are_404() -> None:
    async def body() -> None:
        async with harness({"window_open": True}) as h:
            sid = (await h.twilio(twilio_text(ALICE))).body["sid"]
            await h.settle()
            path = TWILIO_MESSAGES.removesuffix(".json") + f"/{sid}.json"
            answer = await h.twilio_get(path)
            assert answer.status == 200
            assert answer.body["status"] == "read"
            assert RFC2822.match(answer.body["date_sent"])
            missing = await h.twilio_get(
                TWILIO_MESSAGES.removesuffix(".json") + "/SM" + "0" * 32 + ".json"
            )
            assert missing.status == 404 and missing.body["code"] == 20404
            assert (await h.twilio_get(path, auth=None)).status == 401

    run(body())


def test_list_filters_and_pages() -> None:
    async def body() -> None:
        async with harness({"window_open": True}) as h:
            for _ in range(3):
                await h.twilio(twilio_text(ALICE))
            await h.twilio(twilio_text(BOB))
            h.sandbox.inbound(BOB, "hello", dialect="twilio")
            everything = await h.twilio_get(TWILIO_MESSAGES, params={"PageSize": "50"})
            assert len(everything.body["messages"]) == 5
            directions = {m["direction"] for m in everything.body["messages"]}
            assert directions == {"outbound-api", "inbound"}

            first = await h.twilio_get(
                TWILIO_MESSAGES, params={"To": "whatsapp:" + ALICE, "PageSize": "2"}
            )
            page = first.body
            assert (
                page["page"] == 0
                and page["page_size"] == 2
                and page["start"] == 0
                and page["end"] == 1
            )
            assert [m["to"] for m in page["messages"]] == ["whatsapp:" + ALICE] * 2
            assert page["first_page_uri"].startswith(TWILIO_MESSAGES + "?")
            assert page["previous_page_uri"] is None
            second = await h.twilio_get(page["next_page_uri"])
            assert len(second.body["messages"]) == 1 and second.body["next_page_uri"] is None
            seen = {m["sid"] for m in page["messages"] + second.body["messages"]}
            assert len(seen) == 3

            future = await h.twilio_get(
                TWILIO_MESSAGES, params={"DateSent>": "2999-01-01T00:00:00Z"}
            )
            assert future.body["messages"] == []
            past = await h.twilio_get(
                TWILIO_MESSAGES, params={"DateSent>": "2000-01-01", "From": "whatsapp:" + BOB}
            )
            assert [m["body"] for m in past.body["messages"]] == ["hello"]

    run(body())


def test_account_is_active() -> None:
    async def body() -> None:
        async with harness() as h:
            answer = await h.twilio_get(f"/2010-04-01/Accounts/{DEFAULT_TWILIO_ACCOUNT_SID}.json")
            assert answer.status == 200
            assert (
                answer.body["status"] == "active"
                and answer.body["sid"] == DEFAULT_TWILIO_ACCOUNT_SID
            )
            denied = await h.twilio_get(
                f"/2010-04-01/Accounts/{DEFAULT_TWILIO_ACCOUNT_SID}.json", auth=None
            )
            assert denied.status == 401 and denied.body["code"] == 20003

    run(body())


def test_content_lists_use_the_contents_envelope_and_page() -> None:
    async def body() -> None:
        async with harness() as h:
            content = await h.twilio_get("/v1/Content")
            assert content.status == 200
            meta = content.body["meta"]
            assert meta["key"] == "contents" and meta["page"] == 0 and meta["next_page_url"] is None
            names = [c["friendly_name"] for c in content.body["contents"]]
            assert names == ["hello_world", "order_update", "welcome_named", "spring_sale"]
            order = content.body["contents"][1]
            assert order["sid"] == ORDER_UPDATE_SID and order["types"]["twilio/text"][
                "body"
            ].startswith("Hi {{1}}")
            assert order["variables"] == {"1": "Maria", "2": "#1234"}

            approvals = await h.twilio_get("/v1/ContentAndApprovals", params={"PageSize": "3"})
            statuses = {
                c["friendly_name"]: c["approval_requests"]["status"]
                for c in approvals.body["contents"]
            }
            assert statuses == {
                "hello_world": "approved",
                "order_update": "approved",
                "welcome_named": "approved",
            }
            next_url = approvals.body["meta"]["next_page_url"]
            assert next_url.startswith(h.url + "/v1/ContentAndApprovals?")
            async with h.http.get(next_url, headers={"Authorization": h_auth()}) as response:
                rest = await response.json()
            assert [
                (c["friendly_name"], c["approval_requests"]["status"]) for c in rest["contents"]
            ] == [("spring_sale", "received")]

            one = await h.twilio_get(f"/v1/Content/{PENDING_SID}/ApprovalRequests")
            assert (
                one.body["whatsapp"]["status"] == "received"
                and one.body["whatsapp"]["name"] == "spring_sale"
            )
            assert (await h.twilio_get("/v1/Content", auth=None)).status == 401

    run(body())


def test_status_callbacks_are_signed_and_follow_the_message() -> None:
    async def body() -> None:
        async with harness({"window_open": True}) as h:
            own = h.receiver.url + "/twilio/own?campaign=7"
            sid = (await h.twilio(twilio_text(ALICE, StatusCallback=own))).body["sid"]
            other = (await h.twilio(twilio_text(BOB))).body["sid"]
            await h.settle()
            validator = RequestValidator(DEFAULT_TWILIO_AUTH_TOKEN)
            mine = h.receiver.on("/twilio/own")
            assert [hook.form["MessageStatus"] for hook in mine] == [
                "queued",
                "sent",
                "delivered",
                "read",
            ]
            for hook in h.receiver.on("/twilio/"):
                signature = hook.headers["X-Twilio-Signature"]
                assert hook.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
                assert twilio_valid(hook.url, hook.pairs, signature, DEFAULT_TWILIO_AUTH_TOKEN)
                assert validator.validate(hook.url, hook.form, signature)
                assert not validator.validate(
                    hook.url, {**hook.form, "MessageStatus": "failed"}, signature
                )
            read = mine[-1].form
            assert read["EventType"] == "READ" and read["MessageSid"] == sid == read["SmsSid"]
            assert read["ChannelToAddress"] == ALICE and read["To"] == "whatsapp:" + ALICE
            assert (
                read["AccountSid"] == DEFAULT_TWILIO_ACCOUNT_SID
                and read["ChannelPrefix"] == "whatsapp"
            )
            assert {hook.form["MessageSid"] for hook in h.receiver.on("/twilio/status")} == {other}

    run(body())


def test_the_24_hour_window() -> None:
    async def body() -> None:
        async with harness() as h:
            closed = (await h.twilio(twilio_text(ALICE))).body
            assert closed["status"] == "queued"  # accepted: the failure comes later
            templated = await h.twilio(
                {
                    "To": "whatsapp:" + ALICE,
                    "From": "whatsapp:+14155238886",
                    "ContentSid": "HX" + "0" * 31 + "1",
                }
            )
            await h.settle()
            hooks = {hook.form["MessageSid"]: [] for hook in h.receiver.on("/twilio/status")}
            for hook in h.receiver.on("/twilio/status"):
                hooks[hook.form["MessageSid"]].append(hook.form)
            failed = hooks[closed["sid"]][-1]
            assert failed["MessageStatus"] == "failed" and failed["ErrorCode"] == "63016"
            assert "ErrorMessage" in failed and "ChannelStatusMessage" in failed
            assert "sent" not in [f["MessageStatus"] for f in hooks[closed["sid"]]]
            assert hooks[templated.body["sid"]][-1]["MessageStatus"] == "read"
            fetched = await h.twilio_get(
                TWILIO_MESSAGES.removesuffix(".json") + f"/{closed['sid']}.json"
            )
            assert fetched.body["status"] == "failed" and fetched.body["error_code"] == 63016

            h.sandbox.inbound(ALICE, "hi!")
            opened = (await h.twilio(twilio_text(ALICE))).body["sid"]
            await h.settle()
            assert [m["status"] for m in h.sandbox.messages() if m["id"] == opened] == ["read"]

    run(body())


def test_not_on_whatsapp_and_pending_template_fail_later() -> None:
    async def body() -> None:
        async with harness({"window_open": True}) as h:
            nobody = (await h.twilio(twilio_text(NOT_ON_WHATSAPP))).body["sid"]
            pending = (
                await h.twilio(
                    {
                        "To": "whatsapp:" + ALICE,
                        "From": "whatsapp:+14155238886",
                        "ContentSid": PENDING_SID,
                    }
                )
            ).body["sid"]
            await h.settle()
            codes = {m["id"]: (m["status"], m["error_code"]) for m in h.sandbox.messages()}
            assert codes == {nobody: ("failed", 63024), pending: ("failed", 63027)}

    run(body())


def test_concurrency_limit_answers_20429() -> None:
    async def body() -> None:
        import asyncio

        async with harness(
            {
                "twilio_concurrency": 1,
                "twilio_retry_after": 2,
                "slow": {"rate": 1.0, "delay_ms": 300},
            }
        ) as h:
            answers = await asyncio.gather(*(h.twilio(twilio_text(ALICE)) for _ in range(3)))
            limited = [a for a in answers if a.status == 429]
            assert limited and any(a.status == 201 for a in answers)
            for answer in limited:
                assert answer.body["code"] == 20429 and answer.body["status"] == 429
                assert answer.headers["Retry-After"] == "2"
                assert int(answer.headers["Twilio-Concurrent-Requests"]) >= 2

    run(body())
