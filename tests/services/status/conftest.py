"""Status intake fixtures, and the closing line of the bad-webhook suite (reliability.md)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from waapp.store.database import open_database


@pytest.fixture(scope="session")
def migrated_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("status-template") / "waapp.sqlite3"
    open_database(path).close()
    return path


@pytest.fixture
def db_path(tmp_path: Path, migrated_file: Path) -> Path:
    target = tmp_path / "waapp.sqlite3"
    shutil.copyfile(migrated_file, target)
    return target


@dataclass
class BadWebhookTally:
    """What the bad-webhook suite tried and what survived, summed over its tests."""

    requests: int = 0
    forged_rejected: int = 0  # 403 for forged, unsigned or changed bodies
    oversized_rejected: int = 0  # 413
    malformed: int = 0  # malformed bodies answered without a crash (400 or 200-and-ignored)
    unknown_ids: int = 0  # updates for messages nobody knows, recorded as unmatched
    crashes: int = 0  # 5xx answers, broken connections, errors logged by the server
    backwards: int = 0  # a message state that moved back
    lost: int = 0  # accepted updates whose effect is missing from the ledger

    def line(self) -> str:
        return (
            f"bad-webhooks: {self.requests} requests, {self.forged_rejected} forged rejected, "
            f"{self.oversized_rejected} oversized rejected, {self.malformed} malformed ignored, "
            f"{self.unknown_ids} unknown ids recorded, {self.crashes} crashes, "
            f"{self.backwards} backwards moves, {self.lost} lost"
        )


TALLY = BadWebhookTally()


@pytest.fixture
def bad_webhook_tally() -> BadWebhookTally:
    return TALLY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TALLY.requests:
        terminalreporter.write_line(TALLY.line())
