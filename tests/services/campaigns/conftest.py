"""Closing lines of the campaign reliability suites (reliability.md, "How to report it")."""

from __future__ import annotations

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
