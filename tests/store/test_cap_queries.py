"""The caps' queries read the window they count, not the account's whole history
(revision 0003: ``ix_messages_campaign_id_sent_at``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from waapp.core.entities import Account, AccountKind, Campaign
from waapp.store.campaigns import (
    CAP_DAY_FREES,
    CAP_HOUR_FREES,
    CAP_IN_FLIGHT,
    CAP_PEOPLE,
    CAP_SENT_SINCE,
    FIRST_SEND,
    CampaignRepository,
)
from waapp.store.database import Database
from waapp.store.schema import format_utc

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
HOUR_AGO = format_utc(NOW - timedelta(hours=1))
DAY_AGO = format_utc(NOW - timedelta(hours=24))

A = object()  # stands for the account's id in the parameters below

#: Each query with its parameters, and the index its read of ``messages`` uses.
QUERIES: list[tuple[str, str, tuple[Any, ...], str]] = [
    ("sent in the hour", CAP_SENT_SINCE, (A, HOUR_AGO), "campaign_id_sent_at"),
    ("in flight", CAP_IN_FLIGHT, (A, HOUR_AGO), "campaign_id_state"),
    ("people in 24 h", CAP_PEOPLE, (A, DAY_AGO, A), "both"),
    ("hour frees", CAP_HOUR_FREES, (A, HOUR_AGO, 0), "campaign_id_sent_at"),
    ("day frees", CAP_DAY_FREES, (A, DAY_AGO, 0), "campaign_id_sent_at"),
    ("first send", FIRST_SEND, (A,), "campaign_id_sent_at"),
]


def of(account_id: int, params: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(account_id if p is A else p for p in params)


@pytest.fixture
def repo(db: Database) -> CampaignRepository:
    return CampaignRepository(db.engine, durable=db.durable)


@pytest.fixture
def conn(db_path: Path, db: Database) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(db_path)) as connection:
        yield connection


def history(db: Database, repo: CampaignRepository, conn: sqlite3.Connection, old: int) -> int:
    """An account with ``old`` messages accepted days ago (in two campaigns), and a
    campaign sending now: 5 accepted in the last hour (one person twice across
    campaigns), 2 in flight, 3 pending. Returns the account id."""
    account = db.accounts.add(Account(kind=AccountKind.META, name=f"Shop {old}", settings={}))
    assert account.id is not None
    ids = []
    for name in ("Spring", "Summer", "Now"):
        campaign = repo.add(Campaign(name=name, account_id=account.id))
        assert campaign.id is not None
        ids.append(campaign.id)
    spring, summer, current = ids
    rows: list[tuple[Any, ...]] = []
    long_ago = NOW - timedelta(days=20)
    for i in range(old):
        at = format_utc(long_ago + timedelta(seconds=i))
        rows.append((spring if i % 2 else summer, f"+1415{i:07d}", "delivered", at, at))
    recent = [NOW - timedelta(minutes=m) for m in (50, 40, 30, 20, 10)]
    for i, at in enumerate(recent):
        stamp = format_utc(at)
        # phone 0 got Summer's message too, 30 minutes ago
        campaign_id = summer if i == 2 else current
        phone = "+14155550000" if i == 2 else f"+141555500{i:02d}"
        rows.append((campaign_id, phone, "sent", stamp, stamp))
    for i in range(5, 7):
        rows.append((current, f"+141555500{i:02d}", "sending", None, format_utc(NOW)))
    for i in range(7, 10):
        rows.append((current, f"+141555500{i:02d}", "pending", None, format_utc(NOW)))
    conn.executemany(
        "INSERT INTO messages (campaign_id, phone_e164, route, variables, state, attempts, "
        "sent_at, updated_at) VALUES (?, ?, 'template', '{}', ?, 1, ?, ?)",
        rows,
    )
    conn.commit()
    return account.id


def steps(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> tuple[Any, int]:
    """The query's answer and how many virtual-machine instructions it took (SQLite's own
    count, the same on any machine: what it read, not how long it took)."""
    count = 0

    def tick() -> int:
        nonlocal count
        count += 1
        return 0

    conn.set_progress_handler(tick, 1)
    try:
        answer = conn.execute(sql, params).fetchall()
    finally:
        conn.set_progress_handler(None, 1)
    return answer, count


def test_each_cap_query_reads_messages_through_the_window_index(
    db: Database, repo: CampaignRepository, conn: sqlite3.Connection
) -> None:
    account_id = history(db, repo, conn, old=50)
    for label, sql, params, index in QUERIES:
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", of(account_id, params))]
        on_messages = [line for line in plan if " messages " in f"{line} "]
        assert on_messages, (label, plan)
        for line in on_messages:
            assert line.startswith("SEARCH messages USING"), (label, plan)  # never a SCAN
        window = [line for line in on_messages if "ix_messages_campaign_id_sent_at" in line]
        flight = [
            line
            for line in on_messages
            if "ix_messages_campaign_id_state (campaign_id=? AND state=?)" in line
        ]
        if index in ("campaign_id_sent_at", "both"):
            assert window, (label, plan)
            if label != "first send":  # a range of the window, not the campaign's rows
                assert all("sent_at>?" in line for line in window), (label, plan)
        if index in ("campaign_id_state", "both"):
            assert flight, (label, plan)
        assert len(window) + len(flight) == len(on_messages), (label, plan)


def test_a_recount_costs_the_same_with_a_long_history(
    db: Database, repo: CampaignRepository, conn: sqlite3.Connection
) -> None:
    """The same counts with 20 or 4 000 old messages, for about the same work: a query
    that read the whole history would take thousands of instructions more."""
    short = history(db, repo, conn, old=20)
    long = history(db, repo, conn, old=4000)
    expected: dict[str, Any] = {
        "sent in the hour": [(5,)],  # 4 of this campaign, 1 of another
        "in flight": [(2,)],
        "people in 24 h": [(6,)],  # phones 0, 1, 3, 4 accepted (0 twice), 5 and 6 in flight
        "hour frees": [(format_utc(NOW - timedelta(minutes=50)),)],
        "first send": [(format_utc(NOW - timedelta(days=20)),)],
    }
    for label, sql, params, _ in QUERIES:
        small, small_cost = steps(conn, sql, of(short, params))
        big, big_cost = steps(conn, sql, of(long, params))
        if label in expected:
            assert small == big == expected[label], label
        assert big_cost < small_cost + 200, (label, small_cost, big_cost)
