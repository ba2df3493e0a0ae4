"""The status poller: asks the provider about messages still in flight.

Every ``interval`` seconds, for each account whose provider ``supports_polling`` (Twilio,
WaSender; Meta has no per-message GET), it reads up to ``per_tick`` in-flight messages
(sending / sent / unknown with a provider id, unchanged for ``min_age`` and changed within
``max_age``) and calls ``Provider.fetch_status`` for each, at most ``concurrency`` at a
time, feeding the answers to the writer (``source="poll"``). The store deduplicates a poll
answer that repeats a webhook, and the merge is forward-only, so polling is always safe.

Each account has a cursor over message ids, so that messages that never change (a phone
that stays offline) do not take every tick: the poller walks past them and wraps around.
It skips a tick when the writer is full. A provider error is logged (once per account and
tick) and counted; it never stops the poller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from waapp.core.entities import Message
from waapp.core.ports import Provider, StatusUpdate
from waapp.services.status.writer import EventSink
from waapp.store.worker import DatabaseWorker

__all__ = ["InFlightSource", "PollSummary", "StatusPoller"]

log = logging.getLogger(__name__)


class InFlightSource(Protocol):
    """What the poller needs of the store (``StatusRepository.in_flight``)."""

    def in_flight(
        self,
        account_id: int,
        *,
        older_than: datetime,
        limit: int,
        after_id: int = 0,
        newer_than: datetime | None = None,
    ) -> list[Message]: ...


@dataclass(frozen=True, slots=True)
class PollSummary:
    asked: int = 0  # fetch_status calls made
    updates: int = 0  # answers handed to the writer
    errors: int = 0  # calls that raised


def _now() -> datetime:
    return datetime.now(UTC)


class StatusPoller:
    """See the module doc. ``start()`` on the application loop; ``await stop()``."""

    def __init__(
        self,
        *,
        providers: Callable[[], Mapping[int, Provider]],
        statuses: InFlightSource,
        worker: DatabaseWorker,
        sink: EventSink,
        interval: float = 30.0,
        min_age: timedelta = timedelta(seconds=10),
        max_age: timedelta = timedelta(days=3),
        per_tick: int = 100,
        concurrency: int = 4,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._providers = providers
        self._statuses = statuses
        self._worker = worker
        self._sink = sink
        self.interval = interval
        self.min_age = min_age
        self.max_age = max_age
        self.per_tick = per_tick
        self._limit = asyncio.Semaphore(concurrency)
        self._clock = clock
        self._cursors: dict[int, int] = {}
        self._task: asyncio.Task[None] | None = None
        self.totals = PollSummary()

    def start(self) -> None:
        """Poll every ``interval`` seconds from now on (first tick after one interval)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="status-poller")

    async def stop(self) -> None:
        """Stop; a tick in progress is cancelled (what it already fed the writer stays)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def running(self) -> bool:
        return self._task is not None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Status polling failed; trying again next time")

    async def poll_once(self) -> PollSummary:
        """One tick over every polling account; what it did."""
        total = PollSummary()
        for account_id, provider in dict(self._providers()).items():
            if not provider.supports_polling:
                continue
            if not self._sink.has_room():
                log.info("Status writer is full; polling waits for the next tick")
                break
            done = await self._poll_account(account_id, provider)
            total = PollSummary(
                total.asked + done.asked, total.updates + done.updates, total.errors + done.errors
            )
        self.totals = PollSummary(
            self.totals.asked + total.asked,
            self.totals.updates + total.updates,
            self.totals.errors + total.errors,
        )
        return total

    async def _poll_account(self, account_id: int, provider: Provider) -> PollSummary:
        now = self._clock()
        cursor = self._cursors.get(account_id, 0)
        due = await self._worker.run(
            self._statuses.in_flight,
            account_id,
            older_than=now - self.min_age,
            newer_than=now - self.max_age,
            limit=self.per_tick,
            after_id=cursor,
        )
        # Wrap around when the walk reached the end.
        self._cursors[account_id] = 0 if len(due) < self.per_tick else (due[-1].id or 0)
        failures: list[BaseException] = []

        async def ask(message: Message) -> StatusUpdate | None:
            assert message.provider_message_id is not None
            async with self._limit:
                try:
                    return await provider.fetch_status(message.provider_message_id)
                except Exception as exc:
                    failures.append(exc)
                    return None

        answers = await asyncio.gather(*(ask(message) for message in due))
        updates = [answer for answer in answers if isinstance(answer, StatusUpdate)]
        if failures:
            log.warning(
                "Polling account %s: %d of %d status requests failed (first: %r)",
                account_id,
                len(failures),
                len(due),
                failures[0],
            )
        self._sink.put(account_id, updates, source="poll")
        return PollSummary(asked=len(due), updates=len(updates), errors=len(failures))
