"""The Accounts screen: the provider accounts in a table (name, provider, the last "Test
connection" result), and for the selected one what it is, the webhook address to give the
provider, which keys are saved, and what the last test found.

Keyboard: Ctrl+N add, Enter edit, Del remove, Ctrl+T test the connection.
"""

from __future__ import annotations

import asyncio
import html
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtGui import QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStackedLayout,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from waapp.core.entities import Account
from waapp.core.errors import WaappError
from waapp.core.ports import HealthReport
from waapp.providers import SECRET_FIELDS
from waapp.services.accounts import is_in_process
from waapp.ui import ops
from waapp.ui.accounts.dialog import AccountDialog
from waapp.ui.accounts.model import (
    NAME,
    NOT_TESTED,
    PROVIDER,
    TESTING,
    AccountsModel,
    AccountStatus,
    provider_label,
    status_from_report,
    unusable,
)
from waapp.ui.accounts.words import LOCAL_ONLY, about, detail_rows, webhook_how
from waapp.ui.bridge import Bridge
from waapp.ui.ops import Op
from waapp.ui.screen import Screen
from waapp.ui.theme import status_color

if TYPE_CHECKING:
    from waapp.app import Services

INTRO = (
    "The providers waapp sends your messages through. Add yours, then click “Test "
    "connection” to check that it works."
)


