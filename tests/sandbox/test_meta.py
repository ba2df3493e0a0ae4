"""The Meta dialect: send bodies, Graph errors, templates, the phone number, webhooks, limits."""

from __future__ import annotations

from pywa.utils import webhook_updates_validator

from tests.sandbox.helpers import (
    ALICE,
    BOB,
    META_MESSAGES,
    NOT_ON_WHATSAPP,
    harness,
    run,
    template,
    text,
)
from waapp.core.signatures import meta_valid
from waapp.sandbox.settings import (
    DEFAULT_META_APP_SECRET,
    DEFAULT_META_PHONE_NUMBER_ID,
    DEFAULT_META_WABA_ID,
)

TEMPLATES = f"/v23.0/{DEFAULT_META_WABA_ID}/message_templates"


def assert_graph_error(answer: object, status: int, code: int) -> dict:
    assert answer.status == status, (answer.status, answer.body)  # type: ignore[attr-defined]
    error = answer.body["error"]  # type: ignore[attr-defined]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["type"] and error["fbtrace_id"]
    return error


def test_text_send_answers_the_cloud_api_body() -> None:
    async def body() -> None:
        async with harness({"window_open": True}) as h:
            answer = await h.meta(text(ALICE))
            assert answer.status == 200
            assert answer.headers["Content-Type"].startswith("application/json")
            wamid = answer.body["messages"][0]["id"]
            assert wamid.startswith("wamid.")
            assert answer.body == {
                "messaging_product": "whatsapp",
                "contacts": [{"input": ALICE[1:], "wa_id": ALICE[1:]}],
                "messages": [{"id": wamid}],
            }
            with_plus = await h.meta({**text(ALICE), "to": ALICE})
            assert with_plus.body["contacts"] == [{"input": ALICE, "wa_id": ALICE[1:]}]
            [first, second] = h.sandbox.messages()
            assert (first["id"], first["to"], first["type"], first["text"]) == (
                wamid,
                ALICE,
                "text",
                "Hello",
            )
            assert (first["attempt"], second["attempt"]) == (1, 2)

    run(body())


def test_auth_and_unknown_phone_number_id() -> None:
    async def body() -> None:
        async with harness() as h:
            assert_graph_error(await h.meta(text(ALICE), auth=None), 401, 104)
            error = assert_graph_error(await h.meta(text(ALICE), auth="Bearer nope"), 401, 190)
            assert error["type"] == "OAuthException"
            error = assert_graph_error(
                await h.meta(text(ALICE), path="/v23.0/999/messages"), 400, 100
            )
            assert error["error_subcode"] == 33 and error["type"] == "GraphMethodException"
            # Any Graph version; the token may also come as a query parameter.
            answer = await h.request(
                "POST",
                f"/v19.0/{DEFAULT_META_PHONE_NUMBER_ID}/messages",
                params={"access_token": "sandbox-access-token"},
                json=text(ALICE),
            )
            assert answer.status == 200

    run(body())


def test_validation_errors() -> None:
    async def body() -> None:
        async with harness() as h:
            assert_graph_error(await h.meta({"to": "14155550123", "text": {"body": "x"}}), 400, 100)
            assert_graph_error(
                await h.meta({"messaging_product": "whatsapp", "text": {"body": "x"}}), 400, 100
            )
            error = assert_graph_error(await h.meta({**text(ALICE), "text": {}}), 400, 131008)
            assert error["message"].startswith("(#131008)")
            assert (
                error["error_data"]["messaging_product"] == "whatsapp"
                and error["error_data"]["details"]
            )
            assert_graph_error(await h.meta({**text(ALICE), "to": "not a number"}), 400, 131009)
            assert_graph_error(await h.meta({**text(ALICE), "type": "hologram"}), 400, 131051)
            assert_graph_error(await h.meta(text(ALICE, "x" * 4097)), 400, 100)
            async with h.http.post(
                h.url + META_MESSAGES,
                data=b"{not json",
                headers={
                    "Authorization": "Bearer sandbox-access-token",
                    "Content-Type": "application/json",
                },
            ) as response:
                assert response.status == 400
            assert h.sandbox.messages() == []

    run(body())


