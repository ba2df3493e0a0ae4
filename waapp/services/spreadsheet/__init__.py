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

from waapp.services.spreadsheet.header import HEADER_SCAN_ROWS, detect_header_row
from waapp.services.spreadsheet.mapping import (
    ColumnMapping,
    guess_mapping,
    layout_key,
    normalise_header,
    unique_field_name,
)
from waapp.services.spreadsheet.reading import (
    NO_HEADER,
    SUPPORTED,
    RowStream,
    SpreadsheetError,
    cell_text,
    column_label,
    list_sheets,
    read_rows,
)

__all__ = [
    "HEADER_SCAN_ROWS",
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
