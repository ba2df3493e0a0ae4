"""The import wizard: file → sheet and header → columns → country and policies → preview →
import with progress (and Cancel) → report. Nothing is written before the last step, and a
cancelled import leaves the contacts exactly as they were."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from waapp.core.entities import Group
from waapp.core.errors import WaappError
from waapp.core.progress import Cancelled, CancelToken
from waapp.services.importer import (
    ImportOptions,
    ImportReport,
    ImportService,
    RowResult,
    SpreadsheetInfo,
    UpdatePolicy,
    Verdict,
)
from waapp.services.spreadsheet import NO_HEADER, SUPPORTED, ColumnMapping, column_label
from waapp.ui.contacts.dialog import fill_countries
from waapp.ui.ops import Op
from waapp.ui.theme import status_color
from waapp.ui.wizard_bar import WizardBar

IGNORE, PHONE, NAME, NAME_PART, FIELD = "ignore", "phone", "name", "name_part", "field"
OPT_OUT, OPT_OUT_REASON = "opt_out", "opt_out_reason"

ROLES = [
    ("Ignore", IGNORE),
    ("Phone number", PHONE),
    ("Name", NAME),
    ("Part of the name (first / last)", NAME_PART),
    ("Opted out (yes / no)", OPT_OUT),
    ("Opt-out reason", OPT_OUT_REASON),
]

VERDICT_LABELS = {
    Verdict.NEW: ("New contact", "ok"),
    Verdict.UPDATE: ("Updates a contact", "ok"),
    Verdict.UNCHANGED: ("Already up to date", "muted"),
    Verdict.DUPLICATE_IN_FILE: ("Duplicate in the file", "warn"),
    Verdict.INVALID: ("Cannot be used", "bad"),
    Verdict.OPTED_OUT: ("Opted out — stays opted out", "warn"),
}

FILE_FILTER = "Spreadsheets (" + " ".join(f"*{s}" for s in SUPPORTED) + ")"


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def totals_text(report: ImportReport) -> str:
    parts = [
        f"{report.imported} new",
        f"{report.updated} updated",
        f"{report.unchanged} unchanged",
        _count(report.duplicates, "duplicate in the file", "duplicates in the file"),
        f"{report.invalid} cannot be used",
    ]
    if report.opted_out:
        parts.append(
            _count(
                report.opted_out, "opted out (stays opted out)", "opted out (they stay opted out)"
            )
        )
    return " · ".join(parts)


def fill_rows(table: QTableWidget, rows: list[RowResult]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        label, tone = VERDICT_LABELS[row.verdict]
        cells = [str(row.row_number), label, row.name, row.phone_input, row.e164 or "", row.reason]
        for c, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            if c == 1:
                item.setForeground(status_color(tone))
            table.setItem(r, c, item)


def rows_table() -> QTableWidget:
    table = QTableWidget(0, 6)
    table.setHorizontalHeaderLabels(
        ["Row", "What happens", "Name", "Phone as written", "Saved as", "Why"]
    )
    table.verticalHeader().hide()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.horizontalHeader().setStretchLastSection(True)
    for column, width in enumerate((50, 190, 160, 150, 140)):
        table.setColumnWidth(column, width)
    return table


class ImportWizard(QDialog):
    def __init__(
        self,
        importer: ImportService,
        *,
        groups: list[Group],
        default_region: str | None,
        path: Path | None = None,
        export_report: Callable[[ImportReport], None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.importer = importer
        self.groups = groups
        self.export_report = export_report
        self.path: Path | None = None
        self.info: SpreadsheetInfo | None = None
        self.report: ImportReport | None = None
        self.token: CancelToken | None = None
        self.task: asyncio.Task[Any] | None = None
        self.setWindowTitle("Import contacts")
        self.resize(980, 640)
        self.setAcceptDrops(True)

        self.pages = QStackedWidget()
        self.pages.addWidget(self._file_page())
        self.pages.addWidget(self._sheet_page())
        self.pages.addWidget(self._mapping_page())
        self.pages.addWidget(self._options_page(default_region))
        self.pages.addWidget(self._preview_page())
        self.pages.addWidget(self._run_page())

        buttons = WizardBar(back=self.back, next=self.next, cancel=self.cancel)
        self.error, self.back_btn = buttons.error, buttons.back_btn
        self.next_btn, self.cancel_btn = buttons.next_btn, buttons.cancel_btn
        layout = QVBoxLayout(self)
        self.step = QLabel()
        self.step.setObjectName("screenTitle")
        layout.addWidget(self.step)
        layout.addWidget(self.pages, 1)
        layout.addLayout(buttons)
        self._show(0)
        if path is not None:
            self.choose(path)

    # --- pages ---------------------------------------------------------------------------

    def _file_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        self.drop_label = QLabel(
            "Drop a spreadsheet here, or choose one.\n\n"
            "Excel (.xlsx, .xlsm, .xls), OpenDocument (.ods) and CSV/text files are welcome.\n"
            "You will see every row's verdict before anything is saved."
        )
        self.drop_label.setObjectName("emptyState")
        self.drop_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.choose_btn = QPushButton("Choose file…")
        self.choose_btn.clicked.connect(self._pick_file)
        self.file_label = QLabel()
        layout.addStretch()
        layout.addWidget(self.drop_label)
        row = QHBoxLayout()
        row.addStretch()
        row.addWidget(self.choose_btn)
        row.addStretch()
        layout.addLayout(row)
        layout.addWidget(self.file_label, 0, Qt.AlignmentFlag.AlignCenter)
        layout.addStretch()
        return page

    def _sheet_page(self) -> QWidget:
        page = QWidget()
        self.sheet = QComboBox()
        self.sheet.activated.connect(lambda _i: self._run(self._inspect(self.sheet.currentText())))
        self.header_row = QSpinBox()
        self.header_row.setMinimum(0)
        self.header_row.setSpecialValueText("none — every row is data")
        self.header_row.valueChanged.connect(self._header_changed)
        self.raw = QTableWidget()
        self.raw.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        form = QFormLayout()
        form.addRow("Sheet", self.sheet)
        form.addRow("The column titles are on row", self.header_row)
        layout = QVBoxLayout(page)
        layout.addLayout(form)
        layout.addWidget(QLabel("The first rows of the sheet (the title row is highlighted):"))
        layout.addWidget(self.raw, 1)
        return page

    def _mapping_page(self) -> QWidget:
        page = QWidget()
        self.mapping_note = QLabel()
        self.mapping_note.setWordWrap(True)
        self.mapping = QTableWidget()
        self.mapping.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        layout = QVBoxLayout(page)
        layout.addWidget(self.mapping_note)
        layout.addWidget(self.mapping, 1)
        return page

    def _options_page(self, default_region: str | None) -> QWidget:
        page = QWidget()
        self.country = QComboBox()
        fill_countries(self.country, default_region)
        self.update_radio = QRadioButton("Update them with the values in this file")
        self.keep_radio = QRadioButton("Leave them as they are")
        self.update_radio.setChecked(True)
        policy = QButtonGroup(page)
        policy.addButton(self.update_radio)
        policy.addButton(self.keep_radio)
        self.group = QComboBox()
        self.group.addItem("Don't add them to a group", None)
        self.group.addItem("A new group…", "new")
        for group in self.groups:
            self.group.addItem(f"{group.name} ({group.member_count})", group.id)
        self.new_group = QLineEdit()
        self.new_group.setPlaceholderText("Name of the new group")
        self.new_group.setVisible(False)
        self.group.currentIndexChanged.connect(
            lambda _i: self.new_group.setVisible(self.group.currentData() == "new")
        )
        form = QFormLayout(page)
        form.addRow("Country for numbers written without a country code", self.country)
        form.addRow(QLabel("Contacts that are already in waapp:"))
        form.addRow("", self.update_radio)
        form.addRow("", self.keep_radio)
        form.addRow("Put everyone from this file into", self.group)
        form.addRow("", self.new_group)
        note = QLabel("Opted-out contacts always stay opted out, whatever the file says.")
        note.setObjectName("hint")
        form.addRow("", note)
        return page

    def _preview_page(self) -> QWidget:
        page = QWidget()
        self.preview_totals = QLabel()
        self.preview_totals.setWordWrap(True)
        self.preview_totals.setStyleSheet("font-size: 14px; font-weight: 600;")
        self.preview_rows = rows_table()
        layout = QVBoxLayout(page)
        layout.addWidget(self.preview_totals)
        layout.addWidget(
            QLabel("The first rows, with what will happen to each. Nothing is saved yet.")
        )
        layout.addWidget(self.preview_rows, 1)
        return page

    def _run_page(self) -> QWidget:
        page = QWidget()
        self.progress = QProgressBar()
        self.progress_label = QLabel()
        self.report_totals = QLabel()
        self.report_totals.setWordWrap(True)
        self.report_totals.setStyleSheet("font-size: 14px; font-weight: 600;")
        self.report_rows = rows_table()
        self.export_btn = QPushButton("Export this report…")
        self.export_btn.clicked.connect(
            lambda: self.export_report and self.report and self.export_report(self.report)
        )
        self.export_btn.hide()
        layout = QVBoxLayout(page)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.progress)
        layout.addWidget(self.report_totals)
        layout.addWidget(self.report_rows, 1)
        layout.addWidget(self.export_btn, 0, Qt.AlignmentFlag.AlignRight)
        return page

    # --- navigation ----------------------------------------------------------------------

    STEPS = (
        "Choose a spreadsheet",
        "Sheet and title row",
        "What is in each column",
        "Country, existing contacts and group",
        "Preview",
        "Import",
    )

    def _show(self, index: int) -> None:
        self.pages.setCurrentIndex(index)
        self.step.setText(f"Step {index + 1} of {len(self.STEPS)}: {self.STEPS[index]}")
        self.back_btn.setVisible(0 < index < 5)
        self.next_btn.setEnabled(index > 0 or self.info is not None)
        self.next_btn.setText(
            {4: f"Import {self._importable()} contacts", 5: "Close"}.get(index, "Next")
        )
        self.error.hide()

    def _importable(self) -> int:
        return (
            0
            if self.report is None
            else self.report.imported + self.report.updated + self.report.unchanged
        )

    def back(self) -> None:
        self._show(max(0, self.pages.currentIndex() - 1))

    def next(self) -> None:
        index = self.pages.currentIndex()
        if index == 0 and self.info is not None:
            self._show(1)
        elif index == 1:
            self._fill_mapping()
            self._show(2)
        elif index == 2:
            if self._mapping() is None:
                self._fail(
                    "Choose exactly one phone column, at most one name column (or name parts, not both), "
                    "and at most one opted-out and one reason column."
                )
                return
            self._show(3)
        elif index == 3:
            self._run(self._preview())
        elif index == 4:
            self._run(self._import())
        elif index == 5:
            self.accept()

    def cancel(self) -> None:
        if self.token is not None and self.task is not None and not self.task.done():
            self.token.cancel()  # the import stops between batches and rolls back
            self.progress_label.setText("Cancelling… nothing will be saved.")
            return
        self.reject()

    def _fail(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()

    def _run(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.next_btn.setEnabled(False)
        self.back_btn.setEnabled(False)

        def failed(error: BaseException) -> None:
            if not isinstance(error, WaappError):
                raise error
            self._fail(f"{error.message} {error.what_to_do}".strip())

        def finished(_result: Any) -> None:
            self.next_btn.setEnabled(True)
            self.back_btn.setEnabled(True)

        op = Op(self, coro).failure(failed)
        self.task = op.run()
        self.task.add_done_callback(finished)

    # --- step 1: file --------------------------------------------------------------------

    def _pick_file(self) -> None:
        name, _filter = QFileDialog.getOpenFileName(self, "Choose a spreadsheet", "", FILE_FILTER)
        if name:
            self.choose(Path(name))

    def choose(self, path: Path) -> None:
        self.path = path
        self.file_label.setText(f"Reading {path.name}…")
        self._run(self._inspect(None))

    def dragEnterEvent(self, event: Any) -> None:
        if self.pages.currentIndex() == 0 and event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: Any) -> None:
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.choose(Path(urls[0].toLocalFile()))

    async def _inspect(self, sheet: str | None) -> None:
        assert self.path is not None
        try:
            self.info = await self.importer.inspect(self.path, sheet)
        except WaappError:
            self.info = None
            self.file_label.setText("")
            raise
        info = self.info
        self.file_label.setText(f"✓ {self.path.name}")
        self.sheet.blockSignals(True)
        self.sheet.clear()
        self.sheet.addItems(info.sheets)
        self.sheet.setCurrentText(info.sheet)
        self.sheet.blockSignals(False)
        self.header_row.blockSignals(True)
        self.header_row.setValue(0 if info.header_row == NO_HEADER else info.header_row + 1)
        self.header_row.blockSignals(False)
        self._fill_raw()
        if self.pages.currentIndex() == 0:
            self._show(1)

    def _fill_raw(self) -> None:
        assert self.info is not None
        has_header = self.info.header_row != NO_HEADER
        rows = [self.info.headers, *self.info.sample_rows] if has_header else self.info.sample_rows
        first = self.info.header_row + 1 if has_header else 1
        width = max((len(r) for r in rows), default=0)
        self.raw.setColumnCount(width)
        self.raw.setRowCount(len(rows))
        self.raw.setVerticalHeaderLabels([str(first + i) for i in range(len(rows))])
        self.raw.setHorizontalHeaderLabels([column_label(c) for c in range(width)])
        for r, row in enumerate(rows):
            for c in range(width):
                item = QTableWidgetItem(row[c] if c < len(row) else "")
                if r == 0 and has_header:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                    item.setBackground(self.palette().highlight().color().lighter(170))
                self.raw.setItem(r, c, item)
        self.raw.resizeColumnsToContents()

    def _header_changed(self, value: int) -> None:
        if self.info is not None and self.path is not None:
            self._run(self._reinspect_header(NO_HEADER if value == 0 else value - 1))

    async def _reinspect_header(self, header_row: int) -> None:
        assert self.path is not None
        self.info = await self.importer.inspect(
            self.path, self.sheet.currentText(), header_row=header_row
        )
        self._fill_raw()

    # --- step 3: mapping -----------------------------------------------------------------

    def _fill_mapping(self) -> None:
        assert self.info is not None
        info = self.info
        guess = info.mapping
        headers = info.headers
        self.mapping_note.setText(
            (
                "These columns were set up the same way last time for a file like this."
                if info.remembered
                else "waapp guessed what each column holds from its title. Check it, especially the phone column."
            )
            + " Every other column you keep becomes a custom field, usable in messages."
        )
        self.mapping.setColumnCount(len(headers))
        self.mapping.setRowCount(1 + min(len(info.sample_rows), 8))
        self.mapping.setHorizontalHeaderLabels(
            [h or f"Column {i + 1}" for i, h in enumerate(headers)]
        )
        self.mapping.setVerticalHeaderLabels(
            ["Use as", *[str(n) for n in range(1, self.mapping.rowCount())]]
        )
        self.roles: list[QComboBox] = []
        for c, header in enumerate(headers):
            combo = QComboBox()
            for label, role in ROLES:
                combo.addItem(label, role)
            combo.addItem(f"Custom field “{header or f'Column {c + 1}'}”", FIELD)
            combo.setCurrentIndex(combo.findData(self._guessed_role(guess, c)))
            self.mapping.setCellWidget(0, c, combo)
            self.roles.append(combo)
            for r, row in enumerate(info.sample_rows[:8], start=1):
                self.mapping.setItem(r, c, QTableWidgetItem(row[c] if c < len(row) else ""))
        self.mapping.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.mapping.resizeColumnsToContents()

    @staticmethod
    def _guessed_role(guess: ColumnMapping | None, column: int) -> str:
        if guess is None:
            return IGNORE
        singles = {
            guess.phone: PHONE,
            guess.name: NAME,
            guess.opt_out: OPT_OUT,
            guess.opt_out_reason: OPT_OUT_REASON,
        }
        if column in singles:
            return singles[column]
        if column in guess.name_parts:
            return NAME_PART
        return FIELD if column in guess.fields else IGNORE

    def _mapping(self) -> ColumnMapping | None:
        """The mapping chosen in the combos, or None when it is not usable."""
        assert self.info is not None
        roles = [combo.currentData() for combo in self.roles]
        if roles.count(PHONE) != 1 or any(
            roles.count(r) > 1 for r in (NAME, OPT_OUT, OPT_OUT_REASON)
        ):
            return None
        if NAME in roles and NAME_PART in roles:
            return None

        def single(role: str) -> int | None:
            return roles.index(role) if role in roles else None

        headers = self.info.headers
        return ColumnMapping(
            phone=roles.index(PHONE),
            name=single(NAME),
            name_parts=[c for c, role in enumerate(roles) if role == NAME_PART],
            fields={
                c: (headers[c] or f"Column {c + 1}").strip()
                for c, role in enumerate(roles)
                if role == FIELD
            },
            opt_out=single(OPT_OUT),
            opt_out_reason=single(OPT_OUT_REASON),
        )

    # --- steps 4–6 -----------------------------------------------------------------------

    def options(self) -> ImportOptions:
        assert self.info is not None
        mapping = self._mapping()
        assert mapping is not None
        group = self.group.currentData()
        return ImportOptions(
            sheet=self.info.sheet,
            header_row=self.info.header_row,
            mapping=mapping,
            region=self.country.currentData(),
            policy=UpdatePolicy.UPDATE if self.update_radio.isChecked() else UpdatePolicy.KEEP,
            group_id=group if isinstance(group, int) else None,
            new_group_name=self.new_group.text().strip() or None if group == "new" else None,
        )

    async def _preview(self) -> None:
        assert self.path is not None
        if self.group.currentData() == "new" and not self.new_group.text().strip():
            self._fail("Give the new group a name, or choose another option.")
            return
        rows, report = await self.importer.preview(self.path, self.options())
        self.report = report
        self.preview_totals.setText(totals_text(report))
        fill_rows(self.preview_rows, rows)
        self._show(4)
        self.next_btn.setEnabled(self._importable() > 0)

    async def _import(self) -> None:
        assert self.path is not None
        self._show(5)
        self.next_btn.setEnabled(False)
        self.progress.setRange(0, 0)
        self.progress_label.setText("Importing…")
        self.token = CancelToken()
        loop = asyncio.get_running_loop()

        def progress(done: int, total: int) -> None:  # called from worker threads
            loop.call_soon_threadsafe(self._progress, done, total)

        try:
            report = await self.importer.run(
                self.path, self.options(), progress=progress, cancel=self.token
            )
        except Cancelled:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress_label.setText("Import cancelled. Nothing was saved.")
            self.next_btn.setText("Close")
            self.next_btn.setEnabled(True)
            self.cancel_btn.hide()
            return
        self.report = report
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.progress_label.setText(
            "Import finished."
            + (f" Everyone is in the group “{report.group_name}”." if report.group_name else "")
        )
        self.report_totals.setText(totals_text(report))
        fill_rows(self.report_rows, report.rows)
        self.export_btn.setVisible(self.export_report is not None and bool(report.rows))
        self.next_btn.setText("Close")
        self.next_btn.setEnabled(True)
        self.back_btn.hide()
        self.cancel_btn.hide()

    def _progress(self, done: int, total: int) -> None:
        # Callbacks cross threads: one may arrive after the import finished.
        if self.task is None or self.task.done() or self.next_btn.text() == "Close":
            return
        if total:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
            self.progress_label.setText(f"Importing… {100 * done // total} %")