def test_templates_positional_named_and_refusals() -> None:
    positional = [{"type": "text", "text": "Ana"}, {"type": "text", "text": "#9"}]
    named = [
        {"type": "text", "parameter_name": "first_name", "text": "Ana"},
        {"type": "text", "parameter_name": "code", "text": "HI5"},
    ]

    async def body() -> None:
        async with harness() as h:
            hello = await h.meta(template(ALICE, "hello_world"))
            assert hello.status == 200 and hello.body["messages"][0]["message_status"] == "accepted"
            assert (await h.meta(template(ALICE, "order_update", positional))).status == 200
            assert (await h.meta(template(ALICE, "welcome_named", named))).status == 200
            sent = {m["template"]: m for m in h.sandbox.messages()}
            assert sent["order_update"]["text"] == "Hi Ana, your order #9 is on its way."
            assert sent["welcome_named"]["variables"] == {"first_name": "Ana", "code": "HI5"}

            assert_graph_error(
                await h.meta(template(ALICE, "order_update", positional[:1])), 400, 132000
            )
            assert_graph_error(
                await h.meta(template(ALICE, "welcome_named", positional)), 400, 132000
            )
            error = assert_graph_error(
                await h.meta(template(ALICE, "spring_sale", positional)), 400, 132001
            )
            assert "spring_sale" in error["error_data"]["details"]
            assert_graph_error(await h.meta(template(ALICE, "no_such_template")), 400, 132001)
            assert_graph_error(
                await h.meta(template(ALICE, "hello_world", language="pt_BR")), 400, 132001
            )
            assert_graph_error(
                await h.meta(
                    template(
                        ALICE,
                        "order_update",
                        [{"type": "text", "text": "two\nlines"}, {"type": "text", "text": "#9"}],
                    )
                ),
                400,
                131009,
            )
            assert len(h.sandbox.messages()) == 3

    run(body())


def test_template_list_envelope_filters_and_cursor_paging() -> None:
    async def body() -> None:
        async with harness() as h:
            everything = await h.meta_get(
                TEMPLATES, params={"summary": "total_count,message_template_limit"}
            )
            assert everything.status == 200
            data = everything.body["data"]
            assert [t["name"] for t in data] == [
                "hello_world",
                "order_update",
                "welcome_named",
                "spring_sale",
            ]
            assert everything.body["summary"] == {"total_count": 4, "message_template_limit": 250}
            hello = data[0]
            assert (
                hello["language"],
                hello["status"],
                hello["category"],
                hello["parameter_format"],
            ) == ("en_US", "APPROVED", "UTILITY", "POSITIONAL")
            assert [c["type"] for c in hello["components"]] == ["HEADER", "BODY", "FOOTER"]
            named = data[2]["components"][0]
            assert named["example"]["body_text_named_params"][0] == {
                "param_name": "first_name",
                "example": "Maria",
            }
            assert data[1]["components"][0]["example"] == {"body_text": [["Maria", "#1234"]]}
            assert data[3]["status"] == "PENDING"

            approved = await h.meta_get(
                TEMPLATES, params={"status": "APPROVED", "fields": "name,status"}
            )
            assert [set(t) for t in approved.body["data"]] == [{"id", "name", "status"}] * 3

            page = await h.meta_get(TEMPLATES, params={"limit": "3"})
            cursors = page.body["paging"]["cursors"]
            assert len(page.body["data"]) == 3 and cursors["before"] and cursors["after"]
            async with h.http.get(
                page.body["paging"]["next"],
                headers={"Authorization": "Bearer sandbox-access-token"},
            ) as response:
                rest = await response.json()
            assert [t["name"] for t in rest["data"]] == ["spring_sale"] and "next" not in rest[
                "paging"
            ]
            after = await h.meta_get(TEMPLATES, params={"limit": "3", "after": cursors["after"]})
            assert after.body["data"] == rest["data"]
            assert_graph_error(await h.meta_get(TEMPLATES, auth="Bearer no"), 401, 190)
            assert_graph_error(await h.meta_get("/v23.0/123/message_templates"), 400, 100)

    run(body())


def test_phone_number_waba_and_single_template() -> None:
    async def body() -> None:
        async with harness({"messaging_limit": "TIER_2K", "quality_rating": "YELLOW"}) as h:
            default = await h.meta_get(f"/v23.0/{DEFAULT_META_PHONE_NUMBER_ID}")
            assert set(default.body) == {
                "id",
                "display_phone_number",
                "verified_name",
                "quality_rating",
            }
            assert default.body["quality_rating"] == "YELLOW"
            chosen = await h.meta_get(
                f"/v23.0/{DEFAULT_META_PHONE_NUMBER_ID}",
                params={
                    "fields": "status,throughput,whatsapp_business_manager_messaging_limit,messaging_limit_tier"
                },
            )
            assert chosen.body == {
                "id": DEFAULT_META_PHONE_NUMBER_ID,
                "status": "CONNECTED",
                "throughput": {"level": "STANDARD"},
                "whatsapp_business_manager_messaging_limit": "TIER_2K",
                "messaging_limit_tier": "TIER_2K",
            }
            numbers = await h.meta_get(f"/v23.0/{DEFAULT_META_WABA_ID}/phone_numbers")
            assert numbers.body["data"][0]["id"] == DEFAULT_META_PHONE_NUMBER_ID
            waba = await h.meta_get(f"/v23.0/{DEFAULT_META_WABA_ID}")
            assert waba.body["id"] == DEFAULT_META_WABA_ID
            single = await h.meta_get("/v23.0/1000000000000002")
            assert single.body["name"] == "order_update"
            assert_graph_error(await h.meta_get("/v23.0/42"), 400, 100)

    run(body())


