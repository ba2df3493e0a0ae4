"""The Contacts screen: groups on the left, the contacts table on the right, actions for the
selection, and keyboard shortcuts (Ctrl+N add, Enter edit, Del delete, Ctrl+F search,
Ctrl+G add to group, Ctrl+Shift+N new group)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelectionModel, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
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

from waapp.core.entities import Group
from waapp.core.ports import ContactQuery
from waapp.services.contacts import ContactService
from waapp.services.exporter import ExportService
from waapp.services.importer import ImportReport, ImportService
from waapp.ui.bridge import Bridge
from waapp.ui.contacts.dialog import ContactDialog
from waapp.ui.contacts.import_wizard import ImportWizard
from waapp.ui.contacts.model import ContactsModel
from waapp.ui.ops import Op
from waapp.ui.screen import Screen

ALL = -1  # the "All contacts" entry of the groups list

EXPORT_FILTER = "Excel workbook (*.xlsx);;CSV, opens in any spreadsheet program (*.csv)"

OPT_FILTERS = [("Everyone", None), ("Subscribed only", False), ("Opted out only", True)]


class ContactsView(Screen):
    def __init__(
        self,
        service: ContactService,
        bridge: Bridge,
        *,
        importer: ImportService | None = None,
        exporter: ExportService | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.service = service
        self.importer = importer
        self.exporter = exporter
        self.model = ContactsModel(service, self)
        self._groups: list[Group] = []
        self._total_all = 0
        self._select_after_reload: int | None = None

        # --- groups panel --------------------------------------------------------------
        self.group_list = QListWidget()
        self.group_list.setObjectName("groups")
        self.group_list.currentItemChanged.connect(lambda *_: self._apply_filters())
        self.group_list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.group_list.customContextMenuRequested.connect(self._group_menu)
        self.new_group_btn = QPushButton("New group")
        self.new_group_btn.clicked.connect(self.new_group)
        self.rename_group_btn = QPushButton("Rename")
        self.rename_group_btn.clicked.connect(self.rename_group)
        self.delete_group_btn = QPushButton("Delete")
        self.delete_group_btn.clicked.connect(self.delete_group)
        group_buttons = QHBoxLayout()
        for b in (self.new_group_btn, self.rename_group_btn, self.delete_group_btn):
            group_buttons.addWidget(b)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        groups_title = QLabel("Groups")
        groups_title.setStyleSheet("font-weight: 600;")
        left_layout.addWidget(groups_title)
        left_layout.addWidget(self.group_list)
        left_layout.addLayout(group_buttons)

        # --- toolbar -------------------------------------------------------------------
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search name, number or any field   (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(200)
        self._search_timer.timeout.connect(self._apply_filters)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.opt_filter = QComboBox()
        for label, value in OPT_FILTERS:
            self.opt_filter.addItem(label, value)
        self.opt_filter.currentIndexChanged.connect(lambda _i: self._apply_filters())
        self.add_btn = QPushButton("Add contact")
        self.add_btn.setObjectName("primary")
        self.add_btn.setToolTip("Add a contact (Ctrl+N)")
        self.add_btn.clicked.connect(self.add_contact)
        self.import_btn = QPushButton("Import…")
        self.import_btn.setToolTip(
            "Import contacts from a spreadsheet (Ctrl+I) — or drop the file on the window"
        )
        self.import_btn.clicked.connect(lambda: self.import_file(None))
        self.import_btn.setVisible(importer is not None)
        self.export_btn = QToolButton()
        self.export_btn.setText("Export")
        self.export_btn.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        export_menu = QMenu(self.export_btn)
        self.export_all_action = export_menu.addAction(
            "All contacts…", lambda: self.export_contacts("all")
        )
        self.export_group_action = export_menu.addAction(
            "This group…", lambda: self.export_contacts("group")
        )
        self.export_selected_action = export_menu.addAction(
            "Selected contacts…", lambda: self.export_contacts("selected")
        )
        self.export_btn.setMenu(export_menu)
        self.export_btn.setVisible(exporter is not None)
        toolbar = QHBoxLayout()
        toolbar.addWidget(self.search, 1)
        toolbar.addWidget(self.opt_filter)
        toolbar.addWidget(self.import_btn)
        toolbar.addWidget(self.export_btn)
        toolbar.addWidget(self.add_btn)

        # --- table ---------------------------------------------------------------------
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(28)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.doubleClicked.connect(lambda _i: self.edit_contact())
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(
            lambda pos: self._selection_menu().exec(self.table.viewport().mapToGlobal(pos))
        )
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_actions())
        for column, width in enumerate((200, 160, 100, 140, 140)):
            self.table.setColumnWidth(column, width)

        self.empty = QLabel()
        self.empty.setObjectName("emptyState")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.table_stack = QStackedLayout()
        self.table_stack.addWidget(self.table)
        self.table_stack.addWidget(self.empty)

        # --- selection bar -------------------------------------------------------------
        self.summary = QLabel()
        self.edit_btn = QPushButton("Edit")
        self.edit_btn.clicked.connect(self.edit_contact)
        self.group_btn = QToolButton()
        self.group_btn.setText("Add to group")
        self.group_btn.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.group_btn.setMenu(QMenu(self.group_btn))
        self.group_btn.menu().aboutToShow.connect(
            lambda: self._fill_group_menu(self.group_btn.menu())
        )
        self.remove_btn = QPushButton("Remove from group")
        self.remove_btn.clicked.connect(self.remove_from_group)
        self.opt_out_btn = QPushButton("Opt out…")
        self.opt_out_btn.clicked.connect(self.opt_out)
        self.opt_in_btn = QPushButton("Opt back in")
        self.opt_in_btn.clicked.connect(self.opt_in)
        self.delete_btn = QPushButton("Delete")
        self.delete_btn.clicked.connect(self.delete_contacts)
        actions = QHBoxLayout()
        actions.addWidget(self.summary, 1)
        for w in (
            self.edit_btn,
            self.group_btn,
            self.remove_btn,
            self.opt_out_btn,
            self.opt_in_btn,
            self.delete_btn,
        ):
            actions.addWidget(w)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addLayout(toolbar)
        right_layout.addLayout(self.table_stack, 1)
        right_layout.addLayout(actions)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([190, 1000])
        title = QLabel("Contacts")
        title.setObjectName("screenTitle")
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(splitter, 1)

        self.shortcut("Ctrl+N", self.add_contact)
        self.shortcut("Ctrl+F", lambda: (self.search.setFocus(), self.search.selectAll()))
        self.shortcut("Ctrl+Shift+N", self.new_group)
        self.shortcut("Ctrl+I", lambda: self.import_file(None))
        self.shortcut(
            "Ctrl+G", lambda: self.group_btn.showMenu() if self.group_btn.isEnabled() else None
        )
        self.shortcut(QKeySequence.StandardKey.Delete, self.delete_contacts, widget=self.table)
        self.shortcut("Return", self.edit_contact, widget=self.table)
        self.shortcut("Enter", self.edit_contact, widget=self.table)
        self.search_escape = QAction(self.search)
        self.search_escape.setShortcut("Escape")
        self.search_escape.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.search_escape.triggered.connect(self.search.clear)
        self.search.addAction(self.search_escape)

        self.model.refreshed.connect(self._on_refreshed)
        self.model.modelReset.connect(self._update_actions)
        bridge.contactsChanged.connect(lambda: self.spawn(self.reload_contacts()))
        bridge.groupsChanged.connect(lambda: self.spawn(self.reload_groups()))
        self._update_actions()

    # --- loading -------------------------------------------------------------------------

    async def load(self) -> None:
        """First load: groups, then contacts."""
        await self.reload_groups()
        await self.reload_contacts()

    def current_group_id(self) -> int | None:
        item = self.group_list.currentItem()
        if item is None:
            return None
        value = item.data(Qt.ItemDataRole.UserRole)
        return None if value == ALL else int(value)

    def current_group(self) -> Group | None:
        group_id = self.current_group_id()
        return next((g for g in self._groups if g.id == group_id), None)

    def _query(self) -> ContactQuery:
        return replace(
            self.model.query,
            search=self.search.text().strip(),
            group_id=self.current_group_id(),
            opted_out=self.opt_filter.currentData(),
        )

    def _apply_filters(self) -> None:
        self.spawn(self.reload_contacts())

    async def reload_contacts(self) -> None:
        # The total first: once the rows are shown, nothing may wait any more, or a
        # selection made in between would be replaced by the one from before.
        total = await self.service.count(ContactQuery())
        selected = self.selected_ids()
        await self.model.refresh(self._query())
        self._total_all = total
        if self._select_after_reload is not None:
            selected, self._select_after_reload = [self._select_after_reload], None
        self._reselect(selected)
        if selected and (row := self.model.row_of(selected[0])) is not None:
            self.table.scrollTo(self.model.index(row, 0))
        self._update_actions()

    async def reload_groups(self) -> None:
        current = self.current_group_id()
        self._groups = await self.service.groups()
        total = await self.service.count(ContactQuery())
        self.group_list.blockSignals(True)
        try:
            self.group_list.clear()
            all_item = QListWidgetItem(f"All contacts  ({total})")
            all_item.setData(Qt.ItemDataRole.UserRole, ALL)
            self.group_list.addItem(all_item)
            for group in self._groups:
                item = QListWidgetItem(f"{group.name}  ({group.member_count})")
                item.setData(Qt.ItemDataRole.UserRole, group.id)
                self.group_list.addItem(item)
            row = next((i for i, g in enumerate(self._groups, start=1) if g.id == current), 0)
            self.group_list.setCurrentRow(row)
        finally:
            self.group_list.blockSignals(False)
        if current is not None and self.current_group_id() != current:
            self._apply_filters()  # the filtered group is gone
        self._update_actions()

    def _reselect(self, ids: list[int]) -> None:
        selection = self.table.selectionModel()
        selection.clearSelection()
        for contact_id in ids:
            row = self.model.row_of(contact_id)
            if row is not None:
                selection.select(
                    self.model.index(row, 0),
                    QItemSelectionModel.SelectionFlag.Select
                    | QItemSelectionModel.SelectionFlag.Rows,
                )

    def _on_refreshed(self, count: int) -> None:
        query = self.model.query
        if count:
            self.table_stack.setCurrentWidget(self.table)
        else:
            if query.search:
                self.empty.setText(f"No contact matches “{query.search}”.")
            elif query.group_id is not None:
                self.empty.setText(
                    "This group is empty.\nSelect contacts under “All contacts” and use “Add to group” (Ctrl+G)."
                )
            elif query.opted_out is not None:
                self.empty.setText("No contacts with this status.")
            else:
                self.empty.setText(
                    "No contacts yet.\nClick “Add contact” (Ctrl+N) to add your first one."
                )
            self.table_stack.setCurrentWidget(self.empty)

    def selected_rows(self) -> list[int]:
        return sorted(index.row() for index in self.table.selectionModel().selectedRows())

    def selected_ids(self) -> list[int]:
        return [
            self.model.id_at(row) for row in self.selected_rows() if row < self.model.rowCount()
        ]

    def _update_actions(self) -> None:
        n = len(self.table.selectionModel().selectedRows())
        shown = self.model.rowCount()
        self.summary.setText(
            f"{shown} of {self._total_all} contacts" + (f" · {n} selected" if n else "")
        )
        self.edit_btn.setEnabled(n == 1)
        for w in (self.group_btn, self.opt_out_btn, self.opt_in_btn, self.delete_btn):
            w.setEnabled(n > 0)
        self.remove_btn.setEnabled(n > 0 and self.current_group_id() is not None)
        has_group = self.current_group_id() is not None
        self.export_group_action.setEnabled(has_group)
        self.export_selected_action.setEnabled(n > 0)
        self.rename_group_btn.setEnabled(has_group)
        self.delete_group_btn.setEnabled(has_group)

    def _selection_menu(self) -> QMenu:
        menu = QMenu(self)
        n = len(self.selected_ids())
        menu.addAction("Edit…", self.edit_contact).setEnabled(n == 1)
        groups = menu.addMenu("Add to group")
        self._fill_group_menu(groups)
        groups.setEnabled(n > 0)
        remove = menu.addAction("Remove from this group", self.remove_from_group)
        remove.setEnabled(n > 0 and self.current_group_id() is not None)
        menu.addSeparator()
        menu.addAction("Opt out…", self.opt_out).setEnabled(n > 0)
        menu.addAction("Opt back in", self.opt_in).setEnabled(n > 0)
        menu.addSeparator()
        menu.addAction("Delete…", self.delete_contacts).setEnabled(n > 0)
        return menu

    def _fill_group_menu(self, menu: QMenu) -> None:
        menu.clear()
        for group in self._groups:
            assert group.id is not None
            menu.addAction(group.name, lambda gid=group.id: self.add_to_group(gid))
        if self._groups:
            menu.addSeparator()
        menu.addAction("New group…", lambda: self.new_group(add_selection=True))

    def _group_menu(self, pos: Any) -> None:
        menu = QMenu(self)
        menu.addAction("New group…", self.new_group)
        if self.current_group_id() is not None:
            menu.addAction("Rename…", self.rename_group)
            menu.addAction("Delete…", self.delete_group)
        menu.exec(self.group_list.viewport().mapToGlobal(pos))

    # --- contact actions -----------------------------------------------------------------

    def add_contact(self) -> None:
        self.spawn(self._open_dialog(None))

    def edit_contact(self) -> None:
        ids = self.selected_ids()
        if len(ids) == 1:
            self.spawn(self._open_dialog(ids[0]))

    async def _open_dialog(self, contact_id: int | None) -> None:
        region = await self.service.default_region()
        contact = await self.service.get(contact_id) if contact_id is not None else None
        member_of = (
            [g.id for g in await self.service.groups_of(contact_id)]
            if contact_id is not None
            else []
        )
        preset = (
            []
            if contact_id is not None
            else ([self.current_group_id()] if self.current_group_id() else [])
        )
        dialog = ContactDialog(
            self.service,
            groups=self._groups,
            default_region=region,
            contact=contact,
            member_of=[g for g in member_of + preset if g is not None],
            parent=self,
        )
        dialog.finished.connect(lambda result: self._dialog_done(dialog, result))
        dialog.open()
        self.dialog = dialog  # kept for tests and so it is not collected

    def _dialog_done(self, dialog: ContactDialog, result: int) -> None:
        if result and dialog.saved is not None:
            self.status(f"Saved {dialog.saved.name or dialog.saved.phone_e164}.")
            if dialog.saved.id is not None:
                self._select_after_reload = dialog.saved.id

    def delete_contacts(self) -> None:
        ids = self.selected_ids()
        if not ids:
            return
        answer = QMessageBox.question(
            self,
            "Delete contacts",
            f"Delete {len(ids)} contact{'s' if len(ids) != 1 else ''}? This cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Yes:
            Op(self, lambda: self.service.delete_contacts(ids)).success(
                lambda n: self.status(f"Deleted {n} contacts.")
            ).run()

    def opt_out(self) -> None:
        ids = self.selected_ids()
        if not ids:
            return
        reason, ok = QInputDialog.getText(
            self,
            "Opt out",
            f"Why do {'these contacts' if len(ids) > 1 else 'they'} not want messages?\n"
            "Opted-out contacts are skipped by every campaign.",
            text="Asked not to be contacted",
        )
        if ok:
            Op(self, lambda: self.service.set_opt_out(ids, opted_out=True, reason=reason)).success(
                lambda n: self.status(f"{n} contacts opted out.")
            ).run()

    def opt_in(self) -> None:
        ids = self.selected_ids()
        if ids:
            Op(self, lambda: self.service.set_opt_out(ids, opted_out=False)).success(
                lambda n: self.status(f"{n} contacts opted back in.")
            ).run()

    # --- group actions -------------------------------------------------------------------

    def add_to_group(self, group_id: int) -> None:
        ids = self.selected_ids()
        name = next((g.name for g in self._groups if g.id == group_id), "the group")
        Op(self, lambda: self.service.add_to_group(group_id, ids)).success(
            lambda n: self.status(f"Added {n} contacts to {name}.")
        ).run()

    def remove_from_group(self) -> None:
        group = self.current_group()
        ids = self.selected_ids()
        if group is None or group.id is None or not ids:
            return
        gid = group.id
        Op(self, lambda: self.service.remove_from_group(gid, ids)).success(
            lambda n: self.status(f"Removed {n} contacts from {group.name}.")
        ).run()

    def new_group(self, add_selection: bool = False) -> None:
        name, ok = QInputDialog.getText(self, "New group", "Name of the new group:")
        if not ok:
            return
        ids = self.selected_ids() if add_selection else []

        async def create() -> Group:
            group = await self.service.create_group(name)
            if ids and group.id is not None:
                await self.service.add_to_group(group.id, ids)
            return group

        Op(self, create).success(lambda g: self.status(f"Created group {g.name}.")).run()

    def rename_group(self) -> None:
        group = self.current_group()
        if group is None or group.id is None:
            return
        gid = group.id
        name, ok = QInputDialog.getText(self, "Rename group", "New name:", text=group.name)
        if ok:
            Op(self, lambda: self.service.rename_group(gid, name)).run()

    def delete_group(self) -> None:
        group = self.current_group()
        if group is None or group.id is None:
            return
        gid = group.id
        answer = QMessageBox.question(
            self,
            "Delete group",
            f"Delete the group “{group.name}”? Its {group.member_count} contacts stay in your list.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Yes:
            Op(self, lambda: self.service.delete_group(gid)).success(
                lambda _r: self.status(f"Deleted group {group.name}.")
            ).run()

    # --- spreadsheets --------------------------------------------------------------------

    def import_file(self, path: Path | None) -> None:
        """Open the import wizard (on ``path`` when a file was dropped on the window)."""
        if self.importer is not None:
            self.spawn(self._open_import(path))

    async def _open_import(self, path: Path | None) -> None:
        assert self.importer is not None
        wizard = ImportWizard(
            self.importer,
            groups=self._groups,
            default_region=await self.service.default_region(),
            path=path,
            export_report=self.export_report if self.exporter else None,
            parent=self,
        )
        wizard.finished.connect(lambda _r: self.status("Import wizard closed."))
        wizard.open()
        self.wizard = wizard  # kept for tests and so it is not collected

    def _save_path(self, title: str, suggested: str) -> Path | None:
        name, chosen = QFileDialog.getSaveFileName(self, title, suggested, EXPORT_FILTER)
        if not name:
            return None
        path = Path(name)
        if path.suffix.lower() not in (".xlsx", ".csv"):
            path = path.with_suffix(".csv" if "csv" in chosen.lower() else ".xlsx")
        return path

    def export_contacts(self, which: str) -> None:
        if self.exporter is None:
            return
        exporter = self.exporter
        group = self.current_group()
        suggested = f"{group.name if which == 'group' and group else 'contacts'}.xlsx"
        path = self._save_path("Export contacts", suggested)
        if path is None:
            return
        kwargs: dict[str, Any] = {}
        if which == "group" and group is not None:
            kwargs["group_id"] = group.id
        elif which == "selected":
            kwargs["contact_ids"] = self.selected_ids()
        Op(self, lambda: exporter.export_contacts(path, **kwargs)).with_progress(
            "Exporting contacts…"
        ).success(lambda n: self.status(f"Exported {n} contacts to {path.name}.")).run()

    def export_report(self, report: ImportReport) -> None:
        if self.exporter is None:
            return
        exporter = self.exporter
        path = self._save_path("Export the import report", "import-report.xlsx")
        if path is not None:
            Op(self, lambda: exporter.export_import_report(report, path)).success(
                lambda n: self.status(f"Saved the report ({n} rows) to {path.name}.")
            ).run()

    def shutdown(self) -> None:
        self.model.cancel_pending()
        super().shutdown()
