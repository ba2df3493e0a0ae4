"""Closing lines of the campaign reliability suites (reliability.md, "How to report it")."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest


@dataclass
class Figures:
    storm: str = ""
    faults: str = ""
    account: str = ""


FIGURES = Figures()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in (FIGURES.storm, FIGURES.faults, FIGURES.account):
        if line:
            terminalreporter.write_line(line)


@pytest.fixture
def in_india(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The user's local time is India's (UTC+05:30, no daylight saving)."""
    monkeypatch.setenv("TZ", "IST-5:30")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()
