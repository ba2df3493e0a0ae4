"""Finding the header row below blank and title rows."""

from __future__ import annotations

import re
from collections.abc import Sequence

from waapp.services.spreadsheet.reading import NO_HEADER

#: How many rows :func:`detect_header_row` needs to see (callers pass at least these).
HEADER_SCAN_ROWS = 50

# --- the header -----------------------------------------------------------------------------

_PHONE_CHARS = re.compile(r"^[+(]?[\d\s().\-/+]+$")
_SCIENTIFIC = re.compile(r"^\+?\d+(?:[.,]\d*)?[eE][+-]?\d+$")
_DATE_LIKE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")


def looks_like_phone(cell: str) -> bool:
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
    return any(c.isalpha() for c in cell) and not looks_like_phone(cell)


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
            if _texty(cells[0]) and following and looks_like_phone(following[0][0]):
                return i
            continue
        if len(cells) < 2 or any(looks_like_phone(c) for c in cells):
            continue
        if sum(_texty(c) for c in cells) * 2 <= len(cells):
            continue
        if following and len(cells) * 2 < max(len(f) for f in following):
            continue  # a title or note above a wider table
        return i
    first = scan[nonblank[0]]
    if any(looks_like_phone(c) for c in first):
        return NO_HEADER
    return nonblank[0]
