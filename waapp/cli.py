"""The command line: ``waapp [--data-dir DIR] [--self-test] [COMMAND …]``.

With no command the window opens. Commands never import Qt.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from waapp import __version__
from waapp.paths import ENV_DATA_DIR, DataPaths, resolve_data_dir


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="waapp",
        description="WhatsApp campaigns from your own computer. With no command, opens the window.",
    )
    parser.add_argument(
        "--data-dir", metavar="DIR",
        help=f"where the data lives (default: ${ENV_DATA_DIR}, else the platform's user-data folder)",
    )
    parser.add_argument(
        "--self-test", action="store_true",
        help="check the window, the store, phone numbers and the keyring; print JSON; exit 0 if all pass",
    )
    parser.add_argument("--version", action="version", version=f"waapp {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    normalize = commands.add_parser(
        "normalize", help="normalise phone numbers to E.164 (one JSON object per number)",
        description="Print one JSON object per number: input, e164 (or null), valid, reason. "
        "Exits 1 when any number is invalid.",
    )
    normalize.add_argument("--region", metavar="CC", help="default country for national numbers, e.g. IN")
    normalize.add_argument("numbers", nargs="+", metavar="NUMBER")
    normalize.set_defaults(handler=cmd_normalize)
    return parser


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
        print(json.dumps({"input": number, "e164": result.e164, "valid": result.valid, "reason": result.reason},
                         ensure_ascii=False))
    return 0 if all_valid else 1


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

