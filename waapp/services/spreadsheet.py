"""Reading spreadsheets as the user sees them: sheets, rows of text, the header, the mapping.

Pure, synchronous and thread-safe: the importer runs it in the loop's default executor.
Nothing here touches the database.

- :func:`list_sheets` and :func:`read_rows` read ``.xlsx``/``.xlsm``/``.xls``/``.ods``
  through python-calamine and ``.csv``/``.txt``/``.tsv`` through the ``csv`` module. What a
  file *is* is decided by its first bytes, not by its name: a CSV renamed ``.xlsx`` is read
  as CSV, a PDF renamed ``.xlsx`` is refused with a :class:`SpreadsheetError` that says what
  it looks like. Every cell comes out as the text the user sees (see :func:`cell_text`).
- CSV: the encoding is detected (BOM, UTF-16 without BOM, UTF-8, else cp1252 / latin-1) over
  the whole file before the first row is returned, so that a stray byte at row 900 000
  cannot fail an import half way; the delimiter is detected on the first 64 kB (``,`` ``;``
  tab ``|``, and Excel's ``sep=`` first line). Rows are streamed: a 1 000 000-row file is
  never held in memory.
- :func:`detect_header_row` finds the header below blank and title rows;
  :func:`guess_mapping` maps columns to phone / name / custom fields from header words in
  several languages, or from the values when no header word matches.

Hazard: calamine loads a whole sheet into memory when it is opened (about 40 bytes per
cell); the CSV path streams.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import re
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from waapp.core.errors import ValidationError
from waapp.core.phones import normalize_phone

__all__ = [
    "NO_HEADER",
    "SUPPORTED",
    "ColumnMapping",
    "RowStream",
    "SpreadsheetError",
    "cell_text",
    "column_label",
    "detect_header_row",
    "guess_mapping",
    "layout_key",
    "list_sheets",
    "normalise_header",
    "read_rows",
    "unique_field_name",
]

#: The file types waapp reads (by name; the content decides how they are read).
SUPPORTED = (".xlsx", ".xlsm", ".xls", ".ods", ".csv", ".txt", ".tsv")
_TEXT_SUFFIXES = frozenset({".csv", ".txt", ".tsv"})

#: ``detect_header_row`` result for a sheet whose first row is already data.
NO_HEADER = -1

#: How many rows :func:`detect_header_row` needs to see (callers pass at least these).
HEADER_SCAN_ROWS = 50

_WHAT_TO_DO = (
    "Open the file in Excel (or LibreOffice) and save it as .xlsx or .csv, then import that file."
)
_CSV_SAMPLE = 64 * 1024
_CHUNK = 1 << 20
_DELIMITERS = (",", ";", "\t", "|")
_CP1252_UNDEFINED = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")


class SpreadsheetError(ValidationError):
    """A file that cannot be read as a spreadsheet, in plain language."""

    what_to_do = _WHAT_TO_DO


# --- cells as the user sees them ----------------------------------------------------------


def cell_text(value: object) -> str:
    """A cell's value as the spreadsheet shows it, as text.

    Whole floats lose their ``.0`` (``917033009600.0`` → ``"917033009600"``), other floats
    show 15 significant digits as Excel does (``0.1 + 0.2`` → ``"0.3"``), dates are ISO
    (``2024-05-01``), datetimes ``2024-05-01 09:30:00``, booleans ``TRUE``/``FALSE``,
    empty cells ``""``.
    """
    if type(value) is str:
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and -1e15 < value < 1e15:
            return str(int(value))
        if value != value or value in (float("inf"), float("-inf")):
            return ""
        return format(value, ".15g")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        seconds = int(value.total_seconds())
        sign = "-" if seconds < 0 else ""
        hours, rest = divmod(abs(seconds), 3600)
        return f"{sign}{hours}:{rest // 60:02d}:{rest % 60:02d}"
    return str(value)


def column_label(index: int) -> str:
    """``0`` → ``"A"``, ``27`` → ``"AB"``: the column letters a spreadsheet shows."""
    label = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        label = chr(ord("A") + rest) + label
    return label


# --- what a file is ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Kind:
    reader: str  # "workbook" or "text"
    encoding: str | None = None


def _refuse(path: Path, looks_like: str, *, what_to_do: str = _WHAT_TO_DO) -> SpreadsheetError:
    return SpreadsheetError(
        f"“{path.name}” is not a spreadsheet waapp can read (it looks like {looks_like}).",
        what_to_do=what_to_do,
    )


def _damaged(path: Path, detail: str) -> SpreadsheetError:
    return SpreadsheetError(
        f"“{path.name}” is damaged or incomplete ({detail}).",
        what_to_do="Was the download or copy interrupted? Get the file again, or open it in "
        "Excel and save it again as .xlsx, then import that file.",
    )


def _password(path: Path) -> SpreadsheetError:
    return SpreadsheetError(
        f"“{path.name}” is protected with a password, so waapp cannot read it.",
        what_to_do="Open it in Excel, remove the password (File → Info → Protect Workbook), "
        "save it, and import it again.",
    )


def _empty(path: Path) -> SpreadsheetError:
    return SpreadsheetError(
        f"“{path.name}” is empty (0 bytes).",
        what_to_do="Choose the file that holds your contacts; if this is it, save it again "
        "from your spreadsheet program.",
    )


_BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "an image (PNG)"),
    (b"\xff\xd8\xff", "an image (JPEG)"),
    (b"GIF8", "an image (GIF)"),
    (b"\x1f\x8b", "a compressed (gzip) archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a program"),
    (b"SQLite format 3\x00", "a database file"),
    (b"{\\rtf", "a Rich Text document"),
)


def _sniff(path: Path) -> _Kind:
    """What ``path`` holds, from its first bytes; raises SpreadsheetError when unusable."""
    try:
        with path.open("rb") as file:
            head = file.read(_CSV_SAMPLE)
    except FileNotFoundError as exc:
        raise SpreadsheetError(
            f"The file “{path.name}” does not exist (any more).",
            what_to_do="Choose the file again; it may have been moved or renamed.",
        ) from exc
    except IsADirectoryError as exc:
        raise SpreadsheetError(
            f"“{path.name}” is a folder, not a file.", what_to_do="Choose a spreadsheet file."
        ) from exc
    except OSError as exc:
        raise SpreadsheetError(
            f"The file “{path.name}” cannot be opened ({exc.strerror or exc}).",
            what_to_do="Close it in other programs, check that you may read it, and try again.",
        ) from exc
    if not head:
        raise _empty(path)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _sniff_zip(path)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        # An OLE2 container: an .xls, or an encrypted .xlsx (Excel wraps those in OLE2).
        if "EncryptionInfo".encode("utf-16-le") in head or _ole_encrypted(path):
            raise _password(path)
        return _Kind("workbook")
    for signature, looks_like in _BINARY_SIGNATURES:
        if head.startswith(signature):
            raise _refuse(path, looks_like)
    encoding = _detect_encoding(path, head)
    text = _decode_sample(head, encoding)
    _refuse_non_tabular_text(path, text)
    return _Kind("text", encoding)


def _ole_encrypted(path: Path) -> bool:
    """True when an OLE2 file names an ``EncryptionInfo`` stream in its first megabyte."""
    with path.open("rb") as file:
        return "EncryptionInfo".encode("utf-16-le") in file.read(_CHUNK)


def _sniff_zip(path: Path) -> _Kind:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            mimetype = archive.read("mimetype")[:100] if "mimetype" in names else b""
    except zipfile.BadZipFile as exc:
        raise _damaged(path, "the end of the file is missing or the zip data is broken") from exc
    except (OSError, EOFError, ValueError, KeyError, RuntimeError) as exc:
        raise _damaged(path, str(exc) or type(exc).__name__) from exc
    if {"xl/workbook.xml", "xl/workbook.bin"} & names:
        return _Kind("workbook")
    if b"opendocument.spreadsheet" in mimetype or (not mimetype and "content.xml" in names):
        return _Kind("workbook")
    if "word/document.xml" in names or b"opendocument.text" in mimetype:
        raise _refuse(path, "a text document (Word or Writer)")
    if any(name.startswith("ppt/") for name in names) or b"opendocument.presentation" in mimetype:
        raise _refuse(path, "a presentation")
    if "EncryptedPackage" in names:
        raise _password(path)
    raise _refuse(path, "a zip archive")


def _bom_encoding(head: bytes) -> str | None:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def _utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 text without a BOM shows NUL in every other byte (for Latin-script text)."""
    sample = head[: 4096 - (len(head[:4096]) % 2)]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    half = len(sample) // 2
    if odd.count(0) > 0.4 * half and even.count(0) < 0.05 * half:
        return "utf-16-le"
    if even.count(0) > 0.4 * half and odd.count(0) < 0.05 * half:
        return "utf-16-be"
    return None


