"""The one batched writer of status intake.

Receiver and poller hand it parsed events (:meth:`StatusWriter.put`); it writes them in
batches — every ``flush_interval`` (~100 ms) or as soon as ``batch_size`` (~500) events
wait — through :meth:`waapp.store.statuses.StatusRepository.apply` on the database worker,
then publishes what changed on the event bus (:class:`~waapp.services.events.StatusesApplied`,
:class:`~waapp.services.events.InboundReceived`, ``ContactsChanged``).

Guarantees and hazards:

- **Bounded**: :meth:`StatusWriter.has_room` is False once ``max_pending`` events wait;
  the receiver then answers 503 so that the provider retries later, and the poller skips
  a tick. ``put`` itself never refuses (an event accepted is an event kept).
- **Nothing silently dropped**: a batch that fails is retried once; if it fails again it
  goes to :attr:`StatusWriter.dead_letters` with the error, logged and published
  (:class:`~waapp.services.events.StatusBatchFailed`), and can be re-queued with
  :meth:`StatusWriter.retry_dead_letters`. Events the store refuses as invalid (a naive
  time, an empty id) go there too.
- **Drain on stop**: :meth:`StatusWriter.stop` writes everything queued before returning.
- Opt-out keywords are read from the settings on the worker with each batch that holds
  inbound messages, so a changed list applies from the next batch on.
- Marketing preferences (Meta's ``user_preferences``): a "stop" is marked with
  :data:`MARKETING_OPT_OUT_REASON` and opts the contact out through the same store path
  as a keyword (first opt-out date and reason kept), published the same way. A "resume"
  is deliberately not marked: it never opts the contact back in — whether to write to
  them again is the business's decision, taken in the contact list.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from waapp.core.ports import InboundText, MarketingPreference, SettingsStore, WebhookEvent
from waapp.services.events import (
    ContactsChanged,
    EventBus,
    InboundReceived,
    StatusBatchFailed,
    StatusesApplied,
)
from waapp.services.status.keywords import (
    OPT_OUT_KEYWORDS_KEY,
    OptOutKeywords,
    keywords_from_setting,
)
from waapp.store.statuses import ApplySummary, IncomingEvent
from waapp.store.worker import DatabaseWorker

__all__ = [
    "INVALID_EVENT",
    "MARKETING_OPT_OUT_REASON",
    "DeadLetter",
    "EventSink",
    "StatusStore",
    "StatusWriter",
    "WriterStats",
]

log = logging.getLogger(__name__)

#: The error of a dead letter holding events the store refused as invalid (a provider
#: module's bug: a naive time, an empty id). Logged as a warning, not an error.
INVALID_EVENT = "invalid event (refused by the store)"

#: The opt-out reason of a contact who stopped marketing messages in WhatsApp itself.
MARKETING_OPT_OUT_REASON = "Stopped marketing messages on WhatsApp"


class StatusStore(Protocol):
    """What the writer needs of the store (``waapp.store.statuses.StatusRepository``)."""

    def apply(self, batch: Sequence[IncomingEvent]) -> ApplySummary: ...


class EventSink(Protocol):
    """Where the receiver and the poller put parsed events (the writer)."""

    def has_room(self) -> bool: ...

    def put(
        self,
        account_id: int,
        events: Sequence[WebhookEvent],
        *,
        source: str = "webhook",
        received_at: datetime | None = None,
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Events that could not be written, with why and when."""

    at: datetime
    events: tuple[IncomingEvent, ...]
    error: str


@dataclass(frozen=True, slots=True)
class WriterStats:
    """A snapshot for Diagnostics."""

    pending: int
    batches: int
    events_written: int
    statuses_applied: int
    unmatched: int
    inbound: int
    dead_letter_events: int
    last_batch_seconds: float | None
    last_error: str | None


def _now() -> datetime:
    return datetime.now(UTC)


