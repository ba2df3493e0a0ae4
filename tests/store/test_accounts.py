"""AccountRepository on real SQLite files."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from waapp.core.entities import Account, AccountKind
from waapp.core.errors import DuplicateName, NotFound, ValidationError, WaappError
from waapp.store.accounts import AccountRepository, secret_setting_keys
from waapp.store.database import Database
from waapp.store.schema import campaigns, status_events

T0 = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def repo(db: Database) -> AccountRepository:
    return AccountRepository(db.engine, clock=lambda: T0)


def test_add_get_list_and_find_by_name(repo: AccountRepository) -> None:
    meta = repo.add(
        Account(AccountKind.META, "  Shop   Meta ", {"phone_number_id": "1065", "waba_id": "9"})
    )
    twilio = repo.add(Account(AccountKind.TWILIO, "Alerts", {"account_sid": "AC123"}))
    assert (meta.name, meta.kind, meta.created_at, meta.id) == (
        "Shop Meta",
        AccountKind.META,
        T0,
        meta.id,
    )
    assert repo.get(meta.id or 0) == meta
    assert [a.name for a in repo.list()] == ["Alerts", "Shop Meta"]
    assert repo.find_by_name("shop  META") == meta
    assert repo.find_by_name("nobody") is None
    assert twilio.settings == {"account_sid": "AC123"}


def test_names_are_unique_ignoring_case(repo: AccountRepository) -> None:
    repo.add(Account(AccountKind.SANDBOX, "Sandbox"))
    with pytest.raises(DuplicateName, match="already an account called “SANDBOX”"):
        repo.add(Account(AccountKind.META, "SANDBOX"))
    other = repo.add(Account(AccountKind.META, "Other"))
    other.name = "sandbox"
    with pytest.raises(DuplicateName):
        repo.update(other)
    with pytest.raises(ValidationError, match="needs a name"):
        repo.add(Account(AccountKind.META, "   "))


def test_update_saves_kind_name_and_settings(repo: AccountRepository) -> None:
    account = repo.add(Account(AccountKind.META, "Direct", {"phone_number_id": "1"}))
    account.kind = AccountKind.KAPSO
    account.name = "Via Kapso"
    account.settings = {"phone_number_id": "1", "base_url": "https://api.kapso.ai/meta/whatsapp"}
    saved = repo.update(account)
    assert saved == repo.get(account.id or 0)
    assert (saved.kind, saved.name, saved.created_at) == (AccountKind.KAPSO, "Via Kapso", T0)
    missing = Account(AccountKind.META, "Ghost", id=999)
    with pytest.raises(NotFound):
        repo.update(missing)
    with pytest.raises(NotFound):
        repo.get(999)


def test_delete_is_refused_while_campaigns_use_the_account(
    db: Database, repo: AccountRepository
) -> None:
    used = repo.add(Account(AccountKind.TWILIO, "Used"))
    unused = repo.add(Account(AccountKind.TWILIO, "Unused"))
    with db.transaction() as conn:
        conn.execute(
            insert(campaigns).values(
                name="Spring",
                account_id=used.id,
                window_policy="template_only",
                missed_schedule_policy="ask",
                status="completed",
                created_at=T0,
            )
        )
        conn.execute(
            insert(status_events).values(
                account_id=unused.id,
                provider_message_id="SM1",
                status="sent",
                occurred_at=T0,
                received_at=T0,
            )
        )
    with pytest.raises(WaappError, match="cannot be removed: 1 campaign uses it") as refused:
        repo.delete(used.id or 0)
    assert refused.value.what_to_do
    assert repo.get(used.id or 0) == used
    repo.delete(unused.id or 0)  # its status events go with it
    assert [a.name for a in repo.list()] == ["Used"]
    with pytest.raises(NotFound):
        repo.delete(unused.id or 0)


@pytest.mark.parametrize(
    "settings",
    [
        {"auth_token": "x"},
        {"AuthToken": "x"},
        {"app-secret": "x"},
        {"webhook_secret": "x"},
        {"API_KEY": "x"},
        {"apiKey": "x"},
        {"password": "x"},
        {"verify token": "x"},
        {"pacing": {"private_key": "x"}},
        {"routes": [{"access_token": "x"}]},
    ],
)
def test_settings_that_look_like_secrets_are_refused(
    repo: AccountRepository, settings: dict[str, object]
) -> None:
    with pytest.raises(ValueError, match=r"must not hold secrets .* keyring"):
        repo.add(Account(AccountKind.META, "Leaky", settings))
    account = repo.add(Account(AccountKind.META, "Clean", {"phone_number_id": "1"}))
    account.settings = settings
    with pytest.raises(ValueError, match="keyring"):
        repo.update(account)
    assert repo.get(account.id or 0).settings == {"phone_number_id": "1"}


def test_secret_keys_are_named_by_their_path() -> None:
    assert secret_setting_keys(
        {
            "account_sid": "AC1",
            "sender": "+1555",
            "nested": {"auth_token": "t"},
            "x": [{"apiKey": 1}],
        }
    ) == ["nested.auth_token", "x.apiKey"]


def test_no_token_reaches_the_database_file(db: Database, repo: AccountRepository) -> None:
    token = "tok_9f3c1d5e7a2b4c6d8e0f"
    for settings in ({"auth_token": token}, {"nested": {"secret": token}}):
        with pytest.raises(ValueError):
            repo.add(Account(AccountKind.TWILIO, "T", settings))
    repo.add(Account(AccountKind.TWILIO, "T", {"account_sid": "AC1"}))
    db.close()  # checkpoints the WAL into the one file
    data = db.path.read_bytes()
    assert token.encode() not in data
    assert b"AC1" in data  # the non-secret setting is there: the search would have seen it