def _detect_encoding(path: Path, head: bytes) -> str:
    """The encoding of a text file: BOM, UTF-16 by its NULs, UTF-8 if the *whole* file is
    valid UTF-8, else cp1252 (Windows' Western default) unless it has bytes cp1252 does not
    define, then latin-1 (which decodes anything)."""
    encoding = _bom_encoding(head) or _utf16_without_bom(head)
    if encoding is not None:
        return encoding
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8 = True
    cp1252 = True
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
            if cp1252 and _CP1252_UNDEFINED.search(chunk):
                cp1252 = False
            if not utf8 and not cp1252:
                break
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False  # the file ends in the middle of a character
    if utf8:
        return "utf-8"
    return "cp1252" if cp1252 else "latin-1"


def _decode_sample(head: bytes, encoding: str) -> str:
    return codecs.getincrementaldecoder(encoding)(errors="replace").decode(head)


def _refuse_non_tabular_text(path: Path, text: str) -> None:
    """Text files that are clearly not a table: binary data, HTML, XML spreadsheets, vCards."""
    if text:
        controls = sum(
            1 for c in text[:8192] if (c < " " and c not in "\t\r\n\f\v") or c == "\ufffd"
        )
        if controls > max(2, len(text[:8192]) // 50):
            raise _refuse(path, "binary data, not text or a spreadsheet")
    start = text.lstrip("\ufeff \t\r\n")[:2000].lower()
    if start.startswith(("<!doctype html", "<html")) or "<table" in start:
        raise _refuse(path, "a web page (HTML) saved with a spreadsheet name")
    if start.startswith("<?xml"):
        if "urn:schemas-microsoft-com:office:spreadsheet" in start:
            raise _refuse(path, "an Excel 2003 XML spreadsheet, an old format")
        raise _refuse(path, "an XML document")
    if start.startswith("begin:vcard"):
        raise _refuse(
            path,
            "a vCard contacts file",
            what_to_do="Export the contacts as a CSV file from your phone or address book, "
            "and import that file.",
        )
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        shown = suffix or "a file without an extension"
        raise SpreadsheetError(
            f"waapp reads {', '.join(SUPPORTED[:-1])} and {SUPPORTED[-1]} files; "
            f"“{path.name}” is {shown}.",
        )


# --- CSV ----------------------------------------------------------------------------------


def _records(text: str, delimiter: str, *, truncated: bool) -> list[list[str]]:
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False))
    except csv.Error:
        return []
    if truncated and rows:
        rows.pop()  # the sample may end in the middle of a record
    return rows


