"""TemplateService on a real store with the in-process Sandbox: sync, local messages and
drafts, and the editor's preview."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from waapp.app import Services
from waapp.core.entities import (
    Account,
    AccountKind,
    Contact,
    PlaceholderFormat,
    TemplateKind,
)
from waapp.core.errors import DuplicateName, ValidationError, WaappError
from waapp.core.templates import VariableSource, parse_placeholders
from waapp.services.events import TemplatesChanged
from waapp.services.templates import (
    SAMPLE_CONTACT,
    freeform_mapping,
    limit_provider,
    placeholder_name,
    preview,
    summary_text,
)
from waapp.store.templates import SyncSummary

Body = Callable[[Services], Awaitable[Any]]


async def sandbox_account(services: Services) -> int:
    await services.start_network()
    (account,) = await services.accounts.list()
    assert account.id is not None
    return account.id


def test_sync_adds_the_sandbox_templates_and_a_second_sync_adds_nothing(
    run_services: Callable[[Body], Any],
) -> None:
    async def body(services: Services) -> Any:
        events: list[object] = []
        services.bus.subscribe(TemplatesChanged, events.append)
        account_id = await sandbox_account(services)
        first = await services.templates.sync(account_id)
        second = await services.templates.sync(account_id)
        return first, second, await services.templates.list(account_id), len(events)

    first, second, templates, events = run_services(body)
    assert first == SyncSummary(added=4)
    assert summary_text(second) == "0 added, 0 updated, 0 removed"
    assert second.unchanged == 4
    assert events == 2
    by_name = {t.name: t for t in templates}
    assert sorted(by_name) == ["hello_world", "order_update", "spring_sale", "welcome_named"]
    hello = by_name["hello_world"]
    assert (hello.status, hello.category, hello.quality, hello.language) == (
        "APPROVED",
        "UTILITY",
        "GREEN",
        "en_US",
    )
    assert hello.header == {"format": "TEXT", "text": "Hello World"}
    assert hello.footer == "WhatsApp Business Platform sample message"
    assert hello.synced_at is not None and hello.kind is TemplateKind.APPROVED
    assert by_name["order_update"].placeholder_format is PlaceholderFormat.POSITIONAL
    assert by_name["order_update"].body == "Hi {{1}}, your order {{2}} is on its way."
    welcome = by_name["welcome_named"]
    assert (welcome.placeholder_format, welcome.category) == (PlaceholderFormat.NAMED, "MARKETING")
    assert welcome.buttons == [{"type": "QUICK_REPLY", "text": "Stop promotions"}]
    pending = by_name["spring_sale"]
    assert (pending.status, pending.quality) == ("PENDING", "UNKNOWN")


def test_a_provider_refusal_propagates_with_what_to_do(
    run_services: Callable[[Body], Any],
) -> None:
    async def body(services: Services) -> Any:
        account_id = await sandbox_account(services)
        assert services.sandbox is not None
        services.sandbox.configure(meta={"access_token": "someone-else"})
        with pytest.raises(WaappError) as caught:
            await services.templates.sync(account_id)
        results = await services.templates.sync_all()
        return caught.value, results, await services.templates.list()

    error, results, stored = run_services(body)
    assert error.message and error.what_to_do
    assert [(r.account.name, r.summary, type(r.error)) for r in results] == [
        ("Sandbox", None, type(error))
    ]
    assert stored == []


def test_sync_all_and_a_gateway_without_templates(run_services: Callable[[Body], Any]) -> None:
    async def body(services: Services) -> Any:
        await sandbox_account(services)
        gateway = await services.accounts.add(
            kind=AccountKind.WASENDER, name="Shop phone", settings={}, secrets={"api_key": "k"}
        )
        assert gateway.id is not None
        results = await services.templates.sync_all()
        with pytest.raises(ValidationError, match="no approved templates"):
            await services.templates.sync(gateway.id)
        return results

    results = run_services(body)
    assert [(r.account.name, r.summary) for r in results] == [("Sandbox", SyncSummary(added=4))]


def test_save_freeform_adds_and_edits_a_local_message(run_services: Callable[[Body], Any]) -> None:
    async def body(services: Services) -> Any:
        service = services.templates
        saved = await service.save_freeform(
            template_id=None, name=" Order ready ", body="Hi {{first_name}}, it is ready."
        )
        assert saved.id is not None
        edited = await service.save_freeform(
            template_id=saved.id, name="Order ready", body="Hi {{1}}, order {{2}} is ready."
        )
        draft = await service.save_freeform(
            template_id=None,
            name="diwali_offer",
            body="Happy Diwali {{1}}!",
            kind=TemplateKind.APPROVED,
            language="en_US",
            category="marketing",
        )
        with pytest.raises(DuplicateName):
            await service.save_freeform(template_id=None, name="Order ready", body="Again")
        return saved, edited, draft, await service.list()

    saved, edited, draft, stored = run_services(body)
    assert (saved.name, saved.kind, saved.status, saved.account_id) == (
        "Order ready",
        TemplateKind.FREEFORM,
        "",
        None,
    )
    assert saved.placeholder_format is PlaceholderFormat.NAMED
    assert (edited.id, edited.placeholder_format) == (saved.id, PlaceholderFormat.POSITIONAL)
    assert (draft.status, draft.category, draft.language) == ("DRAFT", "MARKETING", "en_US")
    assert sorted(t.name for t in stored) == ["Order ready", "diwali_offer"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "  ", "body": "Hello"}, "Give the message a name"),
        ({"name": "x", "body": "Hi {{ name }}"}, "spaces inside the braces: write {{name}}"),
        ({"name": "x", "body": "Hi {{1}} and {{3}}"}, "missing: {{2}}"),
        ({"name": "x", "body": "Hi {{1}} {{name}}"}, "mixes numbered"),
        ({"name": "x", "body": "   "}, "The message is empty"),
        ({"name": "x", "body": "a" * 1601}, "Twilio accepts at most 1,600"),
        (
            {"name": "Diwali Offer", "body": "Hi", "kind": TemplateKind.APPROVED},
            "lowercase letters, digits and underscores",
        ),
        (
            {"name": "long", "body": "a" * 1025, "kind": TemplateKind.APPROVED},
            "at most 1,024",
        ),
    ],
)
def test_save_freeform_refuses_with_a_clear_reason(
    run_services: Callable[[Body], Any], kwargs: dict[str, Any], message: str
) -> None:
    async def body(services: Services) -> Any:
        with pytest.raises(ValidationError) as caught:
            await services.templates.save_freeform(template_id=None, **kwargs)
        return caught.value, await services.templates.list()

    error, stored = run_services(body)
    assert message in error.message
    assert error.what_to_do
    assert stored == []


def test_the_limit_follows_the_account(run_services: Callable[[Body], Any]) -> None:
    async def body(services: Services) -> Any:
        account_id = await sandbox_account(services)  # speaks Meta's dialect: 4,096
        saved = await services.templates.save_freeform(
            template_id=None, name="long", body="a" * 2000, account_id=account_id
        )
        with pytest.raises(ValidationError, match="WhatsApp accepts at most 4,096"):
            await services.templates.save_freeform(
                template_id=None, name="longer", body="a" * 4097, account_id=account_id
            )
        return (
            saved,
            await services.templates.limit_for(account_id),
            await services.templates.limit_for(None),
        )

    saved, account_limit, any_limit = run_services(body)
    assert (saved.account_id is not None, account_limit, any_limit) == (True, 4096, 1600)


def test_synced_templates_are_read_only_and_deletes_are_checked(
    run_services: Callable[[Body], Any],
) -> None:
    async def body(services: Services) -> Any:
        account_id = await sandbox_account(services)
        await services.templates.sync(account_id)
        hello = next(t for t in await services.templates.list() if t.name == "hello_world")
        assert hello.id is not None
        with pytest.raises(ValidationError, match="cannot be edited here"):
            await services.templates.save_freeform(
                template_id=hello.id, name="hello_world", body="Changed"
            )
        with pytest.raises(ValidationError, match="return with the next sync"):
            await services.templates.delete(hello.id)
        local = await services.templates.save_freeform(template_id=None, name="a", body="b")
        assert local.id is not None
        await services.templates.delete(local.id)
        return [t.name for t in await services.templates.list()]

    assert run_services(body) == ["hello_world", "order_update", "spring_sale", "welcome_named"]


# --- the preview (pure) ------------------------------------------------------------------

RAVI = Contact(phone_e164="+917033009600", name="Ravi Kumar", fields={"city": "Pune", "plan": ""})


def named(body: str, fields: tuple[str, ...] = ("city", "plan")) -> dict[str, VariableSource]:
    return freeform_mapping(parse_placeholders(body), fields)


def test_preview_renders_the_contact_values() -> None:
    body = "Hi {{first_name}}, see you in {{city}}. ({{phone}})"
    result = preview(body, named(body), RAVI)
    assert result.text == "Hi Ravi, see you in Pune. (+917033009600)"
    assert result.problems == ()


def test_preview_lists_missing_values_and_keeps_the_placeholder_visible() -> None:
    body = "Hi {{name}}, your plan {{plan}} and {{shoe_size}}."
    result = preview(body, named(body), RAVI, available_fields=("city", "plan"))
    assert result.text == "Hi Ravi Kumar, your plan {{plan}} and {{shoe_size}}."
    assert result.problems == (
        "{{shoe_size}} uses the field “shoe_size”, which contacts lack",
        "{{plan}} is empty for Ravi Kumar: their “plan” is blank",
    )


def test_preview_never_raises() -> None:
    bad = preview("Hi {{ name }} {{1", {}, RAVI)
    assert bad.text == "Hi {{ name }} {{1"
    assert any("spaces inside the braces" in p for p in bad.problems)
    assert any("never closed" in p for p in bad.problems)
    unmapped = preview("Hi {{1}}", {}, None)
    assert unmapped.text == "Hi {{1}}"
    assert unmapped.problems == ("{{1}} is not mapped to a contact field or fixed text",)
    assert preview("", {}, None).problems == ("the message is empty",)


def test_preview_checks_limits_and_template_values() -> None:
    long_text = "x" * 1590 + " {{city}}"  # 1,599 characters: fits until the city is filled in
    far = Contact(phone_e164="+914712345678", name="Anu", fields={"city": "Thiruvananthapuram"})
    assert preview(long_text, named(long_text), RAVI, provider="twilio").problems == ()
    over = preview(long_text, named(long_text), far, provider="twilio")
    assert over.problems == (
        "the message is 1,609 characters long; Twilio accepts at most 1,600 in one free-form "
        "message — shorten it",
    )
    assert preview(long_text, named(long_text), far, provider="meta").problems == ()
    assert (
        preview("y" * 1601, {}, RAVI, provider="twilio")
        .problems[0]
        .startswith("the message is 1,601 characters long")
    )
    tabbed = {"1": VariableSource(text="a\tb")}
    result = preview("Code {{1}}", tabbed, RAVI, kind=TemplateKind.APPROVED)
    assert result.text == "Code a\tb"
    assert result.problems == (
        "the value of {{1}} contains a tab, which WhatsApp does not allow in a template variable",
    )


def test_preview_defaults_to_the_sample_contact() -> None:
    body = "{{name}} from {{city}}"
    assert preview(body, named(body), None).text == "Maria Gomez from Pune"
    assert SAMPLE_CONTACT.phone_e164 == "+917033009600"


def test_placeholder_names_for_fields_and_the_freeform_convention() -> None:
    assert placeholder_name("city") == "city"
    assert placeholder_name("Date of birth") == "date_of_birth"
    assert placeholder_name("Número de Teléfono") == "numero_de_telefono"
    assert placeholder_name("2nd address") is None
    assert placeholder_name("日本") is None
    body = "{{date_of_birth}} {{city}} {{first_name}} {{2}}"
    mapping = freeform_mapping(parse_placeholders(body.replace(" {{2}}", "")), ["Date of birth"])
    assert mapping == {
        "date_of_birth": VariableSource(field="Date of birth"),
        "city": VariableSource(field="city"),
        "first_name": VariableSource(field="first_name"),
    }
    assert freeform_mapping(parse_placeholders("{{1}} {{2}}"), []) == {}


def test_limit_provider() -> None:
    def account(kind: AccountKind, **settings: Any) -> Account:
        return Account(kind=kind, name="a", settings=settings)

    assert limit_provider(None) == "twilio"
    assert limit_provider(account(AccountKind.META)) == "meta"
    assert limit_provider(account(AccountKind.SANDBOX, dialect="twilio")) == "twilio"
    assert limit_provider(account(AccountKind.SANDBOX, dialect="meta")) == "meta"
    assert limit_provider(account(AccountKind.WASENDER)) == "wasender"
