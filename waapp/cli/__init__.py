"""The command line: ``waapp [--data-dir DIR] [--self-test] [COMMAND …]``.

With no command the window opens. Commands never import Qt. One module per command group:
:mod:`.contacts` (``normalize``, ``contacts``), :mod:`.accounts`, :mod:`.templates`,
:mod:`.campaigns`, :mod:`.run`; :mod:`.common` holds what they share.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from waapp import __version__
from waapp.cli import accounts, campaigns, contacts, run, templates
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
    normalize.set_defaults(handler=contacts.cmd_normalize)
    contacts.add_commands(commands)
    accounts.add_commands(commands)
    templates.add_commands(commands)
    campaigns.add_commands(commands)
    run.add_commands(commands)
    _add_sandbox_command(commands)
    return parser


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
