"""Twilio against MockTransport fixtures built from providers.md §1."""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import urlencode

import httpx
import pytest

from tests.providers.conftest import NOW, Mock, clock, form_of, run
from waapp.core import signatures
from waapp.core.entities import PlaceholderFormat, Template, TemplateKind
from waapp.core.ports import InboundText, StatusUpdate, WebhookRequest
from waapp.core.states import DeliveryStatus
from waapp.providers import ProviderRequestError
from waapp.providers.twilio import TwilioProvider

SID = "AC00000000000000000000000000000001"
TOKEN = "tok-secret"
CALLBACK = "https://hooks.example.net/twilio/1"

# providers.md §1.2, success body.
CREATED = {
    "account_sid": SID,
    "api_version": "2010-04-01",
    "body": "Hello",
    "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
    "date_sent": None,
    "date_updated": "Thu, 24 Aug 2023 05:01:45 +0000",
    "direction": "outbound-api",
    "error_code": None,
    "error_message": None,
    "from": "whatsapp:+14155238886",
    "messaging_service_sid": None,
    "num_media": "0",
    "num_segments": "1",
    "price": None,
    "price_unit": None,
    "sid": "SM0123456789abcdef0123456789abcdef",
    "status": "queued",
    "subresource_uris": {"media": f"/2010-04-01/Accounts/{SID}/Messages/SM0/Media.json"},
    "to": "whatsapp:+15552229999",
    "uri": f"/2010-04-01/Accounts/{SID}/Messages/SM0.json",
}


def twilio(mock: Mock, **overrides: str) -> TwilioProvider:
    options = {
        "account_sid": SID,
        "auth_token": TOKEN,
        "sender": "+14155238886",
        "status_callback": CALLBACK,
        "base_url": "https://api.twilio.test",
        "content_base_url": "https://content.twilio.test/v1",
    }
    options.update(overrides)
    return TwilioProvider(client=mock.client, clock=clock, **options)  # type: ignore[arg-type]


def approved(sid: str | None = "HX0123456789abcdef0123456789abcdef") -> Template:
    return Template(
        account_id=1,
        kind=TemplateKind.APPROVED,
        name="order_update",
        body="Hi {{1}}, your order ships {{2}}",
        language="en",
        provider_ref=sid,
    )


# --- sending ------------------------------------------------------------------------------


def test_send_text_posts_the_form_with_basic_auth() -> None:
    mock = Mock(httpx.Response(201, json=CREATED))
    result = run(twilio(mock).send_text("+15552229999", "Hello", reference="msg-41"))

    assert result.accepted
    assert result.provider_message_id == CREATED["sid"]
    request = mock.last
    assert request.method == "POST"
    assert str(request.url) == f"https://api.twilio.test/2010-04-01/Accounts/{SID}/Messages.json"
    expected_auth = base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected_auth}"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert form_of(request) == [
        ("To", "whatsapp:+15552229999"),
        ("From", "whatsapp:+14155238886"),
        ("Body", "Hello"),
        ("StatusCallback", f"{CALLBACK}?waapp_ref=msg-41"),
    ]


def test_send_template_uses_content_sid_and_json_variables_never_body() -> None:
    mock = Mock(httpx.Response(201, json=CREATED))
    result = run(
        twilio(mock).send_template(
            "+15552229999", approved(), {"1": "María", "2": "12/1"}, reference="r"
        )
    )

    assert result.accepted
    form = dict(form_of(mock.last))
    assert form["ContentSid"] == "HX0123456789abcdef0123456789abcdef"
    assert json.loads(form["ContentVariables"]) == {"1": "María", "2": "12/1"}
    assert "Body" not in form and "MediaUrl" not in form


def test_messaging_service_replaces_from_and_no_callback_when_unset() -> None:
    mock = Mock(httpx.Response(201, json=CREATED))
    provider = twilio(mock, sender="", messaging_service_sid="MG123", status_callback="")
    run(provider.send_text("+15552229999", "Hi", reference="r"))

    form = dict(form_of(mock.last))
    assert form["MessagingServiceSid"] == "MG123"
    assert "From" not in form and "StatusCallback" not in form


def test_status_callback_can_change_and_keeps_its_own_query() -> None:
    mock = Mock(httpx.Response(201, json=CREATED))
    provider = twilio(mock)
    provider.status_callback = "https://tunnel.example.org/hook?account=3"
    run(provider.send_text("+15552229999", "Hi", reference="a b/c"))

    form = dict(form_of(mock.last))
    assert form["StatusCallback"] == "https://tunnel.example.org/hook?account=3&waapp_ref=a%20b%2Fc"


