"""make_provider and the field specs the Accounts screen shows."""

from __future__ import annotations

import inspect

import httpx
import pytest

from tests.providers.conftest import Mock, run
from waapp.core.catalogue import Dialect
from waapp.core.entities import AccountKind
from waapp.core.errors import ValidationError
from waapp.core.ports import Provider
from waapp.providers import (
    SECRET_FIELDS,
    SETTINGS_FIELDS,
    MetaProvider,
    TwilioProvider,
    WaSenderProvider,
    make_provider,
    missing_fields,
)

ACCEPTED_META = {"messages": [{"id": "wamid.1"}], "contacts": [{"wa_id": "1"}]}


def names(fields: object) -> list[str]:
    return [f.name for f in fields]  # type: ignore[attr-defined]


def test_every_kind_has_field_specs() -> None:
    assert set(SETTINGS_FIELDS) == set(AccountKind) == set(SECRET_FIELDS)
    for kind in AccountKind:
        for spec in (*SETTINGS_FIELDS[kind], *SECRET_FIELDS[kind]):
            assert spec.name and spec.label and spec.help


def test_field_specs_per_kind() -> None:
    assert names(SETTINGS_FIELDS[AccountKind.TWILIO]) == [
        "account_sid",
        "sender",
        "messaging_service_sid",
        "status_callback",
        "base_url",
        "content_base_url",
    ]
    assert names(SECRET_FIELDS[AccountKind.TWILIO]) == ["auth_token"]
    assert names(SETTINGS_FIELDS[AccountKind.META]) == [
        "phone_number_id",
        "waba_id",
        "graph_version",
        "base_url",
    ]
    assert names(SECRET_FIELDS[AccountKind.META]) == ["access_token", "app_secret", "verify_token"]
    kapso = {f.name: f for f in SETTINGS_FIELDS[AccountKind.KAPSO]}
    assert kapso["base_url"].default == "https://api.kapso.ai/meta/whatsapp"
    assert kapso["graph_version"].default == "v23.0"
    assert "api_key" in names(SECRET_FIELDS[AccountKind.KAPSO])
    wasender = {f.name: f for f in SETTINGS_FIELDS[AccountKind.WASENDER]}
    assert wasender["base_url"].default == "https://www.wasenderapi.com"
    assert names(SECRET_FIELDS[AccountKind.WASENDER]) == ["api_key", "webhook_secret"]


def test_missing_fields_including_one_of_rules() -> None:
    assert missing_fields(AccountKind.TWILIO, {"account_sid": "AC1"}, {"auth_token": "t"}) == [
        "a WhatsApp sender number or a Messaging Service SID"
    ]
    assert missing_fields(AccountKind.KAPSO, {"phone_number_id": "1", "waba_id": "2"}, {}) == [
        "a Kapso API key or an access token"
    ]
    assert missing_fields(AccountKind.META, {"phone_number_id": " "}, {}) == [
        "the Phone number ID",
        "the WhatsApp Business Account ID",
        "the Access token",
        "the App secret",
        "the Webhook verify token",
    ]
    assert missing_fields(AccountKind.SANDBOX, {"dialect": "telegram"}, {}) == [
        "the Imitates (one of meta, twilio, wasender)",
        "the Sandbox address",
    ]


def test_make_provider_refuses_incomplete_accounts() -> None:
    with pytest.raises(ValidationError) as caught:
        make_provider(AccountKind.WASENDER, {}, {}, client=Mock(httpx.Response(200)).client)
    assert "Session API key" in str(caught.value)


def test_make_provider_builds_each_kind() -> None:
    client = Mock(httpx.Response(200)).client
    twilio = make_provider(
        AccountKind.TWILIO,
        {"account_sid": "AC1", "sender": "+14155238886"},
        {"auth_token": "t"},
        client=client,
    )
    meta = make_provider(
        AccountKind.META,
        {"phone_number_id": "1", "waba_id": "2"},
        {"access_token": "a", "app_secret": "s", "verify_token": "v"},
        client=client,
    )
    kapso = make_provider(
        AccountKind.KAPSO, {"phone_number_id": "1", "waba_id": "2"}, {"api_key": "k"}, client=client
    )
    wasender = make_provider(AccountKind.WASENDER, {}, {"api_key": "k"}, client=client)

    assert isinstance(twilio, TwilioProvider) and twilio.kind is AccountKind.TWILIO
    assert isinstance(meta, MetaProvider) and meta.kind is AccountKind.META
    assert isinstance(kapso, MetaProvider) and kapso.kind is AccountKind.KAPSO
    assert isinstance(wasender, WaSenderProvider) and wasender.kind is AccountKind.WASENDER
    assert [p.dialect for p in (twilio, meta, kapso, wasender)] == [
        Dialect.TWILIO,
        Dialect.META,
        Dialect.META,
        Dialect.WASENDER,
    ]
    assert [p.supports_polling for p in (twilio, meta, kapso, wasender)] == [
        True,
        False,
        False,
        True,
    ]