class StatusWriter:
    """See the module doc. ``start()`` on the loop that will feed it; ``await stop()``."""

    def __init__(
        self,
        *,
        statuses: StatusStore,
        settings: SettingsStore,
        worker: DatabaseWorker,
        bus: EventBus,
        flush_interval: float = 0.1,
        batch_size: int = 500,
        max_pending: int = 50_000,
        max_dead_letter_events: int = 100_000,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._statuses = statuses
        self._settings = settings
        self._worker = worker
        self._bus = bus
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.max_pending = max_pending
        self._max_dead = max_dead_letter_events
        self._clock = clock
        self._pending: deque[IncomingEvent] = deque()
        self._first_pending_at = 0.0  # loop time when the oldest pending event arrived
        self._arrived = asyncio.Event()
        self._full = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._idle = asyncio.Event()  # set when nothing is pending or being written
        self._idle.set()
        self._keywords = OptOutKeywords()
        self.dead_letters: list[DeadLetter] = []
        self._batches = self._written = self._applied = self._unmatched = self._inbound = 0
        self._last_seconds: float | None = None
        self._last_error: str | None = None

    # --- life cycle --------------------------------------------------------------------

    def start(self) -> None:
        """Start the flushing task on the running loop. Idempotent."""
        if self._task is None:
            self._closing = False
            if self._pending:  # put while stopped: write it now
                self._idle.clear()
                self._arrived.set()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="status-writer")

    async def stop(self) -> None:
        """Write everything queued, then stop. Idempotent."""
        self._closing = True
        self._arrived.set()
        self._full.set()
        task, self._task = self._task, None
        if task is not None:
            await task

    @property
    def running(self) -> bool:
        return self._task is not None and not self._closing

    # --- intake ------------------------------------------------------------------------

    def has_room(self) -> bool:
        return self.running and len(self._pending) < self.max_pending

    def put(
        self,
        account_id: int,
        events: Sequence[WebhookEvent],
        *,
        source: str = "webhook",
        received_at: datetime | None = None,
    ) -> None:
        """Queue ``events`` of ``account_id``. Never refuses; check :meth:`has_room` first.

        Events put after :meth:`stop` are written by the next :meth:`start` (or stay
        visible in :attr:`pending`)."""
        if not events:
            return
        at = received_at or self._clock()
        if not self._pending:
            self._first_pending_at = time.monotonic()
        self._pending.extend(IncomingEvent(account_id, event, at, source) for event in events)
        self._idle.clear()
        self._arrived.set()
        if len(self._pending) >= self.batch_size:
            self._full.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flushed(self) -> None:
        """Wait until everything queued so far is written (or dead-lettered)."""
        self._full.set()
        await self._idle.wait()

    def retry_dead_letters(self) -> int:
        """Queue the dead-lettered events again; how many."""
        letters, self.dead_letters = self.dead_letters, []
        count = 0
        for letter in letters:
            self._pending.extend(letter.events)
            count += len(letter.events)
        if count:
            self._idle.clear()
            self._arrived.set()
            self._full.set()
        return count

    def stats(self) -> WriterStats:
        return WriterStats(
            pending=len(self._pending),
            batches=self._batches,
            events_written=self._written,
            statuses_applied=self._applied,
            unmatched=self._unmatched,
            inbound=self._inbound,
            dead_letter_events=sum(len(letter.events) for letter in self.dead_letters),
            last_batch_seconds=self._last_seconds,
            last_error=self._last_error,
        )

    # --- the flushing loop -------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await self._arrived.wait()
            if self._pending and len(self._pending) < self.batch_size and not self._closing:
                wait = self._first_pending_at + self.flush_interval - time.monotonic()
                if wait > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._full.wait(), wait)
            batch = [
                self._pending.popleft() for _ in range(min(self.batch_size, len(self._pending)))
            ]
            if self._pending:
                self._first_pending_at = time.monotonic()
                if len(self._pending) < self.batch_size and not self._closing:
                    self._full.clear()
            else:
                self._arrived.clear()
                if not self._closing:
                    self._full.clear()
            if batch:
                await self._write(batch)
            if not self._pending:
                self._idle.set()
                if self._closing:
                    return

    async def _write(self, batch: list[IncomingEvent]) -> None:
        started = time.perf_counter()
        summary: ApplySummary | None = None
        error: BaseException | None = None
        for attempt in (1, 2):
            try:
                summary = await self._worker.run(self._apply, batch)
                break
            except Exception as exc:  # any failure: retried once, then dead-lettered
                error = exc
                if attempt == 1:
                    log.warning(
                        "Status batch of %d events failed (%s); retrying once", len(batch), exc
                    )
        self._last_seconds = time.perf_counter() - started
        self._batches += 1
        if summary is None:
            assert error is not None
            self._dead_letter(batch, f"{type(error).__name__}: {error}", exc_info=error)
            return
        self._written += len(batch)
        self._applied += summary.applied
        self._unmatched += summary.unmatched
        self._inbound += summary.inbound
        if summary.invalid:
            self._dead_letter(list(summary.invalid), INVALID_EVENT, level=logging.WARNING)
        self._publish(summary)

    def _apply(self, batch: list[IncomingEvent]) -> ApplySummary:
        """On the worker: mark opt-out keywords with the current list and marketing "stop"
        preferences with their reason, then apply."""
        if any(isinstance(event.event, InboundText) for event in batch):
            keywords = keywords_from_setting(self._settings.get(OPT_OUT_KEYWORDS_KEY))
            if keywords != self._keywords.keywords:
                self._keywords = OptOutKeywords(keywords)
            batch = [
                replace(event, opt_out_reason=self._keywords.reason(event.event.body))
                if isinstance(event.event, InboundText)
                else event
                for event in batch
            ]
        # A "resume" gets no reason, so the store leaves the contact as it is (module doc).
        batch = [
            replace(event, opt_out_reason=MARKETING_OPT_OUT_REASON)
            if isinstance(event.event, MarketingPreference) and event.event.opted_out is True
            else event
            for event in batch
        ]
        return self._statuses.apply(batch)

    def _dead_letter(
        self,
        events: list[IncomingEvent],
        error: str,
        *,
        exc_info: BaseException | None = None,
        level: int = logging.ERROR,
    ) -> None:
        log.log(
            level,
            "%d status events could not be written: %s",
            len(events),
            error,
            exc_info=exc_info,
        )
        self._last_error = error
        self.dead_letters.append(DeadLetter(self._clock(), tuple(events), error))
        kept = sum(len(letter.events) for letter in self.dead_letters)
        while kept > self._max_dead and len(self.dead_letters) > 1:
            dropped = self.dead_letters.pop(0)
            kept -= len(dropped.events)
            log.error(
                "Dead-letter list full: %d older events (%s) discarded",
                len(dropped.events),
                dropped.error,
            )
        self._bus.publish(StatusBatchFailed(len(events), error))

    def _publish(self, summary: ApplySummary) -> None:
        if summary.message_ids:
            self._bus.publish(
                StatusesApplied(summary.campaign_ids, summary.message_ids, summary.applied)
            )
        if summary.inbound or summary.opted_out_ids:
            self._bus.publish(
                InboundReceived(summary.inbound, summary.contact_ids, summary.opted_out_ids)
            )
        if summary.contact_ids:
            self._bus.publish(ContactsChanged(summary.contact_ids))