def test_template_without_content_sid_is_refused_without_a_request() -> None:
    mock = Mock(httpx.Response(201, json=CREATED))
    result = run(twilio(mock).send_template("+15552229999", approved(None), {}, reference="r"))

    assert not result.accepted and result.error is not None
    assert result.error.code == "63027"
    assert result.error.title == "Template not found"
    assert mock.requests == []


# --- errors ---------------------------------------------------------------------------------


def _error(status: int, code: int | None, message: str = "boom") -> httpx.Response:
    body: dict[str, object] = {"message": message, "status": status}
    if code is not None:
        body["code"] = code
        body["more_info"] = f"https://www.twilio.com/docs/errors/{code}"
    return httpx.Response(status, json=body)


@pytest.mark.parametrize(
    ("response", "code", "title"),
    [
        (_error(401, 20003, "Authenticate"), "20003", "Twilio refused the login"),
        (_error(400, 21211, "Invalid 'To' Phone Number"), "21211", "Phone number not valid"),
        (_error(400, 21408), "21408", "Country not enabled"),
        (_error(400, 21654), "21654", "Template values without a template"),
        (_error(400, 63007), "63007", "Sending number not set up"),
        (_error(429, 20429, "Too Many Requests"), "20429", "Too many requests at once"),
        (_error(404, None, "Not found"), "http_404", "Not found"),
        (httpx.Response(500, text="<html>oops</html>"), "http_500", "Trouble at Twilio"),
        (httpx.Response(503), "http_503", "Trouble at Twilio"),
        (
            httpx.Response(302, headers={"Location": "/elsewhere"}),
            "http_302",
            "Wrong server address",
        ),
    ],
)
def test_refusals_map_to_the_catalogue(response: httpx.Response, code: str, title: str) -> None:
    result = run(twilio(Mock(response)).send_text("+15552229999", "Hi", reference="r"))

    assert result.error is not None
    assert (result.error.code, result.error.title) == (code, title)
    assert result.error.may_have_reached is False


def test_unknown_code_falls_back_to_the_http_status_and_names_the_code() -> None:
    result = run(
        twilio(Mock(_error(400, 21999, "Odd"))).send_text("+15552229999", "Hi", reference="r")
    )

    assert result.error is not None
    assert result.error.code == "http_400"
    assert "21999" in result.error.detail and "Odd" in result.error.detail


def test_rate_limit_reads_retry_after_seconds_and_ignores_concurrency_header() -> None:
    response = _error(429, 20429)
    response.headers["Retry-After"] = "7"
    response.headers["Twilio-Concurrent-Requests"] = "101"
    result = run(twilio(Mock(response)).send_text("+15552229999", "Hi", reference="r"))

    assert result.error is not None and result.error.retry_after_seconds == 7.0


def test_rate_limit_reads_retry_after_as_an_http_date() -> None:
    response = _error(429, 20429)
    response.headers["Retry-After"] = "Sun, 22 Nov 2026 12:01:30 GMT"  # NOW + 90 s
    result = run(twilio(Mock(response)).send_text("+15552229999", "Hi", reference="r"))

    assert result.error is not None and result.error.retry_after_seconds == 90.0


@pytest.mark.parametrize("body", [b"not json", b'{"status":"queued"}', b"[]"])
def test_success_without_a_sid_is_an_unknown_outcome(body: bytes) -> None:
    result = run(
        twilio(Mock(httpx.Response(201, content=body))).send_text("+1555", "Hi", reference="r")
    )

    assert result.error is not None
    assert result.error.code == "bad_response"
    assert result.error.may_have_reached is True


# --- polling -----------------------------------------------------------------------------------


def test_fetch_status_reads_the_message() -> None:
    body = dict(CREATED, status="delivered", date_updated="Thu, 24 Aug 2023 05:02:10 +0000")
    mock = Mock(httpx.Response(200, json=body))
    update = run(twilio(mock).fetch_status("SM0123456789abcdef0123456789abcdef"))

    assert update is not None
    assert update.status is DeliveryStatus.DELIVERED
    assert update.occurred_at.isoformat() == "2023-08-24T05:02:10+00:00"
    assert update.recipient == "+15552229999"
    assert mock.last.method == "GET"
    assert mock.last.url.path == (
        f"/2010-04-01/Accounts/{SID}/Messages/SM0123456789abcdef0123456789abcdef.json"
    )


