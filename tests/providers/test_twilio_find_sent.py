"""Twilio's Messages list as the lookup of messages whose outcome is unknown
(``TwilioProvider.find_sent``), against MockTransport pages shaped as providers.md §1.6."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from tests.providers.conftest import Mock, run
from tests.providers.test_twilio import CREATED, SID, twilio
from waapp.core.ports import SentLookup
from waapp.core.states import DeliveryStatus
from waapp.providers import ProviderRequestError
from waapp.providers.base import MAX_PAGES

TO = "+15552229999"
SINCE = datetime(2023, 8, 24, 5, 1, 40, 250000, tzinfo=UTC)
LIST_PATH = f"/2010-04-01/Accounts/{SID}/Messages.json"


def item(sid: str, **overrides: Any) -> dict[str, Any]:
    return {**CREATED, "sid": sid, **overrides}


def page(items: list[dict[str, Any]], next_uri: str | None = None) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "messages": items,
            "page": 0,
            "page_size": 100,
            "start": 0,
            "end": max(0, len(items) - 1),
            "uri": LIST_PATH,
            "first_page_uri": LIST_PATH,
            "next_page_uri": next_uri,
            "previous_page_uri": None,
        },
    )


def query(request: httpx.Request) -> list[tuple[str, str]]:
    return parse_qsl(request.url.query.decode(), keep_blank_values=True)


def test_twilio_can_look_messages_up() -> None:
    assert isinstance(twilio(Mock(page([]))), SentLookup)


def test_the_list_is_filtered_by_recipient_sender_and_day_and_read_to_the_end() -> None:
    second = f"{LIST_PATH}?To=whatsapp%3A%2B15552229999&PageSize=100&Page=1&PageToken=PASM2"
    mock = Mock(
        page(
            [
                item("SM1", status="delivered", date_updated="Thu, 24 Aug 2023 05:01:50 +0000"),
                # Created before the claim (another day's send): not a candidate.
                item("SM0", date_created="Thu, 24 Aug 2023 04:00:00 +0000"),
                # Same second as the claim: RFC 2822 has no fractions, so it counts.
                item("SM2", date_created="Thu, 24 Aug 2023 05:01:40 +0000", status="queued"),
            ],
            next_uri=f"https://elsewhere.example{second}",
        ),
        page(
            [
                item("SM3", status="undelivered", error_code=63024, error_message="Invalid"),
                item("SM4", direction="inbound", to="whatsapp:+14155238886"),
                item("SM5", to="whatsapp:+15550000000"),  # not this recipient
                item("SM6", **{"from": "whatsapp:+19990000000"}),  # another sender
                item("SM7", date_created=None),  # no creation time: cannot be ruled out
            ]
        ),
    )
    found = run(twilio(mock).find_sent(TO, since=SINCE))

    assert [m.provider_message_id for m in found] == ["SM1", "SM2", "SM3", "SM7"]
    first, *_ = mock.requests
    assert first.method == "GET" and first.url.path == LIST_PATH
    assert first.url.host == "api.twilio.test"
    assert query(first) == [
        ("To", "whatsapp:" + TO),
        ("From", "whatsapp:+14155238886"),
        ("PageSize", "1000"),  # no DateSent filter: a message still queued has no send date
    ]
    assert first.headers["Authorization"].startswith("Basic ")
    # The next page's cursor is followed on our own base URL, never the answer's host.
    nxt = mock.requests[1]
    assert nxt.url.host == "api.twilio.test" and ("PageToken", "PASM2") in query(nxt)
    by_sid = {m.provider_message_id: m for m in found}
    delivered = by_sid["SM1"]
    assert delivered.to == TO and delivered.body == "Hello"
    assert delivered.status is DeliveryStatus.DELIVERED
    assert delivered.created_at == datetime(2023, 8, 24, 5, 1, 45, tzinfo=UTC)
    assert delivered.status_at == datetime(2023, 8, 24, 5, 1, 50, tzinfo=UTC)
    assert by_sid["SM2"].status is None  # still queued at Twilio: accepted all the same
    failed = by_sid["SM3"]
    assert failed.status is DeliveryStatus.FAILED and failed.error is not None
    assert failed.error.code == "63024"
    assert by_sid["SM7"].created_at is None


def test_a_messaging_service_account_checks_the_service_of_each_message() -> None:
    mock = Mock(
        page(
            [
                item("SM1", **{"from": None, "messaging_service_sid": "MG1"}),
                item("SM2", **{"from": None, "messaging_service_sid": "MG2"}),
            ]
        )
    )
    provider = twilio(mock, sender="", messaging_service_sid="MG1")
    found = run(provider.find_sent(TO, since=SINCE))
    assert [m.provider_message_id for m in found] == ["SM1"]
    assert "From" not in dict(query(mock.last))


@pytest.mark.parametrize(
    "second",
    [
        httpx.Response(500, json={"code": 20500, "message": "Internal Server Error"}),
        httpx.Response(401, json={"code": 20003, "message": "Authenticate", "status": 401}),
        httpx.Response(200, json={"unexpected": True}),
        httpx.Response(200, text="<html>maintenance</html>"),
        httpx.ReadTimeout("read timed out"),
    ],
    ids=["5xx", "401", "no-messages", "not-json", "timeout"],
)
def test_a_page_that_fails_raises_instead_of_a_partial_list(second: Any) -> None:
    mock = Mock(page([item("SM1")], next_uri=f"{LIST_PATH}?Page=1&PageToken=PASM1"), second)
    with pytest.raises(ProviderRequestError):
        run(twilio(mock).find_sent(TO, since=SINCE))
    assert len(mock.requests) == 2


def test_a_list_that_never_ends_raises() -> None:
    endless = page([], next_uri=f"{LIST_PATH}?Page=1&PageToken=PA0")
    mock = Mock(endless)
    with pytest.raises(ProviderRequestError):
        run(twilio(mock).find_sent(TO, since=SINCE))
    assert len(mock.requests) == MAX_PAGES


def test_since_must_be_aware() -> None:
    with pytest.raises(ValueError):
        run(twilio(Mock(page([]))).find_sent(TO, since=datetime(2023, 8, 24)))