def _detect_delimiter(text: str, *, truncated: bool) -> str:
    """The candidate whose rows most consistently split into the same number (≥ 2) of
    fields; ties go to the one giving more fields, then to the order ``, ; tab |``."""
    best = (0.0, 0, 0)
    chosen = ","
    for order, delimiter in enumerate(_DELIMITERS):
        if delimiter not in text:
            continue
        widths = [
            len(row) for row in _records(text, delimiter, truncated=truncated)[:200] if any(row)
        ]
        if not widths:
            continue
        width, seen = Counter(widths).most_common(1)[0]
        if width < 2:
            continue
        score = (seen / len(widths), width, -order)
        if score > best:
            best, chosen = score, delimiter
    return chosen


def _csv_stream(path: Path, encoding: str) -> RowStream:
    with path.open("rb") as file:
        head = file.read(_CSV_SAMPLE)
    sample = _decode_sample(head, encoding).lstrip("\ufeff")
    truncated = len(head) == _CSV_SAMPLE
    first_line = sample.split("\n", 1)[0].strip("\r")
    hint = re.fullmatch(r'"?sep=(.)"?', first_line, flags=re.IGNORECASE)
    delimiter = hint.group(1) if hint else _detect_delimiter(sample, truncated=truncated)
    records = len(_records(sample, delimiter, truncated=truncated))
    total: int | None = None
    if records:
        size = path.stat().st_size
        total = records if not truncated else max(records, round(size * records / len(head)))
    rows = _csv_rows(path, encoding, delimiter, sep_line=hint is not None)
    return RowStream(rows, total, close=rows.close)  # closing the generator closes the file


def _csv_rows(
    path: Path, encoding: str, delimiter: str, *, sep_line: bool
) -> Generator[list[str], None, None]:
    # Validated over the whole file already; "replace" only guards a file changed meanwhile.
    with path.open(encoding=encoding, errors="replace", newline="") as file:
        reader = csv.reader(file, delimiter=delimiter, strict=False)
        try:
            for number, row in enumerate(reader, start=1):
                if number == 1:
                    if sep_line:
                        yield []  # Excel's "sep=" line: a blank row, not data
                        continue
                    if row and row[0].startswith("\ufeff"):
                        row[0] = row[0][1:]
                yield row
        except csv.Error as exc:
            reason = str(exc)
            if "field larger than field limit" in reason:
                reason = f"a cell longer than {csv.field_size_limit():,} characters"
            raise SpreadsheetError(
                f"“{path.name}” cannot be read past line {reader.line_num} ({reason}).",
                what_to_do="Open it in a spreadsheet program, check the rows around that line, "
                "save it again and import it again.",
            ) from exc


# --- workbooks (calamine) -------------------------------------------------------------------


