"""Building a provider for an account: its kind, settings and secrets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from waapp.core.entities import AccountKind
from waapp.core.errors import ValidationError
from waapp.core.ports import Provider
from waapp.providers.fields import (
    DEFAULT_GRAPH_VERSION,
    KAPSO_BASE_URL,
    META_BASE_URL,
    TWILIO_BASE_URL,
    TWILIO_CONTENT_BASE_URL,
    WASENDER_BASE_URL,
    missing_fields,
    setting,
)
from waapp.providers.meta import MetaProvider
from waapp.providers.twilio import TwilioProvider
from waapp.providers.wasender import WaSenderProvider

__all__ = ["make_provider"]


def make_provider(
    kind: AccountKind,
    settings: Mapping[str, Any],
    secrets: Mapping[str, str],
    *,
    client: httpx.AsyncClient,
) -> Provider:
    """The provider for one account, sharing ``client`` (see ``transport.make_client``).

    Raises :class:`~waapp.core.errors.ValidationError` naming every missing field. A
    Sandbox account speaks the dialect in ``settings["dialect"]`` (``meta``, ``twilio``
    or ``wasender``) at ``settings["base_url"]``; its ``kind`` stays ``SANDBOX`` and its
    ``dialect`` attribute names the catalogue dialect to look its errors up in.
    """
    kind = AccountKind(kind)
    missing = missing_fields(kind, settings, secrets)
    if missing:
        raise ValidationError(
            f"The {kind.value} account is missing " + ", ".join(missing) + ".",
            what_to_do="Fill in the missing fields in the account settings.",
        )
    if kind is AccountKind.SANDBOX:
        dialect = setting(settings, "dialect", "meta").lower()
        base_url = setting(settings, "base_url")
        if dialect == "twilio":
            return _twilio(
                kind,
                settings,
                secrets,
                client=client,
                base_url=base_url,
                content_base_url=f"{base_url.rstrip('/')}/v1",
            )
        if dialect == "wasender":
            return _wasender(kind, settings, secrets, client=client, base_url=base_url)
        return _meta(kind, settings, secrets, client=client, base_url=base_url)
    if kind is AccountKind.TWILIO:
        return _twilio(
            kind,
            settings,
            secrets,
            client=client,
            base_url=TWILIO_BASE_URL,
            content_base_url=TWILIO_CONTENT_BASE_URL,
        )
    if kind is AccountKind.WASENDER:
        return _wasender(kind, settings, secrets, client=client, base_url=WASENDER_BASE_URL)
    default = KAPSO_BASE_URL if kind is AccountKind.KAPSO else META_BASE_URL
    return _meta(kind, settings, secrets, client=client, base_url=default)


def _twilio(
    kind: AccountKind,
    settings: Mapping[str, Any],
    secrets: Mapping[str, str],
    *,
    client: httpx.AsyncClient,
    base_url: str,
    content_base_url: str,
) -> TwilioProvider:
    return TwilioProvider(
        client=client,
        account_sid=setting(settings, "account_sid"),
        auth_token=setting(secrets, "auth_token"),
        sender=setting(settings, "sender"),
        messaging_service_sid=setting(settings, "messaging_service_sid"),
        status_callback=setting(settings, "status_callback"),
        base_url=setting(settings, "base_url", base_url),
        content_base_url=setting(settings, "content_base_url", content_base_url),
        kind=kind,
    )


def _meta(
    kind: AccountKind,
    settings: Mapping[str, Any],
    secrets: Mapping[str, str],
    *,
    client: httpx.AsyncClient,
    base_url: str,
) -> MetaProvider:
    return MetaProvider(
        client=client,
        phone_number_id=setting(settings, "phone_number_id"),
        waba_id=setting(settings, "waba_id"),
        access_token=setting(secrets, "access_token"),
        api_key=setting(secrets, "api_key") if kind is AccountKind.KAPSO else "",
        app_secret=setting(secrets, "app_secret"),
        verify_token=setting(secrets, "verify_token"),
        webhook_secret=setting(secrets, "webhook_secret"),
        graph_version=setting(settings, "graph_version", DEFAULT_GRAPH_VERSION),
        base_url=setting(settings, "base_url", base_url),
        kind=kind,
    )


def _wasender(
    kind: AccountKind,
    settings: Mapping[str, Any],
    secrets: Mapping[str, str],
    *,
    client: httpx.AsyncClient,
    base_url: str,
) -> WaSenderProvider:
    return WaSenderProvider(
        client=client,
        api_key=setting(secrets, "api_key"),
        webhook_secret=setting(secrets, "webhook_secret"),
        base_url=setting(settings, "base_url", base_url),
        kind=kind,
    )
