"""Integration-test fixtures, and the closing line of the secrets-leak suite
(reliability.md, "How to report it"), printed whether or not ``-s`` is given, e.g.
``secrets: 9 tokens, 5 accounts, 17 sends, 24 webhooks, 6 files searched, 0 hits``."""

from __future__ import annotations

from dataclasses import dataclass

import pytest


@dataclass
class LeakFigures:
    tokens: int = 0
    accounts: int = 5
    sends: int = 0
    webhooks: int = 0
    files: int = 0
    hits: int = 0
    ran: bool = False

    def line(self) -> str:
        return (
            f"secrets: {self.tokens} tokens, {self.accounts} accounts, {self.sends} sends, "
            f"{self.webhooks} webhooks, {self.files} files searched, {self.hits} hits"
        )


LEAKS = LeakFigures()


@pytest.fixture
def leak_figures() -> LeakFigures:
    LEAKS.ran = True
    return LEAKS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if LEAKS.ran:
        terminalreporter.write_line(LEAKS.line())
