"""Provider accounts: :class:`AccountRepository`.

An account row holds the provider kind, a display name and the **non-secret** settings
(account SID, phone-number id, WABA id, base URL, sender number, pacing …). Secrets live in
the OS keyring, keyed by account id (``services.secrets``); this repository refuses any
settings key that looks like one, so that a token can never reach the database file by
mistake.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from waapp.core.entities import Account, AccountKind
from waapp.core.errors import DuplicateName, NotFound, ValidationError, WaappError
from waapp.store.engine import writer
from waapp.store.schema import accounts, campaigns, require_utc

__all__ = ["AccountRepository", "secret_setting_keys"]

_a = accounts.c

#: Setting names that look like a secret, matched on the name folded to lower case with
#: separators (``-``, ``.``, space) read as ``_``: ``auth_token``, ``webhookSecret``,
#: ``app-secret``, ``API_KEY``, ``password`` … Deliberately broad: a false alarm costs the
#: caller a rename, a miss writes a token into a plain file.
_SECRET_NAME = re.compile(r"token|secret|passw(or)?d|api_?key|private_?key|credential")


def _secret_name(key: str) -> bool:
    folded = re.sub(r"[\s.\-]+", "_", key).lower()
    return _SECRET_NAME.search(folded) is not None


def secret_setting_keys(settings: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Every key of ``settings`` (nested mappings and lists of mappings included, as dotted
    paths) whose name looks like a secret."""
    found: list[str] = []
    for key, value in settings.items():
        path = f"{prefix}{key}"
        if _secret_name(str(key)):
            found.append(path)
        children = value if isinstance(value, list) else [value]
        for child in children:
            if isinstance(child, Mapping):
                found.extend(secret_setting_keys(child, prefix=f"{path}."))
    return found


def _checked_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    secret = secret_setting_keys(settings)
    if secret:
        raise ValueError(
            f"account settings must not hold secrets ({', '.join(secret)}): "
            "store them in the keyring (services.secrets), keyed by the account id"
        )
    return dict(settings)


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ValidationError("An account needs a name.")
    return cleaned


def _duplicate(name: str) -> DuplicateName:
    return DuplicateName(f"There is already an account called “{name}”.")


def _account(row: Row[Any]) -> Account:
    return Account(
        id=row.id,
        kind=AccountKind(row.kind),
        name=row.name,
        settings=dict(row.settings),
        created_at=row.created_at,
    )


def _now() -> datetime:
    return datetime.now(UTC)


class AccountRepository:
    """Accounts over SQLite. Each method is one transaction; call it on the database worker.

    Names are unique without regard to (ASCII) case; surrounding and repeated spaces are
    removed. ``settings`` must be JSON-serialisable and hold no secret (ValueError).
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], datetime] = _now) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self._clock = clock

    # --- writes ------------------------------------------------------------------------

    def add(self, account: Account) -> Account:
        """Insert ``account`` (its id is ignored); the stored account with id and time.

        Raises DuplicateName, ValidationError (blank name), ValueError (a secret in
        ``settings``).
        """
        name = _clean_name(account.name)
        values = {
            "kind": AccountKind(account.kind).value,
            "name": name,
            "settings": _checked_settings(account.settings),
            "created_at": require_utc(account.created_at) if account.created_at else self._clock(),
        }
        with self._writer.begin() as conn:
            try:
                new_id = conn.execute(insert(accounts).values(values).returning(_a.id)).scalar_one()
            except IntegrityError as exc:
                raise _duplicate(name) from exc
            return self._get(conn, new_id)

    def update(self, account: Account) -> Account:
        """Save kind, name and settings of ``account`` by id (``created_at`` stays).

        Raises NotFound, DuplicateName, ValidationError, ValueError (a secret in settings).
        """
        if account.id is None:
            raise ValueError("update() needs an account with an id; use add() for new ones")
        name = _clean_name(account.name)
        values = {
            "kind": AccountKind(account.kind).value,
            "name": name,
            "settings": _checked_settings(account.settings),
        }
        with self._writer.begin() as conn:
            try:
                result = conn.execute(update(accounts).where(_a.id == account.id).values(values))
            except IntegrityError as exc:
                raise _duplicate(name) from exc
            if result.rowcount == 0:
                raise NotFound("This account no longer exists.")
            return self._get(conn, account.id)

    def delete(self, account_id: int) -> None:
        """Delete the account with its templates, status events and inbound messages.

        Refused (WaappError, nothing deleted) while any campaign uses the account: campaign
        history is never deleted as a side effect. Raises NotFound.
        """
        with self._writer.begin() as conn:
            self._require(conn, account_id)
            used_by = conn.execute(
                select(func.count())
                .select_from(campaigns)
                .where(campaigns.c.account_id == account_id)
            ).scalar_one()
            if used_by:
                noun = "campaign uses" if used_by == 1 else "campaigns use"
                raise WaappError(
                    f"This account cannot be removed: {used_by} {noun} it.",
                    what_to_do="Delete those campaigns first, or keep the account and stop "
                    "using it for new campaigns.",
                )
            conn.execute(delete(accounts).where(_a.id == account_id))

    # --- reads -------------------------------------------------------------------------

    @staticmethod
    def _require(conn: Connection, account_id: int) -> None:
        if conn.execute(select(_a.id).where(_a.id == account_id)).first() is None:
            raise NotFound("This account no longer exists.")

    @staticmethod
    def _get(conn: Connection, account_id: int) -> Account:
        row = conn.execute(select(accounts).where(_a.id == account_id)).first()
        if row is None:
            raise NotFound("This account no longer exists.")
        return _account(row)

    def get(self, account_id: int) -> Account:
        """Raises NotFound."""
        with self._engine.connect() as conn:
            return self._get(conn, account_id)

    # ``builtins.list``: inside this class body ``list`` is the method below.
    def list(self) -> builtins.list[Account]:
        """Every account, by name."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(accounts).order_by(_a.name, _a.id))
            return [_account(row) for row in rows]

    def find_by_name(self, name: str) -> Account | None:
        """The account with this name (ASCII case and extra spaces ignored), or None."""
        cleaned = " ".join(name.split())
        with self._engine.connect() as conn:
            row = conn.execute(select(accounts).where(_a.name == cleaned)).first()
        return None if row is None else _account(row)
