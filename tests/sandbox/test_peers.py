"""Independent peers against the Sandbox, unchanged: the official twilio SDK and pywa.

Each peer is only pointed at the Sandbox the way it documents: twilio-python through each
domain's ``base_url`` (``client.api``, ``client.content``), pywa through the ``httpx.Client``
it accepts as ``session`` (pywa fixes the Graph base URL itself, so the client's transport
sends ``graph.facebook.com`` requests to the Sandbox). The SDKs are synchronous: they run in
a worker thread while the Sandbox serves on the test's event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from pywa import WhatsApp
from pywa import errors as pywa_errors
from pywa import handlers as pywa_handlers
from pywa.types import Message, MessageStatus, MessageStatusType
from pywa.types.templates import BodyText, TemplateLanguage, TemplateStatus
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.sandbox.helpers import ALICE, BOB, harness, run
from waapp.sandbox.settings import (
    DEFAULT_META_ACCESS_TOKEN,
    DEFAULT_META_APP_SECRET,
    DEFAULT_META_PHONE_NUMBER_ID,
    DEFAULT_META_WABA_ID,
    DEFAULT_TWILIO_ACCOUNT_SID,
    DEFAULT_TWILIO_AUTH_TOKEN,
)

ORDER_UPDATE_SID = "HX" + "0" * 31 + "2"


def twilio_client(url: str, token: str = DEFAULT_TWILIO_AUTH_TOKEN) -> Client:
    client = Client(DEFAULT_TWILIO_ACCOUNT_SID, token)
    client.api.base_url = url
    client.content.base_url = url
    return client


def test_twilio_sdk_sends_fetches_lists_and_reads_content() -> None:
    def with_sdk(url: str) -> dict[str, Any]:
        client = twilio_client(url)
        text = client.messages.create(
            to="whatsapp:" + ALICE,
            from_="whatsapp:+14155238886",
            body="Hello",
            status_callback=None,
        )
        templated = client.messages.create(
            to="whatsapp:" + BOB,
            from_="whatsapp:+14155238886",
            content_sid=ORDER_UPDATE_SID,
            content_variables='{"1": "Ana", "2": "#5"}',
        )
        fetched = client.messages(text.sid).fetch()
        listed = client.messages.list(to="whatsapp:" + BOB, limit=5)
        paged = list(client.messages.stream(page_size=1))
        account = client.api.v2010.accounts(DEFAULT_TWILIO_ACCOUNT_SID).fetch()
        contents = client.content.v1.contents.list()
        approvals = list(client.content.v1.content_and_approvals.stream(page_size=3))
        with pytest.raises(TwilioRestException) as refused:
            twilio_client(url, "wrong").messages.create(
                to="whatsapp:" + ALICE, from_="whatsapp:+1", body="x"
            )
        with pytest.raises(TwilioRestException) as invalid:
            client.messages.create(to="whatsapp:12", from_="whatsapp:+14155238886", body="x")
        return {
            "text": text,
            "templated": templated,
            "fetched": fetched,
            "listed": listed,
            "paged": paged,
            "account": account,
            "contents": contents,
            "approvals": approvals,
            "refused": refused.value,
            "invalid": invalid.value,
        }

    async def body() -> None:
        async with harness() as h:
            got = await asyncio.to_thread(with_sdk, h.url)
            text, templated = got["text"], got["templated"]
            assert (
                text.sid.startswith("SM")
                and text.status == "queued"
                and text.date_created.year > 2000
            )
            assert templated.body == "Hi Ana, your order #5 is on its way."
            assert got["fetched"].sid == text.sid and got["fetched"].to == "whatsapp:" + ALICE
            assert [m.sid for m in got["listed"]] == [templated.sid]
            assert {m.sid for m in got["paged"]} == {text.sid, templated.sid}
            assert got["account"].status == "active"
            assert [c.friendly_name for c in got["contents"]][:2] == ["hello_world", "order_update"]
            assert {c.friendly_name: c.approval_requests["status"] for c in got["approvals"]}[
                "spring_sale"
            ] == "received"
            assert len(got["approvals"]) == 4  # two pages of three
            assert (got["refused"].status, got["refused"].code) == (401, 20003)
            assert (got["invalid"].status, got["invalid"].code) == (400, 21211)
            await h.settle()
            statuses = {m["id"]: (m["status"], m["error_code"]) for m in h.sandbox.messages()}
            assert statuses == {text.sid: ("failed", 63016), templated.sid: ("read", None)}

    run(body())


class ToSandbox(httpx.BaseTransport):
    """Sends every request to the Sandbox, whatever host the client aimed at."""

    def __init__(self, base_url: str) -> None:
        self._base = httpx.URL(base_url)
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(
            scheme=self._base.scheme, host=self._base.host, port=self._base.port
        )
        request.headers["Host"] = f"{self._base.host}:{self._base.port}"
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def test_pywa_sends_text_and_templates_and_lists_templates() -> None:
    def with_pywa(url: str) -> dict[str, Any]:
        with httpx.Client(transport=ToSandbox(url)) as session:
            wa = WhatsApp(
                phone_id=DEFAULT_META_PHONE_NUMBER_ID,
                token=DEFAULT_META_ACCESS_TOKEN,
                waba_id=DEFAULT_META_WABA_ID,
                session=session,
            )
            text = wa.send_message(to=ALICE[1:], text="Hello from pywa")
            hello = wa.send_template(
                to=BOB[1:], name="hello_world", language=TemplateLanguage.ENGLISH_US
            )
            order = wa.send_template(
                to=BOB[1:],
                name="order_update",
                language=TemplateLanguage.ENGLISH_US,
                params=[BodyText.params("Ana", "#5")],
            )
            named = wa.send_template(
                to=BOB[1:],
                name="welcome_named",
                language=TemplateLanguage.ENGLISH_US,
                params=[BodyText.params(first_name="Ana", code="HI")],
            )
            first = wa.get_templates(pagination=None)
            approved = wa.get_templates(statuses=[TemplateStatus.APPROVED])
            from pywa.types.others import Pagination

            page = wa.get_templates(pagination=Pagination(limit=2))
            # TemplatesResult.next() is broken in pywa 4.5 (it passes an argument its own
            # __init__ does not take); the documented cursor route works.
            second = wa.get_templates(pagination=Pagination(limit=2, after=page.after))
            number = wa.get_business_phone_number()
            with pytest.raises(pywa_errors.TemplateNotExists):
                wa.send_template(
                    to=BOB[1:],
                    name="spring_sale",
                    language=TemplateLanguage.ENGLISH_US,
                    params=[BodyText.params("x", "y")],
                )
            return {
                "text": text,
                "hello": hello,
                "order": order,
                "named": named,
                "first": first,
                "approved": approved,
                "page": page,
                "second": second,
                "number": number,
            }

    async def body() -> None:
        async with harness({"meta_sync_errors": [131047]}) as h:
            h.sandbox.inbound(ALICE, "hi", dialect="meta")
            got = await asyncio.to_thread(with_pywa, h.url)
            assert got["text"].id.startswith("wamid.")
            assert got["first"].total_count == 4
            assert [t.name for t in got["first"]] == [
                "hello_world",
                "order_update",
                "welcome_named",
                "spring_sale",
            ]
            assert [t.status for t in got["approved"]] == [TemplateStatus.APPROVED] * 3
            assert [t.name for t in got["page"]] == ["hello_world", "order_update"] and got[
                "page"
            ].has_next
            assert [t.name for t in got["second"]] == ["welcome_named", "spring_sale"]
            assert (
                got["number"].id == DEFAULT_META_PHONE_NUMBER_ID
                and got["number"].quality_rating == "GREEN"
            )
            sent = {m["id"]: m for m in h.sandbox.messages()}
            assert sent[got["order"].id]["variables"] == {"1": "Ana", "2": "#5"}
            assert sent[got["named"].id]["variables"] == {"first_name": "Ana", "code": "HI"}
            assert sent[got["hello"].id]["template"] == "hello_world"

    run(body())


def test_pywa_reads_the_sandbox_webhooks_as_meta_updates() -> None:
    async def body() -> None:
        async with harness() as h:
            await h.meta(
                {
                    "messaging_product": "whatsapp",
                    "to": ALICE[1:],
                    "type": "text",
                    "text": {"body": "x"},
                    "biz_opaque_callback_data": "c-1",
                }
            )
            await h.settle()
            h.sandbox.inbound(BOB, "STOP", name="Bob")
            await h.settle()
            hooks = h.receiver.on("/meta")

        updates: list[MessageStatus] = []
        messages: list[Message] = []
        with httpx.Client() as session:
            wa = WhatsApp(
                phone_id=DEFAULT_META_PHONE_NUMBER_ID,
                token=DEFAULT_META_ACCESS_TOKEN,
                session=session,
                app_secret=DEFAULT_META_APP_SECRET,
                verify_token="v",
                validate_updates=True,
            )
            wa.add_handlers(
                pywa_handlers.MessageStatusHandler(lambda _, status: updates.append(status)),
                pywa_handlers.MessageHandler(lambda _, message: messages.append(message)),
            )
            for hook in hooks:
                assert (
                    wa.webhook_update_validator(hook.body, hook.headers["X-Hub-Signature-256"])
                    is None
                )
                assert wa.webhook_update_handler(hook.body) == ("ok", 200)
            assert wa.webhook_update_validator(hooks[0].body, "sha256=" + "0" * 64) is not None
        [failed] = updates
        assert failed.status == MessageStatusType.FAILED
        assert isinstance(failed.error, pywa_errors.ReEngagementMessage)
        assert failed.tracker == "c-1"
        [stop] = messages
        assert (
            stop.text == "STOP" and stop.from_user.wa_id == BOB[1:] and stop.from_user.name == "Bob"
        )

    run(body())
