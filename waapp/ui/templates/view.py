"""The Templates screen: every template (approved ones synced from the providers, local
free-form messages and drafts) with filters and search, a detail pane, "Sync from provider",
and the editor for local ones. Keyboard: Ctrl+N new message, Enter edit, Del delete,
Ctrl+R sync, Ctrl+F search."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStackedLayout,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from waapp.core.entities import Account, Contact, Template
from waapp.core.errors import WaappError
from waapp.core.ports import ContactQuery, ContactSort
from waapp.services.templates import AccountSync, has_templates, is_editable, summary_text
from waapp.store.templates import DELETED_STATUS, SyncSummary
from waapp.ui.bridge import Bridge
from waapp.ui.ops import Op, show_error
from waapp.ui.screen import Screen
from waapp.ui.templates.detail import TemplateDetail
from waapp.ui.templates.editor import TemplateEditor
from waapp.ui.templates.model import KIND_FILTERS, STATUS_FILTERS, TemplatesModel, kind_key
from waapp.ui.theme import status_color

if TYPE_CHECKING:
    from waapp.app import Services

SAMPLE_CONTACTS = 50


class TemplatesView(Screen):
    def __init__(self, services: Services, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.service = services.templates
        self.model = TemplatesModel(self)
        self._all: list[Template] = []
        self._accounts: list[Account] = []
        self._fields: list[str] = []
        self._select_after_reload: int | None = None
        self.editor: TemplateEditor | None = None

        # --- toolbar -------------------------------------------------------------------
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search name or text   (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(150)
        self._search_timer.timeout.connect(self.apply_filters)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.account_filter = QComboBox()
        self.account_filter.addItem("All accounts", None)
        self.kind_filter = QComboBox()
        for label, value in KIND_FILTERS:
            self.kind_filter.addItem(label, value)
        self.status_filter = QComboBox()
        for index, (label, _test) in enumerate(STATUS_FILTERS):
            self.status_filter.addItem(label, index)
        for combo in (self.account_filter, self.kind_filter, self.status_filter):
            combo.currentIndexChanged.connect(lambda _i: self.apply_filters())

        self.sync_btn = QToolButton()
        self.sync_btn.setText("Sync from provider")
        self.sync_btn.setToolTip(
            "Fetch the approved templates and their status from your providers (Ctrl+R)"
        )
        self.sync_btn.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.sync_btn.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.sync_menu = QMenu(self.sync_btn)
        self.sync_btn.setMenu(self.sync_menu)
        self.sync_btn.clicked.connect(lambda: self.sync())
        self.new_btn = QPushButton("New message")
        self.new_btn.setObjectName("primary")
        self.new_btn.setToolTip("Write a free-form message (Ctrl+N)")
        self.new_btn.clicked.connect(self.new_message)

        toolbar = QHBoxLayout()
        toolbar.addWidget(self.search, 1)
        toolbar.addWidget(self.account_filter)
        toolbar.addWidget(self.kind_filter)
        toolbar.addWidget(self.status_filter)
        toolbar.addWidget(self.sync_btn)
        toolbar.addWidget(self.new_btn)

        self.sync_result = QLabel()
        self.sync_result.setWordWrap(True)
        self.sync_result.hide()

        # --- table and detail ----------------------------------------------------------
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(28)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.doubleClicked.connect(lambda _i: self.edit_selected())
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(
            lambda pos: self._context_menu().exec(self.table.viewport().mapToGlobal(pos))
        )
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())
        for column, width in enumerate((140, 115, 95, 200, 100, 75, 95)):
            self.table.setColumnWidth(column, width)

        self.empty = QLabel()
        self.empty.setObjectName("emptyState")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        table_box = QWidget()
        self.table_stack = QStackedLayout(table_box)
        self.table_stack.addWidget(self.table)
        self.table_stack.addWidget(self.empty)

        self.detail = TemplateDetail()
        splitter = QSplitter()
        splitter.addWidget(table_box)
        splitter.addWidget(self.detail)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([740, 320])

        # --- actions -------------------------------------------------------------------
        self.summary = QLabel()
        self.edit_btn = QPushButton("Edit")
        self.edit_btn.clicked.connect(self.edit_selected)
        self.delete_btn = QPushButton("Delete")
        self.delete_btn.clicked.connect(self.delete_selected)
        actions = QHBoxLayout()
        actions.addWidget(self.summary, 1)
        actions.addWidget(self.edit_btn)
        actions.addWidget(self.delete_btn)

        title = QLabel("Templates")
        title.setObjectName("screenTitle")
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addLayout(toolbar)
        layout.addWidget(self.sync_result)
        layout.addWidget(splitter, 1)
        layout.addLayout(actions)

        self.shortcut("Ctrl+N", self.new_message)
        self.shortcut("Ctrl+R", lambda: self.sync())
        self.shortcut("Ctrl+F", lambda: (self.search.setFocus(), self.search.selectAll()))
        self.shortcut(QKeySequence.StandardKey.Delete, self.delete_selected, widget=self.table)
        self.shortcut("Return", self.edit_selected, widget=self.table)
        self.shortcut("Enter", self.edit_selected, widget=self.table)

        bridge.templatesChanged.connect(lambda: self.spawn(self.reload()))
        bridge.accountsChanged.connect(lambda: self.spawn(self.reload()))
        bridge.contactsChanged.connect(lambda: self.spawn(self._reload_fields()))
        self._update_actions()

    # --- loading -------------------------------------------------------------------------

    async def load(self) -> None:
        await self.reload()
        await self._reload_fields()

    async def _reload_fields(self) -> None:
        self._fields = await self.services.contacts.field_names()
        self._show_detail()

    async def reload(self) -> None:
        self._accounts = await self.services.accounts.list()
        self._all = await self.service.list()
        self._fill_accounts()
        self.apply_filters()

    def _fill_accounts(self) -> None:
        current = self.account_filter.currentData()
        self.account_filter.blockSignals(True)
        try:
            self.account_filter.clear()
            self.account_filter.addItem("All accounts", None)
            for account in self._accounts:
                self.account_filter.addItem(account.name, account.id)
            self.account_filter.setCurrentIndex(max(0, self.account_filter.findData(current)))
        finally:
            self.account_filter.blockSignals(False)
        self.sync_menu.clear()
        syncable = [a for a in self._accounts if has_templates(a) and a.id is not None]
        if len(syncable) > 1:
            self.sync_menu.addAction("All accounts", lambda: self.sync(None))
            self.sync_menu.addSeparator()
        for account in syncable:
            self.sync_menu.addAction(account.name, lambda a=account.id: self.sync(a))
        self.sync_btn.setEnabled(bool(syncable))
        if not syncable:
            self.sync_btn.setToolTip("Add a provider account in Accounts to sync its templates")

    def _visible(self, template: Template) -> bool:
        account_id = self.account_filter.currentData()
        if account_id is not None and template.account_id not in (account_id, None):
            return False
        kind = self.kind_filter.currentData()
        if kind is not None and kind_key(template) != kind:
            return False
        _label, test = STATUS_FILTERS[self.status_filter.currentData() or 0]
        if not test(template):
            return False
        words = self.search.text().casefold().split()
        text = f"{template.name} {template.body} {template.footer or ''}".casefold()
        return all(word in text for word in words)

    def apply_filters(self) -> None:
        selected = self.selected()
        keep = self._select_after_reload or (selected.id if selected else None)
        self._select_after_reload = None
        names = {a.id: a.name for a in self._accounts if a.id is not None}
        self.model.set_rows([t for t in self._all if self._visible(t)], names)
        row = self.model.row_of(keep) if keep is not None else None
        if row is None and self.model.rowCount():
            row = 0
        if row is not None:
            self.table.selectRow(row)
            self.table.scrollTo(self.model.index(row, 0))
        self._show_empty()
        self._selection_changed()

    def _show_empty(self) -> None:
        if self.model.rowCount():
            self.table_stack.setCurrentWidget(self.table)
            return
        if not self._all:
            self.empty.setText(
                "No templates yet.\nClick “Sync from provider” (Ctrl+R) to fetch your approved "
                "WhatsApp templates,\nor “New message” (Ctrl+N) to write a free-form message."
            )
        else:
            self.empty.setText("No template matches the search and filters.")
        self.table_stack.setCurrentWidget(self.empty)

    # --- selection -----------------------------------------------------------------------

    def selected(self) -> Template | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= self.model.rowCount():
            return None
        return self.model.template_at(rows[0].row())

    def _selection_changed(self) -> None:
        self._show_detail()
        self._update_actions()

    def _show_detail(self) -> None:
        template = self.selected()
        self.detail.show_template(
            template,
            account_name=self.model.account_name(template) if template else "",
            field_names=self._fields,
        )

    def _update_actions(self) -> None:
        template = self.selected()
        shown, total = self.model.rowCount(), len(self._all)
        self.summary.setText(
            f"{total} template{'s' if total != 1 else ''}"
            if shown == total
            else f"{shown} of {total} templates"
        )
        editable = template is not None and is_editable(template)
        self.edit_btn.setEnabled(editable)
        self.delete_btn.setEnabled(template is not None and self._deletable(template))
        read_only = "Approved templates are edited in the provider's console, then synced"
        self.edit_btn.setToolTip("" if editable or template is None else read_only)

    @staticmethod
    def _deletable(template: Template) -> bool:
        return is_editable(template) or template.status == DELETED_STATUS

    def _context_menu(self) -> QMenu:
        menu = QMenu(self)
        template = self.selected()
        menu.addAction("New message…", self.new_message)
        menu.addAction("Edit…", self.edit_selected).setEnabled(
            template is not None and is_editable(template)
        )
        menu.addAction("Delete…", self.delete_selected).setEnabled(
            template is not None and self._deletable(template)
        )
        return menu

    # --- editing -------------------------------------------------------------------------

    def new_message(self) -> None:
        self.spawn(self._open_editor(None))

    def edit_selected(self) -> None:
        template = self.selected()
        if template is None:
            return
        if not is_editable(template):
            self.status(
                f"“{template.name}” comes from the provider: edit it in the provider's console, "
                "then use “Sync from provider”."
            )
            return
        self.spawn(self._open_editor(template))

    async def _samples(self) -> list[Contact]:
        contacts = self.services.contacts
        ids = await contacts.ids(ContactQuery(sort=ContactSort.NAME))
        return await contacts.get_many(ids[:SAMPLE_CONTACTS])

    async def _open_editor(self, template: Template | None) -> None:
        self._fields = await self.services.contacts.field_names()
        editor = TemplateEditor(
            self.service,
            accounts=self._accounts,
            field_names=self._fields,
            samples=await self._samples(),
            template=template,
            account_id=self.account_filter.currentData(),
            parent=self,
        )
        editor.finished.connect(lambda result: self._editor_done(editor, result))
        editor.open()
        self.editor = editor  # kept for tests and so it is not collected

    def _editor_done(self, editor: TemplateEditor, result: int) -> None:
        if result and editor.saved is not None:
            self._select_after_reload = editor.saved.id
            self.status(f"Saved “{editor.saved.name}”.")

    def delete_selected(self) -> None:
        template = self.selected()
        if template is None or template.id is None:
            return
        if not self._deletable(template):
            self.status(
                f"“{template.name}” comes from the provider: delete it in the provider's "
                "console, then use “Sync from provider”."
            )
            return
        answer = QMessageBox.question(
            self,
            "Delete template",
            f"Delete “{template.name}”? This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Yes:
            template_id = template.id
            Op(self, lambda: self.service.delete(template_id)).success(
                lambda _r: self.status(f"Deleted “{template.name}”.")
            ).run()

    # --- sync ----------------------------------------------------------------------------

    def sync(self, account_id: int | None = None) -> asyncio.Task[Any] | None:
        """Sync one account; without one, the account filtered on, else every account."""
        if not self.sync_btn.isEnabled():
            return None
        if account_id is None:
            account_id = self.account_filter.currentData()
        account = next((a for a in self._accounts if a.id == account_id), None)
        if account is not None and account.id is not None and has_templates(account):
            chosen_id, name = account.id, account.name
            return (
                Op(self, lambda: self.service.sync(chosen_id))
                .with_progress(f"Fetching the templates of {name}…")
                .success(lambda summary: self._synced([AccountSync(account, summary=summary)]))
                .failure(lambda error: self._synced([AccountSync(account, error=_waapp(error))]))
                .run()
            )
        return (
            Op(self, self.service.sync_all)
            .with_progress("Fetching the templates of every account…")
            .success(self._synced)
            .run()
        )

    def _synced(self, results: list[AccountSync]) -> None:
        lines: list[str] = []
        failed = [r for r in results if r.error is not None]
        for result in results:
            if result.summary is not None:
                lines.append(f"{result.account.name}: {summary_text(result.summary)}.")
            elif result.error is not None:
                lines.append(f"{result.account.name}: not synced — {result.error.message}")
        if not lines:
            lines.append("No account with templates to sync.")
        self.sync_result.setText("  ".join(lines) if len(lines) > 1 else lines[0])
        color = status_color("bad" if failed else "ok").name()
        self.sync_result.setStyleSheet(f"color: {color};")
        self.sync_result.show()
        ok = [r for r in results if r.summary is not None]
        if len(ok) == 1 and not failed:
            self.status(f"Synced {ok[0].account.name}: {_plain(ok[0].summary)}.")
        for result in failed:
            assert result.error is not None
            show_error(self, result.error, title=f"Sync of {result.account.name} failed")


def _plain(summary: SyncSummary | None) -> str:
    return summary_text(summary) if summary is not None else ""


def _waapp(error: BaseException) -> WaappError:
    if isinstance(error, WaappError):
        return error
    return WaappError(
        "The templates could not be fetched because of an unexpected problem.",
        what_to_do="Try again; if it keeps happening, send the log file to support.",
    )
