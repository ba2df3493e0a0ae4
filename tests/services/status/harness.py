"""A real store + writer + receiver on one loop, an aiohttp client, and ledger seeding."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from sqlalchemy import insert, select

from waapp.core.entities import Account, AccountKind
from waapp.core.ports import Provider
from waapp.services.events import (
    ContactsChanged,
    EventBus,
    InboundReceived,
    StatusBatchFailed,
    StatusesApplied,
)
from waapp.services.status.receiver import WebhookReceiver
from waapp.services.status.writer import StatusWriter
from waapp.store.accounts import AccountRepository
from waapp.store.database import Database, open_database
from waapp.store.schema import campaigns, messages
from waapp.store.statuses import StatusRepository, recount
from waapp.store.worker import DatabaseWorker

T = TypeVar("T")
T0 = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)

#: Rank of the delivery chain, to check that nothing ever moves backwards.
RANK = {
    "pending": -1,
    "sending": 0,
    "unknown": 0,
    "sent": 1,
    "failed": 2,
    "delivered": 3,
    "read": 4,
}


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


# --- seeding -------------------------------------------------------------------------------


def add_account(db: Database, kind: AccountKind, name: str) -> int:
    return AccountRepository(db.engine).add(Account(kind, name)).id or 0


def add_campaign(
    db: Database, account_id: int, rows: Sequence[tuple[str, str | None]], name: str = "Spring"
) -> tuple[int, list[int]]:
    """A campaign of ``account_id`` with one message per (state, provider id); counters set."""
    with db.transaction() as conn:
        campaign_id = int(
            conn.execute(
                insert(campaigns)
                .values(
                    name=name,
                    account_id=account_id,
                    window_policy="template_only",
                    missed_schedule_policy="ask",
                    status="sending",
                    created_at=T0,
                )
                .returning(campaigns.c.id)
            ).scalar_one()
        )
        ids = [
            int(
                conn.execute(
                    insert(messages)
                    .values(
                        campaign_id=campaign_id,
                        phone_e164=f"+1555{campaign_id:03d}{n:05d}",
                        route="template",
                        state=state,
                        provider_message_id=provider_id,
                        updated_at=T0,
                    )
                    .returning(messages.c.id)
                ).scalar_one()
            )
            for n, (state, provider_id) in enumerate(rows)
        ]
        conn.execute(
            campaigns.update()
            .where(campaigns.c.id == campaign_id)
            .values(counters=recount(conn, campaign_id))
        )
    return campaign_id, ids


def states(db: Database, campaign_id: int) -> dict[str, str]:
    """provider id → state of the campaign's messages."""
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(messages.c.provider_message_id, messages.c.state).where(
                messages.c.campaign_id == campaign_id
            )
        )
        return {pid: state for pid, state in rows}


def counters_match(db: Database, campaign_id: int) -> bool:
    with db.engine.connect() as conn:
        counted = recount(conn, campaign_id)
    return StatusRepository(db.engine).counters(campaign_id) == counted


# --- the running intake --------------------------------------------------------------------


@dataclass
class Intake:
    db: Database
    worker: DatabaseWorker
    bus: EventBus
    statuses: StatusRepository
    writer: StatusWriter
    receiver: WebhookReceiver
    providers: dict[int, Provider]
    session: aiohttp.ClientSession
    published: list[object] = field(default_factory=list)

    def url(self, account_id: int | str, query: str = "") -> str:
        return f"{self.receiver.local_base}/webhooks/{account_id}{query}"

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, str, str]:
        """(status, content type, text) of a POST to ``url``."""
        async with self.session.post(url, data=body, headers=dict(headers)) as response:
            return response.status, response.content_type, await response.text()

    async def get(self, url: str) -> tuple[int, str]:
        async with self.session.get(url) as response:
            return response.status, await response.text()


@asynccontextmanager
async def open_intake(
    path: Path,
    providers: Callable[[Database], dict[int, Provider]],
    *,
    public_base: Callable[[], str | None] = lambda: None,
    max_body: int = 1024 * 1024,
    **writer_options: Any,
) -> AsyncIterator[Intake]:
    """``providers(db)`` seeds the accounts and returns their providers by account id."""
    worker = DatabaseWorker()
    db = await worker.run(open_database, path)
    bus = EventBus()
    table = await worker.run(providers, db)
    statuses = StatusRepository(db.engine)
    writer = StatusWriter(
        statuses=statuses, settings=db.settings, worker=worker, bus=bus, **writer_options
    )
    receiver = WebhookReceiver(
        provider_for=table.get, sink=writer, max_body=max_body, public_base=public_base
    )
    writer.start()
    await receiver.start()
    session = aiohttp.ClientSession()
    intake = Intake(db, worker, bus, statuses, writer, receiver, table, session)
    for event_type in _EVENT_TYPES:
        bus.subscribe(event_type, intake.published.append)
    try:
        yield intake
    finally:
        await session.close()
        await receiver.stop()
        await writer.stop()
        await worker.run(db.close)
        worker.shutdown()


_EVENT_TYPES = (StatusesApplied, InboundReceived, StatusBatchFailed, ContactsChanged)
