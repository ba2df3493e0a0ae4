"""The command line: ``waapp [--data-dir DIR] [--self-test] [COMMAND …]``.

With no command the window opens. Commands never import Qt.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from waapp import __version__
from waapp.paths import ENV_DATA_DIR, DataPaths, resolve_data_dir


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="waapp",
        description="WhatsApp campaigns from your own computer. With no command, opens the window.",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help=f"where the data lives (default: ${ENV_DATA_DIR}, else the platform's user-data folder)",
    )
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check the window, the store, phone numbers and the keyring; print JSON; exit 0 if all pass",
    )
    parser.add_argument("--version", action="version", version=f"waapp {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    normalize = commands.add_parser(
        "normalize",
        help="normalise phone numbers to E.164 (one JSON object per number)",
        description="Print one JSON object per number: input, e164 (or null), valid, reason. "
        "Exits 1 when any number is invalid.",
    )
    normalize.add_argument(
        "--region", metavar="CC", help="default country for national numbers, e.g. IN"
    )
    normalize.add_argument("numbers", nargs="+", metavar="NUMBER")
    normalize.set_defaults(handler=cmd_normalize)
    _add_contacts_commands(commands)
    _add_account_commands(commands)
    _add_templates_commands(commands)
    _add_campaign_commands(commands)
    _add_sandbox_command(commands)
    return parser


def _add_contacts_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


class CommandError(Exception):
    """A refused file or argument: the message goes to stderr and the exit code is 1."""


def _fail(error: BaseException) -> int:
    from waapp.core.errors import WaappError

    if isinstance(error, WaappError):
        text = error.message + (f"\n{error.what_to_do}" if error.what_to_do else "")
    else:
        text = str(error)
    print(f"waapp: {text}", file=sys.stderr)
    return 1


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


def _apply_maps(mapping: object, specs: Sequence[str], headers: Sequence[str]) -> object:
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


def _run_services(paths: DataPaths, work: Callable[[Any], Awaitable[int]]) -> int:
    import asyncio

    from waapp.app import open_services
    from waapp.core.errors import WaappError

    async def main() -> int:
        services = await open_services(paths)
        try:
            return await work(services)
        finally:
            await services.close()

    try:
        return asyncio.run(main())
    except (WaappError, CommandError) as error:
        return _fail(error)


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

    return _run_services(paths, work)


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

    return _run_services(paths, work)


def _add_account_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    account = commands.add_parser(
        "account", help="add a provider account, list the accounts, test a connection"
    )
    actions = account.add_subparsers(dest="account_command", metavar="ACTION", required=True)

    adding = actions.add_parser(
        "add",
        help="add a Twilio, Meta, Kapso, WaSender or Sandbox account",
        description="Add a provider account. Settings are given with --setting KEY=VALUE; "
        "secrets (tokens, keys) only on standard input with --secrets-stdin, one KEY=VALUE a "
        "line, and go straight to the system keyring. Unknown keys are refused and missing "
        "fields are named; the exit code is then 1 and nothing is saved.",
        epilog="Example: printf 'auth_token=...\\n' | waapp account add --kind twilio "
        "--name Shop --setting account_sid=AC... --setting sender=+14155238886 --secrets-stdin",
    )
    adding.add_argument(
        "--kind", required=True, choices=["sandbox", "twilio", "meta", "kapso", "wasender"]
    )
    adding.add_argument("--name", required=True, help="how the account is called in waapp")
    adding.add_argument(
        "--base-url", metavar="URL", help="the provider's address (for a Sandbox, or for testing)"
    )
    adding.add_argument(
        "--setting",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="a setting of the account, e.g. account_sid=AC… (repeatable)",
    )
    adding.add_argument(
        "--secrets-stdin",
        action="store_true",
        help="read the secrets as KEY=VALUE lines from standard input (blank lines and # "
        "comments are skipped)",
    )
    adding.set_defaults(handler=cmd_account_add)

    listing = actions.add_parser(
        "list",
        help="list the accounts (never the secrets)",
        description="List the accounts. With --json: a list of objects with id, name, kind, "
        "settings and secrets (which secrets are saved, true or false — never their values).",
    )
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    listing.set_defaults(handler=cmd_account_list)

    testing = actions.add_parser(
        "test",
        help="check that an account can send (its provider's health check)",
        description="Ask the account's provider whether it can send, and print what it found. "
        "Exits 0 when it can, 1 when it cannot or the account is incomplete.",
    )
    testing.add_argument("name", metavar="NAME", help="the account's name")
    testing.set_defaults(handler=cmd_account_test)


def _key_values(lines: Sequence[str], what: str) -> dict[str, str]:
    """``KEY=VALUE`` items as a dict; a malformed or repeated key is a CommandError."""
    values: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CommandError(f"{what} must be KEY=VALUE, for example sender=+14155238886")
        if key in values:
            raise CommandError(f"{what} {key} is given twice")
        values[key] = value.strip()
    return values


def _secret_lines(text: str) -> list[str]:
    return [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def _announce_keyring(services: Any) -> None:
    """Say so, on stderr, when tokens are kept in the plain-text fallback file."""
    warning = services.secrets.warning
    if warning:
        print(f"waapp: note: {warning}", file=sys.stderr)


def cmd_account_add(args: argparse.Namespace, paths: DataPaths) -> int:
    from waapp.core.entities import AccountKind
    from waapp.services.accounts import IN_PROCESS, kind_label

    try:
        settings: dict[str, Any] = _key_values(args.setting, "--setting")
        secrets = _key_values(
            _secret_lines(sys.stdin.read()) if args.secrets_stdin else [], "a secret line"
        )
    except CommandError as error:
        return _fail(error)
    if args.base_url:
        settings["base_url"] = args.base_url
    if IN_PROCESS in settings:
        flag = settings[IN_PROCESS].lower()
        if flag not in ("true", "yes", "1", "false", "no", "0"):
            return _fail(CommandError(f"{IN_PROCESS} must be true or false"))
        settings[IN_PROCESS] = flag in ("true", "yes", "1")
    kind = AccountKind(args.kind)

    async def work(services: Any) -> int:
        _announce_keyring(services)
        account = await services.accounts.add(
            kind=kind, name=args.name, settings=settings, secrets=secrets
        )
        saved = ", ".join(sorted(secrets)) or "none"
        print(f"Added the {kind_label(kind)} account “{account.name}” (id {account.id}).")
        print(f'Secrets saved: {saved}. Check it with: waapp account test "{account.name}"')
        return 0

    return _run_services(paths, work)


def cmd_account_list(args: argparse.Namespace, paths: DataPaths) -> int:
    from waapp.services.accounts import kind_label

    async def work(services: Any) -> int:
        rows = []
        for account in await services.accounts.list():
            rows.append(
                {
                    "id": account.id,
                    "name": account.name,
                    "kind": account.kind.value,
                    "settings": account.settings,
                    "secrets": await services.accounts.secret_status(account),
                }
            )
        _announce_keyring(services)
        if args.json:
            print(json.dumps(rows, ensure_ascii=False, indent=2))
        elif not rows:
            print("No accounts yet: add one with `waapp account add`.")
        else:
            for row in rows:
                saved = [name for name, present in row["secrets"].items() if present]
                print(
                    f"{row['id']:>4}  {row['name']}  ({kind_label(row['kind'])})  "
                    f"secrets saved: {', '.join(saved) or 'none'}"
                )
        return 0

    return _run_services(paths, work)


def cmd_account_test(args: argparse.Namespace, paths: DataPaths) -> int:
    from waapp.services.accounts import kind_label
    from waapp.ui.accounts.words import detail_rows  # plain words, no Qt

    async def work(services: Any) -> int:
        account = await _account_named(services, args.name, start_network=True)
        _announce_keyring(services)
        report = await services.accounts.test_connection(account.id)
        print(f"{account.name} — {kind_label(account.kind)}")
        print(f"{'OK' if report.ok else 'NOT OK'}: {report.summary}")
        for label, value in detail_rows(report):
            print(f"  {label}: {value}")
        if not report.ok:
            print(f"waapp: {account.name}: {report.summary}", file=sys.stderr)
        return 0 if report.ok else 1

    return _run_services(paths, work)


def _add_templates_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    templates = commands.add_parser(
        "templates", help="sync message templates from a provider account, or list them"
    )
    actions = templates.add_subparsers(dest="templates_command", metavar="ACTION", required=True)
    syncing = actions.add_parser(
        "sync",
        help="fetch an account's approved templates and their status from its provider",
        description="Fetch the account's templates from its provider and make the stored ones "
        "match; prints what changed. Exits 1 with the provider's message when it fails.",
    )
    syncing.add_argument("--account", metavar="NAME", required=True, help="the account's name")
    syncing.set_defaults(handler=cmd_templates_sync)
    listing = actions.add_parser(
        "list",
        help="list the stored templates and free-form messages",
        description="List the stored templates. With --json: a list of objects with id, account, "
        "kind, name, language, category, status, quality, placeholders and body.",
    )
    listing.add_argument(
        "--account",
        metavar="NAME",
        help="only this account's templates and the local messages usable with any account",
    )
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    listing.set_defaults(handler=cmd_templates_list)


async def _account_named(services: Any, name: str, *, start_network: bool) -> Any:
    """The account called ``name`` (any case). With ``start_network``, the in-process Sandbox
    is started first when it is needed: for its account, or to create it on a first run."""
    from waapp.services.accounts import IN_PROCESS

    wanted = " ".join(name.split()).casefold()
    accounts = await services.accounts.list()
    found = next((a for a in accounts if a.name.casefold() == wanted), None)
    if start_network and (found is None or found.settings.get(IN_PROCESS)):
        await services.start_network()
        accounts = await services.accounts.list()
        found = next((a for a in accounts if a.name.casefold() == wanted), None)
    if found is None:
        names = ", ".join(f"“{a.name}”" for a in accounts) or "none yet"
        raise CommandError(f"there is no account called “{name}” (accounts: {names})")
    return found


def cmd_templates_sync(args: argparse.Namespace, paths: DataPaths) -> int:
    from waapp.services.templates import summary_text

    async def work(services: Any) -> int:
        account = await _account_named(services, args.account, start_network=True)
        summary = await services.templates.sync(account.id)
        print(f"{account.name}: {summary_text(summary)} ({summary.unchanged} unchanged)")
        return 0

    return _run_services(paths, work)


def _template_json(template: Any, accounts: dict[int, str]) -> dict[str, Any]:
    from waapp.core.templates import parse_placeholders, placeholder_problems

    names = (
        list(parse_placeholders(template.body).send_order)
        if not placeholder_problems(template.body)
        else []
    )
    return {
        "id": template.id,
        "account": accounts.get(template.account_id) if template.account_id else None,
        "kind": template.kind.value,
        "name": template.name,
        "language": template.language,
        "category": template.category,
        "status": template.status,
        "quality": template.quality,
        "placeholders": names,
        "body": template.body,
    }


def cmd_templates_list(args: argparse.Namespace, paths: DataPaths) -> int:
    async def work(services: Any) -> int:
        account_id = None
        if args.account:
            account_id = (await _account_named(services, args.account, start_network=False)).id
        accounts = {a.id: a.name for a in await services.accounts.list()}
        rows = [_template_json(t, accounts) for t in await services.templates.list(account_id)]
        if args.json:
            print(json.dumps(rows, ensure_ascii=False, indent=2))
            return 0
        if not rows:
            print("No templates yet: run `waapp templates sync --account NAME`.")
        for row in rows:
            where = row["account"] or "any account"
            status = row["status"] or ("ready" if row["kind"] == "freeform" else "")
            print(f"{row['name']}  [{row['kind']}, {where}, {row['language'] or '-'}]  {status}")
        return 0

    return _run_services(paths, work)


def _add_campaign_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    campaign = commands.add_parser(
        "campaign", help="send a campaign to a group, follow it, pause, resume or cancel it"
    )
    actions = campaign.add_subparsers(dest="campaign_command", metavar="ACTION", required=True)

    sending = actions.add_parser(
        "send",
        help="create a campaign for a group and start it",
        description="Create a campaign to everyone in a group (opted-out contacts, invalid and "
        "repeated numbers are skipped with the reason) and start it. Without --wait it is left "
        "sending: the window, or `waapp campaign resume ID --wait`, sends it. With --wait it "
        "is sent by this process; the exit code is then 0 when it completed, 1 when it paused "
        "or failed (the reason on stderr). Exits 1 with a plain message when the account, "
        "group, template or a variable cannot be used.",
        epilog="Example: waapp campaign send --account Shop --group Customers "
        "--template order_update --var 1=first_name --var 2=order --wait",
    )
    sending.add_argument("--account", metavar="NAME", required=True, help="the account's name")
    sending.add_argument("--group", metavar="NAME", required=True, help="the group to send to")
    message = sending.add_mutually_exclusive_group(required=True)
    message.add_argument("--template", metavar="NAME", help="an approved template of the account")
    message.add_argument(
        "--text",
        metavar="TEXT",
        help="a free-form message (saved as a local message); only recipients inside the "
        "24 h window can get it, the others are skipped with the reason",
    )
    sending.add_argument(
        "--var",
        metavar="N=FIELD",
        action="append",
        default=[],
        help="fill placeholder N (or a named one) with a contact field (name, first_name, "
        "phone or a custom field), or with fixed text as N=text:Words. Repeatable.",
    )
    sending.add_argument("--name", metavar="NAME", help="the campaign's name")
    sending.add_argument(
        "--rate", metavar="MPS", type=float, help="messages per second (default: the provider's)"
    )
    sending.add_argument("--wait", action="store_true", help="send it now and wait until done")
    sending.add_argument("--json", action="store_true", help="print the campaign as JSON")
    sending.set_defaults(handler=cmd_campaign_send)

    listing = actions.add_parser(
        "list",
        help="list the campaigns, newest first",
        description="List the campaigns. With --json: a list of objects with id, name, status, "
        "account_id, counts (message state → count), created_at, started_at, finished_at.",
    )
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    listing.set_defaults(handler=cmd_campaign_list)

    showing = actions.add_parser(
        "show",
        help="a campaign's status, counts per message state and timeline",
        description="Show a campaign. With --json: id, name, status, counts (message state → "
        "count, counted from the recipients) and the timeline (at, from, to, cause, detail).",
    )
    showing.add_argument("id", type=int, metavar="ID")
    showing.add_argument("--json", action="store_true", help="print it as JSON")
    showing.set_defaults(handler=cmd_campaign_show)

    helps = {
        "pause": "stop sending a campaign (nothing more is claimed from then on)",
        "resume": "send a paused campaign again (with --wait: in this process, until done)",
        "cancel": "cancel a campaign: the recipients not sent yet are cancelled",
        "retry-failed": "queue the failed recipients of a campaign again",
    }
    for action, text in helps.items():
        sub = actions.add_parser(
            action,
            help=text,
            description=f"{text[0].upper()}{text[1:]}. Acts on the campaign as stored; exits 1 "
            "with the reason when its status does not allow it.",
        )
        sub.add_argument("id", type=int, metavar="ID")
        if action in ("resume", "retry-failed"):
            sub.add_argument(
                "--wait", action="store_true", help="send it in this process until done"
            )
            sub.add_argument("--json", action="store_true", help="with --wait: print it as JSON")
        sub.set_defaults(handler=cmd_campaign_action, action=action)


def _mapping(specs: Sequence[str]) -> dict[str, dict[str, str]]:
    """``--var N=FIELD`` / ``N=text:Fixed`` items as ``Campaign.variable_mapping``."""
    mapping: dict[str, dict[str, str]] = {}
    for spec in specs:
        name, sep, source = spec.partition("=")
        name = name.strip().strip("{}").strip()
        if not sep or not name or not source.strip():
            raise CommandError(
                f"--var needs N=FIELD or N=text:Fixed words, for example 1=first_name; got “{spec}”"
            )
        if name in mapping:
            raise CommandError(f"--var {name} is given twice")
        if source.startswith("text:"):
            if not source[5:].strip():
                raise CommandError(f"--var {name}=text: needs the fixed text after “text:”")
            mapping[name] = {"text": source[5:]}
        else:
            mapping[name] = {"field": source.strip()}
    return mapping


def _campaign_line(report: Any) -> str:
    data = report.to_json()
    counts = ", ".join(f"{state} {count}" for state, count in sorted(data["counts"].items()))
    return f"Campaign {data['id']} “{data['name']}”: {data['status']} ({counts or 'no recipients'})"


async def _print_campaign(services: Any, campaign_id: int, *, as_json: bool) -> Any:
    report = await services.campaigns.show(campaign_id)
    if as_json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        print(_campaign_line(report))
    return report


def _waited_exit(report: Any) -> int:
    """After --wait: 0 when completed, else 1 with the last reason on stderr."""
    from waapp.core.states import CampaignStatus

    campaign = report.campaign
    if campaign.status is CampaignStatus.COMPLETED:
        return 0
    reason = report.timeline[-1].detail if report.timeline else ""
    print(
        f"waapp: campaign {campaign.id} is {campaign.status.value}: {reason}".rstrip(": "),
        file=sys.stderr,
    )
    return 1


async def _group_named(services: Any, name: str) -> Any:
    groups = await services.contacts.groups()
    wanted = " ".join(name.split()).casefold()
    found = [g for g in groups if g.name.casefold() == wanted]
    if not found:
        names = ", ".join(f"“{g.name}”" for g in groups) or "none yet"
        raise CommandError(f"there is no group called “{name}” (groups: {names})")
    return found[0]


async def _local_message(services: Any, base: str, body: str) -> Any:
    """Save ``--text`` as a local free-form message under a name not used yet."""
    from waapp.core.errors import DuplicateName

    for n in range(1, 1000):
        name = base if n == 1 else f"{base} ({n})"
        try:
            return await services.templates.save_freeform(template_id=None, name=name, body=body)
        except DuplicateName:
            continue
    raise CommandError(f"cannot find a free name for the message “{base}”")


def cmd_campaign_send(args: argparse.Namespace, paths: DataPaths) -> int:
    from datetime import datetime

    from waapp.core.entities import TemplateKind

    try:
        mapping = _mapping(args.var)
    except CommandError as error:
        return _fail(error)
    if args.rate is not None and not args.rate > 0:
        return _fail(CommandError("--rate must be a number of messages per second above 0"))

    async def work(services: Any) -> int:
        if args.wait:
            await services.start_network()
        account = await _account_named(services, args.account, start_network=False)
        group = await _group_named(services, args.group)
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M")
        template_id = freeform_id = None
        if args.template is not None:
            templates = await services.templates.list(account.id)
            wanted = args.template.strip().casefold()
            found = [
                t
                for t in templates
                if t.kind is TemplateKind.APPROVED
                and t.account_id == account.id
                and t.name.casefold() == wanted
            ]
            if not found:
                names = ", ".join(
                    f"“{t.name}”"
                    for t in templates
                    if t.kind is TemplateKind.APPROVED and t.account_id == account.id
                )
                raise CommandError(
                    f"the account “{account.name}” has no template called “{args.template}” "
                    f"(templates: {names or f'none yet — run waapp templates sync --account {account.name!r}'})"
                )
            template_id = found[0].id
            what = found[0].name
        else:
            what = "Message"
        name = (args.name or f"{what} to {group.name} {stamp}").strip()
        if args.text is not None:
            freeform_id = (await _local_message(services, f"{name} — text", args.text)).id
        campaign = await services.campaigns.create(
            name=name,
            account_id=account.id,
            group_ids=[group.id],
            template_id=template_id,
            freeform_template_id=freeform_id,
            variable_mapping=mapping,
            pacing={"rate": args.rate} if args.rate is not None else None,
        )
        await services.campaigns.start(campaign.id, run=args.wait)
        if args.wait:
            await services.campaigns.wait(campaign.id)
        report = await _print_campaign(services, campaign.id, as_json=args.json)
        if not args.wait:
            if not args.json:
                print(
                    f"It is sending while waapp runs; or send it now with: "
                    f"waapp campaign resume {campaign.id} --wait"
                )
            return 0
        return _waited_exit(report)

    return _run_services(paths, work)


def cmd_campaign_list(args: argparse.Namespace, paths: DataPaths) -> int:
    async def work(services: Any) -> int:
        rows = []
        for campaign in await services.campaigns.list():
            data = (await services.campaigns.show(campaign.id)).to_json()
            del data["timeline"]
            rows.append(data)
        if args.json:
            print(json.dumps(rows, ensure_ascii=False, indent=2))
        elif not rows:
            print("No campaigns yet: send one with `waapp campaign send`.")
        else:
            for row in rows:
                counts = ", ".join(f"{s} {n}" for s, n in sorted(row["counts"].items()))
                print(f"{row['id']:>4}  {row['name']}  [{row['status']}]  {counts}")
        return 0

    return _run_services(paths, work)


def cmd_campaign_show(args: argparse.Namespace, paths: DataPaths) -> int:
    async def work(services: Any) -> int:
        report = await _print_campaign(services, args.id, as_json=args.json)
        if not args.json:
            for event in report.timeline:
                came = f"{event.from_status.value} → " if event.from_status else ""
                detail = f": {event.detail}" if event.detail else ""
                print(
                    f"  {event.at:%Y-%m-%d %H:%M:%S}  {came}{event.to_status.value}"
                    f" ({event.cause}){detail}"
                )
        return 0

    return _run_services(paths, work)


def cmd_campaign_action(args: argparse.Namespace, paths: DataPaths) -> int:
    from waapp.core.states import CampaignStatus

    async def work(services: Any) -> int:
        campaigns = services.campaigns
        wait = getattr(args, "wait", False)
        campaign = await services.worker.run(campaigns.repo.get, args.id)
        if args.action == "pause":
            await campaigns.pause(args.id)
            print(f"Campaign {args.id} “{campaign.name}” is paused.")
            return 0
        if args.action == "cancel":
            count = await campaigns.cancel(args.id)
            print(f"Campaign {args.id} “{campaign.name}” is cancelled ({count} not sent).")
            return 0
        if args.action == "resume":
            if campaign.status not in (CampaignStatus.PAUSED, CampaignStatus.FAILED) and not (
                wait and campaign.status is CampaignStatus.SENDING  # left by a stopped process
            ):
                raise CommandError(
                    f"a campaign that is {campaign.status.value} cannot be resumed; only a "
                    "paused or failed campaign can"
                    + (" (use retry-failed, or duplicate it)" if campaign.status.is_final else "")
                )
            if campaign.status is not CampaignStatus.SENDING:
                await campaigns.resume(args.id, run=False)
        else:
            count = await campaigns.retry_failed(args.id, run=False)
            if not count:
                raise CommandError(f"campaign {args.id} has no failed recipients to retry")
            if not wait:
                print(f"Campaign {args.id}: {count} failed recipient(s) queued again.")
        if not wait:
            if args.action == "resume":
                print(f"Campaign {args.id} “{campaign.name}” is sending again.")
            return 0
        await services.start_network()  # the engine resumes every sending campaign
        await campaigns.wait(args.id)
        return _waited_exit(await _print_campaign(services, args.id, as_json=args.json))

    return _run_services(paths, work)


def _add_sandbox_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from waapp.sandbox.__main__ import add_arguments  # light: no aiohttp until it runs

    sandbox = commands.add_parser(
        "sandbox",
        help="run the Sandbox, a simulated WhatsApp provider, until Ctrl+C",
        description="Serve the Twilio, Meta Cloud and WaSender dialects on their real paths, with "
        "the control API under /_sandbox/ (docs/sandbox.md). Prints the URL and the credentials.",
    )
    add_arguments(sandbox)
    sandbox.set_defaults(handler=cmd_sandbox)


def cmd_sandbox(args: argparse.Namespace, paths: DataPaths) -> int:
    from waapp.sandbox.__main__ import run

    return run(args.host, args.port, args.config)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.self_test:
        from waapp.selftest import run_self_test

        return run_self_test()
    paths = resolve_data_dir(args.data_dir)
    if args.command is None:
        from waapp.app import run_gui

        return run_gui(paths)
    result: int = args.handler(args, paths)
    return result