def test_default_base_urls_are_the_providers() -> None:
    mock = Mock(httpx.Response(200, json=ACCEPTED_META))
    for kind, secrets in (
        (AccountKind.META, {"access_token": "a", "app_secret": "s", "verify_token": "v"}),
        (AccountKind.KAPSO, {"api_key": "k"}),
    ):
        provider = make_provider(
            kind, {"phone_number_id": "PN", "waba_id": "W"}, secrets, client=mock.client
        )
        run(provider.send_text("+1555", "hi", reference="r"))
    assert [str(r.url) for r in mock.requests] == [
        "https://graph.facebook.com/v23.0/PN/messages",
        "https://api.kapso.ai/meta/whatsapp/v23.0/PN/messages",
    ]


@pytest.mark.parametrize(
    ("dialect", "settings", "secrets", "cls", "url"),
    [
        (
            "meta",
            {"phone_number_id": "PN", "waba_id": "W"},
            {"access_token": "t"},
            MetaProvider,
            "http://127.0.0.1:8765/v23.0/PN/messages",
        ),
        (
            "twilio",
            {"account_sid": "AC1", "sender": "+14155238886"},
            {"auth_token": "t"},
            TwilioProvider,
            "http://127.0.0.1:8765/2010-04-01/Accounts/AC1/Messages.json",
        ),
        (
            "wasender",
            {},
            {"api_key": "k"},
            WaSenderProvider,
            "http://127.0.0.1:8765/api/send-message",
        ),
    ],
)
def test_sandbox_speaks_its_dialect_at_its_address(
    dialect: str, settings: dict[str, str], secrets: dict[str, str], cls: type, url: str
) -> None:
    mock = Mock(httpx.Response(500))
    provider = make_provider(
        AccountKind.SANDBOX,
        {"dialect": dialect, "base_url": "http://127.0.0.1:8765/", **settings},
        secrets,
        client=mock.client,
    )
    assert isinstance(provider, cls) and provider.kind is AccountKind.SANDBOX
    run(provider.send_text("+15552229999", "hi", reference="r"))
    assert str(mock.last.url) == url


def test_sandbox_twilio_lists_templates_on_its_own_address() -> None:
    mock = Mock(httpx.Response(200, json={"contents": [], "meta": {}}))
    provider = make_provider(
        AccountKind.SANDBOX,
        {
            "dialect": "twilio",
            "base_url": "http://127.0.0.1:8765",
            "account_sid": "AC1",
            "sender": "+1415",
        },
        {"auth_token": "t"},
        client=mock.client,
    )
    assert run(provider.list_templates()) == []
    assert mock.last.url.path == "/v1/ContentAndApprovals"


def test_sandbox_requires_the_dialects_own_ids() -> None:
    with pytest.raises(ValidationError):
        make_provider(
            AccountKind.SANDBOX,
            {"dialect": "twilio", "base_url": "http://x"},
            {},
            client=Mock(httpx.Response(200)).client,
        )


@pytest.mark.parametrize("cls", [TwilioProvider, MetaProvider, WaSenderProvider])
def test_classes_implement_the_port(cls: type) -> None:
    for name, member in inspect.getmembers(Provider, predicate=inspect.isfunction):
        if name.startswith("_"):
            continue
        implementation = getattr(cls, name)
        assert inspect.iscoroutinefunction(implementation) == inspect.iscoroutinefunction(member), (
            name
        )
        assert list(inspect.signature(implementation).parameters) == list(
            inspect.signature(member).parameters
        ), name
    assert isinstance(getattr(cls, "supports_polling", None), bool)
