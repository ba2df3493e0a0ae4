"""``waapp templates sync|list``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from waapp.cli.common import account_named, run_services
from waapp.paths import DataPaths


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


def cmd_templates_sync(args: argparse.Namespace, paths: DataPaths) -> int:
    from waapp.services.templates import summary_text

    async def work(services: Any) -> int:
        account = await account_named(services, args.account, start_network=True)
        summary = await services.templates.sync(account.id)
        print(f"{account.name}: {summary_text(summary)} ({summary.unchanged} unchanged)")
        return 0

    return run_services(paths, work)


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
            account_id = (await account_named(services, args.account, start_network=False)).id
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

    return run_services(paths, work)