class AccountsView(Screen):
    def __init__(self, services: Services, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.service = services.accounts
        self.model = AccountsModel(self)
        self._secret_status: dict[int, dict[str, bool]] = {}
        self._select_after_reload: int | None = None
        self.dialog: AccountDialog | None = None

        title = QLabel("Accounts")
        title.setObjectName("screenTitle")
        intro = QLabel(INTRO)
        intro.setObjectName("hint")
        intro.setWordWrap(True)

        # --- no-keyring banner ---------------------------------------------------------
        self.banner = QLabel()
        self.banner.setObjectName("keyringBanner")
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        warn = status_color("warn")
        self.banner.setStyleSheet(
            "QLabel#keyringBanner { padding: 10px 12px; border-radius: 6px; "
            f"border: 1px solid {warn.name()}; "
            f"background: rgba({warn.red()}, {warn.green()}, {warn.blue()}, 28); }}"
        )
        self.banner.hide()

        # --- actions -------------------------------------------------------------------
        self.add_btn = QPushButton("Add account")
        self.add_btn.setObjectName("primary")
        self.add_btn.setToolTip("Connect a provider account (Ctrl+N)")
        self.add_btn.clicked.connect(self.add_account)
        self.edit_btn = QPushButton("Edit…")
        self.edit_btn.setToolTip("Change the selected account (Enter)")
        self.edit_btn.clicked.connect(self.edit_account)
        self.remove_btn = QPushButton("Remove…")
        self.remove_btn.setToolTip("Remove the selected account and its saved keys (Del)")
        self.remove_btn.clicked.connect(self.remove_account)
        self.test_btn = QPushButton("Test connection")
        self.test_btn.setToolTip("Ask the provider whether this account can send (Ctrl+T)")
        self.test_btn.clicked.connect(self.test_connection)
        toolbar = QHBoxLayout()
        toolbar.addWidget(self.test_btn)
        toolbar.addWidget(self.edit_btn)
        toolbar.addWidget(self.remove_btn)
        toolbar.addStretch(1)
        toolbar.addWidget(self.add_btn)

        # --- table ---------------------------------------------------------------------
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(30)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.setColumnWidth(NAME, 220)
        self.table.setColumnWidth(PROVIDER, 300)
        self.table.setWordWrap(False)
        self.table.setAlternatingRowColors(True)
        self.table.doubleClicked.connect(lambda _i: self.edit_account())
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        self.empty = QLabel(
            "No accounts yet.\nClick “Add account” (Ctrl+N) to connect Twilio, Meta's Cloud "
            "API, Kapso or a WaSender gateway."
        )
        self.empty.setObjectName("emptyState")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        table_box = QWidget()
        self.table_stack = QStackedLayout(table_box)
        self.table_stack.addWidget(self.table)
        self.table_stack.addWidget(self.empty)

        # --- details of the selected account ---------------------------------------------
        self.details = QFrame()
        self.details.setObjectName("accountDetails")
        self.details.setFrameShape(QFrame.Shape.StyledPanel)
        self.detail_title = QLabel()
        self.detail_title.setStyleSheet("font-size: 15px; font-weight: 600;")
        self.detail_about = QLabel()
        self.detail_about.setWordWrap(True)

        self.webhook_url = QLineEdit()
        self.webhook_url.setReadOnly(True)
        self.copy_btn = QPushButton("Copy")
        self.copy_btn.setToolTip("Copy the webhook address")
        self.copy_btn.clicked.connect(self.copy_webhook_url)
        url_row = QHBoxLayout()
        url_row.addWidget(self.webhook_url, 1)
        url_row.addWidget(self.copy_btn)
        self.webhook_how = QLabel()
        self.webhook_how.setObjectName("hint")
        self.webhook_how.setWordWrap(True)
        self.webhook_note = QLabel()
        self.webhook_note.setWordWrap(True)

        self.keys_label = QLabel()
        self.keys_label.setWordWrap(True)
        self.result_summary = QLabel()
        self.result_summary.setWordWrap(True)
        self.result_summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.result_details = QLabel()
        self.result_details.setWordWrap(True)
        self.result_details.setTextFormat(Qt.TextFormat.RichText)
        self.result_details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        grid.setVerticalSpacing(8)
        grid.setHorizontalSpacing(14)
        labels = ["Webhook address", "", "", "Keys", "Last test", ""]
        rows: list[Any] = [
            url_row,
            self.webhook_how,
            self.webhook_note,
            self.keys_label,
            self.result_summary,
            self.result_details,
        ]
        for row, (label, item) in enumerate(zip(labels, rows, strict=True)):
            if label:
                caption = QLabel(label)
                caption.setStyleSheet("font-weight: 600;")
                grid.addWidget(
                    caption, row, 0, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft
                )
            if isinstance(item, QHBoxLayout):
                grid.addLayout(item, row, 1)
            else:
                grid.addWidget(item, row, 1)
        details_layout = QVBoxLayout(self.details)
        details_layout.setContentsMargins(16, 12, 16, 12)
        details_layout.addWidget(self.detail_title)
        details_layout.addWidget(self.detail_about)
        details_layout.addSpacing(6)
        details_layout.addLayout(grid)
        details_layout.addStretch(1)

        self.splitter = splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(table_box)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([200, 400])
        splitter.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addWidget(self.banner)
        layout.addLayout(toolbar)
        layout.addWidget(splitter, 1)

        self.shortcut("Ctrl+N", self.add_account)
        self.shortcut("Ctrl+T", self.test_connection)
        self.shortcut(QKeySequence.StandardKey.Delete, self.remove_account, widget=self.table)
        self.shortcut("Return", self.edit_account, widget=self.table)
        self.shortcut("Enter", self.edit_account, widget=self.table)

        bridge.accountsChanged.connect(lambda: self.spawn(self.reload()))
        bridge.intakeChanged.connect(self._show_details)  # the tunnel's URL came or went
        bridge.settingsChanged.connect(self._show_details)  # e.g. a new webhook port
        self._selection_changed()

    # --- plumbing ------------------------------------------------------------------------

    # --- loading -------------------------------------------------------------------------

    async def load(self) -> None:
        await self.reload()

    async def reload(self) -> None:
        selected = self.selected_id()
        accounts = await self.service.list()
        secret_status = {}
        for account in accounts:
            assert account.id is not None
            secret_status[account.id] = await self.service.secret_status(account)
        warning = await asyncio.to_thread(lambda: self.service.secret_store.warning)
        problems = {a.id: self.service.problem(a.id) for a in accounts if a.id is not None}
        self._secret_status = secret_status
        self.model.set_accounts(accounts, problems)
        self.banner.setText(f"Your keys are not encrypted. {warning}" if warning else "")
        self.banner.setVisible(bool(warning))
        self.table_stack.setCurrentWidget(self.table if accounts else self.empty)
        # The table as tall as its rows (a few accounts), the details below take the rest.
        header = self.table.horizontalHeader().height()
        rows_height = self.table.verticalHeader().defaultSectionSize() * (max(len(accounts), 3) + 1)
        self.splitter.setSizes([min(header + rows_height + 6, 320), 10_000])
        if self._select_after_reload is not None:
            selected, self._select_after_reload = self._select_after_reload, None
        row = self.model.row_of(selected) if selected is not None else None
        if row is None and accounts:
            row = 0
        if row is not None:
            self.table.selectionModel().select(
                self.model.index(row, 0),
                QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows,
            )
            self.table.setCurrentIndex(self.model.index(row, 0))
        self._selection_changed()

    # --- selection and details ---------------------------------------------------------

    def selected_account(self) -> Account | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= self.model.rowCount():
            return None
        return self.model.account_at(rows[0].row())

    def selected_id(self) -> int | None:
        account = self.selected_account()
        return None if account is None else account.id

    def select(self, account_id: int) -> None:
        row = self.model.row_of(account_id)
        if row is not None:
            self.table.selectRow(row)

    def _selection_changed(self) -> None:
        account = self.selected_account()
        for button in (self.edit_btn, self.remove_btn, self.test_btn):
            button.setEnabled(account is not None)
        if account is not None and account.id is not None:
            testing = self.model.status_of(account.id) is TESTING
            self.test_btn.setEnabled(not testing)
        self._show_details()

    def _show_details(self) -> None:
        account = self.selected_account()
        self.details.setVisible(account is not None)
        if account is None or account.id is None:
            return
        label = provider_label(account)
        plain = is_in_process(account) or account.name.casefold() == label.casefold()
        self.detail_title.setText(account.name if plain else f"{account.name} — {label}")
        self.detail_about.setText(about(account))
        self._show_webhook(account)
        self._show_keys(account)
        self._show_status(self.model.status_of(account.id))

    def _show_webhook(self, account: Account) -> None:
        assert account.id is not None
        intake = self.services.intake
        if not intake.receiver.running:
            self.webhook_url.setText("")
            self.webhook_url.setPlaceholderText("The webhook receiver is not running.")
            self.copy_btn.setEnabled(False)
            self.webhook_how.setText("Delivery reports cannot arrive until waapp restarts it.")
            self.webhook_note.hide()
            return
        self.webhook_url.setText(intake.url_for(account.id))
        self.copy_btn.setEnabled(True)
        self.webhook_how.setText(webhook_how(account))
        local_only = intake.public_url() is None and not is_in_process(account)
        self.webhook_note.setText(LOCAL_ONLY)
        self.webhook_note.setStyleSheet(f"color: {status_color('warn').name()};")
        self.webhook_note.setVisible(local_only)

    def _show_keys(self, account: Account) -> None:
        assert account.id is not None
        if is_in_process(account):
            self.keys_label.setText("Managed by waapp (the Sandbox's own test keys).")
            return
        stored = self._secret_status.get(account.id, {})
        parts = []
        for spec in SECRET_FIELDS[account.kind]:
            if stored.get(spec.name):
                parts.append(f"{spec.label}: saved")
            elif spec.required:
                parts.append(f"{spec.label}: missing")
        store = self.service.secret_store
        where = "in the system keyring" if store.warning is None else "in an unencrypted file"
        self.keys_label.setText((" · ".join(parts) + f"  ({where})") if parts else "No keys saved.")

    def _show_status(self, status: AccountStatus) -> None:
        color = status_color(status.level).name()
        report = status.report
        if status.problem:
            summary = status.problem
        elif report is not None:
            summary = report.summary
        else:
            summary = status.text[:1].upper() + status.text[1:]
        self.result_summary.setText(summary)
        self.result_summary.setStyleSheet(f"color: {color};")
        self.result_details.setText(self._details_html(report) if report else "")
        self.result_details.setVisible(report is not None and bool(report.details))

    @staticmethod
    def _details_html(report: HealthReport) -> str:
        rows = "".join(
            f"<tr><td style='padding-right:14px'>{html.escape(label)}</td>"
            f"<td>{html.escape(value)}</td></tr>"
            for label, value in detail_rows(report)
        )
        return f"<table cellspacing='0' cellpadding='2'>{rows}</table>"

    def copy_webhook_url(self) -> None:
        url = self.webhook_url.text()
        if url:
            QGuiApplication.clipboard().setText(url)
            self.status("Webhook address copied.")

    # --- actions -------------------------------------------------------------------------

    def add_account(self) -> None:
        self._open_dialog(AccountDialog(self.service, parent=self))

    def edit_account(self) -> None:
        account = self.selected_account()
        if account is None or account.id is None:
            return
        dialog = AccountDialog(
            self.service,
            account=account,
            secret_status=self._secret_status.get(account.id, {}),
            parent=self,
        )
        self._open_dialog(dialog)

    def _open_dialog(self, dialog: AccountDialog) -> None:
        dialog.finished.connect(lambda result: self._dialog_done(dialog, result))
        dialog.open()
        self.dialog = dialog  # kept for tests and so that it is not collected

    def _dialog_done(self, dialog: AccountDialog, result: int) -> None:
        saved = dialog.saved
        if result and saved is not None and saved.id is not None:
            self._select_after_reload = saved.id
            self.status(f"Saved the account “{saved.name}”.")

    def remove_account(self) -> None:
        account = self.selected_account()
        if account is None or account.id is None:
            return
        account_id = account.id
        answer = QMessageBox.question(
            self,
            "Remove account",
            f"Remove the account “{account.name}”?\n\n"
            "Its keys are deleted from the keyring, and its templates and the delivery "
            "reports and replies received through it are deleted too. Your contacts and "
            "other accounts stay. This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        Op(self, lambda: self.service.remove(account_id)).success(
            lambda _r: self.status(f"Removed the account “{account.name}”.")
        ).failure(
            lambda error: ops.show_error(self, error, title="The account was not removed")
        ).run()

    def test_connection(self) -> None:
        account = self.selected_account()
        if account is None or account.id is None:
            return
        account_id = account.id
        if self.model.status_of(account_id) is TESTING:
            return
        self.model.set_status(account_id, TESTING)
        self._selection_changed()

        def done(report: HealthReport) -> None:
            self.model.set_status(account_id, status_from_report(report))
            self._selection_changed()
            self.status(f"{account.name}: {report.summary}")

        def failed(error: BaseException) -> None:
            if isinstance(error, WaappError):
                self.model.set_status(account_id, unusable(error.message, error.what_to_do))
                self._selection_changed()
                self.status(f"{account.name}: {error.message}")
            else:
                self.model.set_status(account_id, NOT_TESTED)
                self._selection_changed()
                ops.show_error(self, error, title="The test could not be made")

        Op(self, lambda: self.service.test_connection(account_id)).success(done).failure(
            failed
        ).run()
