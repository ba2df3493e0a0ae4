"""Service-test fixtures, and the closing line of the bad-spreadsheet suite.

The bad-spreadsheet tests (``test_bad_spreadsheets.py``) record what they tried in
:data:`BAD_SPREADSHEETS`; when any of them ran, the session ends with one line such as
``bad-spreadsheets: 31 files, 0 crashes, 1 000 000 rows streamed, store unchanged after 4
failed imports`` (reliability.md, "How to report it"), printed whether or not ``-s`` is
given.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from waapp.app import Services, open_services
from waapp.paths import DataPaths

Body = Callable[[Services], Awaitable[Any]]


@dataclass
class BadSpreadsheetFigures:
    files: set[str] = field(default_factory=set)
    crashes: list[str] = field(default_factory=list)
    rows_streamed: int = 0
    failed_imports: int = 0  # imports that failed or were cancelled …
    store_unchanged: int = 0  # … after which the store was checked to be exactly as before
    ran: bool = False

    def line(self) -> str:
        unchanged = (
            f"store unchanged after {self.store_unchanged} failed imports"
            if self.store_unchanged == self.failed_imports
            else f"store CHANGED after {self.failed_imports - self.store_unchanged} of "
            f"{self.failed_imports} failed imports"
        )
        rows = f"{self.rows_streamed:,}".replace(",", " ")
        return (
            f"bad-spreadsheets: {len(self.files)} files, {len(self.crashes)} crashes, "
            f"{rows} rows streamed, {unchanged}"
        )


BAD_SPREADSHEETS = BadSpreadsheetFigures()


@pytest.fixture
def bad_figures() -> BadSpreadsheetFigures:
    BAD_SPREADSHEETS.ran = True
    return BAD_SPREADSHEETS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not BAD_SPREADSHEETS.ran:
        return
    terminalreporter.write_line(BAD_SPREADSHEETS.line())
    for crash in BAD_SPREADSHEETS.crashes:
        terminalreporter.write_line(f"  crash: {crash}")


@pytest.fixture
def run_services(tmp_path: Path) -> Callable[[Body], Any]:
    """``run_services(body)``: open the services on a store under ``tmp_path/data``, await
    ``body(services)`` and close them, all on one fresh loop (``asyncio.run``). The same
    store is reopened by later calls in the same test."""

    def run(body: Body) -> Any:
        async def main() -> Any:
            services = await open_services(DataPaths(tmp_path / "data"))
            try:
                return await body(services)
            finally:
                await services.close()

        return asyncio.run(main())

    return run


def _dump(services: Services) -> dict[str, list[tuple[Any, ...]]]:
    with services.db.engine.connect() as conn:
        return {
            table: [
                tuple(row) for row in conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY 1, 2")
            ]
            for table in ("contacts", "groups", "contact_groups", "settings")
        }


async def store_state(services: Services) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables an import may touch, to compare before and after."""
    return await services.worker.run(_dump, services)


@pytest.fixture
def state() -> Callable[[Services], Awaitable[dict[str, list[tuple[Any, ...]]]]]:
    return store_state