def test_fetch_status_of_a_failed_message_carries_the_error() -> None:
    body = dict(CREATED, status="undelivered", error_code=63016, error_message="Outside window")
    update = run(twilio(Mock(httpx.Response(200, json=body))).fetch_status("SM1"))

    assert update is not None and update.status is DeliveryStatus.FAILED
    assert update.error is not None
    assert (update.error.code, update.error.title) == ("63016", "Outside the 24-hour window")


@pytest.mark.parametrize("status", ["queued", "accepted", "sending", "scheduled"])
def test_fetch_status_before_sent_says_nothing_yet(status: str) -> None:
    body = dict(CREATED, status=status)
    assert run(twilio(Mock(httpx.Response(200, json=body))).fetch_status("SM1")) is None


def test_fetch_status_of_an_unknown_sid_raises_a_mapped_error() -> None:
    mock = Mock(_error(404, 20404, "The requested resource was not found"))
    with pytest.raises(ProviderRequestError) as caught:
        run(twilio(mock).fetch_status("SMnope"))

    assert caught.value.error.code == "http_404"
    assert caught.value.what_to_do


# --- templates ---------------------------------------------------------------------------------


def _content(
    sid: str, name: str, types: dict[str, object], approval: dict[str, object] | None
) -> dict[str, object]:
    item: dict[str, object] = {
        "sid": sid,
        "account_sid": SID,
        "friendly_name": name,
        "language": "en",
        "variables": {"1": "Maria"},
        "types": types,
        "date_created": "2024-01-01T00:00:00Z",
        "date_updated": "2024-01-01T00:00:00Z",
    }
    if approval is not None:
        item["approval_requests"] = approval
    return item


def test_list_templates_follows_paging_and_maps_approvals() -> None:
    page_one = {
        "contents": [
            _content(
                "HX1",
                "order_update",
                {"twilio/media": {"body": "Hi {{1}}", "media": ["http://example.com/{{3}}"]}},
                {
                    "name": "order_update",
                    "category": "UTILITY",
                    "content_type": "twilio/media",
                    "status": "approved",
                    "rejection_reason": "",
                    "allow_category_change": True,
                },
            )
        ],
        "meta": {
            "page": 0,
            "page_size": 1,
            "key": "contents",
            "next_page_url": "https://content.twilio.com/v1/ContentAndApprovals?PageSize=1&Page=1&PageToken=PTabc",
        },
    }
    page_two = {
        "contents": [
            _content(
                "HX2",
                "promo",
                {
                    "twilio/quick-reply": {
                        "body": "Sale!",
                        "actions": [{"title": "Stop", "id": "stop"}],
                    }
                },
                {"name": "promo", "category": "MARKETING", "status": "received"},
            ),
            _content("HX3", "draft", {"twilio/text": {"body": "Hello"}}, None),
        ],
        "meta": {"page": 1, "page_size": 1, "key": "contents", "next_page_url": None},
    }
    mock = Mock(httpx.Response(200, json=page_one), httpx.Response(200, json=page_two))
    templates = run(twilio(mock).list_templates())

    assert [t.provider_ref for t in templates] == ["HX1", "HX2", "HX3"]
    first, second, third = templates
    assert (first.name, first.status, first.category, first.language) == (
        "order_update",
        "APPROVED",
        "UTILITY",
        "en",
    )
    assert first.body == "Hi {{1}}"
    assert first.header == {"format": "MEDIA", "media": ["http://example.com/{{3}}"]}
    assert first.placeholder_format is PlaceholderFormat.POSITIONAL
    assert first.synced_at == NOW
    assert second.status == "RECEIVED"
    assert second.buttons == [{"type": "QUICK_REPLY", "text": "Stop", "payload": "stop"}]
    assert third.status == "UNSUBMITTED"
    first_request, second_request = mock.requests
    assert (
        str(first_request.url) == "https://content.twilio.test/v1/ContentAndApprovals?PageSize=100"
    )
    # The next page is asked of *our* base URL with Twilio's cursor.
    assert second_request.url.host == "content.twilio.test"
    assert dict(second_request.url.params) == {"PageSize": "1", "Page": "1", "PageToken": "PTabc"}
    assert second_request.headers["authorization"].startswith("Basic ")


def test_list_templates_raises_mapped_errors() -> None:
    with pytest.raises(ProviderRequestError) as caught:
        run(twilio(Mock(_error(401, 20003))).list_templates())
    assert caught.value.error.code == "20003"


# --- health ------------------------------------------------------------------------------------


