"""Provider accounts: their settings in the store, their secrets in the keyring, and one
live provider client per account over one shared HTTP client.

A fresh install gets a *Sandbox* account that talks to the Sandbox waapp runs in-process
(``in_process`` setting): its address is the running Sandbox's, resolved at run time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

import httpx

from waapp.core.entities import Account, AccountKind
from waapp.core.errors import ValidationError
from waapp.core.ports import HealthReport, Provider
from waapp.providers import (
    SECRET_FIELDS,
    SETTINGS_FIELDS,
    make_client,
    make_provider,
    missing_fields,
)
from waapp.services.events import AccountsChanged, EventBus
from waapp.services.secrets import SecretStore
from waapp.store.database import Database
from waapp.store.worker import DatabaseWorker

log = logging.getLogger(__name__)

SANDBOX_ACCOUNT_NAME = "Sandbox"
#: Set once the first-run Sandbox account was created, so that deleting it is respected.
SANDBOX_CREATED_KEY = "sandbox_account_created"
IN_PROCESS = "in_process"
#: Stands in for the in-process Sandbox's address while it is not running (validation only).
_SANDBOX_PLACEHOLDER_URL = "http://127.0.0.1"

#: How each kind is named to the user.
KIND_LABELS: dict[AccountKind, str] = {
    AccountKind.TWILIO: "Twilio",
    AccountKind.META: "Meta Cloud API",
    AccountKind.KAPSO: "Kapso",
    AccountKind.WASENDER: "WaSender gateway",
    AccountKind.SANDBOX: "Sandbox (built-in simulator)",
}

#: Every secret name of every kind: a new account's id may be one a removed account had
#: (SQLite reuses the highest id), so these are cleared before its secrets are written.
_ALL_SECRET_NAMES = sorted({spec.name for specs in SECRET_FIELDS.values() for spec in specs})


def secret_names(kind: AccountKind) -> list[str]:
    return [spec.name for spec in SECRET_FIELDS[kind]]


def kind_label(kind: AccountKind) -> str:
    return KIND_LABELS[AccountKind(kind)]


def is_in_process(account: Account) -> bool:
    """The built-in Sandbox account: waapp runs its Sandbox and fills in the address."""
    return account.kind is AccountKind.SANDBOX and bool(account.settings.get(IN_PROCESS))


def _and(items: Iterable[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _clean(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings as stored: text stripped, empty values dropped (the field's default applies)."""
    clean: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, str):
            value = value.strip()
        if value not in ("", None):
            clean[key] = value
    return clean


