"""Spreadsheet import: inspect → preview → run → report.

::

    info = await importer.inspect(path)                    # sheets, header, sample, mapping
    options = ImportOptions(sheet=info.sheet, header_row=info.header_row,
                            mapping=info.mapping, region="IN", new_group_name="May fair")
    first_rows, totals = await importer.preview(path, options)   # nothing written
    report = await importer.run(path, options, progress=bar, cancel=token)

Where the work happens: reading, phone normalisation and classification run in the loop's
default executor (never on the loop, never on the database worker); the snapshot of stored
numbers and the one all-or-nothing write run on the database worker
(:class:`waapp.store.imports.ImportRepository`).

Rules, as the user sees them in the report:

- blank rows are skipped silently; a row with data but an empty phone cell is *invalid*
  ("no phone number"); a number the core refuses is *invalid* with the core's reason;
- a number seen earlier in the file is a *duplicate in file* (the first row wins);
- a number already stored is *updated* (policy UPDATE: imported fields overwrite fields of
  the same name, other fields stay; the name only when the file has one) or left as it is
  (policy KEEP: *unchanged*); *unchanged* too when nothing would change;
- a number of an opted-out contact is *opted out*: its details follow the policy, but it
  stays opted out whatever the file says. A file can opt a contact out (an "Opted out"
  column), never back in;
- everyone the file names validly joins the chosen group (new or existing).
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import islice
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import phonenumbers

from waapp.core.errors import ValidationError
from waapp.core.phones import normalize_phone
from waapp.core.progress import CancelToken, ProgressCallback, no_progress
from waapp.services.events import ContactsChanged, EventBus, GroupsChanged
from waapp.services.spreadsheet import (
    HEADER_SCAN_ROWS,
    NO_HEADER,
    ColumnMapping,
    SpreadsheetError,
    column_label,
    detect_header_row,
    guess_mapping,
    layout_key,
    list_sheets,
    read_rows,
    unique_field_name,
)
from waapp.store.database import Database
from waapp.store.imports import ImportPlan, ImportRepository, Snapshot, StoredContact
from waapp.store.worker import DatabaseWorker

__all__ = [
    "MAPPING_KEY_PREFIX",
    "PROGRESS_TOTAL",
    "REPORT_ROWS_CAP",
    "ImportOptions",
    "ImportReport",
    "ImportService",
    "RowResult",
    "SpreadsheetInfo",
    "UpdatePolicy",
    "Verdict",
]

log = logging.getLogger(__name__)

#: Settings key prefix of remembered mappings: ``import_mapping:<layout_key(headers)>``.
MAPPING_KEY_PREFIX = "import_mapping:"
#: At most this many rows are listed in a report (the totals always count every row).
REPORT_ROWS_CAP = 100_000
#: ``progress(done, total)`` of :meth:`ImportService.run` counts thousandths of the work.
PROGRESS_TOTAL = 1000
#: Data rows shown under each column by :meth:`ImportService.inspect`.
SAMPLE_ROWS = 20

_READ_SHARE = 800  # thousandths of the progress bar for reading and checking the file
_PLAN_SHARE = 850
_PROGRESS_EVERY = 2048  # rows between progress calls and cancel checks while reading
_LEADING_BLANKS = 10_000  # blank rows skipped looking for the first row with content
_TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
_NEUTRALISED = ("'=", "'+", "'-", "'@", "'\t", "'\r")
_OPT_OUT_YES = frozenset(
    {
        "yes",
        "y",
        "true",
        "1",
        "x",
        "si",
        "sí",
        "sim",
        "oui",
        "ja",
        "ya",
        "iya",
        "opted out",
        "opt out",
        "optout",
        "stop",
        "unsubscribed",
        "dnd",
        "हाँ",
        "हां",
        "نعم",
    }
)
_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# The string encoder _json itself uses for keys and values (ensure_ascii=False).
_json_string = encode_basestring

T = TypeVar("T")


class UpdatePolicy(StrEnum):
    UPDATE = "update"  # stored contacts take the file's values
    KEEP = "keep_existing"  # stored contacts stay as they are


class Verdict(StrEnum):
    NEW = "new"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    DUPLICATE_IN_FILE = "duplicate_in_file"
    INVALID = "invalid"
    OPTED_OUT = "opted_out"  # an opted-out contact: stays opted out


#: Verdicts listed in a report's ``rows`` (the others are only counted).
REPORTED = frozenset({Verdict.INVALID, Verdict.DUPLICATE_IN_FILE, Verdict.OPTED_OUT})


@dataclass(frozen=True, slots=True)
class RowResult:
    """The verdict on one row; ``row_number`` is 1-based, as the spreadsheet shows it."""

    row_number: int
    verdict: Verdict
    phone_input: str
    e164: str | None
    name: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row_number,
            "verdict": self.verdict.value,
            "phone": self.phone_input,
            "e164": self.e164,
            "name": self.name,
            "reason": self.reason,
        }


@dataclass(slots=True)
class ImportOptions:
    """What to import and how. ``header_row`` is 0-based (as ``SpreadsheetInfo`` gives it),
    or :data:`~waapp.services.spreadsheet.NO_HEADER` when every row is data. ``region`` is
    the default country for numbers written without one (ISO code such as ``"IN"``).
    ``group_id`` wins over ``new_group_name``; a ``new_group_name`` that already exists
    (ignoring case) means that group."""

    sheet: str | None
    header_row: int
    mapping: ColumnMapping
    region: str | None
    policy: UpdatePolicy = UpdatePolicy.UPDATE
    group_id: int | None = None
    new_group_name: str | None = None


@dataclass(slots=True)
class SpreadsheetInfo:
    """What :meth:`ImportService.inspect` found. ``headers`` and every row of
    ``sample_rows`` have the same length (one entry per column); without a header row the
    headers are "Column A", "Column B" …. ``mapping`` is the one remembered for this layout
    (``remembered``) or else guessed, None when no column looks like phone numbers."""

    path: Path
    sheets: list[str]
    sheet: str
    header_row: int
    headers: list[str]
    sample_rows: list[list[str]]
    mapping: ColumnMapping | None
    remembered: bool
    total_rows_hint: int | None


@dataclass(slots=True)
class ImportReport:
    """Totals of an import (or of its preview, ``preview=True``: what it would do).

    ``rows`` lists, in file order, every row that was invalid, a duplicate in the file or
    an opted-out contact, with the reason: at most :data:`REPORT_ROWS_CAP`
    (``rows_left_out`` counts the others). ``rows_read`` counts the non-blank data rows.
    """

    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    invalid: int = 0
    opted_out: int = 0
    rows: list[RowResult] = field(default_factory=list)
    group_name: str | None = None
    cancelled: bool = False
    rows_read: int = 0
    rows_left_out: int = 0
    preview: bool = False
    group_created: bool = False

    def count(self, verdict: Verdict) -> None:
        """Count one row of ``verdict``."""
        match verdict:
            case Verdict.NEW:
                self.imported += 1
            case Verdict.UPDATE:
                self.updated += 1
            case Verdict.UNCHANGED:
                self.unchanged += 1
            case Verdict.DUPLICATE_IN_FILE:
                self.duplicates += 1
            case Verdict.INVALID:
                self.invalid += 1
            case Verdict.OPTED_OUT:
                self.opted_out += 1

    def to_dict(self) -> dict[str, Any]:
        """The JSON the command line prints: totals, then the listed rows by kind."""

        def listed(verdict: Verdict) -> list[dict[str, Any]]:
            return [
                {
                    "row": r.row_number,
                    "phone": r.phone_input,
                    "e164": r.e164,
                    "name": r.name,
                    "reason": r.reason,
                }
                for r in self.rows
                if r.verdict is verdict
            ]

        return {
            "imported": self.imported,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "duplicates": self.duplicates,
            "invalid": self.invalid,
            "opted_out": self.opted_out,
            "rows_read": self.rows_read,
            "group": self.group_name,
            "group_created": self.group_created,
            "dry_run": self.preview,
            "cancelled": self.cancelled,
            "invalid_rows": listed(Verdict.INVALID),
            "duplicate_rows": listed(Verdict.DUPLICATE_IN_FILE),
            "opted_out_rows": listed(Verdict.OPTED_OUT),
            "rows_left_out": self.rows_left_out,
        }


# --- reading the file (executor) -----------------------------------------------------------


class _Candidate(NamedTuple):
    """A usable row: a valid number not seen earlier in the file. A tuple, with the custom
    fields already as the JSON the store keeps: 100 000 of them are held until the write."""

    row_number: int
    phone_input: str
    e164: str
    name: str
    fields_json: str
    opt_out: str | None  # the reason, when the file marks the contact opted out


def _unquote(text: str) -> str:
    """Undo an export's formula neutralisation (``'=…`` → ``=…``): the store keeps what the
    user typed, and exports neutralise it again."""
    return text[1:] if text.startswith(_NEUTRALISED) else text


def _clean_name(text: str) -> str:
    return _unquote(" ".join(text.split()))


class _Reader:
    """One pass over a sheet's data rows: yields a _Candidate or a refused RowResult per
    non-blank row; checks ``cancel`` and reports progress every few thousand rows."""

    def __init__(
        self,
        path: Path,
        options: ImportOptions,
        *,
        progress: ProgressCallback = no_progress,
        cancel: CancelToken | None = None,
        share: int = _READ_SHARE,
    ) -> None:
        self.path = path
        self.options = options
        self.progress = progress
        self.cancel = cancel or CancelToken()
        self.share = share
        self.headers: list[str] = []
        self.rows_read = 0

    def _name(self, row: list[str], n: int) -> str:
        mapping = self.options.mapping
        if mapping.name_parts:
            parts = [_clean_name(row[c]) for c in mapping.name_parts if c < n]
            return " ".join(p for p in parts if p)
        if mapping.name is not None and mapping.name < n:
            return _clean_name(row[mapping.name])
        return ""

    def rows(self) -> Iterator[_Candidate | RowResult]:
        options = self.options
        mapping = options.mapping
        region = options.region
        phone_col = mapping.phone
        # The custom fields go straight to the JSON text the store keeps, one '"key":value'
        # member per filled cell: what _json would make of the {key: value} dict (keys are
        # unique, values are text), without building the dict for every row.
        field_keys = [(column, _json_string(key) + ":") for column, key in _field_columns(mapping)]
        opt_col, reason_col = mapping.opt_out, mapping.opt_out_reason
        name_col = -1 if mapping.name is None else mapping.name
        simple_name = not mapping.name_parts and name_col >= 0
        header_row = options.header_row
        first_data = 0 if header_row == NO_HEADER else header_row + 1
        seen: dict[str, int] = {}
        header: list[str] | None = None
        cancel, progress, share = self.cancel, self.progress, self.share
        with read_rows(self.path, options.sheet) as stream:
            total = max(stream.total_hint or 0, 1)
            for index, row in enumerate(stream):
                if not index & (_PROGRESS_EVERY - 1):
                    cancel.raise_if_cancelled()
                    progress(min(share * index // total, share - 1), PROGRESS_TOTAL)
                if index < first_data:
                    if index == header_row:
                        header = row
                        self.headers = [" ".join(h.split()) for h in row]
                    continue
                if not any(row):
                    continue
                n = len(row)
                number = index + 1
                phone = row[phone_col].strip() if phone_col < n else ""
                if phone[:1] == "'":
                    phone = _unquote(phone)
                    if phone.startswith("'"):
                        phone = phone[1:]  # Excel's "text" apostrophe, kept by some CSV exports
                if not phone:
                    if not "".join(row).strip():
                        continue  # a blank row (spaces only)
                    self.rows_read += 1
                    yield RowResult(
                        number, Verdict.INVALID, "", None, self._name(row, n), "no phone number"
                    )
                    continue
                self.rows_read += 1
                if row == header:
                    yield RowResult(
                        number, Verdict.INVALID, phone, None, "", "repeats the header row"
                    )
                    continue
                result = normalize_phone(phone, region)
                e164 = result.e164
                if e164 is None:
                    yield RowResult(
                        number,
                        Verdict.INVALID,
                        phone,
                        None,
                        self._name(row, n),
                        result.reason or "not a phone number",
                    )
                    continue
                first = seen.get(e164)
                if first is not None:
                    yield RowResult(
                        number,
                        Verdict.DUPLICATE_IN_FILE,
                        phone,
                        e164,
                        self._name(row, n),
                        f"the same number as row {first}",
                    )
                    continue
                seen[e164] = number
                members = [
                    key + _json_string(value if value[0] != "'" else _unquote(value))
                    for column, key in field_keys
                    if column < n and (value := row[column].strip())
                ]
                opt_out = None
                if opt_col is not None and opt_col < n and _says_opted_out(row[opt_col]):
                    opt_out = ""
                    if reason_col is not None and reason_col < n:
                        opt_out = _clean_name(row[reason_col])
                    opt_out = opt_out or "opted out (imported from a spreadsheet)"
                if simple_name:
                    name = row[name_col] if name_col < n else ""
                    if name:
                        name = " ".join(name.split())
                        if name and name[0] == "'":
                            name = _unquote(name)
                else:
                    name = self._name(row, n)
                fields_json = "{" + ",".join(members) + "}" if members else "{}"
                yield _Candidate(number, phone, e164, name, fields_json, opt_out)


def _field_columns(mapping: ColumnMapping) -> list[tuple[int, str]]:
    """(column, custom field name) pairs with names the contact editor accepts: trimmed,
    unique, never "name" or "phone" (a second phone column becomes "Phone (2)")."""
    taken: set[str] = set()
    columns: list[tuple[int, str]] = []
    for column, name in mapping.fields.items():
        if not str(name).strip():
            raise ValidationError(
                f"The custom field of column {column_label(column)} has no name.",
                what_to_do="Give it a name, or leave the column out of the import.",
            )
        columns.append((column, unique_field_name(str(name), taken)))
    return columns


def _says_opted_out(cell: str) -> bool:
    text = cell.strip().casefold()
    return bool(text) and (text in _OPT_OUT_YES or text.startswith(("yes", "opted out")))


def _no_data(path: Path, options: ImportOptions) -> SpreadsheetError:
    where = f"the sheet “{options.sheet}”" if options.sheet else f"“{path.name}”"
    return SpreadsheetError(
        f"There are no rows of contacts under the header in {where}.",
        what_to_do="Check that you chose the right sheet and header row.",
    )


# --- classification (executor) ---------------------------------------------------------------


@dataclass(slots=True)
class _Decision:
    verdict: Verdict
    reason: str
    update: tuple[str, str] | None = None  # (name, fields JSON) to write
    opt_out: str | None = None  # reason, when the file opts a stored contact out


def _decide(c: _Candidate, stored: StoredContact | None, policy: UpdatePolicy) -> _Decision:
    if stored is None:
        return _Decision(Verdict.NEW, "" if c.opt_out is None else "imported as opted out")
    update = None
    changes: list[str] = []
    if policy is UpdatePolicy.UPDATE:
        old_fields: dict[str, str] = json.loads(stored.fields_json) if stored.fields_json else {}
        new_fields: dict[str, str] = json.loads(c.fields_json)
        merged = {**old_fields, **new_fields}
        name = c.name or stored.name
        if name != stored.name:
            changes.append("name")
        changes.extend(k for k, v in new_fields.items() if old_fields.get(k) != v)
        if changes:
            update = (name, _json(merged))
    if stored.opted_out:
        reason = "opted out: stays opted out"
        if changes:
            reason += f"; {_changed(changes)} updated"
        return _Decision(Verdict.OPTED_OUT, reason, update)
    if c.opt_out is not None:
        changes.append("opted out")
        return _Decision(Verdict.UPDATE, f"{_changed(changes)} updated", update, c.opt_out)
    if update is not None:
        return _Decision(Verdict.UPDATE, f"{_changed(changes)} updated", update)
    if policy is UpdatePolicy.KEEP:
        return _Decision(Verdict.UNCHANGED, "already a contact: kept as it is")
    return _Decision(Verdict.UNCHANGED, "already a contact with these details")


def _changed(changes: Sequence[str]) -> str:
    shown = list(dict.fromkeys(changes))
    if len(shown) > 3:
        return f"{', '.join(shown[:3])} and {len(shown) - 3} more"
    return ", ".join(shown)


def _result(c: _Candidate, decision: _Decision) -> RowResult:
    return RowResult(c.row_number, decision.verdict, c.phone_input, c.e164, c.name, decision.reason)


@dataclass(slots=True)
class _Planned:
    plan: ImportPlan
    report: ImportReport  # the verdict totals of the candidates
    listed: list[RowResult]  # the candidates' reported rows (opted out), in file order


def _plan(
    candidates: Sequence[_Candidate], snapshot: Snapshot, policy: UpdatePolicy, now: str
) -> _Planned:
    plan = ImportPlan(fingerprint=snapshot.fingerprint)
    report = ImportReport()
    listed: list[RowResult] = []
    stored_by_phone = snapshot.contacts
    new_rows = plan.new_rows
    for c in candidates:
        stored = stored_by_phone.get(c.e164)
        if stored is None:
            # The common case, inlined: most rows of most imports are new contacts.
            new_rows.append(
                (
                    c.e164,
                    c.name,
                    c.fields_json,
                    None if c.opt_out is None else now,
                    c.opt_out,
                    now,
                    now,
                )
            )
            report.imported += 1
            continue
        decision = _decide(c, stored, policy)
        report.count(decision.verdict)
        plan.member_ids.append(stored.id)
        if decision.update is not None:
            plan.updates.append((*decision.update, now, stored.id))
        if decision.opt_out is not None:
            plan.opt_outs.append((now, decision.opt_out, now, stored.id))
        if decision.verdict in REPORTED and len(listed) < REPORT_ROWS_CAP:
            listed.append(_result(c, decision))
    return _Planned(plan, report, listed)


# --- the service -------------------------------------------------------------------------------


def _check_options(options: ImportOptions) -> None:
    mapping = options.mapping
    if not isinstance(mapping, ColumnMapping):
        raise ValidationError("Choose which column holds the phone numbers.")
    if min(mapping.columns()) < 0:
        raise ValidationError("A column of the mapping does not exist.")
    region = options.region
    if region is not None and region.strip().upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(
            f"“{region}” is not a country code waapp knows.",
            what_to_do="Choose the default country from the list (for example IN for India).",
        )
    if options.header_row < NO_HEADER:
        raise ValidationError("The header row is not in the sheet.")
    _field_columns(mapping)


def _nonblank(row: Sequence[str]) -> bool:
    return any(c.strip() for c in row)


def _head(stream: Iterator[list[str]], forced: int | None) -> tuple[list[list[str]], int]:
    """(rows from the first one with content — or from row 0 when the header row is
    given — up to what header detection needs, how many blank rows were skipped)."""
    skipped = 0
    head: list[list[str]] = []
    wanted = HEADER_SCAN_ROWS if forced is None else max(forced, 0) + 1
    for row in stream:
        if head or forced is not None or _nonblank(row):
            head.append(row)
            if len(head) >= wanted:
                break
        else:
            skipped += 1
            if skipped >= _LEADING_BLANKS:
                break
    return head, skipped


def _inspect_file(path: Path, sheet: str | None, forced: int | None) -> SpreadsheetInfo:
    sheets = list_sheets(path)
    for name in [sheet] if sheet is not None else sheets:
        with read_rows(path, name) as stream:
            head, skipped = _head(stream, forced)
            if not any(_nonblank(r) for r in head):
                if sheet is not None or len(sheets) == 1:
                    where = (
                        f"The sheet “{name}” of “{path.name}”"
                        if len(sheets) > 1
                        else f"“{path.name}”"
                    )
                    raise SpreadsheetError(
                        f"{where} has no data.",
                        what_to_do="Choose the sheet or file that holds your contacts.",
                    )
                continue
            if forced is not None and forced >= len(head):
                raise SpreadsheetError(
                    f"The sheet “{name}” has only {len(head)} rows; row {forced + 1} cannot be "
                    "its header.",
                    what_to_do="Choose the row that holds the column titles.",
                )
            found = detect_header_row(head) if forced is None else forced
            data = head if found == NO_HEADER else head[found + 1 :]
            samples = [r for r in data if _nonblank(r)][:SAMPLE_ROWS]
            if len(samples) < SAMPLE_ROWS:
                more = (r for r in stream if _nonblank(r))
                samples.extend(islice(more, SAMPLE_ROWS - len(samples)))
            hint = stream.total_hint
        header_cells = [] if found == NO_HEADER else [" ".join(c.split()) for c in head[found]]
        width = _width([header_cells, *samples])
        if found == NO_HEADER:
            headers = [f"Column {column_label(i)}" for i in range(width)]
        else:
            headers = _padded(header_cells, width)
        header_row = found if found == NO_HEADER else found + skipped
        data_start = 0 if found == NO_HEADER else header_row + 1
        return SpreadsheetInfo(
            path=path,
            sheets=sheets,
            sheet=name,
            header_row=header_row,
            headers=headers,
            sample_rows=[_padded(r, width) for r in samples],
            mapping=guess_mapping(headers, samples),
            remembered=False,
            total_rows_hint=None if hint is None else max(hint - data_start, 0),
        )
    raise SpreadsheetError(
        f"“{path.name}” has no data in any of its sheets ({', '.join(sheets)}).",
        what_to_do="Choose the file that holds your contacts.",
    )


def _width(rows: Sequence[Sequence[str]]) -> int:
    width = 0
    for row in rows:
        for i in range(len(row) - 1, width - 1, -1):
            if row[i].strip():
                width = i + 1
                break
    return width


def _padded(row: Sequence[str], width: int) -> list[str]:
    cells = list(row[:width])
    return cells + [""] * (width - len(cells))


class ImportService:
    """Spreadsheet import use cases; see the module doc. Never imports Qt."""

    def __init__(self, *, db: Database, worker: DatabaseWorker, bus: EventBus) -> None:
        self._db = db
        self._worker = worker
        self._bus = bus
        self._store = ImportRepository(db.engine)

    async def _off_loop(self, fn: Callable[..., T], /, *args: Any) -> T:
        """``fn(*args)`` in the loop's default executor (CPU work: reading, phones)."""
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    async def inspect(
        self, path: Path, sheet: str | None = None, *, header_row: int | None = None
    ) -> SpreadsheetInfo:
        """Sheets, header row, headers, the first data rows and the mapping (remembered for
        this layout, else guessed). ``sheet=None`` picks the first sheet with data;
        ``header_row`` (0-based, or NO_HEADER) overrides the detected header row.
        Raises SpreadsheetError (plain language) for files that cannot be read."""
        if header_row is not None and header_row < NO_HEADER:
            raise ValidationError("The header row is not in the sheet.")
        info = await self._off_loop(_inspect_file, Path(path), sheet, header_row)
        if info.header_row != NO_HEADER:
            stored = await self._worker.run(
                self._db.settings.get, MAPPING_KEY_PREFIX + layout_key(info.headers), None
            )
            remembered = _remembered_mapping(stored, len(info.headers))
            if remembered is not None:
                info.mapping, info.remembered = remembered, True
        return info

    async def preview(
        self, path: Path, options: ImportOptions, *, limit: int = 200
    ) -> tuple[list[RowResult], ImportReport]:
        """The first ``limit`` data rows with their verdicts, and the totals for the whole
        file (``preview=True``). Nothing is written. The file is streamed: a 1 000 000-row
        CSV costs the memory of its distinct numbers, not of its rows."""
        _check_options(options)
        snapshot = await self._worker.run(self._store.snapshot)
        first, report = await self._off_loop(_preview, Path(path), options, snapshot, limit)
        report.group_name, report.group_created = await self._worker.run(
            self._store.group_for, options.group_id, options.new_group_name
        )
        return first, report

    async def run(
        self,
        path: Path,
        options: ImportOptions,
        *,
        progress: ProgressCallback = no_progress,
        cancel: CancelToken | None = None,
    ) -> ImportReport:
        """Import the file: all or nothing, in one transaction.

        ``progress(done, PROGRESS_TOTAL)`` — thousandths of the work, reading and checking
        the file up to 800, saving from 850 — is called from any thread (mostly worker
        threads: hop to the loop or the GUI thread before touching widgets). A cancel (the
        token, or cancelling the awaiting task) raises :class:`~waapp.core.progress.Cancelled`
        and leaves the store exactly as it was; so does any failure. On success the mapping
        is remembered for this file layout, and ContactsChanged(None) and GroupsChanged()
        are published.
        """
        _check_options(options)
        path = Path(path)
        token = cancel or CancelToken()
        try:
            return await self._run(path, options, progress, token)
        except asyncio.CancelledError:
            token.cancel()  # the work still running in a thread stops and rolls back
            raise

    async def _run(
        self, path: Path, options: ImportOptions, progress: ProgressCallback, token: CancelToken
    ) -> ImportReport:
        progress(0, PROGRESS_TOTAL)
        snapshot = await self._worker.run(self._store.snapshot)
        reader = _Reader(path, options, progress=progress, cancel=token)
        now = self._store.now_text()
        candidates, refused, report = await self._off_loop(_read_all, reader)
        if not reader.rows_read:
            raise _no_data(path, options)
        planned = await self._off_loop(_plan, candidates, snapshot, options.policy, now)
        token.raise_if_cancelled()
        progress(_PLAN_SHARE, PROGRESS_TOTAL)

        def replan(fresh: Snapshot) -> ImportPlan:
            again = _plan(candidates, fresh, options.policy, now)
            again.plan.extra = again
            return again.plan

        def write_progress(done: int, total: int) -> None:
            share = PROGRESS_TOTAL - _PLAN_SHARE
            progress(_PLAN_SHARE + (share * done // total if total else share), PROGRESS_TOTAL)

        outcome = await self._worker.run(
            self._store.write,
            planned.plan,
            group_id=options.group_id,
            new_group_name=None if options.group_id is not None else options.new_group_name,
            replan=replan,
            cancel=token,
            progress=write_progress,
        )
        if outcome.plan is not planned.plan:
            log.info("contacts changed during the import of %s: planned again", path.name)
            planned = outcome.plan.extra
        self._bus.publish(ContactsChanged(None))
        self._bus.publish(GroupsChanged())
        await self._remember(reader.headers, options)
        final = planned.report
        report.imported, report.updated, report.unchanged = (
            final.imported,
            final.updated,
            final.unchanged,
        )
        report.opted_out = final.opted_out
        merged = heapq.merge(refused, planned.listed, key=lambda r: r.row_number)
        report.rows = list(islice(merged, REPORT_ROWS_CAP))
        report.rows_left_out = (
            len(refused) + len(planned.listed) - len(report.rows) + (report.rows_left_out)
        )
        report.rows_read = reader.rows_read
        report.group_name = outcome.group_name
        report.group_created = outcome.group_created
        log.info(
            "imported %s: %d new, %d updated, %d unchanged, %d duplicates, %d invalid, %d opted out",
            path.name,
            report.imported,
            report.updated,
            report.unchanged,
            report.duplicates,
            report.invalid,
            report.opted_out,
        )
        progress(PROGRESS_TOTAL, PROGRESS_TOTAL)
        return report

    async def _remember(self, headers: list[str], options: ImportOptions) -> None:
        if options.header_row == NO_HEADER or not any(headers):
            return
        value = {"mapping": options.mapping.to_dict(), "headers": headers}
        try:
            await self._worker.run(
                self._db.settings.set, MAPPING_KEY_PREFIX + layout_key(headers), value
            )
        except Exception:  # remembering is a convenience: never fail a committed import
            log.exception("could not remember the import mapping")


def _remembered_mapping(stored: object, width: int) -> ColumnMapping | None:
    if not isinstance(stored, dict) or not isinstance(stored.get("mapping"), dict):
        return None
    try:
        mapping = ColumnMapping.from_dict(stored["mapping"])
    except ValueError:
        return None
    if max(mapping.columns()) >= width or min(mapping.columns()) < 0:
        return None
    return mapping


def _read_all(reader: _Reader) -> tuple[list[_Candidate], list[RowResult], ImportReport]:
    """Every candidate, the refused rows (capped) and their totals."""
    candidates: list[_Candidate] = []
    refused: list[RowResult] = []
    report = ImportReport()
    for item in reader.rows():
        if type(item) is _Candidate:
            candidates.append(item)
            continue
        assert isinstance(item, RowResult)
        report.count(item.verdict)
        if len(refused) < REPORT_ROWS_CAP:
            refused.append(item)
        else:
            report.rows_left_out += 1
    return candidates, refused, report


def _preview(
    path: Path, options: ImportOptions, snapshot: Snapshot, limit: int
) -> tuple[list[RowResult], ImportReport]:
    reader = _Reader(path, options)
    report = ImportReport(preview=True)
    first: list[RowResult] = []
    stored_by_phone = snapshot.contacts
    policy = options.policy
    for item in reader.rows():
        if type(item) is _Candidate:
            stored = stored_by_phone.get(item.e164)
            if stored is None and len(first) >= limit:
                report.imported += 1  # the common case, without building a result
                continue
            decision = _decide(item, stored, policy)
            result = _result(item, decision)
        else:
            assert isinstance(item, RowResult)
            result = item
        report.count(result.verdict)
        if len(first) < limit:
            first.append(result)
        if result.verdict in REPORTED:
            if len(report.rows) < REPORT_ROWS_CAP:
                report.rows.append(result)
            else:
                report.rows_left_out += 1
    if not reader.rows_read:
        raise _no_data(path, options)
    report.rows_read = reader.rows_read
    return first, report
