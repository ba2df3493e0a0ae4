"""What every command group shares: the refusal, running the services, finding an account."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any

from waapp.paths import DataPaths


class CommandError(Exception):
    """A refused file or argument: the message goes to stderr and the exit code is 1."""


def fail(error: BaseException) -> int:
    from waapp.core.errors import WaappError

    if isinstance(error, WaappError):
        text = error.message + (f"\n{error.what_to_do}" if error.what_to_do else "")
    else:
        text = str(error)
    print(f"waapp: {text}", file=sys.stderr)
    return 1


def run_services(paths: DataPaths, work: Callable[[Any], Awaitable[int]]) -> int:
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
        return fail(error)


async def account_named(services: Any, name: str, *, start_network: bool) -> Any:
    """The account called ``name`` (any case). With ``start_network``, the in-process Sandbox
    is started first when it is needed: for its account, or to create it on a first run."""
    from waapp.services.accounts import IN_PROCESS

    wanted = " ".join(name.split()).casefold()
    accounts = await services.accounts.list()
    found = next((a for a in accounts if a.name.casefold() == wanted), None)
    if start_network and (found is None or found.settings.get(IN_PROCESS)):
        await services.start_network(owner="a waapp command")
        accounts = await services.accounts.list()
        found = next((a for a in accounts if a.name.casefold() == wanted), None)
    if found is None:
        names = ", ".join(f"“{a.name}”" for a in accounts) or "none yet"
        raise CommandError(f"there is no account called “{name}” (accounts: {names})")
    return found


def clock() -> str:
    from datetime import datetime

    return datetime.now().strftime("%H:%M:%S")


def say(text: str) -> None:
    print(text, flush=True)


def counts_text(counters: dict[str, int]) -> str:
    return ", ".join(f"{state} {count}" for state, count in sorted(counters.items()) if count)
