"""The accounts table: name, provider and the last "Test connection" result.

The results live here, for this session only: a test is cheap to repeat, and an old
"working" is worse than "not tested yet".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from waapp.core.entities import Account, AccountKind
from waapp.core.ports import HealthReport
from waapp.services.accounts import is_in_process, kind_label
from waapp.ui.accounts.words import DIALECT_NAMES, health_level
from waapp.ui.theme import status_color

COLUMNS = ("Name", "Provider", "Status")
NAME, PROVIDER, STATUS = range(3)

_Index = QModelIndex | QPersistentModelIndex

_MARKS = {"ok": "✓", "warn": "!", "bad": "✗"}


@dataclass(frozen=True, slots=True)
class AccountStatus:
    """What the Status column shows: ``level`` is a ``status_color`` key."""

    level: str
    text: str
    tooltip: str = ""
    report: HealthReport | None = None  # the last test's report, when there is one
    problem: str | None = None  # why the account cannot be used (incomplete, not running)


NOT_TESTED = AccountStatus("muted", "not tested yet", "Select the account and click "
                           "“Test connection” (Ctrl+T).")  # fmt: skip
TESTING = AccountStatus("muted", "Testing…")


def status_from_report(report: HealthReport) -> AccountStatus:
    level = health_level(report)
    return AccountStatus(level, f"{_MARKS[level]} {report.summary}", report.summary, report)


def unusable(message: str, what_to_do: str = "") -> AccountStatus:
    text = f"{message} {what_to_do}".strip()
    return AccountStatus("warn", f"! Needs setup: {message}", text, problem=text)


def provider_label(account: Account) -> str:
    """The kind in plain words; a Sandbox other than the built-in one says what it imitates."""
    if account.kind is AccountKind.SANDBOX and not is_in_process(account):
        dialect = str(account.settings.get("dialect") or "meta")
        return f"Sandbox simulator, as {DIALECT_NAMES.get(dialect, dialect)}"
    return kind_label(account.kind)


class AccountsModel(QAbstractTableModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._accounts: list[Account] = []
        self._status: dict[int, AccountStatus] = {}

    # --- contents ------------------------------------------------------------------------

    def set_accounts(self, accounts: list[Account], problems: dict[int, str | None]) -> None:
        """Replace the rows; a test result is kept while the account is unchanged and
        usable, and a known problem (incomplete account) replaces "not tested yet"."""
        old = {a.id: a for a in self._accounts}
        self.beginResetModel()
        try:
            self._accounts = list(accounts)
            status: dict[int, AccountStatus] = {}
            for account in accounts:
                assert account.id is not None
                previous = self._status.get(account.id)
                problem = problems.get(account.id)
                if problem:
                    status[account.id] = unusable(problem)
                elif (
                    previous is not None
                    and previous.problem is None
                    and (old.get(account.id) == account)
                ):
                    status[account.id] = previous
                else:
                    status[account.id] = NOT_TESTED
            self._status = status
        finally:
            self.endResetModel()

    def set_status(self, account_id: int, status: AccountStatus) -> None:
        row = self.row_of(account_id)
        if row is None:
            return
        self._status[account_id] = status
        self.dataChanged.emit(self.index(row, STATUS), self.index(row, STATUS))

    def status_of(self, account_id: int) -> AccountStatus:
        return self._status.get(account_id, NOT_TESTED)

    def account_at(self, row: int) -> Account:
        return self._accounts[row]

    def accounts(self) -> list[Account]:
        return list(self._accounts)

    def row_of(self, account_id: int) -> int | None:
        for row, account in enumerate(self._accounts):
            if account.id == account_id:
                return row
        return None

    # --- Qt ------------------------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._accounts)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(COLUMNS)
        ):
            return COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._accounts):
            return None
        account = self._accounts[index.row()]
        column = index.column()
        assert account.id is not None
        status = self.status_of(account.id)
        if role == Qt.ItemDataRole.DisplayRole:
            if column == NAME:
                return account.name
            if column == PROVIDER:
                return provider_label(account)
            if column == STATUS:
                return status.text
        if role == Qt.ItemDataRole.ForegroundRole and column == STATUS:
            return status_color(status.level)
        if role == Qt.ItemDataRole.ToolTipRole and column == STATUS:
            return status.tooltip or None
        if role == Qt.ItemDataRole.UserRole:
            return account.id
        return None
