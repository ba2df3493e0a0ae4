"""The bad-spreadsheet suite (reliability.md §2): every file gets a clear message or a
per-row verdict, never a crash, and a failed or cancelled import leaves the store exactly
as it was. Files are generated here; the session prints one closing line of figures
(``tests/services/conftest.py``).

The 1 000 000-row case is a CSV streamed through the preview (totals for every row, the
first rows with verdicts) in a child process, so that its peak memory can be measured on
its own; a full *run* of a million rows would hold a million contacts for the one
transaction and take minutes, which the benchmark covers at 100 000 rows instead.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import random
import re
import subprocess
import sys
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from waapp.app import Services
from waapp.core.errors import WaappError
from waapp.core.ports import ContactQuery
from waapp.core.progress import Cancelled, CancelToken
from waapp.services.importer import (
    PROGRESS_TOTAL,
    ImportOptions,
    ImportReport,
    RowResult,
    SpreadsheetInfo,
    Verdict,
)
from waapp.services.spreadsheet import NO_HEADER, SpreadsheetError
from waapp.store.imports import WRITE_BATCH

from .conftest import BadSpreadsheetFigures

State = Callable[[Services], Awaitable[dict[str, list[tuple[Any, ...]]]]]
Run = Callable[[Callable[[Services], Awaitable[Any]]], Any]


@dataclass
class Outcome:
    info: SpreadsheetInfo | None = None
    first_rows: list[RowResult] | None = None
    report: ImportReport | None = None
    error: WaappError | None = None

    def verdicts(self) -> dict[int, tuple[Verdict, str]]:
        assert self.first_rows is not None, self.error
        return {r.row_number: (r.verdict, r.reason) for r in self.first_rows}


async def attempt(
    s: Services,
    path: Path,
    figures: BadSpreadsheetFigures,
    *,
    region: str | None = "IN",
    run: bool = True,
) -> Outcome:
    """Inspect, preview and (``run``) import ``path`` with the guessed mapping. A WaappError
    is a clear message (checked to say what to do); anything else is a crash."""
    figures.files.add(path.name)
    outcome = Outcome()
    try:
        outcome.info = info = await s.importer.inspect(path)
        if info.mapping is None:
            raise SpreadsheetError("no phone column")
        options = ImportOptions(
            sheet=info.sheet, header_row=info.header_row, mapping=info.mapping, region=region
        )
        outcome.first_rows, totals = await s.importer.preview(path, options)
        if run:
            outcome.report = await s.importer.run(path, options)
            for key in ("imported", "updated", "unchanged", "duplicates", "invalid", "opted_out"):
                assert getattr(outcome.report, key) == getattr(totals, key), key
        else:
            outcome.report = totals
    except WaappError as error:
        assert error.message and error.what_to_do, error
        outcome.error = error
    except Exception as error:
        figures.crashes.append(f"{path.name}: {type(error).__name__}: {error}")
        raise
    return outcome


def xlsx(path: Path, rows: list[list[object]]) -> Path:
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    workbook.save(path)
    return path


async def contacts_by_phone(s: Services) -> dict[str, Any]:
    ids = await s.contacts.ids(ContactQuery())
    return {c.phone_e164: c for c in await s.contacts.get_many(ids)}


# --- empty, header only, no header, titles ---------------------------------------------------------


@pytest.mark.parametrize("name", ["empty.xlsx", "empty.csv", "empty.ods"])
def test_empty_files(
    tmp_path: Path, run_services: Run, bad_figures: BadSpreadsheetFigures, name: str
) -> None:
    path = tmp_path / name
    path.write_bytes(b"")

    async def body(s: Services) -> None:
        outcome = await attempt(s, path, bad_figures)
        assert outcome.error is not None and "is empty (0 bytes)" in outcome.error.message

    run_services(body)


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_header_only_is_refused_plainly_and_changes_nothing(
    tmp_path: Path, run_services: Run, state: State, bad_figures: BadSpreadsheetFigures, suffix: str
) -> None:
    path = tmp_path / f"header-only{suffix}"
    if suffix == ".csv":
        path.write_text("Name,Phone,City\n\n\n", encoding="utf-8")
    else:
        xlsx(path, [["Name", "Phone", "City"]])

    async def body(s: Services) -> None:
        await s.contacts.add_contact(name="Kept", phone="+447911123456")
        before = await state(s)
        bad_figures.files.add(path.name)
        info = await s.importer.inspect(path)
        assert info.headers == ["Name", "Phone", "City"] and info.sample_rows == []
        assert info.mapping is not None
        options = ImportOptions(
            sheet=info.sheet,
            header_row=info.header_row,
            mapping=info.mapping,
            region="GB",
            new_group_name="Never",
        )
        with pytest.raises(SpreadsheetError, match="no rows of contacts under the header"):
            await s.importer.preview(path, options)
        bad_figures.failed_imports += 1
        with pytest.raises(SpreadsheetError, match="no rows of contacts under the header"):
            await s.importer.run(path, options)
        assert await state(s) == before
        bad_figures.store_unchanged += 1

    run_services(body)


def test_no_header_row(
    tmp_path: Path, run_services: Run, bad_figures: BadSpreadsheetFigures
) -> None:
    path = tmp_path / "no-header.csv"
    path.write_text("Asha,+91 70330 09600,Pune\nRavi,07033009601,Delhi\n", encoding="utf-8")

    async def body(s: Services) -> None:
        outcome = await attempt(s, path, bad_figures)
        assert outcome.info is not None and outcome.info.header_row == NO_HEADER
        assert outcome.info.headers == ["Column A", "Column B", "Column C"]
        assert outcome.report is not None and outcome.report.imported == 2
        stored = await contacts_by_phone(s)
        assert stored["+917033009601"].fields == {"Column A": "Ravi", "Column C": "Delhi"}

    run_services(body)


def test_title_rows_above_the_header(
    tmp_path: Path, run_services: Run, bad_figures: BadSpreadsheetFigures
) -> None:
    path = xlsx(
        tmp_path / "title-rows.xlsx",
        [
            ["Customer list — May 2024"],
            [],
            ["Exported from ShopCRM on 2024-05-31"],
            ["Name", "Mobile", "City"],
            ["Asha", "+91 70330 09600", "Pune"],
            [],
            ["Ravi", "123", "Delhi"],
        ],
    )

    async def body(s: Services) -> None:
        outcome = await attempt(s, path, bad_figures)
        assert outcome.info is not None and outcome.info.header_row == 3
        # Row numbers are the spreadsheet's own: the bad number is on row 7.
        assert outcome.verdicts() == {
            5: (Verdict.NEW, ""),
            7: (Verdict.INVALID, "too short for India (123)"),
        }

    run_services(body)


# --- merged cells, formulas, dates, numbers ------------------------------------------------------


def test_merged_cells(
    tmp_path: Path, run_services: Run, bad_figures: BadSpreadsheetFigures
) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Clients by city"])
    sheet.merge_cells("A1:C1")  # a title across the table
    sheet.append(["Name", "Phone", "City"])
    sheet.append(["Asha", "+917033009600", "Pune"])
    sheet.append(["Ravi", "+917033009601", None])
    sheet.append(["Meera", "+917033009602", None])
    sheet.merge_cells("C3:C5")  # one city for three rows
    workbook.save(tmp_path / "merged-cells.xlsx")

    async def body(s: Services) -> None:
        outcome = await attempt(s, tmp_path / "merged-cells.xlsx", bad_figures)
        assert outcome.info is not None and outcome.info.header_row == 1
        stored = await contacts_by_phone(s)
        assert {c.fields["City"] for c in stored.values()} == {"Pune"}  # as the user reads it

    run_services(body)


def with_cached_values(path: Path, values: dict[str, tuple[str, str]]) -> Path:
    """Give formula cells the cached value Excel saves with them: cell → (type, value)."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    sheet = members["xl/worksheets/sheet1.xml"].decode()
    for ref, (kind, value) in values.items():
        sheet, count = re.subn(
            rf'<c r="{ref}"><f>(.*?)</f><v\s*/>',
            rf'<c r="{ref}" t="{kind}"><f>\1</f><v>{value}</v>',
            sheet,
        )
        assert count == 1, ref
    members["xl/worksheets/sheet1.xml"] = sheet.encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_formulas_read_as_their_cached_values(
    tmp_path: Path, run_services: Run, bad_figures: BadSpreadsheetFigures
) -> None:
    path = xlsx(
        tmp_path / "formulas.xlsx",
        [
            ["First", "Last", "Name", "Phone", "Visits"],
            ["Asha", "Patel", '=A2&" "&B2', "=917033009600+0", "=2*6"],
            ["Ravi", "Iyer", '=A3&" "&B3', '=LEFT("917033009601",12)', "=1/0"],
        ],
    )
    with_cached_values(
        path,
        {
            "C2": ("str", "Asha Patel"),
            "D2": ("n", "917033009600"),
            "E2": ("n", "12"),
            "C3": ("str", "Ravi Iyer"),
            "D3": ("str", "917033009601"),
            "E3": ("e", "#DIV/0!"),
        },
    )

    async def body(s: Services) -> None:
        outcome = await attempt(s, path, bad_figures)
        assert outcome.report is not None and outcome.report.imported == 2
        stored = await contacts_by_phone(s)
        assert stored["+917033009600"].name == "Asha Patel"
        assert stored["+917033009600"].fields["Visits"] == "12"
        assert stored["+917033009601"].name == "Ravi Iyer"

    run_services(body)


