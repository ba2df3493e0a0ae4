"""TemplateRepository on real SQLite files: local templates, drafts and the provider sync."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from waapp.core.entities import Account, AccountKind, PlaceholderFormat, Template, TemplateKind
from waapp.core.errors import DuplicateName, NotFound, ValidationError, WaappError
from waapp.store.accounts import AccountRepository
from waapp.store.database import Database
from waapp.store.schema import campaigns
from waapp.store.templates import DELETED_STATUS, DRAFT_STATUS, SyncSummary, TemplateRepository

T0 = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def repo(db: Database, clock: Clock) -> TemplateRepository:
    return TemplateRepository(db.engine, clock=clock)


@pytest.fixture
def account(db: Database) -> int:
    return AccountRepository(db.engine).add(Account(AccountKind.META, "Meta")).id or 0


def approved(name: str, language: str = "en_US", **changes: object) -> Template:
    template = Template(
        account_id=None,
        kind=TemplateKind.APPROVED,
        name=name,
        body="Hi {{1}}, your order {{2}} is ready",
        language=language,
        category="UTILITY",
        header={"format": "TEXT", "text": "Order"},
        footer="Reply STOP to opt out",
        buttons=[{"type": "QUICK_REPLY", "text": "Thanks"}],
        provider_ref=f"id-{name}-{language}",
        status="APPROVED",
        quality="GREEN",
    )
    return replace(template, **changes)  # type: ignore[arg-type]


def use_in_campaign(db: Database, account_id: int, template_id: int) -> None:
    with db.transaction() as conn:
        conn.execute(
            insert(campaigns).values(
                name="Spring",
                account_id=account_id,
                template_id=template_id,
                window_policy="template_only",
                missed_schedule_policy="ask",
                status="completed",
                created_at=T0,
            )
        )


def test_sync_adds_updates_keeps_and_removes(
    db: Database, repo: TemplateRepository, account: int, clock: Clock
) -> None:
    first = repo.replace_synced(
        account, [approved("hello_world"), approved("order_ready"), approved("order_ready", "es")]
    )
    assert first == SyncSummary(added=3)
    listed = repo.list(account)
    assert [(t.name, t.language) for t in listed] == [
        ("hello_world", "en_US"),
        ("order_ready", "en_US"),
        ("order_ready", "es"),
    ]
    assert all(t.synced_at == T0 and t.account_id == account for t in listed)
    assert listed[0].header == {"format": "TEXT", "text": "Order"}

    clock.now = T0 + timedelta(hours=1)
    used = repo.list(account)[2]  # order_ready/es, used by a campaign
    use_in_campaign(db, account, used.id or 0)
    second = repo.replace_synced(
        account,
        [
            approved("hello_world"),
            approved("order_ready", status="PAUSED", quality="RED"),
            approved("new_one", placeholder_format=PlaceholderFormat.NAMED),
        ],
    )
    assert second == SyncSummary(added=1, updated=1, removed=1, unchanged=1)
    by_key = {(t.name, t.language): t for t in repo.list(account)}
    assert by_key[("order_ready", "en_US")].status == "PAUSED"
    assert by_key[("order_ready", "es")].status == DELETED_STATUS  # kept: a campaign names it
    assert by_key[("new_one", "en_US")].placeholder_format is PlaceholderFormat.NAMED
    assert by_key[("hello_world", "en_US")].synced_at == clock.now

    # Not counted twice; revived when the provider lists it again.
    assert repo.replace_synced(account, [approved("hello_world")]).removed == 2
    assert repo.get(used.id or 0).status == DELETED_STATUS
    revived = repo.replace_synced(account, [approved("order_ready", "es")])
    assert revived.updated == 1 and repo.get(used.id or 0).status == "APPROVED"


def test_an_unreferenced_template_the_provider_dropped_is_deleted(
    repo: TemplateRepository, account: int
) -> None:
    repo.replace_synced(account, [approved("a"), approved("b")])
    assert repo.replace_synced(account, [approved("a")]) == SyncSummary(removed=1, unchanged=1)
    assert [t.name for t in repo.list(account)] == ["a"]


def test_sync_leaves_local_templates_and_other_accounts_alone(
    db: Database, repo: TemplateRepository, account: int
) -> None:
    other = AccountRepository(db.engine).add(Account(AccountKind.TWILIO, "Twilio")).id or 0
    local = repo.add(Template(None, TemplateKind.FREEFORM, "Thanks", "Thanks {{1}}!"))
    draft = repo.add(approved("promo_may", account_id=account, status="", provider_ref="x"))
    repo.replace_synced(other, [approved("hello_world")])
    assert repo.replace_synced(account, []) == SyncSummary()
    assert repo.get(local.id or 0) == local
    assert repo.get(draft.id or 0) == draft
    assert (draft.status, draft.provider_ref, draft.synced_at) == (DRAFT_STATUS, None, None)
    assert [t.name for t in repo.list(other, include_local=False)] == ["hello_world"]
    # The draft was submitted at the provider: the sync takes it over.
    summary = repo.replace_synced(account, [approved("promo_may", status="PENDING")])
    assert summary == SyncSummary(updated=1)
    taken = repo.get(draft.id or 0)
    assert (taken.status, taken.synced_at is not None) == ("PENDING", True)


def test_sync_of_a_missing_account_is_refused(repo: TemplateRepository) -> None:
    with pytest.raises(NotFound):
        repo.replace_synced(999, [approved("x")])


def test_list_filters_by_account_and_kind(repo: TemplateRepository, account: int) -> None:
    repo.replace_synced(account, [approved("hello_world")])
    repo.add(Template(None, TemplateKind.FREEFORM, "Any account", "Hi"))
    repo.add(Template(account, TemplateKind.FREEFORM, "Meta only", "Hi"))
    assert [t.name for t in repo.list()] == ["Any account", "Meta only", "hello_world"]
    assert [t.name for t in repo.list(account)] == ["Any account", "Meta only", "hello_world"]
    assert [t.name for t in repo.list(account, include_local=False)] == ["Meta only", "hello_world"]
    assert [t.name for t in repo.list(kind=TemplateKind.FREEFORM)] == ["Any account", "Meta only"]
    assert [t.name for t in repo.list(account, TemplateKind.APPROVED)] == ["hello_world"]


def test_local_templates_add_update_delete(repo: TemplateRepository, account: int) -> None:
    added = repo.add(Template(None, TemplateKind.FREEFORM, "  Reminder ", "See you {{1}}"))
    assert (added.name, added.status, added.synced_at) == ("Reminder", "", None)
    with pytest.raises(DuplicateName):  # NULL accounts are not covered by the UNIQUE index
        repo.add(Template(None, TemplateKind.FREEFORM, "Reminder", "other"))
    repo.add(Template(account, TemplateKind.FREEFORM, "Reminder", "per account is fine"))
    with pytest.raises(DuplicateName):
        repo.add(Template(account, TemplateKind.FREEFORM, "Reminder", "twice is not"))
    added.body = "See you soon, {{1}}"
    assert repo.update(added).body == "See you soon, {{1}}"
    with pytest.raises(ValidationError, match="needs a name"):
        repo.add(Template(None, TemplateKind.FREEFORM, " ", "x"))
    with pytest.raises(ValidationError, match="come from the provider"):
        repo.add(approved("sneaky", status="APPROVED"))
    with pytest.raises(NotFound):
        repo.add(Template(999, TemplateKind.FREEFORM, "x", "y"))
    repo.delete(added.id or 0)
    with pytest.raises(NotFound):
        repo.get(added.id or 0)


def test_synced_and_used_templates_are_protected(
    db: Database, repo: TemplateRepository, account: int
) -> None:
    repo.replace_synced(account, [approved("hello_world")])
    [synced] = repo.list(account)
    synced.body = "edited"
    with pytest.raises(ValidationError, match="cannot be edited here"):
        repo.update(synced)
    with pytest.raises(ValidationError, match="would return with the next sync"):
        repo.delete(synced.id or 0)
    local = repo.add(Template(None, TemplateKind.FREEFORM, "Follow-up", "Hi"))
    use_in_campaign(db, account, local.id or 0)
    with pytest.raises(WaappError, match="a campaign uses it"):
        repo.delete(local.id or 0)
    # Once the provider dropped it and no campaign names it, a DELETED row may go.
    repo.replace_synced(account, [approved("other")])
    assert [t.name for t in repo.list(account, include_local=False)] == ["other"]