def _calamine_error(path: Path, exc: Exception) -> SpreadsheetError:
    import python_calamine as pc

    if isinstance(exc, pc.PasswordError):
        return _password(path)
    if isinstance(exc, pc.ZipError | pc.XmlError):
        return _damaged(path, str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
    suffix = path.suffix.lower()
    if suffix in (".xls", ".doc", ".ppt") or not suffix:
        return _refuse(path, "an old Office document that is not a readable spreadsheet")
    return _damaged(path, str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)


def _open_workbook(path: Path) -> Any:
    import python_calamine as pc

    try:
        return pc.CalamineWorkbook.from_path(str(path))
    except (pc.CalamineError, ValueError, OSError) as exc:
        raise _calamine_error(path, exc) from exc
    except Exception as exc:  # the Rust side raises bare exceptions for odd files
        raise _calamine_error(path, exc) from exc


def _worksheet_names(workbook: Any) -> list[str]:
    import python_calamine as pc

    visible: list[str] = []
    hidden: list[str] = []
    for meta in workbook.sheets_metadata:
        if meta.typ not in (pc.SheetTypeEnum.WorkSheet, pc.SheetTypeEnum.MacroSheet):
            continue
        (visible if meta.visible == pc.SheetVisibleEnum.Visible else hidden).append(meta.name)
    names = visible + hidden
    return names or list(workbook.sheet_names)


def _workbook_stream(path: Path, sheet: str | None) -> RowStream:
    import python_calamine as pc

    workbook = _open_workbook(path)
    try:
        names = _worksheet_names(workbook)
        if not names:
            raise SpreadsheetError(f"“{path.name}” has no sheets.")
        name = names[0] if sheet is None else sheet
        try:
            data = workbook.get_sheet_by_name(name)
        except pc.WorksheetNotFound as exc:
            raise SpreadsheetError(
                f"“{path.name}” has no sheet called “{name}”; its sheets are: {', '.join(names)}.",
                what_to_do="Choose one of these sheets.",
            ) from exc
        except Exception as exc:  # calamine's own errors, and bare ones for odd files
            raise _calamine_error(path, exc) from exc
    except BaseException:
        workbook.close()
        raise
    end = data.end
    total = None if end is None else end[0] + 1
    rows = _sheet_rows(data)

    def close() -> None:
        rows.close()
        workbook.close()

    return RowStream(rows, total, close=close)


def _sheet_rows(data: Any) -> Generator[list[str], None, None]:
    """Rows of a calamine sheet, as text, at their true row and column positions, with the
    value of a vertically merged range repeated on each of its rows (as the user reads it)."""
    start = data.start
    if start is None:
        return
    first_row, first_col = start
    pad = [""] * first_col
    fill: dict[int, list[tuple[int, int]]] = {}  # first row → [(column, last row)]
    for (top, left), (bottom, _right) in data.merged_cell_ranges or ():
        if bottom > top:
            fill.setdefault(top, []).append((left, bottom))
    carried: list[tuple[int, int, str]] = []  # (column, last row, value)
    expected = 0
    for raw in data.iter_rows():
        if expected == 0 and first_row and any(cell != "" for cell in raw):
            # Some readers start at the first row with data: put the rows above back.
            for _ in range(first_row):
                yield []
            expected = first_row
        # Most cells are text already: skip the call for them (cell_text returns them as is).
        row = [c if type(c) is str else cell_text(c) for c in raw]
        if pad:
            row = pad + row
        if carried:
            carried = [c for c in carried if c[1] >= expected]
            for column, _last, value in carried:
                if column < len(row) and row[column] == "":
                    row[column] = value
        for column, last in fill.get(expected, ()):
            if column < len(row) and row[column] != "":
                carried.append((column, last, row[column]))
        yield row
        expected += 1


# --- public reading API -------------------------------------------------------------------


class RowStream:
    """The rows of one sheet, streamed: an iterator of ``list[str]`` with a size hint.

    ``total_hint`` is the number of rows (blank ones included) when the reader knows it (a
    workbook), an estimate from the file size (CSV), or None. Close it (or use ``with``) to
    release the file early; it closes itself when exhausted.
    """

    def __init__(
        self,
        rows: Iterator[list[str]],
        total_hint: int | None,
        *,
        close: Callable[[], None] | None = None,
    ) -> None:
        self._rows = rows
        self._close = close
        self.total_hint = total_hint

    def __iter__(self) -> RowStream:
        return self

    def __next__(self) -> list[str]:
        try:
            return next(self._rows)
        except StopIteration:
            self.close()
            raise
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        close, self._close = self._close, None
        if close is not None:
            close()

    def __enter__(self) -> RowStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def list_sheets(path: Path) -> list[str]:
    """The sheets of ``path`` (visible worksheets first); a CSV is one sheet named after the
    file. Raises SpreadsheetError in plain language for anything unreadable."""
    path = Path(path)
    kind = _sniff(path)
    if kind.reader == "text":
        return [path.stem]
    workbook = _open_workbook(path)
    try:
        names = _worksheet_names(workbook)
    finally:
        workbook.close()
    if not names:
        raise SpreadsheetError(f"“{path.name}” has no sheets.")
    return names


def read_rows(path: Path, sheet: str | None = None) -> RowStream:
    """Every row of ``sheet`` (default: the first), each cell as the text the user sees.

    Rows keep their positions: blank rows come out as ``[]`` or rows of ``""``, so that row
    ``i`` of the iteration is row ``i + 1`` of the spreadsheet. For a CSV file ``sheet`` is
    ignored. The file is opened and checked (for CSV: its encoding detected over the whole
    file) before this returns; SpreadsheetError may still come later from a file damaged in
    the middle.
    """
    path = Path(path)
    kind = _sniff(path)
    if kind.reader == "text":
        assert kind.encoding is not None
        return _csv_stream(path, kind.encoding)
    return _workbook_stream(path, sheet)


# --- the header -----------------------------------------------------------------------------

_PHONE_CHARS = re.compile(r"^[+(]?[\d\s().\-/+]+$")
_SCIENTIFIC = re.compile(r"^\+?\d+(?:[.,]\d*)?[eE][+-]?\d+$")
_DATE_LIKE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")


def _phone_like(cell: str) -> bool:
    """Shaped like a phone number: 7 to 17 digits and only phone punctuation."""
    text = cell.strip()
    if not text or _DATE_LIKE.match(text):
        return False
    if _SCIENTIFIC.match(text):
        return True
    if not _PHONE_CHARS.match(text):
        return False
    digits = sum(c.isdigit() for c in text)
    return 7 <= digits <= 17


def _texty(cell: str) -> bool:
    return any(c.isalpha() for c in cell) and not _phone_like(cell)


def _filled(row: Sequence[str]) -> list[str]:
    return [c for c in row if c and not c.isspace()]


def detect_header_row(rows: Sequence[Sequence[str]]) -> int:
    """The 0-based index of the header row among the first rows, or :data:`NO_HEADER`.

    Blank rows and title rows above the header are skipped: a title row has one non-empty
    cell (or far fewer than the rows under it). The header is the first row with at least
    two non-empty cells, mostly text and none shaped like a phone number, followed by rows
    of data (or by nothing, for a file that holds only its header). A one-column sheet's
    header is a text cell above a phone number. When the first row with content already
    looks like data (a phone number in it), there is no header: NO_HEADER.
    """
    scan = [_filled(row) for row in rows[:HEADER_SCAN_ROWS]]
    nonblank = [i for i, cells in enumerate(scan) if cells]
    if not nonblank:
        return 0
    widest = max(len(scan[i]) for i in nonblank)
    for position, i in enumerate(nonblank):
        cells = scan[i]
        following = [scan[j] for j in nonblank[position + 1 : position + 6]]
        if widest <= 1:
            if _texty(cells[0]) and following and _phone_like(following[0][0]):
                return i
            continue
        if len(cells) < 2 or any(_phone_like(c) for c in cells):
            continue
        if sum(_texty(c) for c in cells) * 2 <= len(cells):
            continue
        if following and len(cells) * 2 < max(len(f) for f in following):
            continue  # a title or note above a wider table
        return i
    first = scan[nonblank[0]]
    if any(_phone_like(c) for c in first):
        return NO_HEADER
    return nonblank[0]


# --- the mapping ----------------------------------------------------------------------------


@dataclass(slots=True)
class ColumnMapping:
    """Which column (0-based index) holds what.

    ``phone`` is required. The name is ``name``'s cell, or the non-empty cells of
    ``name_parts`` joined by a space (first name + last name). ``fields`` maps a column to
    the custom field it fills. ``opt_out`` is a column whose "yes"-like values (yes, true,
    1, x, sí, sim, oui, ja, ya, opted out …) import the contact as opted out, with
    ``opt_out_reason``'s text as the reason — never the other way round: a file cannot opt
    anyone back in. Columns not named anywhere are not imported.
    """

    phone: int
    name: int | None = None
    fields: dict[int, str] = field(default_factory=dict)
    name_parts: list[int] = field(default_factory=list)
    opt_out: int | None = None
    opt_out_reason: int | None = None

    def columns(self) -> set[int]:
        """Every column this mapping reads."""
        used = {self.phone, *self.fields, *self.name_parts}
        for extra in (self.name, self.opt_out, self.opt_out_reason):
            if extra is not None:
                used.add(extra)
        return used

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (column keys become strings)."""
        return {
            "phone": self.phone,
            "name": self.name,
            "name_parts": list(self.name_parts),
            "fields": {str(column): name for column, name in self.fields.items()},
            "opt_out": self.opt_out,
            "opt_out_reason": self.opt_out_reason,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnMapping:
        """Inverse of :meth:`to_dict`; raises ValueError for a malformed dictionary."""
        try:

            def optional(key: str) -> int | None:
                value = data.get(key)
                return None if value is None else int(value)

            return cls(
                phone=int(data["phone"]),
                name=optional("name"),
                name_parts=[int(c) for c in data.get("name_parts") or []],
                fields={int(c): str(n) for c, n in (data.get("fields") or {}).items()},
                opt_out=optional("opt_out"),
                opt_out_reason=optional("opt_out_reason"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a column mapping: {data!r}") from exc


def normalise_header(text: str) -> str:
    """A header as compared: case-folded, accents and punctuation removed, spaces collapsed
    (``" Número de Teléfono:"`` → ``"numero de telefono"``)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c))
    return " ".join(kept.split())