def test_formulas_without_cached_values_get_a_verdict(
    tmp_path: Path, run_services: Run, bad_figures: BadSpreadsheetFigures
) -> None:
    # openpyxl (and some exporters) save formulas without their results.
    path = xlsx(
        tmp_path / "formulas-uncomputed.xlsx",
        [["Name", "Phone"], ["Asha", "=917033009600+0"], ["Ravi", "+917033009601"]],
    )

    async def body(s: Services) -> None:
        outcome = await attempt(s, path, bad_figures)
        assert outcome.verdicts() == {2: (Verdict.INVALID, "no phone number"), 3: (Verdict.NEW, "")}

    run_services(body)


def test_dates_as_the_user_sees_them(
    tmp_path: Path, run_services: Run, bad_figures: BadSpreadsheetFigures
) -> None:
    path = xlsx(
        tmp_path / "dates.xlsx",
        [
            ["Name", "Phone", "Birthday", "Last visit"],
            ["Asha", "+917033009600", date(1990, 5, 1), datetime(2024, 5, 1, 9, 30)],
            ["Date in the phone column", date(2024, 5, 1), None, None],
        ],
    )

    async def body(s: Services) -> None:
        outcome = await attempt(s, path, bad_figures)
        stored = await contacts_by_phone(s)
        assert stored["+917033009600"].fields == {
            "Birthday": "1990-05-01",
            "Last visit": "2024-05-01 09:30:00",
        }
        verdict, reason = outcome.verdicts()[3]
        assert verdict is Verdict.INVALID and "20240501" in reason, reason

    run_services(body)


