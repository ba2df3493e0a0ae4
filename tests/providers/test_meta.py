"""Meta's Cloud API, and Kapso in front of it, against fixtures from providers.md §2 and §4."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.providers.conftest import NOW, Mock, clock, json_of, run
from waapp.core.entities import AccountKind, PlaceholderFormat, Template, TemplateKind
from waapp.core.ports import WebhookRequest
from waapp.providers import ProviderRequestError
from waapp.providers.meta import HEALTH_FIELDS, MetaProvider

PNID = "106540352242922"
WABA = "102290129340398"
BASE = "https://graph.meta.test"

# providers.md §2.2, success body.
ACCEPTED = {
    "messaging_product": "whatsapp",
    "contacts": [{"input": "+16505551234", "wa_id": "16505551234"}],
    "messages": [{"id": "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI", "message_status": "accepted"}],
}


def meta(mock: Mock, **overrides: object) -> MetaProvider:
    options: dict[str, object] = {
        "phone_number_id": PNID,
        "waba_id": WABA,
        "access_token": "EAAG-token",
        "app_secret": "test_app_secret",
        "verify_token": "my verify phrase",
        "base_url": BASE,
    }
    options.update(overrides)
    return MetaProvider(client=mock.client, clock=clock, **options)  # type: ignore[arg-type]


def kapso(mock: Mock, **overrides: object) -> MetaProvider:
    options: dict[str, object] = {
        "access_token": "",
        "api_key": "kapso-key",
        "webhook_secret": "kapso-hook-secret",
        "base_url": "https://api.kapso.ai/meta/whatsapp",
        "kind": AccountKind.KAPSO,
    }
    options.update(overrides)
    return meta(mock, **options)


def template(body: str, *, named: bool = False, **extra: object) -> Template:
    return Template(
        account_id=1,
        kind=TemplateKind.APPROVED,
        name="order_update",
        body=body,
        language="en_US",
        placeholder_format=PlaceholderFormat.NAMED if named else PlaceholderFormat.POSITIONAL,
        **extra,  # type: ignore[arg-type]
    )


# --- sending ------------------------------------------------------------------------------


def test_send_text_posts_json_with_bearer_and_our_reference() -> None:
    mock = Mock(httpx.Response(200, json=ACCEPTED))
    result = run(meta(mock).send_text("+16505551234", "Hello", reference="msg-41"))

    assert result.accepted
    assert result.provider_message_id == "wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI"
    assert result.wa_id == "16505551234"
    request = mock.last
    assert request.method == "POST"
    assert str(request.url) == f"{BASE}/v23.0/{PNID}/messages"
    assert request.headers["authorization"] == "Bearer EAAG-token"
    assert request.headers["content-type"] == "application/json"
    assert "x-api-key" not in request.headers
    assert json_of(request) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "16505551234",
        "type": "text",
        "text": {"body": "Hello", "preview_url": False},
        "biz_opaque_callback_data": "msg-41",
    }


def test_send_positional_template() -> None:
    mock = Mock(httpx.Response(200, json=ACCEPTED))
    run(
        meta(mock).send_template(
            "+15551234567",
            template("Hi {{1}}, order {{2}} ships"),
            {"2": "#1234", "1": "Maria"},
            reference="msg-7",
        )
    )

    assert json_of(mock.last) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "15551234567",
        "type": "template",
        "template": {
            "name": "order_update",
            "language": {"code": "en_US"},
            "components": [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "Maria"},
                        {"type": "text", "text": "#1234"},
                    ],
                },
            ],
        },
        "biz_opaque_callback_data": "msg-7",
    }


def test_send_named_template_carries_parameter_names() -> None:
    mock = Mock(httpx.Response(200, json=ACCEPTED))
    run(
        meta(mock).send_template(
            "+15551234567",
            template("Hi {{first_name}}, code {{code}}", named=True),
            {"first_name": "Ana", "code": "FALL25"},
            reference="r",
        )
    )

    components = json_of(mock.last)["template"]["components"]
    assert components == [
        {
            "type": "body",
            "parameters": [
                {"type": "text", "text": "Ana", "parameter_name": "first_name"},
                {"type": "text", "text": "FALL25", "parameter_name": "code"},
            ],
        }
    ]


def test_send_template_without_variables_has_no_components() -> None:
    mock = Mock(httpx.Response(200, json=ACCEPTED))
    hello = template("Welcome and congratulations!!")
    hello.name = "hello_world"
    run(meta(mock).send_template("+15551234567", hello, {}, reference="r"))

    assert json_of(mock.last)["template"] == {"name": "hello_world", "language": {"code": "en_US"}}


def test_send_template_header_media_and_url_button_values() -> None:
    mock = Mock(httpx.Response(200, json=ACCEPTED))
    text_header = template(
        "Hi {{1}}",
        header={"format": "TEXT", "text": "Order {{1}}"},
        buttons=[
            {"type": "QUICK_REPLY", "text": "Stop"},
            {"type": "URL", "text": "Track", "url": "https://x.test/{{1}}"},
        ],
    )
    run(
        meta(mock).send_template(
            "+15551234567",
            text_header,
            {"1": "Maria", "header:1": "#77", "button:1": "abc123"},
            reference="r",
        )
    )
    assert json_of(mock.last)["template"]["components"] == [
        {"type": "header", "parameters": [{"type": "text", "text": "#77"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Maria"}]},
        {
            "type": "button",
            "sub_type": "url",
            "index": "1",
            "parameters": [{"type": "text", "text": "abc123"}],
        },
    ]

    image_header = template("Hi {{1}}", header={"format": "IMAGE"})
    run(
        meta(mock).send_template(
            "+15551234567",
            image_header,
            {"1": "Maria", "header:link": "https://x.test/a.jpg"},
            reference="r",
        )
    )
    assert json_of(mock.last)["template"]["components"][0] == {
        "type": "header",
        "parameters": [{"type": "image", "image": {"link": "https://x.test/a.jpg"}}],
    }


def test_template_without_language_is_refused_without_a_request() -> None:
    mock = Mock(httpx.Response(200, json=ACCEPTED))
    nameless = template("Hi")
    nameless.language = ""
    result = run(meta(mock).send_template("+15551234567", nameless, {}, reference="r"))

    assert result.error is not None and result.error.code == "132001"
    assert mock.requests == []


def test_kapso_sends_the_api_key_to_its_base_url() -> None:
    mock = Mock(httpx.Response(200, json=ACCEPTED))
    result = run(kapso(mock).send_text("+16505551234", "Hello", reference="r"))

    assert result.accepted
    request = mock.last
    assert str(request.url) == f"https://api.kapso.ai/meta/whatsapp/v23.0/{PNID}/messages"
    assert request.headers["x-api-key"] == "kapso-key"
    assert "authorization" not in request.headers


def test_kapso_with_an_access_token_only_uses_bearer() -> None:
    mock = Mock(httpx.Response(200, json=ACCEPTED))
    run(kapso(mock, api_key="", access_token="EAAG").send_text("+1650", "Hi", reference="r"))
    assert mock.last.headers["authorization"] == "Bearer EAAG"


def test_graph_version_is_configurable() -> None:
    mock = Mock(httpx.Response(200, json=ACCEPTED))
    run(meta(mock, graph_version="24.0").send_text("+1650", "Hi", reference="r"))
    assert mock.last.url.path == f"/v24.0/{PNID}/messages"


def test_send_body_and_headers_are_those_of_httpx_json() -> None:
    mock = Mock(httpx.Response(200, json=ACCEPTED))
    run(meta(mock).send_text("+16505551234", "Olá 👋 — “quoted”", reference="r-1"))
    request = mock.last
    expected = httpx.Request("POST", request.url, json=json_of(request))
    assert request.content == expected.content
    assert request.headers["content-type"] == "application/json"
    assert request.headers["content-length"] == str(len(expected.content))
    assert json_of(request)["text"]["body"] == "Olá 👋 — “quoted”"


def test_every_send_carries_its_own_variables() -> None:
    mock = Mock(httpx.Response(200, json=ACCEPTED))
    provider = meta(mock)
    sent = []
    for body, variables in [
        ("Hi {{1}}, order {{2}} ships", {"1": "Ana", "2": "#1"}),
        ("Hi {{1}}, order {{2}} ships", {"1": "Bo", "2": "#2"}),
        ("Code {{1}}", {"1": "X"}),
        ("Broken {{1}} and {{name}}", {"2": "b", "1": "a"}),  # unparsable: keys in order
        ("Broken {{1}} and {{name}}", {"1": "c"}),
    ]:
        run(provider.send_template("+1650", template(body), variables, reference="r"))
        components = json_of(mock.last)["template"]["components"]
        sent.append([p["text"] for p in components[0]["parameters"]])
    assert sent == [["Ana", "#1"], ["Bo", "#2"], ["X"], ["a", "b"], ["c"]]


def test_a_base_url_httpx_cannot_parse_fails_the_send_not_the_account() -> None:
    mock = Mock(httpx.Response(200, json=ACCEPTED))
    provider = meta(mock, base_url="http://[::1")
    result = run(provider.send_text("+1650", "Hi", reference="r"))
    assert result.error is not None
    assert (result.error.code, result.error.may_have_reached) == ("connection_failed", False)
    assert mock.requests == []


# --- errors ---------------------------------------------------------------------------------


def graph_error(status: int, code: int, details: str = "details", **headers: str) -> httpx.Response:
    body = {
        "error": {
            "message": f"(#{code}) something",
            "type": "OAuthException",
            "code": code,
            "error_subcode": 2494055,
            "error_data": {"messaging_product": "whatsapp", "details": details},
            "is_transient": False,
            "error_user_title": "t",
            "error_user_msg": "m",
            "fbtrace_id": "Afb",
        }
    }
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize(
    ("response", "code", "title"),
    [
        (graph_error(401, 190), "190", "Access token expired"),
        (graph_error(400, 368), "368", "Blocked for a policy breach"),
        (graph_error(400, 132015), "132015", "Template paused"),
        (graph_error(400, 132001), "132001", "Template not found or not approved"),
        (graph_error(400, 131030), "131030", "Number not on the test list"),
        (graph_error(400, 100), "100", "Wrong setting or value"),
        (graph_error(403, 200), "200", "Permission missing"),
        (graph_error(400, 131056), "131056", "Too many messages to this person"),
        (graph_error(500, 131000), "131000", "Unexplained error at Meta"),
        (
            httpx.Response(502, text="<html>Bad gateway</html>"),
            "http_502",
            "Trouble at the WhatsApp service",
        ),
        (httpx.Response(401, json={"message": "Invalid API key"}), "http_401", "Login refused"),
    ],
)
def test_refusals_map_to_the_catalogue(response: httpx.Response, code: str, title: str) -> None:
    result = run(meta(Mock(response)).send_text("+1650", "Hi", reference="r"))

    assert result.error is not None
    assert (result.error.code, result.error.title) == (code, title)
    assert result.error.may_have_reached is False


def test_error_detail_comes_from_error_data_details() -> None:
    result = run(
        meta(Mock(graph_error(400, 131009, "Parameter value is not valid"))).send_text(
            "+1650", "Hi", reference="r"
        )
    )
    assert result.error is not None and result.error.detail == "Parameter value is not valid"


def test_unknown_graph_code_uses_the_http_status() -> None:
    result = run(meta(Mock(graph_error(400, 131999))).send_text("+1650", "Hi", reference="r"))
    assert result.error is not None
    assert result.error.code == "http_400" and "131999" in result.error.detail


def test_throughput_limit_with_retry_after_from_kapso() -> None:
    response = graph_error(429, 130429, **{"Retry-After": "3"})
    result = run(kapso(Mock(response)).send_text("+1650", "Hi", reference="r"))

    assert result.error is not None
    assert (result.error.code, result.error.retry_after_seconds) == ("130429", 3.0)


@pytest.mark.parametrize(
    ("reset", "wait"),
    [
        ("42", 42.0),
        (str(int(NOW.timestamp()) + 17), 17.0),
        (str(int(NOW.timestamp() * 1000) + 5000), 5.0),
    ],
    ids=["seconds-until", "unix-seconds", "unix-ms"],
)
def test_kapso_rate_limit_reset_in_either_form(reset: str, wait: float) -> None:
    response = httpx.Response(
        429,
        json={"error": "Rate limit exceeded"},
        headers={
            "X-RateLimit-Limit": "100",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": reset,
        },
    )
    result = run(kapso(Mock(response)).send_text("+1650", "Hi", reference="r"))

    assert result.error is not None
    assert result.error.code == "http_429"
    assert result.error.retry_after_seconds == pytest.approx(wait)


def test_business_use_case_usage_gives_the_wait() -> None:
    usage = {
        WABA: [
            {
                "type": "whatsapp",
                "call_count": 100,
                "total_cputime": 1,
                "total_time": 1,
                "estimated_time_to_regain_access": 5,
            }
        ]
    }
    response = graph_error(429, 80007, **{"x-business-use-case-usage": json.dumps(usage)})
    result = run(meta(Mock(response)).send_text("+1650", "Hi", reference="r"))

    assert result.error is not None
    assert (result.error.code, result.error.retry_after_seconds) == ("80007", 300.0)


def test_rate_limit_reset_is_ignored_on_other_errors() -> None:
    response = graph_error(400, 131009, **{"X-RateLimit-Reset": "60", "X-RateLimit-Remaining": "7"})
    result = run(kapso(Mock(response)).send_text("+1650", "Hi", reference="r"))
    assert result.error is not None and result.error.retry_after_seconds is None


@pytest.mark.parametrize(
    "body",
    [b"", b"<html/>", b'{"messaging_product":"whatsapp","messages":[]}', b'{"messages":[{}]}'],
)
def test_success_without_a_message_id_is_an_unknown_outcome(body: bytes) -> None:
    result = run(meta(Mock(httpx.Response(200, content=body))).send_text("+1", "Hi", reference="r"))

    assert result.error is not None
    assert (result.error.code, result.error.may_have_reached) == ("bad_response", True)


def test_no_polling_on_the_cloud_api() -> None:
    mock = Mock(httpx.Response(200, json={}))
    provider = meta(mock)

    assert provider.supports_polling is False
    assert run(provider.fetch_status("wamid.x")) is None
    assert mock.requests == []


# --- templates -------------------------------------------------------------------------------

TEMPLATE_PAGE_ONE = {
    "data": [
        {
            "id": "1234567890",
            "name": "order_update",
            "language": "en_US",
            "status": "APPROVED",
            "category": "UTILITY",
            "parameter_format": "POSITIONAL",
            "quality_score": {"score": "GREEN", "date": 1700000000},
            "components": [
                {
                    "type": "HEADER",
                    "format": "IMAGE",
                    "example": {"header_handle": ["https://scontent.test/x"]},
                },
                {
                    "type": "BODY",
                    "text": "Hi {{1}}, use {{2}}",
                    "example": {"body_text": [["Mark", "FALL25"]]},
                },
                {"type": "FOOTER", "text": "Reply STOP to opt out"},
                {
                    "type": "BUTTONS",
                    "buttons": [
                        {"type": "QUICK_REPLY", "text": "Stop"},
                        {"type": "URL", "text": "Shop", "url": "https://shop.test/{{1}}"},
                    ],
                },
            ],
        },
    ],
    "paging": {
        "cursors": {"before": "QVFIUb", "after": "QVFIUa"},
        "next": f"https://graph.facebook.com/v23.0/{WABA}/message_templates?fields=id%2Cname&limit=1&after=QVFIUa",
    },
}
TEMPLATE_PAGE_TWO = {
    "data": [
        {
            "id": "987",
            "name": "welcome_named",
            "language": "es",
            "status": "PAUSED",
            "category": "MARKETING",
            "parameter_format": "NAMED",
            "previous_category": "UTILITY",
            "components": [
                {
                    "type": "BODY",
                    "text": "Hola {{first_name}}",
                    "example": {
                        "body_text_named_params": [{"param_name": "first_name", "example": "Ana"}]
                    },
                },
            ],
        },
        {
            "id": "988",
            "name": "hello_world",
            "language": "en_US",
            "status": "PENDING",
            "category": "UTILITY",
            "components": [{"type": "BODY", "text": "Hello World"}],
        },
    ],
    "paging": {"cursors": {"before": "b", "after": "c"}},
}


def test_list_templates_follows_paging_on_our_base_url() -> None:
    mock = Mock(
        httpx.Response(200, json=TEMPLATE_PAGE_ONE), httpx.Response(200, json=TEMPLATE_PAGE_TWO)
    )
    templates = run(kapso(mock, base_url="http://127.0.0.1:9999/kapso").list_templates())

    assert [t.name for t in templates] == ["order_update", "welcome_named", "hello_world"]
    first, second, third = templates
    assert first.provider_ref == "1234567890"
    assert (first.status, first.category, first.language, first.quality) == (
        "APPROVED",
        "UTILITY",
        "en_US",
        "GREEN",
    )
    assert first.header == {
        "format": "IMAGE",
        "example": {"header_handle": ["https://scontent.test/x"]},
    }
    assert first.body == "Hi {{1}}, use {{2}}"
    assert first.footer == "Reply STOP to opt out"
    assert [b["type"] for b in first.buttons] == ["QUICK_REPLY", "URL"]
    assert first.kind is TemplateKind.APPROVED and first.synced_at == NOW
    assert second.placeholder_format is PlaceholderFormat.NAMED
    assert (second.status, second.quality) == ("PAUSED", "")
    assert third.placeholder_format is PlaceholderFormat.POSITIONAL

    one, two = mock.requests
    assert str(one.url).startswith(f"http://127.0.0.1:9999/kapso/v23.0/{WABA}/message_templates?")
    assert one.url.params["limit"] == "100"
    assert "parameter_format" in one.url.params["fields"]
    assert two.url.host == "127.0.0.1"  # never graph.facebook.com with Kapso's key
    assert two.url.params["after"] == "QVFIUa"
    assert two.headers["x-api-key"] == "kapso-key"


def test_list_templates_errors_raise_mapped() -> None:
    with pytest.raises(ProviderRequestError) as caught:
        run(meta(Mock(graph_error(401, 190))).list_templates())
    assert caught.value.error.code == "190"
    assert "token" in caught.value.what_to_do.lower()


# --- health ------------------------------------------------------------------------------------


def test_health_reports_quality_and_limits() -> None:
    body = {
        "id": PNID,
        "display_phone_number": "+1 555-078-3881",
        "verified_name": "My Shop",
        "quality_rating": "GREEN",
        "status": "CONNECTED",
        "name_status": "APPROVED",
        "throughput": {"level": "STANDARD"},
        "messaging_limit_tier": "TIER_1K",
        "platform_type": "CLOUD_API",
        "account_mode": "LIVE",
    }
    mock = Mock(httpx.Response(200, json=body))
    report = run(meta(mock).check_health())

    assert report.ok
    assert "GREEN" in report.summary
    assert report.details["quality_rating"] == "GREEN"
    assert report.details["messaging_limit"] == "TIER_1K"
    assert report.details["throughput"] == "STANDARD"
    assert mock.last.url.path == f"/v23.0/{PNID}"
    assert mock.last.url.params["fields"] == HEALTH_FIELDS


def test_health_is_tolerant_of_missing_fields() -> None:
    report = run(meta(Mock(httpx.Response(200, json={"id": PNID}))).check_health())
    assert report.ok and report.details == {}


def test_health_warns_on_red_quality_and_fails_when_not_connected() -> None:
    red = run(
        meta(
            Mock(httpx.Response(200, json={"quality_rating": "RED", "status": "CONNECTED"}))
        ).check_health()
    )
    assert red.ok and "RED" in red.summary

    for status in ("PENDING", "DISCONNECTED", "RESTRICTED"):
        report = run(meta(Mock(httpx.Response(200, json={"status": status}))).check_health())
        assert not report.ok and report.details["status"] == status


def test_health_retries_with_default_fields_when_a_field_is_refused() -> None:
    mock = Mock(
        graph_error(400, 100, "Tried accessing nonexisting field (messaging_limit_tier)"),
        httpx.Response(200, json={"id": PNID, "quality_rating": "YELLOW"}),
    )
    report = run(meta(mock).check_health())

    assert report.ok and report.details["quality_rating"] == "YELLOW"
    assert "fields" not in mock.requests[1].url.params


def test_health_with_an_expired_token_or_no_connection() -> None:
    expired = run(meta(Mock(graph_error(401, 190))).check_health())
    assert not expired.ok and expired.details["error_code"] == "190"

    offline = run(meta(Mock(httpx.ConnectTimeout("slow"))).check_health())
    assert not offline.ok and offline.details["error_code"] == "timeout_before_send"


# --- webhook verification (providers.md §2.7, §4) ---------------------------------------------

VECTOR_BODY = b'{"object":"whatsapp_business_account","entry":[]}'
VECTOR_SIGNATURE = "sha256=dec6a680679a968e7e0319355b23599cbfc54502c0784668e9618baa0c633756"


def posted(body: bytes, **headers: str) -> WebhookRequest:
    return WebhookRequest("POST", "https://hooks.example.net/meta/1", headers, body)


def test_signature_test_vector_verifies() -> None:
    provider = meta(Mock(httpx.Response(200)))
    assert provider.verify_webhook(posted(VECTOR_BODY, **{"X-Hub-Signature-256": VECTOR_SIGNATURE}))
    assert provider.verify_webhook(posted(VECTOR_BODY, **{"x-hub-signature-256": VECTOR_SIGNATURE}))


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (VECTOR_BODY, {}),
        (VECTOR_BODY, {"X-Hub-Signature-256": ""}),
        (VECTOR_BODY, {"X-Hub-Signature-256": VECTOR_SIGNATURE.removeprefix("sha256=")}),
        (VECTOR_BODY, {"X-Hub-Signature-256": VECTOR_SIGNATURE.replace("dec6", "dec7")}),
        (VECTOR_BODY + b" ", {"X-Hub-Signature-256": VECTOR_SIGNATURE}),
        (json.dumps(json.loads(VECTOR_BODY)).encode(), {"X-Hub-Signature-256": VECTOR_SIGNATURE}),
    ],
    ids=["unsigned", "empty", "no-prefix", "forged", "tampered", "re-serialised"],
)
def test_forged_or_unsigned_requests_are_refused(body: bytes, headers: dict[str, str]) -> None:
    assert not meta(Mock(httpx.Response(200))).verify_webhook(posted(body, **headers))


def test_no_app_secret_refuses_everything() -> None:
    provider = meta(Mock(httpx.Response(200)), app_secret="")
    assert not provider.verify_webhook(
        posted(VECTOR_BODY, **{"X-Hub-Signature-256": VECTOR_SIGNATURE})
    )


def test_kapso_native_signature_and_forwarded_meta_signature() -> None:
    import hashlib
    import hmac

    body = b'{"message":{"id":"wamid.1"}}'
    good = hmac.new(b"kapso-hook-secret", body, hashlib.sha256).hexdigest()
    provider = kapso(Mock(httpx.Response(200)), app_secret="test_app_secret")

    assert provider.verify_webhook(posted(body, **{"X-Webhook-Signature": good}))
    assert not provider.verify_webhook(posted(body, **{"X-Webhook-Signature": good[:-1] + "0"}))
    # A Kapso signature that fails is not rescued by a (valid) Meta one.
    assert not provider.verify_webhook(
        posted(
            VECTOR_BODY, **{"X-Webhook-Signature": "00", "X-Hub-Signature-256": VECTOR_SIGNATURE}
        )
    )
    # Forwarded raw Meta webhooks carry Meta's header only.
    assert provider.verify_webhook(posted(VECTOR_BODY, **{"X-Hub-Signature-256": VECTOR_SIGNATURE}))
    assert not kapso(Mock(httpx.Response(200)), webhook_secret="").verify_webhook(
        posted(body, **{"X-Webhook-Signature": good})
    )


def test_meta_ignores_a_kapso_header() -> None:
    provider = meta(Mock(httpx.Response(200)))
    assert not provider.verify_webhook(posted(VECTOR_BODY, **{"X-Webhook-Signature": "anything"}))


@pytest.mark.parametrize(
    ("query", "answer"),
    [
        (
            {
                "hub.mode": "subscribe",
                "hub.verify_token": "my verify phrase",
                "hub.challenge": "1158201444",
            },
            "1158201444",
        ),
        ({"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"}, None),
        (
            {
                "hub.mode": "unsubscribe",
                "hub.verify_token": "my verify phrase",
                "hub.challenge": "1",
            },
            None,
        ),
        ({"hub.verify_token": "my verify phrase", "hub.challenge": "1"}, None),
        ({"hub.mode": "subscribe", "hub.verify_token": "my verify phrase"}, None),
    ],
    ids=["match", "wrong-token", "wrong-mode", "no-mode", "no-challenge"],
)
def test_subscription_handshake(query: dict[str, str], answer: str | None) -> None:
    assert meta(Mock(httpx.Response(200))).verify_subscription(query) == answer


def test_handshake_refused_without_a_configured_token() -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}
    assert meta(Mock(httpx.Response(200)), verify_token="").verify_subscription(query) is None
