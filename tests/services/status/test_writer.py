"""The batched writer: batching, drain on stop, events, dead letters, keywords."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from waapp.core.entities import AccountKind, Contact
from waapp.core.ports import InboundText, Provider, StatusUpdate
from waapp.core.states import DeliveryStatus
from waapp.services.events import EventBus, StatusBatchFailed, StatusesApplied
from waapp.services.status.keywords import OPT_OUT_KEYWORDS_KEY
from waapp.services.status.writer import StatusWriter
from waapp.store.database import Database, open_database
from waapp.store.statuses import ApplySummary, IncomingEvent, StatusRepository
from waapp.store.worker import DatabaseWorker

from .harness import add_account, add_campaign, counters_match, open_intake, run, states

T0 = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)
D = DeliveryStatus


def one_campaign(size: int) -> object:
    def seed(db: Database) -> dict[int, Provider]:
        account = add_account(db, AccountKind.META, "Meta")
        add_campaign(db, account, [("sent", f"w{n}") for n in range(size)])
        return {}

    return seed


def update(n: int, status: DeliveryStatus = D.DELIVERED, seconds: int = 0) -> StatusUpdate:
    return StatusUpdate(f"w{n}", status, T0 + timedelta(seconds=seconds))


class RecordingStore:
    """Wraps the real repository and records the batch sizes it was given."""

    def __init__(self, real: StatusRepository) -> None:
        self.real = real
        self.sizes: list[int] = []

    def apply(self, batch: Sequence[IncomingEvent]) -> ApplySummary:
        self.sizes.append(len(batch))
        return self.real.apply(batch)


def test_events_are_written_in_batches_and_drained_on_stop(db_path: Path) -> None:
    async def main() -> None:
        worker = DatabaseWorker()
        db = await worker.run(open_database, db_path)
        one_campaign(1200)(db)  # type: ignore[operator]
        store = RecordingStore(StatusRepository(db.engine))
        bus = EventBus()
        applied: list[StatusesApplied] = []
        bus.subscribe(StatusesApplied, applied.append)
        writer = StatusWriter(
            statuses=store, settings=db.settings, worker=worker, bus=bus, batch_size=500,
            flush_interval=0.05,
        )  # fmt: skip
        writer.start()
        writer.put(1, [update(n) for n in range(1100)])  # 1100 at once: 500 + 500 + 100
        writer.put(1, [update(n, D.READ, 5) for n in range(1100, 1200)])
        await writer.flushed()
        assert store.sizes == [500, 500, 200]

        # A trickle is written within about one flush interval, as one batch.
        started = time.monotonic()
        for n in range(5):
            writer.put(1, [update(n, D.READ, 9)])
        await writer.flushed()
        assert time.monotonic() - started < 1.0
        assert store.sizes[-1] == 5

        # Stop drains whatever is queued.
        writer.put(1, [update(n, D.READ, 10) for n in range(5, 300)])
        await writer.stop()
        assert writer.pending == 0 and not writer.has_room()
        assert states(db, 1) == {
            **{f"w{n}": "read" for n in range(300)},
            **{f"w{n}": "delivered" for n in range(300, 1100)},
            **{f"w{n}": "read" for n in range(1100, 1200)},
        }
        assert sum(e.count for e in applied) == 1200 + 300
        assert counters_match(db, 1)
        stats = writer.stats()
        assert (stats.events_written, stats.statuses_applied, stats.dead_letter_events) == (
            1500,
            1500,
            0,
        )
        await worker.run(db.close)
        worker.shutdown()

    run(main())


def test_a_failing_batch_is_retried_once_then_kept_as_a_dead_letter(db_path: Path) -> None:
    async def main() -> None:
        async with open_intake(db_path, one_campaign(3)) as intake:  # type: ignore[arg-type]
            with intake.db.transaction() as conn:  # the database refuses every batch
                conn.exec_driver_sql(
                    "CREATE TRIGGER boom BEFORE INSERT ON status_events "
                    "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
                )
            intake.writer.put(1, [update(0), update(1)])
            await intake.writer.flushed()
            [letter] = intake.writer.dead_letters
            assert len(letter.events) == 2 and "disk on fire" in letter.error
            failed = [e for e in intake.published if isinstance(e, StatusBatchFailed)]
            assert failed == [StatusBatchFailed(2, letter.error)]
            assert intake.writer.stats().dead_letter_events == 2

            with intake.db.transaction() as conn:
                conn.exec_driver_sql("DROP TRIGGER boom")
            assert intake.writer.retry_dead_letters() == 2
            await intake.writer.flushed()
            assert intake.writer.dead_letters == []
            assert states(intake.db, 1) == {"w0": "delivered", "w1": "delivered", "w2": "sent"}

    run(main())


class FlakyStore:
    """Fails the first call only (a locked database, say)."""

    def __init__(self, real: StatusRepository) -> None:
        self.real = real
        self.calls = 0

    def apply(self, batch: Sequence[IncomingEvent]) -> ApplySummary:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("database is locked")
        return self.real.apply(batch)


def test_one_failure_is_retried_and_nothing_is_lost(db_path: Path) -> None:
    async def main() -> None:
        worker = DatabaseWorker()
        db = await worker.run(open_database, db_path)
        one_campaign(2)(db)  # type: ignore[operator]
        store = FlakyStore(StatusRepository(db.engine))
        writer = StatusWriter(statuses=store, settings=db.settings, worker=worker, bus=EventBus())
        writer.start()
        writer.put(1, [update(0, D.READ)])
        await writer.stop()
        assert (store.calls, writer.dead_letters) == (2, [])
        assert states(db, 1)["w0"] == "read"
        await worker.run(db.close)
        worker.shutdown()

    run(main())


def test_invalid_events_go_to_the_dead_letters_and_the_rest_is_written(db_path: Path) -> None:
    async def main() -> None:
        async with open_intake(db_path, one_campaign(1)) as intake:  # type: ignore[arg-type]
            naive = StatusUpdate("w0", D.READ, datetime(2025, 5, 1, 9, 0))
            intake.writer.put(1, [naive, update(0)])
            await intake.writer.flushed()
            [letter] = intake.writer.dead_letters
            assert letter.events[0].event is naive and "invalid" in letter.error
            assert states(intake.db, 1) == {"w0": "delivered"}

    run(main())


def test_opt_out_keywords_come_from_the_settings(db_path: Path) -> None:
    async def main() -> None:
        async with open_intake(db_path, one_campaign(0)) as intake:  # type: ignore[arg-type]
            contacts = intake.db.contacts
            one = await intake.worker.run(contacts.add, Contact(phone_e164="+15550000001"))
            two = await intake.worker.run(contacts.add, Contact(phone_e164="+15550000002"))
            three = await intake.worker.run(contacts.add, Contact(phone_e164="+15550000003"))
            now = datetime.now(UTC)
            intake.writer.put(1, [InboundText("+15550000001", "Stop", now, "a")])
            await intake.writer.flushed()
            await intake.worker.run(intake.db.settings.set, OPT_OUT_KEYWORDS_KEY, ["HALT"])
            intake.writer.put(
                1,
                [
                    InboundText("+15550000002", "stop", now, "b"),
                    InboundText("+15550000003", "halt!", now, "c"),
                ],
            )
            await intake.writer.flushed()
            got = [await intake.worker.run(contacts.get, c.id or 0) for c in (one, two, three)]
            assert [c.opted_out for c in got] == [True, False, True]
            assert got[2].opt_out_reason == 'Replied "halt!" on WhatsApp'

    run(main())


def test_back_pressure_is_bounded(db_path: Path) -> None:
    async def main() -> None:
        async with open_intake(db_path, one_campaign(10), max_pending=5) as intake:  # type: ignore[arg-type]
            gate = threading.Event()
            # Hold the database worker so that events pile up.
            blocked = asyncio.ensure_future(intake.worker.run(gate.wait, 10))
            await asyncio.sleep(0.05)
            assert intake.writer.has_room()
            intake.writer.put(1, [update(n) for n in range(10)])
            assert not intake.writer.has_room()  # put never refuses; has_room says stop
            gate.set()
            await blocked
            await intake.writer.flushed()
            assert intake.writer.has_room()
            assert set(states(intake.db, 1).values()) == {"delivered"}

    run(main())


def test_events_put_while_stopped_are_written_by_the_next_start(db_path: Path) -> None:
    async def main() -> None:
        async with open_intake(db_path, one_campaign(2)) as intake:  # type: ignore[arg-type]
            await intake.writer.stop()
            intake.writer.put(1, [update(0, D.READ)])
            assert intake.writer.pending == 1 and not intake.writer.has_room()
            intake.writer.start()
            await intake.writer.flushed()
            assert states(intake.db, 1) == {"w0": "read", "w1": "sent"}

    run(main())