def test_numbers_as_floats_and_in_scientific_notation(
    tmp_path: Path, run_services: Run, bad_figures: BadSpreadsheetFigures
) -> None:
    path = xlsx(
        tmp_path / "floats.xlsx",
        [
            ["Name", "Phone", "Amount"],
            ["Float cell", 917033009600.0, 12.5],
            ["National float", 7033009601.0, 3],
            ["Exact scientific", "9.17033009602E+11", None],
            ["Lossy scientific", "9.17033E+11", None],
            ["Float text", "917033009603.0", None],
        ],
    )

    async def body(s: Services) -> None:
        outcome = await attempt(s, path, bad_figures)
        verdicts = outcome.verdicts()
        assert [verdicts[row][0] for row in (2, 3, 4, 6)] == [Verdict.NEW] * 4
        assert verdicts[5][0] is Verdict.INVALID and verdicts[5][1].startswith(
            "digits lost by the spreadsheet"
        )
        stored = await contacts_by_phone(s)
        assert stored["+917033009600"].fields == {"Amount": "12.5"}
        assert set(stored) == {"+917033009600", "+917033009601", "+917033009602", "+917033009603"}

    run_services(body)


# --- size ----------------------------------------------------------------------------------------


def test_ten_thousand_columns(
    tmp_path: Path, run_services: Run, bad_figures: BadSpreadsheetFigures
) -> None:
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Wide")
    sheet.append(["Name", "Phone", *(f"Field {i}" for i in range(9_998))])
    for n in range(5):
        sheet.append(
            [
                f"Person {n}",
                f"+4479111{n:05d}",
                *(f"v{n}-{i}" if i % 1000 == 0 else None for i in range(9_998)),
            ]
        )
    workbook.save(tmp_path / "wide-10000-columns.xlsx")

    async def body(s: Services) -> None:
        outcome = await attempt(s, tmp_path / "wide-10000-columns.xlsx", bad_figures)
        assert outcome.info is not None and len(outcome.info.headers) == 10_000
        assert outcome.report is not None and outcome.report.imported == 5
        stored = await contacts_by_phone(s)
        assert stored["+447911100003"].fields == {
            f"Field {i}": f"v3-{i}" for i in range(0, 9_998, 1000)
        }

    run_services(body)