def test_status_webhooks_are_signed_batched_and_echo_the_opaque_data() -> None:
    async def body() -> None:
        async with harness(
            {"window_open": True, "meta_batch_window_ms": 300, "meta_batch_max": 50}
        ) as h:
            wamids = []
            for number in (ALICE, BOB, "+14155550125", "+14155550126"):
                answer = await h.meta({**text(number), "biz_opaque_callback_data": "campaign-9"})
                wamids.append(answer.body["messages"][0]["id"])
            await h.settle()
            hooks = h.receiver.on("/meta")
            statuses = []
            for hook in hooks:
                signature = hook.headers["X-Hub-Signature-256"]
                assert meta_valid(hook.body, signature, DEFAULT_META_APP_SECRET)
                assert webhook_updates_validator(DEFAULT_META_APP_SECRET, hook.body, signature)
                assert not webhook_updates_validator(
                    DEFAULT_META_APP_SECRET, hook.body + b" ", signature
                )
                payload = hook.json()
                assert payload["object"] == "whatsapp_business_account"
                [entry] = payload["entry"]
                assert entry["id"] == DEFAULT_META_WABA_ID
                [change] = entry["changes"]
                assert change["field"] == "messages"
                value = change["value"]
                assert value["metadata"]["phone_number_id"] == DEFAULT_META_PHONE_NUMBER_ID
                statuses.extend(value["statuses"])
            assert any(
                len(hook.json()["entry"][0]["changes"][0]["value"]["statuses"]) > 1
                for hook in hooks
            )
            assert len(statuses) == 12
            for wamid in wamids:
                mine = [s for s in statuses if s["id"] == wamid]
                assert [s["status"] for s in mine] == ["sent", "delivered", "read"]
                assert all(s["biz_opaque_callback_data"] == "campaign-9" for s in mine)
                assert mine[0]["pricing"]["pricing_model"] == "PMP"
                assert isinstance(mine[0]["timestamp"], str) and mine[0]["recipient_id"].isdigit()

    run(body())


def test_batch_style_entries_puts_one_status_per_entry() -> None:
    async def body() -> None:
        async with harness(
            {
                "window_open": True,
                "meta_batch_window_ms": 300,
                "meta_batch_style": "entries",
                "read_rate": 0.0,
            }
        ) as h:
            await h.meta(text(ALICE))
            await h.meta(text(BOB))
            await h.settle()
            payloads = [hook.json() for hook in h.receiver.on("/meta")]
            assert any(len(p["entry"]) > 1 for p in payloads)
            assert all(
                len(e["changes"][0]["value"]["statuses"]) == 1 for p in payloads for e in p["entry"]
            )

    run(body())


def test_window_not_on_whatsapp_and_sync_option() -> None:
    async def body() -> None:
        async with harness() as h:
            closed = (await h.meta(text(ALICE))).body["messages"][0]["id"]
            nobody = (await h.meta(template(NOT_ON_WHATSAPP, "hello_world"))).body["messages"][0][
                "id"
            ]
            templated = (await h.meta(template(BOB, "hello_world"))).body["messages"][0]["id"]
            await h.settle()
            statuses = {}
            for hook in h.receiver.on("/meta"):
                for status in hook.json()["entry"][0]["changes"][0]["value"]["statuses"]:
                    statuses.setdefault(status["id"], []).append(status)
            [failed] = statuses[closed]
            assert failed["status"] == "failed" and failed["errors"][0]["code"] == 131047
            assert failed["errors"][0]["error_data"]["details"] and failed["errors"][0]["title"]
            assert statuses[nobody][0]["errors"][0]["code"] == 131026
            assert [s["status"] for s in statuses[templated]] == ["sent", "delivered", "read"]

            await h.control("POST", "inbound", json={"from": ALICE, "text": "hello"})
            opened = (await h.meta(text(ALICE))).body["messages"][0]["id"]
            await h.settle()
            assert next(m for m in h.sandbox.messages() if m["id"] == opened)["status"] == "read"

            h.configure({"meta_sync_errors": [131047, 131026]})
            assert_graph_error(await h.meta(text(BOB)), 400, 131047)
            assert_graph_error(await h.meta(text(NOT_ON_WHATSAPP)), 400, 131026)

    run(body())


def test_throughput_and_pair_rate_limits() -> None:
    async def body() -> None:
        async with harness({"window_open": True, "meta_mps": 2}) as h:
            answers = [await h.meta(text(f"+1415555{1000 + i}")) for i in range(8)]
            limited = [a for a in answers if a.status != 200]
            assert limited
            error = assert_graph_error(limited[0], 400, 130429)
            assert error["message"].startswith("(#130429)")

            h.configure(
                {
                    "window_open": True,
                    "meta_pair_burst": 2,
                    "meta_pair_period_s": 60,
                    "http_status": {"meta": {"131056": 429}},
                }
            )
            assert (await h.meta(text(ALICE))).status == 200
            assert (await h.meta(text(ALICE))).status == 200
            assert_graph_error(await h.meta(text(ALICE)), 429, 131056)
            assert (await h.meta(text(BOB))).status == 200

    run(body())
