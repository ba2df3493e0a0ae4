"""Integration-test fixtures, and the closing lines of the secrets-leak and crash suites
(reliability.md, "How to report it"), printed whether or not ``-s`` is given, e.g.
``secrets: 9 tokens, 5 accounts, 17 sends, 24 webhooks, 6 files searched, 0 hits`` and
``crash: 24 kills (17 with claims in flight), 2500 recipients, 0 duplicates, 0 lost, …``."""

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


@dataclass
class CrashFigures:
    kills: int = 0
    in_flight: int = 0  # kills that left claimed rows in ``sending``
    recipients: int = 0
    duplicates: int = 0
    lost: int = 0
    failed: int = 0  # failed after acceptance (numbers not on WhatsApp)
    unknown: int = 0  # rows that became unknown (recovered after a kill)
    found: int = 0  # of those, found at the provider
    resent: int = 0  # of those, absent at the provider and sent after
    seconds: float = 0.0
    ran: bool = False

    def line(self) -> str:
        return (
            f"crash: {self.kills} kills ({self.in_flight} with claims in flight), "
            f"{self.recipients} recipients, {self.duplicates} duplicates, {self.lost} lost, "
            f"{self.unknown} unknown reconciled ({self.found} found sent, "
            f"{self.resent} sent after), {self.failed} failed after acceptance, "
            f"{self.seconds:.0f} s"
        )


CRASH = CrashFigures()


@pytest.fixture
def crash_figures() -> CrashFigures:
    CRASH.ran = True
    return CRASH


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if LEAKS.ran:
        terminalreporter.write_line(LEAKS.line())
    if CRASH.ran:
        terminalreporter.write_line(CRASH.line())
