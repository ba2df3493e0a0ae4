"""Exports to ``.xlsx`` (openpyxl, write-only) and ``.csv`` (UTF-8 with BOM, for Excel).

Every export is a list of :class:`ExportTable` written by :func:`write_table`; the format
comes from the file's suffix. To add an export (campaign results: one row per recipient
with status, times, error code and meaning), build its tables from the store and call
``write_table`` — headers, widths, the frozen header row, the BOM and formula
neutralisation come with it.

Formula injection (OWASP "CSV injection"): every text cell that begins with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return gets a leading apostrophe, so that no spreadsheet
program runs it as a formula. A lone number such as ``+917033009600`` or ``-12.5`` cannot
run anything and is left as it is, so that phone numbers stay readable. The importer
removes such an apostrophe again, so an export re-imports to the same contacts.

Files are written next to the target and moved into place at the end: a failed export
never leaves half a file under the user's name.
"""

from __future__ import annotations

import asyncio
import csv
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from waapp.core.entities import Contact
from waapp.core.errors import ValidationError
from waapp.core.ports import ContactQuery
from waapp.services.importer import ImportReport, Verdict
from waapp.store.database import Database
from waapp.store.engine import batched
from waapp.store.worker import DatabaseWorker

__all__ = [
    "CONTACT_COLUMNS_AFTER_FIELDS",
    "EXPORT_SUFFIXES",
    "ExportService",
    "ExportTable",
    "neutralise",
    "write_table",
]

EXPORT_SUFFIXES = (".xlsx", ".csv")
#: The contacts export's columns after the custom fields (the importer skips the last two).
CONTACT_COLUMNS_AFTER_FIELDS = ("Opted out", "Opt-out reason", "Last reply", "Added")

_DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")
_LONE_NUMBER = re.compile(r"[+-]?\d[\d ]*(?:[.,]\d+)?")
_MIN_WIDTH, _MAX_WIDTH = 8, 60
_FETCH_BATCH = 2_000
_VERDICT_LABELS = {
    Verdict.NEW: "New",
    Verdict.UPDATE: "Updated",
    Verdict.UNCHANGED: "Unchanged",
    Verdict.DUPLICATE_IN_FILE: "Duplicate in file",
    Verdict.INVALID: "Invalid",
    Verdict.OPTED_OUT: "Opted out",
}

T = TypeVar("T")
Cell = str | int | float | datetime | None


def neutralise(value: str) -> str:
    """``value`` made safe to open in a spreadsheet program (see the module doc)."""
    if value.startswith(_DANGEROUS_START) and not _LONE_NUMBER.fullmatch(value):
        return "'" + value
    return value


@dataclass(slots=True)
class ExportTable:
    """One sheet of an export: readable headers and rows of cells (text, numbers,
    datetimes — aware ones are shown in local time — or None for empty)."""

    sheet: str
    headers: list[str]
    rows: list[list[Cell]] = field(default_factory=list)


def _local(value: datetime) -> datetime:
    """Aware → the computer's local time, without tzinfo (spreadsheets have no zones)."""
    return value.astimezone().replace(tzinfo=None) if value.tzinfo is not None else value


def _csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, datetime):
        return _local(value).strftime("%Y-%m-%d %H:%M")
    return str(value)


# Control characters XML 1.0 cannot hold (openpyxl refuses them); tab, LF and CR are fine.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xlsx_cell(value: Cell) -> Cell:
    if isinstance(value, str):
        return neutralise(_XML_ILLEGAL.sub("", value))
    if isinstance(value, datetime):
        return _local(value)
    return value


def _width(header: str, values: Sequence[Cell]) -> float:
    longest = len(header)
    for value in values[:2_000]:  # a sample is enough to size a column
        shown = 16 if isinstance(value, datetime) else len(str(value)) if value is not None else 0
        longest = max(longest, shown)
    return float(min(max(longest + 2, _MIN_WIDTH), _MAX_WIDTH))


def _write_xlsx(target: Path, tables: Sequence[ExportTable]) -> None:
    from openpyxl import Workbook  # type: ignore[import-untyped]
    from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]
    from openpyxl.styles import Alignment, Font  # type: ignore[import-untyped]
    from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

    workbook = Workbook(write_only=True)
    bold = Font(bold=True)
    for table in tables:
        sheet = workbook.create_sheet(_sheet_title(table.sheet))
        sheet.freeze_panes = "A2"
        for index, header in enumerate(table.headers):
            column = [row[index] if index < len(row) else None for row in table.rows[:2_000]]
            sheet.column_dimensions[get_column_letter(index + 1)].width = _width(header, column)
        header_cells = []
        for header in table.headers:
            cell = WriteOnlyCell(sheet, value=_xlsx_cell(header))
            cell.font = bold
            cell.alignment = Alignment(vertical="center")
            header_cells.append(cell)
        sheet.append(header_cells)
        for row in table.rows:
            sheet.append([_xlsx_cell(value) for value in row])
    workbook.save(target)