def layout_key(headers: Sequence[str]) -> str:
    """A stable key for a file layout: the same headers (ignoring case, accents, spacing
    and empty trailing columns) give the same key. Stored as ``import_mapping:<key>``."""
    names = [" ".join(h.casefold().split()) for h in headers]
    while names and not names[-1]:
        names.pop()
    return hashlib.sha1("\x1f".join(names).encode("utf-8")).hexdigest()[:24]


# Header words, normalised (see normalise_header). Whole-header matches score higher than a
# word inside a longer header ("customer mobile no").
_PHONE_WORDS: dict[str, int] = {
    # WhatsApp first: a sheet with "Phone" and "WhatsApp" columns means the latter.
    **dict.fromkeys(
        [
            "whatsapp",
            "whats app",
            "wa",
            "whatsapp number",
            "whatsapp no",
            "no wa",
            "nomor wa",
            "numero whatsapp",
            "numero de whatsapp",
            "zap",
            "whats",
            "wapp",
            "wa number",
            "wa no",
        ],
        6,
    ),
    **dict.fromkeys(
        [
            "mobile",
            "mobile no",
            "mobile number",
            "mob",
            "mob no",
            "mobile phone",
            "cell",
            "cell phone",
            "cellphone",
            "cell no",
            "cellular",
            "celular",
            "numero celular",
            "numero de celular",
            "telefone celular",
            "movil",
            "telefono movil",
            "hp",
            "no hp",
            "nomor hp",
            "handphone",
            "no handphone",
            "portable",
            "telephone portable",
            "numero de portable",
            "handy",
            "handynummer",
            "mobil",
            "mobilnummer",
            "mobiltelefon",
            "mobile phone number",
            "मोबाइल",
            "मोबाइल नंबर",
            "موبايل",
            "جوال",
            "נייד",
        ],
        5,
    ),
    **dict.fromkeys(
        [
            "phone",
            "phone number",
            "phone no",
            "phone num",
            "ph",
            "ph no",
            "tel",
            "tel no",
            "telephone",
            "telephone number",
            "telefone",
            "telefono",
            "numero de telefono",
            "numero de telefone",
            "telefon",
            "telefonnummer",
            "rufnummer",
            "fone",
            "telp",
            "no telp",
            "telepon",
            "nomor telepon",
            "no telepon",
            "numero de telephone",
            "contact number",
            "contact no",
            "msisdn",
            "फोन",
            "फ़ोन",
            "फोन नंबर",
            "هاتف",
            "טלפון",
            "电话",
            "手机",
            "電話",
        ],
        4,
    ),
    **dict.fromkeys(
        [
            "number",
            "numero",
            "nomor",
            "nummer",
            "contact",
            "contato",
            "contacto",
            "kontak",
            "नंबर",
            "رقم",
        ],
        2,
    ),
}
_PHONE_TOKENS = {
    "whatsapp": 5,
    "mobile": 4,
    "cell": 4,
    "celular": 4,
    "movil": 4,
    "handphone": 4,
    "hp": 3,
    "handy": 4,
    "mobil": 4,
    "mobilnummer": 4,
    "phone": 3,
    "telefone": 3,
    "telefono": 3,
    "telephone": 3,
    "telefon": 3,
    "telefonnummer": 3,
    "tel": 3,
    "telp": 3,
    "telepon": 3,
    "wa": 3,
    "msisdn": 3,
    "portable": 3,
    "mob": 3,
    "fone": 3,
    "جوال": 4,
    "الجوال": 4,
    "موبايل": 4,
    "هاتف": 3,
    "الهاتف": 3,
    "मोबाइल": 4,
    "फोन": 3,
    "फ़ोन": 3,
    "טלפון": 3,
    "נייד": 4,
}
_NOT_PHONE_TOKENS = frozenset(
    {
        "fax",
        "email",
        "mail",
        "e",
        "id",
        "order",
        "invoice",
        "serial",
        "sr",
        "s",
        "sl",
        "account",
        "pin",
        "zip",
        "postal",
        "code",
        "otp",
        "aadhar",
        "aadhaar",
        "pan",
        "gst",
        "passport",
        "cpf",
        "rfc",
        "npwp",
        "nik",
        "ktp",
        "tax",
        "vat",
        "iban",
        "card",
    }
)
_NAME_WORDS: dict[str, int] = {
    **dict.fromkeys(
        [
            "name",
            "full name",
            "fullname",
            "names",
            "nombre",
            "nombre completo",
            "nombres",
            "nome",
            "nome completo",
            "nama",
            "nama lengkap",
            "nom complet",
            "nom et prenom",
            "vollstandiger name",
            "naam",
            "customer",
            "customer name",
            "client",
            "client name",
            "cliente",
            "nombre del cliente",
            "nome do cliente",
            "pelanggan",
            "nama pelanggan",
            "contact name",
            "contact person",
            "नाम",
            "ग्राहक",
            "اسم",
            "الاسم",
            "שם",
            "姓名",
            "nom",
        ],
        3,
    ),
}
_NOT_NAME_TOKENS = frozenset(
    {
        "company",
        "business",
        "empresa",
        "perusahaan",
        "file",
        "user",
        "username",
        "group",
        "shop",
        "store",
        "product",
        "father",
        "mother",
        "fathers",
        "mothers",
        "ayah",
        "ibu",
        "pai",
        "mae",
        "padre",
        "madre",
        "pere",
        "mere",
        "vater",
        "mutter",
        "firma",
        "entreprise",
        "societe",
        "produto",
        "producto",
        "item",
        "account",
        "bank",
        "street",
        "city",
        "school",
        "last",
        "first",
        "sur",
        "family",
        "middle",
    }
)
_FIRST_NAME = frozenset(
    {
        "first name",
        "firstname",
        "first",
        "given name",
        "forename",
        "prenom",
        "vorname",
        "primer nombre",
        "primeiro nome",
        "nama depan",
        "nombre de pila",
        "prenoms",
    }
)
_LAST_NAME = frozenset(
    {
        "last name",
        "lastname",
        "last",
        "surname",
        "family name",
        "apellido",
        "apellidos",
        "sobrenome",
        "nom de famille",
        "nachname",
        "nama belakang",
        "familienname",
        "primer apellido",
        "ultimo nome",
        "apelido",
    }
)
# With a last-name column beside it, these mean the first name ("Nombre" + "Apellido").
_GIVEN_IF_LAST = frozenset({"name", "nombre", "nombres", "nome", "nama", "nom", "naam"})
# With a first-name column beside it, these mean the surname ("Prénom" + "Nom", "Vorname" +
# "Name").
_SURNAME_IF_FIRST = frozenset({"nom", "name"})
_OPT_OUT = frozenset(
    {
        "opted out",
        "opt out",
        "optout",
        "opted out at",
        "unsubscribed",
        "do not contact",
        "dnd",
        "no contactar",
        "descadastrado",
        "berhenti langganan",
    }
)
_OPT_OUT_REASON = frozenset({"opt out reason", "opted out reason", "reason for opt out"})
#: Columns of waapp's own contacts export that are not contact data (re-import skips them).
_OWN_EXPORT_COLUMNS = frozenset({"last reply", "added", "groups"})
_RESERVED_FIELDS = frozenset({"name", "phone"})


