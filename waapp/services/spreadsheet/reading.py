"""Reading a spreadsheet file as the user sees it: what the file is, its sheets and its rows of
text (see the package doc)."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from waapp.core.errors import ValidationError

SUPPORTED = (".xlsx", ".xlsm", ".xls", ".ods", ".csv", ".txt", ".tsv")
_TEXT_SUFFIXES = frozenset({".csv", ".txt", ".tsv"})

#: ``detect_header_row`` result for a sheet whose first row is already data.
NO_HEADER = -1

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


_HTML_START = re.compile(r"<(?:!doctype\s+html|html)[\s>]")
_TABLE_TAG = re.compile(r"<table(?:\s[^<>]*)?>")
_WHOLE_TAG = re.compile(r"<[a-z!?][^<>]*>")


def _refuse_non_tabular_text(path: Path, text: str) -> None:
    """Text files that are clearly not a table: binary data, HTML, XML spreadsheets, vCards."""
    if text:
        controls = sum(
            1 for c in text[:8192] if (c < " " and c not in "\t\r\n\f\v") or c == "\ufffd"
        )
        if controls > max(2, len(text[:8192]) // 50):
            raise _refuse(path, "binary data, not text or a spreadsheet")
    start = text.lstrip("\ufeff \t\r\n")[:2000].lower()
    # A page starts with a whole tag; a CSV may well hold "<table" in a cell.
    if _HTML_START.match(start) or (_WHOLE_TAG.match(start) and _TABLE_TAG.search(start)):
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
