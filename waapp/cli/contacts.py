"""``waapp normalize`` and ``waapp contacts import|export``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from waapp.paths import DataPaths

if TYPE_CHECKING:
    from waapp.services.spreadsheet import ColumnMapping
from waapp.cli.common import CommandError, run_services


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    contacts = commands.add_parser(
        "contacts", help="import contacts from a spreadsheet, or export them"
    )
    actions = contacts.add_subparsers(dest="contacts_command", metavar="ACTION", required=True)

    importing = actions.add_parser(
        "import",
        help="import contacts from .xlsx, .xlsm, .xls, .ods, .csv or .txt",
        description="Import contacts from a spreadsheet: all or nothing. Without --map the columns "
        "remembered for this file layout (or guessed from the headers) are used. Exits 1 when "
        "the file or the arguments cannot be used, with the reason on stderr.",
    )
    importing.add_argument("file", metavar="FILE")
    importing.add_argument(
        "--sheet", metavar="NAME", help="the sheet to read (default: the first with data)"
    )
    importing.add_argument(
        "--region",
        metavar="CC",
        help="default country for numbers without a country code, e.g. IN "
        "(default: the one chosen in the window)",
    )
    importing.add_argument(
        "--group", metavar="NAME", help="put everyone imported into this group (created if missing)"
    )
    importing.add_argument(
        "--map",
        metavar="FIELD=COLUMN",
        action="append",
        default=[],
        help="FIELD is phone, name or a custom field name; COLUMN a header text, "
        "a column number (1 = first) or letter (A). Repeatable.",
    )
    policy = importing.add_mutually_exclusive_group()
    policy.add_argument(
        "--update",
        dest="keep_existing",
        action="store_false",
        default=False,
        help="update contacts that already exist (default)",
    )
    policy.add_argument(
        "--keep-existing",
        dest="keep_existing",
        action="store_true",
        help="leave contacts that already exist as they are",
    )
    importing.add_argument(
        "--dry-run", action="store_true", help="only show what would happen; write nothing"
    )
    importing.add_argument("--json", action="store_true", help="print the import report as JSON")
    importing.set_defaults(handler=cmd_contacts_import)

    exporting = actions.add_parser(
        "export",
        help="export contacts to .xlsx or .csv",
        description="Export all contacts, or a group's, to .xlsx or .csv.",
    )
    exporting.add_argument("file", metavar="FILE")
    exporting.add_argument("--group", metavar="NAME", help="only this group's contacts")
    exporting.set_defaults(handler=cmd_contacts_export)


def _stored_default_region(paths: DataPaths) -> str | None:
    """The default country chosen in the window, if a store exists (never creates one)."""
    if not paths.database.exists():
        return None
    from waapp.services.contacts import DEFAULT_REGION_KEY
    from waapp.store.database import open_database

    db = open_database(paths.database)
    try:
        value = db.settings.get(DEFAULT_REGION_KEY, None)
        return str(value) if value else None
    finally:
        db.close()


def cmd_normalize(args: argparse.Namespace, paths: DataPaths) -> int:
    from waapp.core.phones import normalize_phone

    region = args.region.upper() if args.region else _stored_default_region(paths)
    all_valid = True
    for number in args.numbers:
        result = normalize_phone(number, region)
        all_valid &= result.valid
        print(
            json.dumps(
                {
                    "input": number,
                    "e164": result.e164,
                    "valid": result.valid,
                    "reason": result.reason,
                },
                ensure_ascii=False,
            )
        )
    return 0 if all_valid else 1


def _column(spec: str, headers: Sequence[str]) -> int:
    """A column given as header text (any case), 1-based number or letters (A, AB)."""
    from waapp.services.spreadsheet import column_label, normalise_header

    text = spec.strip()
    shown = ", ".join(f"{column_label(i)} “{h}”" for i, h in enumerate(headers) if h.strip())
    if text.isdigit():
        if not 1 <= int(text) <= len(headers):
            raise CommandError(f"there is no column {text}; the columns are: {shown or '(none)'}")
        return int(text) - 1
    wanted = " ".join(text.split()).casefold()
    for index, header in enumerate(headers):
        if " ".join(header.split()).casefold() == wanted:
            return index
    for index, header in enumerate(headers):
        if normalise_header(header) == normalise_header(text) and normalise_header(text):
            return index
    if text.isalpha() and text.isascii() and len(text) <= 3:
        index = 0
        for letter in text.upper():
            index = index * 26 + ord(letter) - ord("A") + 1
        if index <= len(headers):
            return index - 1
    raise CommandError(f"there is no column “{spec}”; the columns are: {shown or '(none)'}")


def _apply_maps(
    mapping: object, specs: Sequence[str], headers: Sequence[str]
) -> ColumnMapping | None:
    """The remembered/guessed mapping with each ``FIELD=COLUMN`` of ``--map`` applied."""
    from waapp.services.spreadsheet import ColumnMapping

    assert mapping is None or isinstance(mapping, ColumnMapping)
    phone = mapping.phone if mapping else None
    name = mapping.name if mapping else None
    parts = list(mapping.name_parts) if mapping else []
    fields = dict(mapping.fields) if mapping else {}
    opt_out = mapping.opt_out if mapping else None
    reason = mapping.opt_out_reason if mapping else None
    for spec in specs:
        target, sep, column_text = spec.partition("=")
        target = target.strip()
        if not sep or not target or not column_text.strip():
            raise CommandError(
                f'--map needs FIELD=COLUMN, for example phone=B or name="Full name"; got “{spec}”'
            )
        column = _column(column_text, headers)
        # A column has one role: whatever it had before is dropped.
        fields.pop(column, None)
        parts = [] if column in parts else parts
        name = None if name == column else name
        phone = None if phone == column else phone
        opt_out = None if opt_out == column else opt_out
        reason = None if reason == column else reason
        role = target.casefold()
        if role == "phone":
            phone = column
        elif role == "name":
            name, parts = column, []
        else:
            for other, field_name in list(fields.items()):
                if field_name.casefold() == role:
                    del fields[other]
            fields[column] = target
    if phone is None:
        return None
    return ColumnMapping(
        phone=phone,
        name=name,
        fields=fields,
        name_parts=parts,
        opt_out=opt_out,
        opt_out_reason=reason,
    )


def _summary(report: object, file: str) -> str:
    from waapp.services.importer import ImportReport, Verdict

    assert isinstance(report, ImportReport)
    head = "Dry run of" if report.preview else "Imported"
    lines = [
        f"{head} {file}: {report.rows_read} rows read",
        f"  new contacts: {report.imported}",
        f"  updated:      {report.updated}",
        f"  unchanged:    {report.unchanged}",
        f"  duplicates:   {report.duplicates} (the same number earlier in the file)",
        f"  invalid:      {report.invalid}",
        f"  opted out:    {report.opted_out} (kept opted out)",
    ]
    if report.group_name:
        lines.append(
            f"  group:        {report.group_name}" + (" (new)" if report.group_created else "")
        )
    invalid = [r for r in report.rows if r.verdict is Verdict.INVALID]
    if invalid:
        lines.append("Invalid rows:")
        for row in invalid[:50]:
            lines.append(f"  row {row.row_number}: {row.phone_input or '(empty)'} — {row.reason}")
        if len(invalid) > 50:
            lines.append(f"  … and {len(invalid) - 50} more (use --json for all of them)")
    if report.preview:
        lines.append("Nothing was written (--dry-run).")
    return "\n".join(lines)


def cmd_contacts_import(args: argparse.Namespace, paths: DataPaths) -> int:
    from pathlib import Path

    from waapp.services.importer import ImportOptions, UpdatePolicy
    from waapp.services.spreadsheet import column_label

    region = args.region.strip().upper() if args.region else None

    async def work(services: Any) -> int:
        info = await services.importer.inspect(Path(args.file), args.sheet)
        mapping = _apply_maps(info.mapping, args.map, info.headers)
        if mapping is None:
            shown = ", ".join(
                f"{column_label(i)} “{h}”" for i, h in enumerate(info.headers) if h.strip()
            )
            raise CommandError(
                f"no column of {Path(args.file).name} looks like phone numbers; its columns are: "
                f"{shown or '(none)'}. Say which one with --map phone=COLUMN."
            )
        options = ImportOptions(
            sheet=info.sheet,
            header_row=info.header_row,
            mapping=mapping,
            region=region or await services.contacts.default_region(),
            policy=UpdatePolicy.KEEP if args.keep_existing else UpdatePolicy.UPDATE,
            new_group_name=args.group,
        )
        if args.dry_run:
            _rows, report = await services.importer.preview(Path(args.file), options, limit=0)
        else:
            report = await services.importer.run(Path(args.file), options)
        if args.json:
            print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
        else:
            print(_summary(report, args.file))
        return 0

    return run_services(paths, work)


def cmd_contacts_export(args: argparse.Namespace, paths: DataPaths) -> int:
    from pathlib import Path

    async def work(services: Any) -> int:
        group_id = None
        if args.group:
            groups = await services.contacts.groups()
            wanted = " ".join(args.group.split()).casefold()
            found = [g for g in groups if g.name.casefold() == wanted]
            if not found:
                names = ", ".join(f"“{g.name}”" for g in groups) or "none yet"
                raise CommandError(f"there is no group called “{args.group}” (groups: {names})")
            group_id = found[0].id
        written = await services.exporter.export_contacts(Path(args.file), group_id=group_id)
        print(f"Exported {written} contact{'s' if written != 1 else ''} to {args.file}")
        return 0

    return run_services(paths, work)
