"""``waapp account add|list|test``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from waapp.cli.common import CommandError, account_named, fail, run_services
from waapp.paths import DataPaths


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
        return fail(error)
    if args.base_url:
        settings["base_url"] = args.base_url
    if IN_PROCESS in settings:
        flag = settings[IN_PROCESS].lower()
        if flag not in ("true", "yes", "1", "false", "no", "0"):
            return fail(CommandError(f"{IN_PROCESS} must be true or false"))
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

    return run_services(paths, work)


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

    return run_services(paths, work)


def cmd_account_test(args: argparse.Namespace, paths: DataPaths) -> int:
    from waapp.services.accounts import kind_label
    from waapp.ui.accounts.words import detail_rows  # plain words, no Qt

    async def work(services: Any) -> int:
        account = await account_named(services, args.name, start_network=True)
        _announce_keyring(services)
        report = await services.accounts.test_connection(account.id)
        print(f"{account.name} — {kind_label(account.kind)}")
        print(f"{'OK' if report.ok else 'NOT OK'}: {report.summary}")
        for label, value in detail_rows(report):
            print(f"  {label}: {value}")
        if not report.ok:
            print(f"waapp: {account.name}: {report.summary}", file=sys.stderr)
        return 0 if report.ok else 1

    return run_services(paths, work)