def _normalised_keys(table: dict[str, int]) -> dict[str, int]:
    return {normalise_header(word): score for word, score in table.items()}


def _normalised_set(words: frozenset[str]) -> frozenset[str]:
    return frozenset(normalise_header(word) for word in words)


# The tables hold words as people write them; compare them as headers are compared (this
# also makes non-Latin words, whose vowel signs normalisation drops, match).
_PHONE_WORDS = _normalised_keys(_PHONE_WORDS)
_PHONE_TOKENS = _normalised_keys(_PHONE_TOKENS)
_NAME_WORDS = _normalised_keys(_NAME_WORDS)
_FIRST_NAME = _normalised_set(_FIRST_NAME)
_LAST_NAME = _normalised_set(_LAST_NAME)
_OPT_OUT = _normalised_set(_OPT_OUT)


def _phone_score(header: str) -> int:
    if not header:
        return 0
    if header in _PHONE_WORDS:
        return _PHONE_WORDS[header]
    tokens = header.split()
    if _NOT_PHONE_TOKENS & set(tokens):
        return 0
    return max((_PHONE_TOKENS.get(t, 0) for t in tokens), default=0)


def _name_score(header: str) -> int:
    if not header:
        return 0
    if header in _NAME_WORDS:
        return _NAME_WORDS[header]
    tokens = set(header.split())
    if tokens & _NOT_NAME_TOKENS:
        return 0
    if tokens & {"name", "nombre", "nome", "nama", "naam"}:
        return 2
    return 0