def _account(status: str) -> httpx.Response:
    return httpx.Response(
        200, json={"sid": SID, "friendly_name": "My shop", "status": status, "type": "Full"}
    )


def test_health_of_an_active_account() -> None:
    mock = Mock(_account("active"))
    report = run(twilio(mock).check_health())

    assert report.ok
    assert report.details == {
        "account_status": "active",
        "friendly_name": "My shop",
        "account_type": "Full",
    }
    assert mock.last.url.path == f"/2010-04-01/Accounts/{SID}.json"


@pytest.mark.parametrize("status", ["suspended", "closed"])
def test_health_of_a_suspended_or_closed_account(status: str) -> None:
    report = run(twilio(Mock(_account(status))).check_health())
    assert not report.ok and status in report.summary


def test_health_with_bad_credentials_or_no_connection() -> None:
    refused = run(twilio(Mock(_error(401, 20003))).check_health())
    assert not refused.ok
    assert refused.summary.startswith("Twilio refused the login.")
    assert refused.details["error_code"] == "20003"

    offline = run(twilio(Mock(httpx.ConnectError("no route"))).check_health())
    assert not offline.ok and offline.details["error_code"] == "connection_failed"


# --- webhooks: signatures (providers.md §1.9 test vectors) -------------------------------------

VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
    ("Caller", "+14158675309"),
]


def _signed(url: str, params: list[tuple[str, str]], signature: str | None) -> WebhookRequest:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["X-Twilio-Signature"] = signature
    return WebhookRequest("POST", url, headers, urlencode(params).encode())


def _vector_provider() -> TwilioProvider:
    return twilio(Mock(httpx.Response(200)), auth_token="12345")