def _sheet_title(name: str) -> str:
    # Excel refuses these characters and titles over 31 characters.
    cleaned = re.sub(r"[\[\]:*?/\\]", " ", name).strip() or "Sheet"
    return cleaned[:31]


def _write_csv(target: Path, tables: Sequence[ExportTable]) -> None:
    table = tables[0]
    with target.open("w", encoding="utf-8-sig", newline="") as file:
        out = csv.writer(file)
        out.writerow([neutralise(h) for h in table.headers])
        out.writerows([_csv_cell(value) for value in row] for row in table.rows)


def write_table(path: Path, tables: Sequence[ExportTable]) -> int:
    """Write ``tables`` to ``path`` (``.xlsx``: one sheet each; ``.csv``: the first one);
    returns the number of data rows of the first table. Synchronous: run it off the loop.

    Raises ValidationError for another suffix or a folder that cannot be written.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise ValidationError(
            f"waapp exports to .xlsx or .csv files, not “{path.suffix or path.name}”.",
            what_to_do="Choose a file name ending in .xlsx (Excel) or .csv.",
        )
    if not tables:
        raise ValueError("nothing to export")
    try:
        handle, temporary = tempfile.mkstemp(
            prefix=".waapp-export-", suffix=suffix, dir=path.parent
        )
    except OSError as exc:
        raise ValidationError(
            f"The folder {path.parent} cannot be written to ({exc.strerror or exc}).",
            what_to_do="Choose another folder, for example your Documents folder.",
        ) from exc
    os.close(handle)
    try:
        (_write_xlsx if suffix == ".xlsx" else _write_csv)(Path(temporary), tables)
        os.replace(temporary, path)
    except OSError as exc:
        raise ValidationError(
            f"“{path.name}” cannot be written ({exc.strerror or exc}).",
            what_to_do="Close the file if it is open in Excel, or choose another name.",
        ) from exc
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return len(tables[0].rows)


def contacts_table(contacts: Sequence[Contact]) -> ExportTable:
    """The contacts export: Name, Phone, the custom fields (by name), then
    :data:`CONTACT_COLUMNS_AFTER_FIELDS`."""
    field_names = sorted({name for c in contacts for name in c.fields}, key=str.casefold)
    headers = ["Name", "Phone", *field_names, *CONTACT_COLUMNS_AFTER_FIELDS]
    rows: list[list[Cell]] = [
        [
            c.name,
            c.phone_e164,
            *(c.fields.get(name) for name in field_names),
            "Yes" if c.opted_out else None,
            c.opt_out_reason,
            c.last_inbound_at,
            c.created_at,
        ]
        for c in contacts
    ]
    return ExportTable("Contacts", headers, rows)


def import_report_tables(report: ImportReport) -> list[ExportTable]:
    """The rows of an import report (row, result, phone, reason), then a summary sheet."""
    rows: list[list[Cell]] = [
        [r.row_number, _VERDICT_LABELS[r.verdict], r.phone_input, r.e164, r.name, r.reason]
        for r in report.rows
    ]
    headers = ["Row", "Result", "Phone as written", "Phone", "Name", "Reason"]
    summary: list[list[Cell]] = [
        ["Imported (new contacts)", report.imported],
        ["Updated", report.updated],
        ["Unchanged", report.unchanged],
        ["Duplicates in the file", report.duplicates],
        ["Invalid", report.invalid],
        ["Opted out (kept opted out)", report.opted_out],
        ["Rows read", report.rows_read],
    ]
    if report.group_name:
        summary.append(["Group", report.group_name])
    if report.rows_left_out:
        summary.append(["Rows not listed (too many)", report.rows_left_out])
    return [
        ExportTable("Import report", headers, rows),
        ExportTable("Summary", ["Total", "Rows"], summary),
    ]


class ExportService:
    """Exports of contacts and import reports (campaign results: see the module doc)."""

    def __init__(self, *, db: Database, worker: DatabaseWorker) -> None:
        self._db = db
        self._worker = worker

    async def _off_loop(self, fn: Callable[..., T], /, *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    async def export_contacts(
        self,
        path: Path,
        *,
        group_id: int | None = None,
        contact_ids: Sequence[int] | None = None,
    ) -> int:
        """All contacts (by name), a group's, or ``contact_ids`` (in that order) to ``path``
        (``.xlsx`` or ``.csv``); returns the number of contacts written."""
        if contact_ids is None:
            ids = await self._worker.run(self._db.contacts.ids, ContactQuery(group_id=group_id))
        else:
            ids = list(dict.fromkeys(contact_ids))
        contacts: list[Contact] = []
        for batch in batched(ids, _FETCH_BATCH):  # small calls: other work interleaves
            contacts.extend(await self._worker.run(self._db.contacts.get_many, list(batch)))
        return await self._off_loop(write_table, Path(path), [contacts_table(contacts)])

    async def export_import_report(self, report: ImportReport, path: Path) -> int:
        """The report's listed rows (invalid, duplicates, opted out) and, in ``.xlsx``, a
        summary sheet; returns the number of rows listed."""
        return await self._off_loop(write_table, Path(path), import_report_tables(report))