def _phone_values(sample_rows: Sequence[Sequence[str]], column: int) -> tuple[int, int]:
    """(cells shaped like phone numbers, cells valid as international numbers)."""
    shaped = valid = 0
    for row in sample_rows:
        if column < len(row) and _phone_like(row[column]):
            shaped += 1
            valid += normalize_phone(row[column].strip()).valid
    return shaped, valid


def unique_field_name(header: str, taken: set[str]) -> str:
    """``header`` as a custom field name: spaces collapsed, and made unique (ignoring case)
    against ``taken`` — which it joins — and the built-in "name" and "phone" ("Phone (2)")."""
    base = " ".join(header.split())
    candidate = base
    counter = 2
    while candidate.casefold() in taken or candidate.casefold() in _RESERVED_FIELDS:
        candidate = f"{base} ({counter})"
        counter += 1
    taken.add(candidate.casefold())
    return candidate


def guess_mapping(
    headers: Sequence[str], sample_rows: Sequence[Sequence[str]] = ()
) -> ColumnMapping | None:
    """A mapping guessed from header words (English, Spanish, Portuguese, Indonesian,
    French, German, Hindi and a few more), or None when no column can hold the phone.

    The phone column is the best header word (WhatsApp > mobile > phone > number), ties
    broken by which sample values look like phone numbers; without any header word, the
    column whose sample values look like phone numbers most often. Name: a full-name column,
    or first + last name columns (``name_parts``). Every other column with a header becomes
    a custom field named by its trimmed header (made unique; never "name" or "phone"),
    except an opt-out column and the bookkeeping columns of waapp's own export.
    """
    normal = [normalise_header(h) for h in headers]
    width = max([len(normal), *(len(row) for row in sample_rows)], default=0)
    normal += [""] * (width - len(normal))

    def sample_score(column: int) -> tuple[int, int]:
        return _phone_values(sample_rows, column)

    scored = [(score, column) for column, h in enumerate(normal) if (score := _phone_score(h))]
    with_values = [(score, column) for score, column in scored if sample_score(column)[0]]
    if with_values:
        scored = with_values  # "Order number" holds 1, 2, 3; "Mobile" holds numbers
    if scored:
        top = max(score for score, _ in scored)
        ties = [column for score, column in scored if score == top]
        phone = max(ties, key=lambda c: (sample_score(c), -c))
    else:
        counts = [(sample_score(c), -c) for c in range(width)]
        best = max(counts, default=((0, 0), 0))
        if best[0][0] == 0:
            return None
        phone = -best[1]

    taken = {phone}
    opt_out = next((c for c, h in enumerate(normal) if h in _OPT_OUT and c not in taken), None)
    if opt_out is not None:
        taken.add(opt_out)
    reason = next((c for c, h in enumerate(normal) if h in _OPT_OUT_REASON), None)
    if reason is not None:
        taken.add(reason)

    last = next((c for c, h in enumerate(normal) if h in _LAST_NAME and c not in taken), None)
    first = next((c for c, h in enumerate(normal) if h in _FIRST_NAME and c not in taken), None)
    if last is not None and first is None:
        first = next(
            (c for c, h in enumerate(normal) if h in _GIVEN_IF_LAST and c not in taken), None
        )
    if first is not None and last is None:
        last = next(
            (c for c, h in enumerate(normal) if h in _SURNAME_IF_FIRST and c not in taken), None
        )
    name: int | None = None
    name_parts: list[int] = []
    full = [(s, c) for c, h in enumerate(normal) if c not in taken and (s := _name_score(h))]
    full = [(s, c) for s, c in full if c not in (first, last)]
    if full:
        name = max(full, key=lambda sc: (sc[0], -sc[1]))[1]
        taken.add(name)
    elif first is not None and last is not None:
        name_parts = [first, last]
        taken.update(name_parts)
    elif first is not None:
        name = first
        taken.add(first)
    elif last is not None:
        name = last
        taken.add(last)

    fields: dict[int, str] = {}
    names_taken: set[str] = set()
    for column, header in enumerate(headers):
        if column in taken or not header.strip() or normal[column] in _OWN_EXPORT_COLUMNS:
            continue
        fields[column] = unique_field_name(header, names_taken)
    return ColumnMapping(
        phone=phone,
        name=name,
        fields=fields,
        name_parts=name_parts,
        opt_out=opt_out,
        opt_out_reason=reason,
    )