def test_signature_test_vectors_verify() -> None:
    provider = _vector_provider()
    assert provider.verify_webhook(
        _signed(VECTOR_URL, VECTOR_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    )
    multi = [
        ("Sid", "CA123"),
        ("SidAccount", "AC123"),
        ("Digits", "5678"),
        ("Digits", "1234"),
        ("Digits", "1234"),
    ]
    assert provider.verify_webhook(_signed(VECTOR_URL, multi, "IK+Dwps556ElfBT0I3Rgjkr1wJU="))
    port_url = "http://mycompany.com:1234/myapp.php?foo=1&bar=2"
    assert provider.verify_webhook(_signed(port_url, VECTOR_PARAMS, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="))


def test_signature_header_is_found_whatever_its_case() -> None:
    request = _signed(VECTOR_URL, VECTOR_PARAMS, None)
    request = WebhookRequest(
        "POST", VECTOR_URL, {"x-twilio-signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8="}, request.body
    )
    assert _vector_provider().verify_webhook(request)


@pytest.mark.parametrize(
    "request_",
    [
        _signed(VECTOR_URL, VECTOR_PARAMS, None),
        _signed(VECTOR_URL, VECTOR_PARAMS, ""),
        _signed(VECTOR_URL, VECTOR_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8"),
        _signed(
            VECTOR_URL,
            [*VECTOR_PARAMS[:-1], ("Caller", "+10000000000")],
            "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
        ),
        _signed(
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            VECTOR_PARAMS,
            "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
        ),
    ],
    ids=["unsigned", "empty", "truncated", "tampered-param", "other-url"],
)
def test_forged_or_unsigned_requests_are_refused(request_: WebhookRequest) -> None:
    assert not _vector_provider().verify_webhook(request_)


def test_json_bodies_are_checked_through_body_sha256() -> None:
    body = b'{"property": "value", "boolean": true}'
    digest = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
    url = f"{VECTOR_URL}&bodySHA256={digest}"
    signature = signatures.twilio_signature(url, {}, "12345")
    request = WebhookRequest("POST", url, {"X-Twilio-Signature": signature}, body)
    provider = _vector_provider()

    assert provider.verify_webhook(request)
    assert not provider.verify_webhook(
        WebhookRequest("POST", url, {"X-Twilio-Signature": signature}, body + b" ")
    )


def test_there_is_no_subscription_handshake() -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": "x", "hub.challenge": "1"}
    assert _vector_provider().verify_subscription(query) is None


# --- webhooks: parsing (providers.md §1.7, §1.8) ----------------------------------------------

STATUS_URL = f"{CALLBACK}?waapp_ref=msg-41"


def _callback(body: str, url: str = STATUS_URL) -> WebhookRequest:
    return WebhookRequest("POST", url, {}, body.encode())


def test_read_callback_as_captured() -> None:
    body = (
        "SmsSid=SM1&SmsStatus=read&MessageStatus=read&ChannelToAddress=%2B919876543210"
        "&To=whatsapp%3A%2B919876543210&ChannelPrefix=whatsapp&MessageSid=SM1&AccountSid=AC1"
        "&From=whatsapp%3A%2B14155238886&ApiVersion=2010-04-01&EventType=READ"
        "&ChannelInstallSid=XE1"
    )
    events = twilio(Mock(httpx.Response(200))).parse_webhook(_callback(body))

    assert events == [
        StatusUpdate(
            provider_message_id="SM1",
            status=DeliveryStatus.READ,
            occurred_at=NOW,
            recipient="+919876543210",
            error=None,
            reference="msg-41",
        )
    ]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("sent", DeliveryStatus.SENT),
        ("delivered", DeliveryStatus.DELIVERED),
        ("read", DeliveryStatus.READ),
        ("failed", DeliveryStatus.FAILED),
        ("undelivered", DeliveryStatus.FAILED),
    ],
)
def test_callback_statuses(status: str, expected: DeliveryStatus) -> None:
    body = urlencode({"MessageSid": "SM2", "MessageStatus": status, "To": "whatsapp:+15552229999"})
    (event,) = twilio(Mock(httpx.Response(200))).parse_webhook(_callback(body, CALLBACK))
    assert isinstance(event, StatusUpdate)
    assert event.status is expected and event.reference is None


@pytest.mark.parametrize("status", ["queued", "sending", "accepted", "scheduled"])
def test_callbacks_before_sent_are_not_reported(status: str) -> None:
    body = urlencode({"MessageSid": "SM2", "MessageStatus": status})
    assert twilio(Mock(httpx.Response(200))).parse_webhook(_callback(body)) == []


@pytest.mark.parametrize(
    ("code", "title"),
    [
        ("63016", "Outside the 24-hour window"),
        ("63024", "Not a WhatsApp user"),
        ("63049", "Marketing message not delivered by Meta"),
    ],
)
def test_failure_callbacks_carry_the_mapped_error(code: str, title: str) -> None:
    body = urlencode(
        {
            "MessageSid": "SM3",
            "MessageStatus": "undelivered",
            "ErrorCode": code,
            "ErrorMessage": "Twilio says no",
            "ChannelStatusMessage": "channel says no",
            "To": "whatsapp:+15552229999",
        }
    )
    (event,) = twilio(Mock(httpx.Response(200))).parse_webhook(_callback(body))

    assert isinstance(event, StatusUpdate) and event.status is DeliveryStatus.FAILED
    assert event.error is not None
    assert (event.error.code, event.error.title) == (code, title)
    assert event.error.detail == "channel says no"


def test_inbound_message_uses_receipt_time() -> None:
    body = urlencode(
        {
            "MessageSid": "SM9",
            "SmsSid": "SM9",
            "SmsMessageSid": "SM9",
            "AccountSid": SID,
            "From": "whatsapp:+5215512345678",
            "To": "whatsapp:+14155238886",
            "Body": "STOP",
            "NumMedia": "0",
            "NumSegments": "1",
            "ApiVersion": "2010-04-01",
            "SmsStatus": "received",
            "ProfileName": "Ana",
            "WaId": "5215512345678",
        }
    )
    events = twilio(Mock(httpx.Response(200))).parse_webhook(_callback(body, CALLBACK))

    # Mexico's 521 form is normalised the way contacts are stored (providers.md §5).
    assert events == [InboundText("+525512345678", "STOP", NOW, "SM9")]


def test_inbound_quick_reply_tap_and_wa_id_fallback() -> None:
    body = urlencode(
        {
            "MessageSid": "SM10",
            "SmsStatus": "received",
            "WaId": "15552229999",
            "ButtonText": "Yes please",
            "ButtonPayload": "yes",
            "Body": "",
        }
    )
    (event,) = twilio(Mock(httpx.Response(200))).parse_webhook(_callback(body, CALLBACK))
    assert event == InboundText("+15552229999", "Yes please", NOW, "SM10")


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe\x00garbage",
        b"",
        b"MessageStatus=delivered",
        b"MessageSid=SM1&SmsStatus=received&Body=hi",
    ],
    ids=["not-utf8", "empty", "no-sid", "inbound-without-from"],
)
def test_malformed_callbacks_give_nothing_and_a_warning(
    body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="waapp.providers"):
        events = twilio(Mock(httpx.Response(200))).parse_webhook(
            WebhookRequest("POST", CALLBACK, {}, body)
        )
    assert events == []
    assert caplog.records
