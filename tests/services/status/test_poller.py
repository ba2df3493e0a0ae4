"""The poller with a fake provider: what it asks, how many at once, what it feeds."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from waapp.core.entities import AccountKind
from waapp.core.ports import Provider, StatusUpdate
from waapp.core.states import DeliveryStatus
from waapp.services.status.poller import PollSummary, StatusPoller
from waapp.store.database import Database

from .fakes import FakeMeta, FakeTwilio
from .harness import add_account, add_campaign, open_intake, run, states

D = DeliveryStatus
NOW = datetime.now(UTC)


def accounts(twilio: FakeTwilio) -> object:
    def seed(db: Database) -> dict[int, Provider]:
        polled = add_account(db, AccountKind.TWILIO, "Twilio")
        webhook_only = add_account(db, AccountKind.META, "Meta")
        add_campaign(
            db,
            polled,
            [("sent", f"SM{n}") for n in range(10)]
            + [("delivered", "SMdone"), ("pending", None), ("unknown", "SMu")],
            name="twilio",
        )
        add_campaign(db, webhook_only, [("sent", "wamid.1")], name="meta")
        return {polled: twilio, webhook_only: FakeMeta()}

    return seed


def test_poll_asks_in_flight_messages_with_bounded_concurrency(db_path: Path) -> None:
    twilio = FakeTwilio()
    for n in range(10):
        twilio.remote[f"SM{n}"] = StatusUpdate(f"SM{n}", D.DELIVERED, NOW)
    twilio.remote["SMu"] = StatusUpdate("SMu", D.READ, NOW)
    twilio.remote["SM3"] = RuntimeError("HTTP 429 from the provider")
    twilio.remote["SM4"] = TimeoutError("slow")
    twilio.remote["SM5"] = StatusUpdate("SM5", D.SENT, NOW)  # nothing new

    async def main() -> None:
        async with open_intake(db_path, accounts(twilio)) as intake:  # type: ignore[arg-type]
            poller = StatusPoller(
                providers=lambda: intake.providers,
                statuses=intake.statuses,
                worker=intake.worker,
                sink=intake.writer,
                min_age=timedelta(0),
                max_age=timedelta(days=36500),  # the seeded rows are dated 2025
                concurrency=3,
            )
            summary = await poller.poll_once()
            assert summary == PollSummary(asked=11, updates=9, errors=2)
            assert sorted(twilio.fetched) == sorted([f"SM{n}" for n in range(10)] + ["SMu"])
            assert twilio.max_in_flight == 3
            await intake.writer.flushed()
            got = states(intake.db, 1)
            assert got["SMu"] == "read" and got["SM0"] == "delivered"
            assert (got["SM3"], got["SM4"], got["SM5"], got["SMdone"]) == ("sent",) * 3 + (
                "delivered",
            )
            assert states(intake.db, 2) == {"wamid.1": "sent"}  # Meta is never polled
            events = await intake.worker.run(intake.statuses.recent_events, 50)
            assert {e.source for e in events} == {"poll"}

    run(main())


def test_the_cursor_walks_past_messages_that_never_change(db_path: Path) -> None:
    twilio = FakeTwilio()  # answers None for everything: nothing ever changes

    async def main() -> None:
        async with open_intake(db_path, accounts(twilio)) as intake:  # type: ignore[arg-type]
            poller = StatusPoller(
                providers=lambda: intake.providers,
                statuses=intake.statuses,
                worker=intake.worker,
                sink=intake.writer,
                min_age=timedelta(0),
                max_age=timedelta(days=36500),
                per_tick=4,
            )
            for _ in range(4):
                await poller.poll_once()
            in_flight = [f"SM{n}" for n in range(10)] + ["SMu"]
            # 11 in flight, 4 per tick: 4 + 4 + 3, then from the start again.
            assert twilio.fetched == in_flight + in_flight[:4]
            assert poller.totals == PollSummary(asked=15, updates=0, errors=0)

    run(main())


def test_recent_messages_wait_and_the_loop_stops_cleanly(db_path: Path) -> None:
    twilio = FakeTwilio()

    async def main() -> None:
        async with open_intake(db_path, accounts(twilio)) as intake:  # type: ignore[arg-type]
            poller = StatusPoller(
                providers=lambda: intake.providers,
                statuses=intake.statuses,
                worker=intake.worker,
                sink=intake.writer,
                interval=0.02,
                min_age=timedelta(0),
                max_age=timedelta(days=1),  # the seeded rows (2025) are too old to ask about
            )
            poller.start()
            assert poller.running
            await asyncio.sleep(0.1)
            await poller.stop()
            await poller.stop()  # idempotent
            assert not poller.running and twilio.fetched == []

    run(main())