class AccountService:
    def __init__(
        self,
        *,
        db: Database,
        worker: DatabaseWorker,
        bus: EventBus,
        secrets: SecretStore,
        client: httpx.AsyncClient | None = None,
        sandbox_url: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._db = db
        self._worker = worker
        self._bus = bus
        self._secrets = secrets
        self._client = client
        self._sandbox_url = sandbox_url
        self._providers: dict[int, Provider] = {}
        self._broken: dict[int, str] = {}  # account id → why no provider could be built
        self._settings_of: dict[int, dict[str, Any]] = {}  # of the live providers

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = make_client()
        return self._client

    @property
    def secret_store(self) -> SecretStore:
        return self._secrets

    # --- reading -------------------------------------------------------------------------

    async def list(self) -> list[Account]:
        return await self._worker.run(self._db.accounts.list)

    async def get(self, account_id: int) -> Account:
        return await self._worker.run(self._db.accounts.get, account_id)

    async def find(self, name: str) -> Account | None:
        return await self._worker.run(self._db.accounts.find_by_name, name)

    async def secret_status(self, account: Account) -> dict[str, bool]:
        """Which secret fields have a value (never the values themselves)."""
        assert account.id is not None
        values = await self._read_secrets(account)
        return {name: bool(values.get(name)) for name in secret_names(account.kind)}

    async def _read_secrets(self, account: Account) -> dict[str, str]:
        assert account.id is not None
        account_id = account.id

        def read() -> dict[str, str]:  # keyring calls may block (D-Bus): off the loop
            found = {}
            for name in secret_names(account.kind):
                value = self._secrets.get(account_id, name)
                if value:
                    found[name] = value
            return found

        return await asyncio.to_thread(read)

    # --- providers -----------------------------------------------------------------------

    def _effective_settings(self, account: Account) -> dict[str, Any]:
        settings = dict(account.settings)
        if is_in_process(account):
            url = self._sandbox_url()
            if url:
                settings["base_url"] = url
        return settings

    def _make(
        self,
        kind: AccountKind,
        settings: Mapping[str, Any],
        secrets: Mapping[str, str],
        *,
        name: str | None = None,
    ) -> Provider:
        """The provider, or ValidationError naming everything missing in the user's words
        (with a blank ``name``, the name first)."""
        missing = missing_fields(kind, settings, secrets)
        if name is not None and not name.strip():
            missing.insert(0, "a name (for example “Shop WhatsApp”)")
        if missing:
            raise ValidationError(
                f"This {kind_label(kind)} account is missing {_and(missing)}.",
                what_to_do="Fill in the missing fields in the account settings.",
            )
        return make_provider(kind, settings, secrets, client=self.client)

    async def _build(self, account: Account) -> Provider | None:
        assert account.id is not None
        try:
            if is_in_process(account) and not self._sandbox_url():
                raise ValidationError(
                    "The built-in Sandbox is not running.",
                    what_to_do="It starts with the waapp window; open the window and try again.",
                )
            provider = self._make(
                account.kind, self._effective_settings(account), await self._read_secrets(account)
            )
        except ValidationError as error:
            self._broken[account.id] = error.message
            self._providers.pop(account.id, None)
            log.warning("Account %s cannot be used: %s", account.id, error.message)
            return None
        self._broken.pop(account.id, None)
        self._providers[account.id] = provider
        self._settings_of[account.id] = dict(account.settings)
        return provider

    async def load(self) -> None:
        """Build every account's provider (at start-up, before the webhook receiver runs)."""
        for account in await self.list():
            await self._build(account)

    def providers(self) -> Mapping[int, Provider]:
        """The live provider of each usable account (the status intake asks on every request)."""
        return self._providers

    def fixed_status_callback(self, account_id: int) -> bool:
        """True when the user set the Twilio status callback URL themselves."""
        return bool(self._settings_of.get(account_id, {}).get("status_callback"))

    def problem(self, account_id: int) -> str | None:
        """Why an account has no provider (missing fields), if so."""
        return self._broken.get(account_id)

    async def provider(self, account_id: int) -> Provider:
        provider = self._providers.get(account_id)
        if provider is None:
            provider = await self._build(await self.get(account_id))
        if provider is None:
            raise ValidationError(
                self._broken.get(account_id, "This account cannot be used."),
                what_to_do="Open the account in Accounts and fill in what is missing.",
            )
        return provider

    async def test_connection(self, account_id: int) -> HealthReport:
        """What the provider's health check finds, in plain words (never raises for the
        provider's answer; raises ValidationError when the account is incomplete)."""
        return await (await self.provider(account_id)).check_health()

    # --- writing -------------------------------------------------------------------------

    @staticmethod
    def _check(kind: AccountKind, settings: Mapping[str, Any]) -> None:
        known = [spec.name for spec in SETTINGS_FIELDS[kind]]
        allowed = set(known) | ({IN_PROCESS} if kind is AccountKind.SANDBOX else set())
        unknown = sorted(set(settings) - allowed)
        if unknown:
            raise ValidationError(
                f"Unknown settings for a {kind_label(kind)} account: {', '.join(unknown)}.",
                what_to_do=f"The settings of this kind are: {', '.join(known)}.",
            )

    @staticmethod
    def _check_secret_names(kind: AccountKind, secrets: Mapping[str, str | None]) -> None:
        known = secret_names(kind)
        unknown = sorted(set(secrets) - set(known))
        if unknown:
            raise ValidationError(
                f"Unknown secrets for a {kind_label(kind)} account: {', '.join(unknown)}.",
                what_to_do=f"The secrets of this kind are: {', '.join(known)}.",
            )

    def _require_complete(
        self,
        kind: AccountKind,
        name: str,
        settings: Mapping[str, Any],
        secrets: Mapping[str, str | None],
    ) -> None:
        """Refuse a nameless account, or one its provider could not be built from."""
        settings = dict(settings)
        if kind is AccountKind.SANDBOX and settings.get(IN_PROCESS):
            settings["base_url"] = self._sandbox_url() or _SANDBOX_PLACEHOLDER_URL
        values = {k: v.strip() for k, v in secrets.items() if v and v.strip()}
        self._make(kind, settings, values, name=name)

    async def add(
        self,
        *,
        kind: AccountKind,
        name: str,
        settings: Mapping[str, Any],
        secrets: Mapping[str, str],
    ) -> Account:
        """Save the account; secrets go to the keyring only. Refused (ValidationError,
        nothing saved) when a setting or secret is unknown or the account would be
        incomplete. If the keyring refuses, the account and whatever secrets were written
        are removed again, so nothing half-saved stays behind."""
        kind = AccountKind(kind)
        self._check(kind, settings)
        self._check_secret_names(kind, secrets)
        clean = _clean(settings)
        self._require_complete(kind, name, clean, secrets)
        account = await self._worker.run(
            self._db.accounts.add, Account(kind=kind, name=name.strip(), settings=clean)
        )
        assert account.id is not None
        try:
            # The id may be a removed account's whose secrets could not all be deleted.
            await self._delete_secrets(account.id, _ALL_SECRET_NAMES)
            await self._write_secrets(account.id, kind, secrets)
        except Exception:
            with contextlib.suppress(Exception):
                await self._delete_secrets(account.id, secret_names(kind))
            await self._worker.run(self._db.accounts.delete, account.id)
            raise
        await self._build(account)
        self._bus.publish(AccountsChanged())
        return account

    async def _delete_secrets(self, account_id: int, names: Iterable[str]) -> None:
        names = list(names)

        def delete() -> None:
            for name in names:
                self._secrets.delete(account_id, name)

        await asyncio.to_thread(delete)

    async def _write_secrets(
        self, account_id: int, kind: AccountKind, secrets: Mapping[str, str | None]
    ) -> None:
        self._check_secret_names(kind, secrets)

        def write() -> None:
            for name, value in secrets.items():
                if value is None:
                    self._secrets.delete(account_id, name)
                elif value.strip():
                    self._secrets.set(account_id, name, value.strip())

        await asyncio.to_thread(write)

    async def update(
        self,
        account_id: int,
        *,
        name: str,
        settings: Mapping[str, Any],
        secrets: Mapping[str, str | None],
    ) -> Account:
        """Save new settings. In ``secrets`` a non-empty value replaces the stored one, an
        empty string keeps it, and None removes it. Refused (nothing changed) when the
        result would be incomplete; if the keyring refuses, the previous settings and
        secrets are put back."""
        current = await self.get(account_id)
        kind = current.kind
        self._check(kind, settings)
        self._check_secret_names(kind, secrets)
        clean = _clean(settings)
        if is_in_process(current):
            clean[IN_PROCESS] = True
        stored = await self._read_secrets(current)
        merged: dict[str, str | None] = dict(stored)
        for key, value in secrets.items():
            if value is None:
                merged.pop(key, None)
            elif value.strip():
                merged[key] = value.strip()
        self._require_complete(kind, name, clean, merged)
        account = await self._worker.run(
            self._db.accounts.update, replace(current, name=name.strip(), settings=clean)
        )
        try:
            await self._write_secrets(account_id, kind, secrets)
        except Exception:
            with contextlib.suppress(Exception):
                await self._worker.run(self._db.accounts.update, current)
                await self._write_secrets(
                    account_id, kind, {key: stored.get(key) for key in secrets}
                )
            raise
        await self._build(account)
        self._bus.publish(AccountsChanged())
        return account

    async def remove(self, account_id: int) -> None:
        """Delete the account and its secrets (refused while campaigns use it)."""
        account = await self.get(account_id)
        await self._worker.run(self._db.accounts.delete, account_id)
        try:
            await self._delete_secrets(account_id, secret_names(account.kind))
        except Exception as error:  # the account is gone; a later add clears its id's secrets
            log.warning(
                "Account %s removed, but the keyring refused to delete its secrets (%s)",
                account_id,
                type(error).__name__,
            )
        self._providers.pop(account_id, None)
        self._broken.pop(account_id, None)
        self._bus.publish(AccountsChanged())

    async def ensure_sandbox_account(
        self, credentials: Mapping[str, str], ids: Mapping[str, str]
    ) -> Account | None:
        """On first run only, create the Sandbox account (Meta dialect) with the in-process
        Sandbox's credentials, so every feature works without a provider account."""
        if await self._worker.run(self._db.settings.get, SANDBOX_CREATED_KEY, False):
            return None
        account = None
        if not await self.list():
            account = await self.add(
                kind=AccountKind.SANDBOX,
                name=SANDBOX_ACCOUNT_NAME,
                settings={"dialect": "meta", IN_PROCESS: True, **ids},
                secrets=credentials,
            )
        await self._worker.run(self._db.settings.set, SANDBOX_CREATED_KEY, True)
        return account

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
