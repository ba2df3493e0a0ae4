"""Each provider module, built as the app builds it (``make_provider`` over the production
HTTP client), against a real in-process Sandbox over loopback; and the 24 h rule arriving
as a failed status through the real webhook receiver, signature checks and store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import FAST, NEVER_WROTE, WROTE, account_settings, eventually
from waapp.app import Services, open_services
from waapp.core.entities import AccountKind, PlaceholderFormat, Template, TemplateKind
from waapp.core.ports import Provider
from waapp.core.states import DeliveryStatus
from waapp.paths import DataPaths
from waapp.providers import make_client, make_provider
from waapp.sandbox import Sandbox
from waapp.sandbox import settings as sb
from waapp.sandbox.settings import DEFAULT_KAPSO_API_KEY

SECRETS: dict[AccountKind, dict[str, str]] = {
    AccountKind.TWILIO: {"auth_token": sb.DEFAULT_TWILIO_AUTH_TOKEN},
    AccountKind.META: {
        "access_token": sb.DEFAULT_META_ACCESS_TOKEN,
        "app_secret": sb.DEFAULT_META_APP_SECRET,
        "verify_token": sb.DEFAULT_META_VERIFY_TOKEN,
    },
    # Kapso through its base URL with a Bearer access token: the Sandbox does not accept
    # Kapso's X-API-Key (see test_kapso_api_key_is_accepted_by_the_sandbox below).
    AccountKind.KAPSO: {
        "access_token": sb.DEFAULT_META_ACCESS_TOKEN,
        "app_secret": sb.DEFAULT_META_APP_SECRET,
    },
    AccountKind.WASENDER: {
        "api_key": sb.DEFAULT_WASENDER_API_KEY,
        "webhook_secret": sb.DEFAULT_WASENDER_WEBHOOK_SECRET,
    },
}
KINDS = [AccountKind.TWILIO, AccountKind.META, AccountKind.KAPSO, AccountKind.WASENDER]

Body = Callable[[Provider, Sandbox], Awaitable[None]]


@asynccontextmanager
async def served(
    kind: AccountKind, secrets: dict[str, str] | None = None
) -> AsyncIterator[tuple[Provider, Sandbox]]:
    async with Sandbox({"scenario": FAST}) as sandbox:
        client = make_client()
        try:
            provider = make_provider(
                kind,
                account_settings(kind, sandbox.url),
                SECRETS[kind] if secrets is None else secrets,
                client=client,
            )
            yield provider, sandbox
        finally:
            await client.aclose()


def run(coro: Awaitable[Any]) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, 20)

    return asyncio.run(bounded())


def local_template(name: str, body: str, fmt: PlaceholderFormat) -> Template:
    return Template(
        account_id=None,
        kind=TemplateKind.APPROVED,
        name=name,
        body=body,
        language="en_US",
        placeholder_format=fmt,
    )


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.value)
def test_health_send_text_and_templates(kind: AccountKind) -> None:
    async def body() -> None:
        async with served(kind) as (provider, sandbox):
            health = await provider.check_health()
            assert health.ok, health.summary

            text = await provider.send_text(WROTE, "Hello from waapp", reference="m-1")
            assert text.accepted, text.error

            if kind is AccountKind.WASENDER:
                assert await provider.list_templates() == []  # no templates: rendered here
                positional = local_template(
                    "order_update", "Hi {{1}}, your order {{2}} is on its way.",
                    PlaceholderFormat.POSITIONAL,
                )  # fmt: skip
                named = local_template(
                    "welcome_named",
                    "Welcome {{first_name}}! Use code {{code}} for 10% off your first order.",
                    PlaceholderFormat.NAMED,
                )
            else:
                templates = {t.name: t for t in await provider.list_templates()}
                assert {"hello_world", "order_update", "welcome_named", "spring_sale"} <= set(
                    templates
                )
                hello = templates["hello_world"]
                assert (hello.status, hello.category) == ("APPROVED", "UTILITY")
                assert hello.language.startswith("en")  # Twilio says "en", Meta "en_US"
                assert templates["spring_sale"].status in ("PENDING", "RECEIVED")
                positional, named = templates["order_update"], templates["welcome_named"]
                assert positional.placeholder_format is PlaceholderFormat.POSITIONAL
                assert named.placeholder_format is PlaceholderFormat.NAMED
                assert positional.provider_ref and named.provider_ref
                sent = await provider.send_template(NEVER_WROTE, hello, {}, reference="m-2")
                assert sent.accepted, sent.error

            first = await provider.send_template(
                NEVER_WROTE, positional, {"1": "Ana", "2": "A-17"}, reference="m-3"
            )
            second = await provider.send_template(
                NEVER_WROTE, named, {"first_name": "Ana", "code": "C1"}, reference="m-4"
            )
            assert first.accepted and second.accepted, (first.error, second.error)
            texts = [m["text"] for m in sandbox.messages()]
            assert "Hi Ana, your order A-17 is on its way." in texts
            assert "Welcome Ana! Use code C1 for 10% off your first order." in texts
            ids = {m["id"] for m in sandbox.messages()}
            assert {first.provider_message_id, second.provider_message_id} <= ids

    run(body())


@pytest.mark.parametrize("kind", [AccountKind.TWILIO, AccountKind.WASENDER], ids=lambda k: k.value)
def test_fetch_status_follows_the_message(kind: AccountKind) -> None:
    async def body() -> None:
        async with served(kind) as (provider, sandbox):
            assert provider.supports_polling
            sandbox.inbound(WROTE, "hi")  # the customer writes: the window opens
            result = await provider.send_text(WROTE, "Your order is ready", reference="m-1")
            assert result.provider_message_id is not None
            assert await sandbox.settle(5)
            update = await provider.fetch_status(result.provider_message_id)
            assert update is not None and update.status is DeliveryStatus.READ
            assert update.recipient == WROTE

            if kind is AccountKind.TWILIO:  # the 24 h rule, seen by polling
                late = await provider.send_text(NEVER_WROTE, "Are you there?", reference="m-2")
                assert late.provider_message_id is not None
                assert await sandbox.settle(5)
                failed = await provider.fetch_status(late.provider_message_id)
                assert failed is not None and failed.status is DeliveryStatus.FAILED
                assert failed.error is not None and failed.error.code == "63016"

    run(body())


def test_meta_has_no_status_polling() -> None:
    async def body() -> None:
        async with served(AccountKind.META) as (provider, _sandbox):
            assert not provider.supports_polling
            assert await provider.fetch_status("wamid.anything") is None

    run(body())


def test_kapso_api_key_is_accepted_by_the_sandbox() -> None:
    async def body() -> None:
        async with served(AccountKind.KAPSO, {"api_key": DEFAULT_KAPSO_API_KEY}) as (provider, _):
            health = await provider.check_health()
            assert health.ok, health.summary
        async with served(AccountKind.KAPSO, {"api_key": "someone-elses-key"}) as (provider, _):
            refused = await provider.check_health()
            assert not refused.ok

    run(body())


# --- the 24 h rule through the webhook receiver, into the store ---------------------------


async def open_networked(tmp_path: Path) -> Services:
    services = await open_services(DataPaths(tmp_path / "data"))
    await services.start_network()
    assert services.sandbox is not None
    services.sandbox.configure(scenario=FAST)
    return services


async def failed_events(services: Services, account_id: int) -> list[tuple[str, str | None]]:
    events = await services.worker.run(services.db.statuses.recent_events, 200)
    return [
        (e.provider_message_id, e.error_code)
        for e in events
        if e.account_id == account_id and e.status == "failed"
    ]


@pytest.mark.parametrize(
    ("kind", "code"),
    [(AccountKind.TWILIO, "63016"), (AccountKind.META, "131047"), (AccountKind.KAPSO, "131047")],
    ids=lambda v: v.value if isinstance(v, AccountKind) else v,
)
def test_24h_rule_arrives_as_a_failed_status_through_the_receiver(
    tmp_path: Path, kind: AccountKind, code: str
) -> None:
    async def body() -> None:
        services = await open_networked(tmp_path)
        try:
            sandbox = services.sandbox
            assert sandbox is not None
            account = await services.accounts.add(
                kind=kind,
                name=kind.value,
                settings=account_settings(kind, sandbox.url),
                secrets=SECRETS[kind],
            )
            assert account.id is not None
            hook = services.intake.url_for(account.id)
            if kind is AccountKind.TWILIO:
                sandbox.configure(twilio={"status_callback": hook})
            else:
                sandbox.configure(meta={"webhook_url": hook})

            provider = await services.accounts.provider(account.id)
            result = await provider.send_text(NEVER_WROTE, "Still interested?", reference="m-1")
            assert result.accepted, result.error  # accepted now, failed a moment later

            async def arrived() -> bool:
                return (result.provider_message_id, code) in await failed_events(
                    services, account.id or 0
                )

            await eventually(arrived, what=f"a failed {code} status in the store")
            stats = services.intake.receiver.stats()
            assert stats.accepted >= 1 and stats.forged == 0
        finally:
            await services.close()

    run(body())


def test_webhooks_signed_with_another_secret_change_nothing(tmp_path: Path) -> None:
    async def body() -> None:
        services = await open_networked(tmp_path)
        try:
            sandbox = services.sandbox
            assert sandbox is not None
            account = await services.accounts.add(
                kind=AccountKind.META,
                name="Meta",
                settings=account_settings(AccountKind.META, sandbox.url),
                secrets={**SECRETS[AccountKind.META], "app_secret": "not-the-app-secret"},
            )
            assert account.id is not None
            sandbox.configure(meta={"webhook_url": services.intake.url_for(account.id)})
            provider = await services.accounts.provider(account.id)
            result = await provider.send_text(NEVER_WROTE, "Hello?", reference="m-1")
            assert result.accepted

            async def refused() -> bool:
                return services.intake.receiver.stats().forged >= 1

            await eventually(refused, what="the forged webhook to be refused")
            await services.intake.writer.flushed()
            assert await failed_events(services, account.id) == []
            assert services.intake.receiver.stats().accepted == 0
        finally:
            await services.close()

    run(body())


def wasender_statuses(tmp_path: Path) -> tuple[str, list[tuple[str, str, str]]]:
    """Send one WaSender message with webhooks to the receiver: the send's message id and
    the (provider message id, status, recipient) of the events stored for the account."""

    async def body() -> tuple[str, list[tuple[str, str, str]]]:
        services = await open_networked(tmp_path)
        try:
            sandbox = services.sandbox
            assert sandbox is not None
            account = await services.accounts.add(
                kind=AccountKind.WASENDER,
                name="Phone",
                settings=account_settings(AccountKind.WASENDER, sandbox.url),
                secrets=SECRETS[AccountKind.WASENDER],
            )
            assert account.id is not None
            sandbox.configure(wasender={"webhook_url": services.intake.url_for(account.id)})
            provider = await services.accounts.provider(account.id)
            result = await provider.send_text(WROTE, "Hello", reference="m-1")
            assert result.accepted and result.provider_message_id is not None
            found: list[tuple[str, str, str]] = []

            async def read() -> bool:
                events = await services.worker.run(services.db.statuses.recent_events, 50)
                found[:] = [
                    (e.provider_message_id, e.status, e.raw)
                    for e in events
                    if e.account_id == account.id
                ]
                return any(status == "read" and WROTE in raw for _id, status, raw in found)

            await eventually(read, what="a read status from WaSender")
            assert services.intake.receiver.stats().forged == 0
            return result.provider_message_id, found
        finally:
            await services.close()

    result: tuple[str, list[tuple[str, str, str]]] = run(body())
    return result


def test_wasender_statuses_arrive_through_the_receiver(tmp_path: Path) -> None:
    _sent_id, events = wasender_statuses(tmp_path)
    assert [status for _id, status, _raw in events] == ["read", "delivered", "sent"]