MILLION = 1_000_000
DISTINCT = 50_000

PREVIEW_CHILD = """
import asyncio, csv, json, resource, sys, time
from pathlib import Path
from waapp.app import open_services
from waapp.paths import DataPaths
from waapp.services.importer import ImportOptions

folder, rows, distinct = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
path = folder / "million-rows.csv"
with path.open("w", newline="", encoding="utf-8") as f:
    out = csv.writer(f)
    out.writerow(["Name", "Phone", "City", "Note"])
    for i in range(rows):
        # every 10th row a national number (needs the default country), every 97th invalid
        phone = "12345" if i % 97 == 0 else (f"07911 1{i % distinct:05d}" if i % 10 == 0 else f"+4479111{i % distinct:05d}")
        out.writerow([f"Person {i}", phone, "Leeds", "ok"])

def peak_rss_mb():
    # VmHWM: this process's own peak. ru_maxrss would include the parent's peak (Linux keeps
    # it across fork and exec), and the parent here is the whole pytest session.
    try:
        status = open("/proc/self/status").read()
        return int(status.split("VmHWM:")[1].split()[0]) / 1024
    except (OSError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

async def main():
    s = await open_services(DataPaths(folder / "data"))
    try:
        info = await s.importer.inspect(path)
        options = ImportOptions(sheet=info.sheet, header_row=info.header_row, mapping=info.mapping, region="GB")
        started = time.perf_counter()
        first, totals = await s.importer.preview(path, options, limit=50)
        seconds = time.perf_counter() - started
        print(json.dumps({"report": totals.to_dict() | {"invalid_rows": [], "duplicate_rows": [], "opted_out_rows": []},
                          "listed": len(totals.rows), "first": len(first), "seconds": seconds,
                          "size_mb": path.stat().st_size / 2**20,
                          "peak_rss_mb": peak_rss_mb()}))
    finally:
        await s.close()

asyncio.run(main())
"""


