"""Reconciliation of recipients whose outcome is ``unknown`` (architecture.md "The engine",
step 6; reliability.md §1).

A row is ``unknown`` when its request may or may not have reached the provider: waapp
stopped between the claim and the result (start-up recovery), or the request timed out or
was cut after it was written. Such a row is never resent blindly. Where the provider can
list what the account sent (:class:`~waapp.core.ports.SentLookup`: Twilio), the
:class:`Reconciler` looks each one up by recipient and time:

- the list is asked for the messages from the account's sender to the recipient created
  at or after the row's claim (``sending_at``, less :data:`SKEW` for the two clocks);
- a listed message whose id another row of the store holds (``provider_message_id``:
  another campaign's message, or another row's) is *not ours*;
- of the others, a message is *ours* when its text is the text this row sends (the
  free-form message or the template filled with the row's frozen variables,
  :func:`~waapp.services.campaigns.planning.message_text`); any other is "maybe ours" —
  its text may differ from our rendering only in how the provider stores it (a header or
  footer, a template edited there, escaping), so it is never taken as proof that the row
  did not reach the provider;
- exactly one message that is ours, and nothing else that may be → the row takes it: its
  provider id, and the state the provider reports (sent, delivered, read, or failed with
  its code);
- nothing that is or may be ours → the message never reached the provider (Twilio creates it
  while answering the request) and the row goes back to the queue, due at once, its
  attempt kept — but only when the lookup was made at least :data:`SETTLE` after the row
  became unknown: a request cut off by a crash can still be arriving at the provider just
  after it. A lookup made sooner leaves the row unknown until the next one (the engine
  waits for it before it would pause the campaign);
- more than one message that may be ours, or a lookup that fails → the row stays
  ``unknown`` for the user ("mark as sent" / "send again" in the campaign view).

Meta has no such list: our row id travels in ``biz_opaque_callback_data`` and its status
webhook reconciles the row (``waapp.store.statuses``). WaSender has neither; its unknown
rows wait for the user.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from waapp.core.entities import AccountKind, Template
from waapp.core.errors import WaappError
from waapp.core.ports import Provider, ProviderRequestError, SentLookup, SentMessage
from waapp.core.states import MessageState
from waapp.services.campaigns.planning import message_text
from waapp.store.campaigns import CampaignRepository, Reconciled, UnknownRow
from waapp.store.worker import DatabaseWorker

__all__ = ["SETTLE", "SKEW", "ReconcileReport", "Reconciler"]

log = logging.getLogger(__name__)

_M = MessageState

#: How long after a row became unknown "not at the provider" can be believed: longer than
#: a request cut off by a crash or a timeout can still take to be created there.
SETTLE = timedelta(seconds=15)
#: How far the provider's clock may be behind ours: a message created this long before the
#: claim may still be the claim's.
SKEW = timedelta(minutes=2)
#: Lookups made at once.
LOOKUPS_AT_ONCE = 4

_FOUND_STATE = {"sent": _M.SENT, "delivered": _M.DELIVERED, "read": _M.READ, "failed": _M.FAILED}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _words(text: str) -> str:
    return " ".join(text.split())


def _provider_name(provider: Provider) -> str:
    return "Twilio" if provider.kind is AccountKind.TWILIO else "the provider"


def _people(n: int) -> str:
    return f"{n} recipient{'' if n == 1 else 's'}"


@dataclass
class ReconcileReport:
    """What one :meth:`Reconciler.run` did with a campaign's unknown rows."""

    unknown: int = 0  # unknown rows when it started
    found: Counter[str] = field(default_factory=Counter)  # state → rows found at the provider
    requeued: int = 0  # never reached the provider: queued to be sent
    too_soon: int = 0  # not found, but looked up too soon to be sure: checked again later
    ambiguous: int = 0  # more than one message may be theirs: left for the user
    failed_lookups: int = 0  # the provider could not say: left unknown
    lookup_error: str = ""  # the first failure, in the provider's words
    #: Rows a decision was made for that had moved on meanwhile (a receipt): not touched.
    overtaken: int = 0

    @property
    def found_total(self) -> int:
        return sum(self.found.values())

    @property
    def undecided(self) -> int:
        return self.too_soon + self.ambiguous + self.failed_lookups

    def note(self, provider: str, *, final: bool) -> str:
        """The timeline's sentence, or "" when there is nothing worth saying. ``final``:
        the rows left unknown now wait for the user."""
        parts = []
        found = self.found_total
        if found:
            states = ", ".join(
                f"{count} {state}" for state, count in sorted(self.found.items()) if count
            )
            how = (
                "marked sent"
                if set(self.found) == {"sent"}
                else f"marked as {provider} reports them ({states})"
            )
            parts.append(
                f"{_people(found)} whose outcome was unknown "
                f"{'was' if found == 1 else 'were'} found at {provider} and {how}"
            )
        if self.requeued:
            parts.append(
                f"{self.requeued} had not reached {provider} and "
                f"{'is' if self.requeued == 1 else 'are'} sent now"
                if parts
                else f"{_people(self.requeued)} whose outcome was unknown had not reached "
                f"{provider} and {'is' if self.requeued == 1 else 'are'} sent now"
            )
        if self.ambiguous and (parts or final):
            parts.append(
                f"{self.ambiguous} could not be told apart from other messages sent to the "
                "same person at about the same time"
            )
        if self.failed_lookups and (parts or final):
            why = f" ({self.lookup_error})" if self.lookup_error else ""
            parts.append(f"{self.failed_lookups} could not be checked at {provider}{why}")
        if self.too_soon:
            again = f"{'is' if self.too_soon == 1 else 'are'} checked again in a few seconds"
            parts.append(
                f"{self.too_soon} {again}"
                if parts
                else f"{_people(self.too_soon)} whose outcome is unknown "
                f"{'was' if self.too_soon == 1 else 'were'} not found at {provider} yet: "
                f"a request cut off can still be arriving there, so "
                f"{'it' if self.too_soon == 1 else 'they'} {again}"
            )
        if not parts:
            return ""
        text = "; ".join(parts) + "."
        if final and (self.ambiguous or self.failed_lookups):
            text += (
                " Those stay unknown: resolve them in the campaign (mark as sent, or send again)."
            )
        return text[0].upper() + text[1:]


