"""AccountService on a real store, with the in-memory keyring of tests/conftest.py."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import keyring
import keyring.errors
import pytest
from keyrings.alt.file import PlaintextKeyring
from sqlalchemy import insert

from tests.conftest import MemoryKeyring
from waapp.app import Services, open_services
from waapp.core.entities import AccountKind
from waapp.core.errors import DuplicateName, ValidationError, WaappError
from waapp.paths import DataPaths
from waapp.sandbox import Sandbox
from waapp.sandbox import settings as sb
from waapp.services.accounts import SANDBOX_ACCOUNT_NAME, is_in_process
from waapp.services.events import AccountsChanged
from waapp.services.secrets import SecretStore
from waapp.store.schema import campaigns

TOKEN = "tw-auth-Zq81xQ7pLm"
TWILIO = {"account_sid": "AC" + "1" * 32, "sender": "+14155238886"}

Body = Callable[[Services], Awaitable[Any]]


@pytest.fixture
def run(tmp_path: Path) -> Callable[[Body], Any]:
    """Open the services on ``tmp_path/data``, run ``body`` and close them (one loop)."""

    def runner(body: Body) -> Any:
        async def main() -> Any:
            services = await open_services(DataPaths(tmp_path / "data"))
            try:
                return await body(services)
            finally:
                await services.close()

        return asyncio.run(main())

    return runner


def stored(memory: MemoryKeyring) -> dict[str, str]:
    return {user: value for (_service, user), value in memory.secrets.items()}


def database_bytes(services: Services) -> bytes:
    path = services.paths.database
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def test_add_keeps_secrets_in_the_keyring_only(
    run: Callable[[Body], Any], memory_keyring: MemoryKeyring
) -> None:
    events: list[object] = []

    async def body(services: Services) -> None:
        services.bus.subscribe(AccountsChanged, events.append)
        account = await services.accounts.add(
            kind=AccountKind.TWILIO,
            name="  Shop ",
            settings={**TWILIO, "status_callback": ""},
            secrets={"auth_token": f"  {TOKEN} "},
        )
        assert account.id is not None
        assert (account.name, account.settings) == ("Shop", TWILIO)  # empty values dropped
        assert stored(memory_keyring) == {f"account-{account.id}:auth_token": TOKEN}
        assert await services.accounts.secret_status(account) == {"auth_token": True}
        assert TOKEN.encode() not in database_bytes(services)
        assert account.id in services.accounts.providers()  # built at once

    run(body)
    assert len(events) == 1


def test_unknown_settings_and_secrets_are_refused_and_nothing_is_saved(
    run: Callable[[Body], Any], memory_keyring: MemoryKeyring
) -> None:
    async def body(services: Services) -> None:
        with pytest.raises(ValidationError) as caught:
            await services.accounts.add(
                kind=AccountKind.TWILIO,
                name="Shop",
                settings={**TWILIO, "colour": "blue"},
                secrets={"auth_token": TOKEN},
            )
        assert "colour" in caught.value.message and "account_sid" in caught.value.what_to_do
        with pytest.raises(ValidationError, match="api_key"):
            await services.accounts.add(
                kind=AccountKind.TWILIO,
                name="Shop",
                settings=TWILIO,
                secrets={"auth_token": TOKEN, "api_key": "x"},
            )
        with pytest.raises(ValidationError, match="in_process"):  # a Sandbox-only setting
            await services.accounts.add(
                kind=AccountKind.TWILIO,
                name="Shop",
                settings={**TWILIO, "in_process": True},
                secrets={"auth_token": TOKEN},
            )
        assert await services.accounts.list() == []

    run(body)
    assert memory_keyring.secrets == {}


def test_incomplete_account_is_refused_naming_every_missing_field(
    run: Callable[[Body], Any],
) -> None:
    async def body(services: Services) -> None:
        with pytest.raises(ValidationError) as caught:
            await services.accounts.add(kind=AccountKind.TWILIO, name=" ", settings={}, secrets={})
        message = caught.value.message
        assert message.startswith("This Twilio account is missing a name")
        for label in ("the Account SID", "the Auth Token", "a WhatsApp sender number"):
            assert label in message
        assert await services.accounts.list() == []

    run(body)


def test_update_keeps_replaces_and_clears_secrets(
    run: Callable[[Body], Any], memory_keyring: MemoryKeyring
) -> None:
    async def body(services: Services) -> None:
        accounts = services.accounts
        kapso = await accounts.add(
            kind=AccountKind.KAPSO,
            name="Kapso",
            settings={"phone_number_id": "1065", "waba_id": "2290"},
            secrets={"api_key": "kapso-key-1", "webhook_secret": "hook-1"},
        )
        assert kapso.id is not None
        key = f"account-{kapso.id}:"

        # "" keeps, a value replaces
        await accounts.update(
            kapso.id,
            name="Kapso main",
            settings={"phone_number_id": "1065", "waba_id": "2290"},
            secrets={"api_key": "", "webhook_secret": "hook-2"},
        )
        assert stored(memory_keyring) == {
            f"{key}api_key": "kapso-key-1",
            f"{key}webhook_secret": "hook-2",
        }

        # None clears
        await accounts.update(
            kapso.id,
            name="Kapso main",
            settings={"phone_number_id": "1065", "waba_id": "2290"},
            secrets={"webhook_secret": None},
        )
        assert stored(memory_keyring) == {f"{key}api_key": "kapso-key-1"}

        # Clearing the only key (a required "one of") is refused; nothing changes.
        with pytest.raises(ValidationError, match="Kapso API key or an access token"):
            await accounts.update(
                kapso.id,
                name="Renamed",
                settings={"phone_number_id": "1065", "waba_id": "2290"},
                secrets={"api_key": None},
            )
        assert (await accounts.get(kapso.id)).name == "Kapso main"
        assert stored(memory_keyring) == {f"{key}api_key": "kapso-key-1"}

    run(body)


def test_remove_deletes_secrets_and_a_reused_id_inherits_nothing(
    run: Callable[[Body], Any], memory_keyring: MemoryKeyring
) -> None:
    async def body(services: Services) -> None:
        accounts = services.accounts
        first = await accounts.add(
            kind=AccountKind.WASENDER,
            name="Phone",
            settings={},
            secrets={"api_key": "ws-key", "webhook_secret": "ws-secret"},
        )
        assert first.id is not None
        await accounts.remove(first.id)
        assert memory_keyring.secrets == {}
        assert first.id not in accounts.providers()

        # A secret left behind (a keyring that failed while removing) under the id SQLite
        # hands out again must not become the new account's.
        memory_keyring.set_password("waapp", f"account-{first.id}:webhook_secret", "stale")
        second = await accounts.add(
            kind=AccountKind.WASENDER, name="Phone 2", settings={}, secrets={"api_key": "new"}
        )
        assert second.id == first.id
        assert await accounts.secret_status(second) == {"api_key": True, "webhook_secret": False}

    run(body)


def test_remove_is_refused_while_a_campaign_uses_the_account(
    run: Callable[[Body], Any], memory_keyring: MemoryKeyring
) -> None:
    async def body(services: Services) -> None:
        account = await services.accounts.add(
            kind=AccountKind.TWILIO, name="Shop", settings=TWILIO, secrets={"auth_token": TOKEN}
        )
        with services.db.transaction() as conn:
            conn.execute(
                insert(campaigns).values(
                    name="Diwali",
                    account_id=account.id,
                    window_policy="template_only",
                    missed_schedule_policy="ask",
                    status="draft",
                    counters={},
                    created_at=account.created_at,
                )
            )
        assert account.id is not None
        with pytest.raises(WaappError, match="1 campaign uses it"):
            await services.accounts.remove(account.id)
        assert [a.name for a in await services.accounts.list()] == ["Shop"]
        assert stored(memory_keyring) == {f"account-{account.id}:auth_token": TOKEN}

    run(body)


class FailsOnSecondWrite(MemoryKeyring):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def set_password(self, service: str, username: str, password: str) -> None:
        self.writes += 1
        if self.writes == 2:
            raise keyring.errors.PasswordSetError("the keyring is locked")
        super().set_password(service, username, password)


def test_keyring_failure_leaves_no_half_saved_account(run: Callable[[Body], Any]) -> None:
    backend = FailsOnSecondWrite()
    keyring.set_keyring(backend)

    async def body(services: Services) -> None:
        with pytest.raises(keyring.errors.PasswordSetError):
            await services.accounts.add(
                kind=AccountKind.META,
                name="Meta",
                settings={"phone_number_id": "1", "waba_id": "2"},
                secrets={"access_token": "EAAG-1", "app_secret": "s", "verify_token": "v"},
            )
        assert await services.accounts.list() == []
        assert backend.secrets == {}  # the first secret, written before the failure, is gone

    run(body)


def test_keyring_failure_on_update_puts_the_old_account_back(
    run: Callable[[Body], Any], memory_keyring: MemoryKeyring
) -> None:
    async def body(services: Services) -> None:
        account = await services.accounts.add(
            kind=AccountKind.TWILIO, name="Shop", settings=TWILIO, secrets={"auth_token": TOKEN}
        )
        assert account.id is not None

        def locked(*_args: object) -> None:
            raise keyring.errors.PasswordSetError("locked")

        memory_keyring.set_password = locked  # type: ignore[method-assign,assignment]
        with pytest.raises(keyring.errors.PasswordSetError):
            await services.accounts.update(
                account.id,
                name="Renamed",
                settings={**TWILIO, "sender": "+14155550000"},
                secrets={"auth_token": "new-token"},
            )
        again = await services.accounts.get(account.id)
        assert (again.name, again.settings) == ("Shop", TWILIO)
        assert stored(memory_keyring) == {f"account-{account.id}:auth_token": TOKEN}

    run(body)


def test_duplicate_names_are_refused(run: Callable[[Body], Any]) -> None:
    async def body(services: Services) -> None:
        await services.accounts.add(
            kind=AccountKind.TWILIO, name="Shop", settings=TWILIO, secrets={"auth_token": TOKEN}
        )
        with pytest.raises(DuplicateName):
            await services.accounts.add(
                kind=AccountKind.WASENDER, name="shop", settings={}, secrets={"api_key": "k"}
            )

    run(body)


def test_first_run_sandbox_account_is_created_once_and_stays_deleted(
    run: Callable[[Body], Any], memory_keyring: MemoryKeyring
) -> None:
    async def first_start(services: Services) -> int:
        await services.start_network()
        accounts = await services.accounts.list()
        assert [a.name for a in accounts] == [SANDBOX_ACCOUNT_NAME]
        sandbox = accounts[0]
        assert sandbox.id is not None and is_in_process(sandbox)
        assert "base_url" not in sandbox.settings  # resolved at run time
        report = await services.accounts.test_connection(sandbox.id)
        assert report.ok, report.summary
        assert await services.accounts.secret_status(sandbox) == {
            "auth_token": False,
            "access_token": True,
            "app_secret": True,
            "verify_token": True,
            "api_key": False,
            "webhook_secret": False,
        }
        return sandbox.id

    sandbox_id = run(first_start)

    async def second_start(services: Services) -> None:
        await services.start_network()
        assert [a.id for a in await services.accounts.list()] == [sandbox_id]  # not doubled
        await services.accounts.remove(sandbox_id)

    run(second_start)

    async def third_start(services: Services) -> None:
        await services.start_network()
        assert await services.accounts.list() == []  # the user's choice is respected

    run(third_start)
    assert memory_keyring.secrets == {}


def test_in_process_sandbox_without_the_sandbox_says_so(run: Callable[[Body], Any]) -> None:
    async def body(services: Services) -> None:
        account = await services.accounts.ensure_sandbox_account(
            credentials={
                "access_token": sb.DEFAULT_META_ACCESS_TOKEN,
                "app_secret": sb.DEFAULT_META_APP_SECRET,
                "verify_token": sb.DEFAULT_META_VERIFY_TOKEN,
            },
            ids={
                "phone_number_id": sb.DEFAULT_META_PHONE_NUMBER_ID,
                "waba_id": sb.DEFAULT_META_WABA_ID,
            },
        )
        assert account is not None and account.id is not None
        with pytest.raises(ValidationError, match="built-in Sandbox is not running"):
            await services.accounts.test_connection(account.id)

    run(body)


def test_provider_is_rebuilt_after_update(
    run: Callable[[Body], Any], memory_keyring: MemoryKeyring
) -> None:
    async def body(services: Services) -> None:
        async with Sandbox() as sandbox:
            settings = {
                "account_sid": sb.DEFAULT_TWILIO_ACCOUNT_SID,
                "sender": sb.DEFAULT_TWILIO_SENDER,
                "base_url": sandbox.url,
            }
            account = await services.accounts.add(
                kind=AccountKind.TWILIO,
                name="Twilio",
                settings=settings,
                secrets={"auth_token": "wrong-token"},
            )
            assert account.id is not None
            before = await services.accounts.provider(account.id)
            report = await services.accounts.test_connection(account.id)
            assert not report.ok and report.details.get("error_code") == "20003"

            await services.accounts.update(
                account.id,
                name="Twilio",
                settings=settings,
                secrets={"auth_token": sb.DEFAULT_TWILIO_AUTH_TOKEN},
            )
            assert await services.accounts.provider(account.id) is not before
            report = await services.accounts.test_connection(account.id)
            assert report.ok, report.summary

    run(body)


def test_keyrings_alt_plain_file_picked_by_keyring_counts_as_no_keyring(
    tmp_path: Path,
) -> None:
    """keyring chooses keyrings.alt's plain-text file by itself when the OS has no keyring;
    the tokens must then go to the announced fallback in the data folder, not silently to
    ~/.local/share/python_keyring."""
    auto = PlaintextKeyring()
    auto.file_path = str(tmp_path / "python_keyring" / "keyring_pass.cfg")  # type: ignore[misc]
    keyring.set_keyring(auto)
    store = SecretStore(tmp_path / "data" / "secrets-unencrypted.cfg")
    (tmp_path / "data").mkdir()
    store.set(1, "auth_token", TOKEN)
    assert not store.encrypted and store.warning is not None
    assert "no system keyring" in store.warning
    assert (tmp_path / "data" / "secrets-unencrypted.cfg").exists()
    assert not (tmp_path / "python_keyring").exists()