def test_a_million_rows_stream_through_the_preview(
    tmp_path: Path, bad_figures: BadSpreadsheetFigures
) -> None:
    bad_figures.files.add("million-rows.csv")
    done = subprocess.run(
        [sys.executable, "-c", PREVIEW_CHILD, str(tmp_path), str(MILLION), str(DISTINCT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        bad_figures.crashes.append(f"million-rows.csv: {done.stderr[-500:]}")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    report = result["report"]
    invalid = len(range(0, MILLION, 97))
    assert report["rows_read"] == MILLION
    assert report["invalid"] == invalid
    assert report["imported"] == DISTINCT
    assert report["duplicates"] == MILLION - DISTINCT - invalid
    assert result["first"] == 50
    assert result["listed"] == 100_000 and report["rows_left_out"] == MILLION - DISTINCT - 100_000
    # Bounded: the distinct numbers and the 100 000 listed rows, not the million rows
    # (the file alone is ~40 MB of text).
    assert result["peak_rss_mb"] < 400, result
    bad_figures.rows_streamed += report["rows_read"]
    print(
        f"\n1 000 000-row CSV ({result['size_mb']:.0f} MB) previewed in {result['seconds']:.1f} s, "
        f"peak RSS {result['peak_rss_mb']:.0f} MB"
    )


# --- not spreadsheets at all ----------------------------------------------------------------------


def docx_bytes() -> bytes:
    path_like = __import__("io").BytesIO()
    with zipfile.ZipFile(path_like, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return path_like.getvalue()


def plain_zip_bytes() -> bytes:
    buffer = __import__("io").BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photos/1.jpg", b"\xff\xd8\xff")
    return buffer.getvalue()


NOT_SPREADSHEETS = [
    ("garbage.xlsx", lambda: random.Random(1).randbytes(20_000), "binary data"),
    ("garbage.csv", lambda: random.Random(2).randbytes(5_000), "binary data"),
    ("report.pdf.xlsx", lambda: b"%PDF-1.7\n" + random.Random(3).randbytes(2000), "a PDF document"),
    ("photo.xlsx", lambda: b"\x89PNG\r\n\x1a\n" + bytes(100), "an image"),
    ("letter.xlsx", docx_bytes, "a text document"),
    ("archive.xlsx", plain_zip_bytes, "a zip archive"),
    (
        "web-export.xls",
        lambda: b"<html><body><table><tr><td>Name</td></tr></table></body></html>",
        "a web page",
    ),
    (
        "old-xml.xls",
        lambda: (
            b'<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet">'
        ),
        "Excel 2003 XML",
    ),
    (
        "contacts.vcf.csv",
        lambda: b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Asha\r\nTEL:+917033009600\r\nEND:VCARD\r\n",
        "vCard",
    ),
    ("notes.json", lambda: b'{"name": "Asha"}', "reads .xlsx"),
]


@pytest.mark.parametrize(
    ("name", "make", "says"), NOT_SPREADSHEETS, ids=[n for n, _, _ in NOT_SPREADSHEETS]
)
def test_files_that_are_not_spreadsheets(
    tmp_path: Path,
    run_services: Run,
    bad_figures: BadSpreadsheetFigures,
    name: str,
    make: Callable[[], bytes],
    says: str,
) -> None:
    path = tmp_path / name
    path.write_bytes(make())

    async def body(s: Services) -> None:
        outcome = await attempt(s, path, bad_figures)
        assert outcome.error is not None and says in outcome.error.message, outcome.error

    run_services(body)


def test_truncated_xlsx(
    tmp_path: Path, run_services: Run, bad_figures: BadSpreadsheetFigures
) -> None:
    whole = xlsx(
        tmp_path / "whole.xlsx", [["Name", "Phone"], *([["Asha", "+917033009600"]] * 200)]
    ).read_bytes()
    path = tmp_path / "truncated.xlsx"
    path.write_bytes(whole[: len(whole) // 2])

    async def body(s: Services) -> None:
        outcome = await attempt(s, path, bad_figures)
        assert outcome.error is not None and "damaged or incomplete" in outcome.error.message
        assert "interrupted" in outcome.error.what_to_do

    run_services(body)


def test_damaged_sheet_inside_a_good_zip(
    tmp_path: Path, run_services: Run, bad_figures: BadSpreadsheetFigures
) -> None:
    source = xlsx(tmp_path / "source.xlsx", [["Name", "Phone"], ["Asha", "+917033009600"]])
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["xl/worksheets/sheet1.xml"] = members["xl/worksheets/sheet1.xml"][:200]  # cut mid-XML
    path = tmp_path / "broken-xml.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)

    async def body(s: Services) -> None:
        outcome = await attempt(s, path, bad_figures)
        assert outcome.error is not None, outcome.report

    run_services(body)


def test_password_protected(
    tmp_path: Path, run_services: Run, bad_figures: BadSpreadsheetFigures
) -> None:
    # Excel saves an encrypted workbook as an OLE2 container with an EncryptionInfo stream.
    header = bytes.fromhex("d0cf11e0a1b11ae1") + bytes(504)
    directory = (
        "EncryptionInfo".encode("utf-16-le") + bytes(50) + "EncryptedPackage".encode("utf-16-le")
    )
    path = tmp_path / "locked.xlsx"
    path.write_bytes(header + directory + bytes(2000))

    async def body(s: Services) -> None:
        outcome = await attempt(s, path, bad_figures)
        assert outcome.error is not None and "protected with a password" in outcome.error.message
        assert "remove the password" in outcome.error.what_to_do

    run_services(body)


def test_missing_file_and_a_folder(
    tmp_path: Path, run_services: Run, bad_figures: BadSpreadsheetFigures
) -> None:
    (tmp_path / "folder.xlsx").mkdir()

    async def body(s: Services) -> None:
        gone = await attempt(s, tmp_path / "gone.xlsx", bad_figures)
        assert gone.error is not None and "does not exist" in gone.error.message
        folder = await attempt(s, tmp_path / "folder.xlsx", bad_figures)
        assert folder.error is not None and "is a folder" in folder.error.message

    run_services(body)


def test_a_cell_too_long_for_a_csv(
    tmp_path: Path, run_services: Run, bad_figures: BadSpreadsheetFigures
) -> None:
    path = tmp_path / "huge-cell.csv"
    path.write_text(
        'Name,Phone\nAsha,+917033009600\n"' + "x" * 200_000 + '",+917033009601\n', encoding="utf-8"
    )

    async def body(s: Services) -> None:
        outcome = await attempt(s, path, bad_figures)
        assert outcome.error is not None and "cannot be read past line" in outcome.error.message
        assert "a cell longer than" in outcome.error.message

    run_services(body)


# --- encodings, delimiters, BOMs, emoji, RTL ------------------------------------------------------

NAMES = ["José Ñúñez", "Zoë Müller", "Ana — “Loja” 5 €"]


def encoded_csv(encoding: str, delimiter: str, *, bom: bytes = b"") -> bytes:
    lines = [delimiter.join(["Nombre", "Teléfono", "Ciudad"])]
    lines += [
        delimiter.join([name, f"+52 55 1234 56{n:02d}", "Mérida"]) for n, name in enumerate(NAMES)
    ]
    return bom + ("\r\n".join(lines) + "\r\n").encode(encoding)


ENCODINGS = [
    ("cp1252.csv", lambda: encoded_csv("cp1252", ",")),
    ("utf8-bom.csv", lambda: encoded_csv("utf-8", ";", bom=codecs.BOM_UTF8)),
    ("utf8.csv", lambda: encoded_csv("utf-8", "|")),
    ("excel-unicode-text.txt", lambda: encoded_csv("utf-16", "\t")),  # UTF-16 LE with BOM, tabs
    ("utf16-be-bom.csv", lambda: codecs.BOM_UTF16_BE + encoded_csv("utf-16-be", ",")),
    ("utf16-le-no-bom.csv", lambda: encoded_csv("utf-16-le", ";")),
]


@pytest.mark.parametrize(("name", "make"), ENCODINGS, ids=[n for n, _ in ENCODINGS])
def test_csv_encodings_delimiters_and_boms(
    tmp_path: Path,
    run_services: Run,
    bad_figures: BadSpreadsheetFigures,
    name: str,
    make: Callable[[], bytes],
) -> None:
    path = tmp_path / name
    path.write_bytes(make())

    async def body(s: Services) -> None:
        outcome = await attempt(s, path, bad_figures, region="MX")
        assert outcome.info is not None and outcome.info.headers == ["Nombre", "Teléfono", "Ciudad"]
        assert outcome.report is not None and outcome.report.imported == 3
        stored = await contacts_by_phone(s)
        assert sorted(c.name for c in stored.values()) == sorted(NAMES)
        assert {c.fields["Ciudad"] for c in stored.values()} == {"Mérida"}

    run_services(body)


def test_emoji_and_right_to_left_text(
    tmp_path: Path, run_services: Run, bad_figures: BadSpreadsheetFigures
) -> None:
    rows = [
        ["الاسم", "الجوال", "ملاحظة"],
        ["مريم 🌸", "\u200f+971 50 123 4567", "عميلة مميزة ⭐"],
        ["דוד כהן", "\u202b+972 52-555-1234\u202c", "👍🏽"],
        ["👨‍👩‍👧 Family", "+٩٧١٥٠١٢٣٤٥٦٨", "Arabic-Indic digits"],
    ]

    async def body(s: Services) -> None:
        for path in (xlsx(tmp_path / "emoji-rtl.xlsx", rows), tmp_path / "emoji-rtl.csv"):
            if path.suffix == ".csv":
                path.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
            outcome = await attempt(s, path, bad_figures)
            assert outcome.report is not None
            assert outcome.report.imported + outcome.report.unchanged == 3, outcome.report.rows
        stored = await contacts_by_phone(s)
        assert stored["+971501234567"].name == "مريم 🌸"
        assert stored["+971501234567"].fields == {"ملاحظة": "عميلة مميزة ⭐"}
        assert stored["+972525551234"].name == "דוד כהן"
        assert stored["+971501234568"].name == "👨‍👩‍👧 Family"

    run_services(body)


def test_messy_rows_get_one_verdict_each(
    tmp_path: Path, run_services: Run, bad_figures: BadSpreadsheetFigures
) -> None:
    path = xlsx(
        tmp_path / "messy-rows.xlsx",
        [
            ["Name", "Phone", "City"],
            ["Two numbers", "+917033009600, +917033009601", ""],
            ["Letters", "call me", ""],
            ["Email", "asha@example.com", ""],
            ["No phone", None, "Pune"],
            ["   ", "   ", "   "],  # blank: ignored silently
            ["Header again", "Phone", "City"],
            ["Name", "Phone", "City"],
            ["Good", "+917033009600", ""],
            ["Again", "07033009600", ""],
            ["WhatsApp JID", "917033009602@s.whatsapp.net", ""],
            ["Hidden id", "1234567890@lid", ""],
        ],
    )

    async def body(s: Services) -> None:
        outcome = await attempt(s, path, bad_figures)
        verdicts = outcome.verdicts()
        assert 6 not in verdicts  # the blank row
        assert verdicts[2] == (
            Verdict.INVALID,
            "looks like more than one number (+917033009600, +917033009601) — keep one number per row",
        )
        assert verdicts[3][0] is verdicts[4][0] is Verdict.INVALID
        assert verdicts[5] == (Verdict.INVALID, "no phone number")
        assert verdicts[8] == (Verdict.INVALID, "repeats the header row")
        assert verdicts[10] == (Verdict.DUPLICATE_IN_FILE, "the same number as row 9")
        assert verdicts[11][0] is Verdict.NEW
        assert verdicts[12][0] is Verdict.INVALID and "WhatsApp internal id" in verdicts[12][1]
        assert outcome.report is not None and outcome.report.rows_read == 10

    run_services(body)


# --- failures and cancels leave the store exactly as it was --------------------------------------


def many_rows(path: Path, count: int) -> Path:
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Contacts")
    sheet.append(["Name", "Phone", "City"])
    for n in range(count):
        sheet.append([f"Person {n}", f"+4479111{n:05d}", "Leeds"])
    workbook.save(path)
    return path


class Boom(Exception):
    pass


@pytest.mark.parametrize(
    "how",
    ["failure while writing", "cancel while writing", "cancel while reading", "task cancelled"],
)
def test_a_failed_or_cancelled_import_changes_nothing(
    tmp_path: Path, run_services: Run, state: State, bad_figures: BadSpreadsheetFigures, how: str
) -> None:
    path = many_rows(tmp_path / "many-rows.xlsx", 3 * WRITE_BATCH)

    async def body(s: Services) -> None:
        existing = await s.contacts.add_contact(
            name="Existing", phone="+447911100001", fields={"City": "York"}
        )
        group = await s.contacts.create_group("Before")
        await s.contacts.add_to_group(group.id, [existing.id])
        await s.contacts.set_opt_out([existing.id], opted_out=True, reason="asked")
        before = await state(s)
        bad_figures.files.add(path.name)
        info = await s.importer.inspect(path)
        assert info.mapping is not None
        options = ImportOptions(
            sheet=info.sheet,
            header_row=info.header_row,
            mapping=info.mapping,
            region="GB",
            new_group_name="Leeds list",
        )
        token = CancelToken()
        seen: list[int] = []

        def progress(done: int, total: int) -> None:
            assert total == PROGRESS_TOTAL
            seen.append(done)
            writing = done > 850
            if how == "failure while writing" and writing:
                raise Boom("the disk went away")
            if (how == "cancel while writing" and writing) or (
                how == "cancel while reading" and len(seen) > 1
            ):
                token.cancel()

        bad_figures.failed_imports += 1
        if how == "task cancelled":
            task = asyncio.ensure_future(s.importer.run(path, options, cancel=token))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await s.worker.run(lambda: None)  # the work left on the worker has finished
            assert token.cancelled
        else:
            with pytest.raises(Boom if how.startswith("failure") else Cancelled):
                await s.importer.run(path, options, progress=progress, cancel=token)
            if how != "cancel while reading":
                assert max(seen) > 850  # it really was writing
        assert await state(s) == before
        bad_figures.store_unchanged += 1
        # The same import, left alone, then succeeds.
        report = await s.importer.run(path, options)
        assert (report.imported, report.opted_out) == (3 * WRITE_BATCH - 1, 1)

    run_services(body)