@dataclass(frozen=True, slots=True)
class _Verdict:
    row: UnknownRow
    kind: str  # "found", "absent", "too_soon", "ambiguous", "failed"
    message: SentMessage | None = None
    error: str = ""


class Reconciler:
    """Reconciles one campaign's unknown rows through its provider (module doc).

    One at a time per instance (a lock): the engine shares one between the start of a run
    and the check before it would pause.
    """

    def __init__(
        self,
        *,
        repo: CampaignRepository,
        worker: DatabaseWorker,
        provider: Provider,
        template: Template | None,
        freeform: Template | None,
        settle: timedelta = SETTLE,
        skew: timedelta = SKEW,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._repo = repo
        self._worker = worker
        self._provider = provider
        self._template = template
        self._freeform = freeform
        self.settle = settle
        self._skew = skew
        self._clock = clock
        self._lock = asyncio.Lock()
        self._halted = asyncio.Event()
        #: Rows queued again by this instance so far (the engine runs the campaign again
        #: when the check before pausing queued some).
        self.requeued_total = 0

    @property
    def supported(self) -> bool:
        return isinstance(self._provider, SentLookup)

    def halt(self) -> None:
        """The campaign is being stopped: no more waiting, no more lookups."""
        self._halted.set()

    async def run(self, campaign_id: int, *, wait: bool = False) -> ReconcileReport:
        """Look up every unknown row of the campaign and write what was learnt, with a
        timeline note. ``wait``: first wait (at most :attr:`settle`) until no row is too
        recent to be declared absent. ``wait`` also makes the note say that the rows
        still unknown are left to the user."""
        async with self._lock:
            if self._halted.is_set():
                return ReconcileReport()
            rows = await self._worker.run(self._repo.unknown_rows, campaign_id)
            report = ReconcileReport(unknown=len(rows))
            if not rows or not self.supported:
                return report
            if wait:
                ready = max(row.updated_at for row in rows) + self.settle
                delay = (ready - self._clock()).total_seconds()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(
                            self._halted.wait(), min(delay, self.settle.total_seconds())
                        )
                if self._halted.is_set():
                    return report
            gate = asyncio.Semaphore(LOOKUPS_AT_ONCE)

            async def check(row: UnknownRow) -> _Verdict:
                async with gate:
                    return await self._check(row)

            verdicts = await asyncio.gather(*(check(row) for row in rows))
            decisions: list[Reconciled] = []
            for verdict in verdicts:
                decision = self._decide(verdict, report)
                if decision is not None:
                    decisions.append(decision)
            moved = (
                await self._worker.run(self._repo.reconcile_unknown, campaign_id, decisions)
                if decisions
                else {}
            )
            # What was written, not what was meant (a receipt may have overtaken a row).
            report.found = Counter(
                {state: count for state, count in moved.items() if state != _M.RETRY_WAIT.value}
            )
            written_requeued = moved.get(_M.RETRY_WAIT.value, 0)
            report.overtaken = len(decisions) - sum(moved.values())
            report.requeued = written_requeued
            self.requeued_total += written_requeued
            text = report.note(_provider_name(self._provider), final=wait)
            if text:
                await self._worker.run(self._repo.note, campaign_id, cause="reconcile", detail=text)
            log.info(
                "campaign %s: %s unknown, %s found, %s requeued, %s undecided",
                campaign_id,
                report.unknown,
                report.found_total,
                report.requeued,
                report.undecided,
            )
            return report

    def _expected_text(self, row: UnknownRow) -> str | None:
        """The text this row sends, as the provider would show it; None when it cannot be
        known here."""
        try:
            text = message_text(
                row.route, row.variables, template=self._template, freeform=self._freeform
            )
        except (WaappError, KeyError):
            return None
        return _words(text)

    async def _check(self, row: UnknownRow) -> _Verdict:
        assert isinstance(self._provider, SentLookup)
        since = (row.sending_at or row.updated_at) - self._skew
        asked_at = self._clock()
        try:
            listed = await self._provider.find_sent(row.phone_e164, since=since)
        except ProviderRequestError as error:
            return _Verdict(row, "failed", error=error.message)
        except Exception as error:  # a provider bug must not stop the engine
            log.exception("looking up message %s failed", row.id)
            return _Verdict(row, "failed", error=f"{type(error).__name__}: {error}")
        listed = [
            message
            for message in listed
            if message.created_at is None or message.created_at >= since.replace(microsecond=0)
        ]
        try:  # the messages other rows hold: not this row's, whatever their text
            others = (
                await self._worker.run(
                    self._repo.provider_ids_of_others,
                    row.id,
                    [message.provider_message_id for message in listed],
                )
                if listed
                else set()
            )
        except Exception as error:  # the store could not say: nothing can be decided
            log.exception("looking up the provider ids of message %s failed", row.id)
            return _Verdict(row, "failed", error=f"{type(error).__name__}: {error}")
        expected = self._expected_text(row)
        ours: list[SentMessage] = []
        maybe: list[SentMessage] = []
        for message in listed:
            if message.provider_message_id in others:
                continue
            if (
                message.body is not None
                and expected is not None
                and _words(message.body) == expected
            ):
                ours.append(message)
                continue
            # No text to compare, or another text with an id nobody holds: it may be
            # this row's message as the provider stores it.
            maybe.append(message)
        if len(ours) == 1 and not maybe:
            return _Verdict(row, "found", message=ours[0])
        if ours or maybe:
            return _Verdict(row, "ambiguous")
        if asked_at < row.updated_at + self.settle:
            return _Verdict(row, "too_soon")
        return _Verdict(row, "absent")

    def _decide(self, verdict: _Verdict, report: ReconcileReport) -> Reconciled | None:
        row = verdict.row
        if verdict.kind == "found":
            message = verdict.message
            assert message is not None
            state = _FOUND_STATE[message.status.value] if message.status else _M.SENT
            error = message.error if state is _M.FAILED else None
            return Reconciled(
                message_id=row.id,
                attempts=row.attempts,
                sending_at=row.sending_at,
                state=state,
                provider_message_id=message.provider_message_id,
                at=message.created_at,
                error_code=error.code if error else None,
                error_title=error.title if error else None,
                error_detail=(
                    (error.detail or error.title)
                    if error
                    else f"found at {_provider_name(self._provider)} after the outcome was unknown"
                ),
            )
        if verdict.kind == "absent":
            name = _provider_name(self._provider)
            return Reconciled(
                message_id=row.id,
                attempts=row.attempts,
                sending_at=row.sending_at,
                state=_M.RETRY_WAIT,
                error_title="Sent again",
                error_detail=f"{name} had no record of this message: it never arrived "
                "there, so it is sent again.",
            )
        if verdict.kind == "too_soon":
            report.too_soon += 1
        elif verdict.kind == "ambiguous":
            report.ambiguous += 1
        else:
            report.failed_lookups += 1
            if not report.lookup_error:
                report.lookup_error = verdict.error
        return None
