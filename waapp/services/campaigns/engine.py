"""The sending engine: one runner per campaign in ``sending``, durable state in the database.

A :class:`CampaignRunner` claims due rows (a durable commit, before any request leaves),
hands them to a fixed pool of long-lived worker tasks — as many as the cap on requests in
flight — which wait for the token bucket, send, and classify the answer with the error
catalogue; outcomes are written back in small batches (every ~100 ms or ~200 rows) with
the counters in the same transaction, forward-only.

What each outcome does (``catalogue.ErrorClass``):

- accepted → ``sent`` with the provider's id (our row id travels as ``reference``);
- RETRY_SOON → ``retry_wait`` with exponential back-off and jitter, at least the provider's
  Retry-After; failed after the entry's (or the default) number of attempts;
- RETRY_LATER → ``retry_wait`` at least ``entry.retry_after`` away;
- account-wide retries also hold the whole campaign until that time;
- NEVER → ``failed`` with code, title and detail;
- NEEDS_TEMPLATE → re-routed to the template (due at once) when the campaign has one;
- UNKNOWN_OUTCOME, or ``error.may_have_reached``, or an exception while sending →
  ``unknown``: never resent by the engine;
- PAUSE_CAMPAIGN / FAIL_CAMPAIGN → the message goes back to the queue (its attempt given
  back) and the campaign pauses (fails) itself with the reason on its timeline;
- more than ``failure_threshold`` of the last ``failure_window`` outcomes failing pauses too.

Stopping (a pause by anyone, persisted first; or :meth:`CampaignRunner.stop`): no more
claims; rows claimed but not yet sent go back to ``retry_wait`` due at once, attempt given
back; requests in flight finish and are written. The campaign completes when every row is
final. Rows whose outcome is ``unknown`` are not final: when only they are left, they are
reconciled once more (``reconcile``: Twilio is asked by recipient and time; rows absent
there are sent again, found ones take their state), and whatever is still unknown pauses
the campaign with a timeline entry asking the user to resolve them ("mark as sent" /
"send again"), unless a status receipt reconciles them (Meta echoes our reference).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from waapp.core.catalogue import Dialect, ErrorClass, lookup
from waapp.core.entities import Campaign, Message, Route, Template
from waapp.core.errors import WaappError
from waapp.core.ports import Provider, SendResult
from waapp.core.states import CampaignStatus, MessageState
from waapp.services.campaigns.limits import (
    Pacing,
    SharedPace,
    TokenBucket,
    cap_note,
    daily_limit,
    warmup_day,
)
from waapp.services.campaigns.planning import fits_template, message_text, template_variables
from waapp.services.campaigns.reconcile import SETTLE, Reconciler
from waapp.store.campaigns import CampaignRepository, SendOutcome
from waapp.store.templates import TemplateRepository
from waapp.store.worker import DatabaseWorker

__all__ = ["CampaignEngine", "CampaignRunner", "RunnerSettings"]

log = logging.getLogger(__name__)

_M = MessageState
_C = CampaignStatus


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class RunnerSettings:
    rate: float = 80.0  # messages per second
    in_flight: int = 16  # worker tasks = requests in flight at most
    claim_batch: int = 200
    flush_seconds: float = 0.1
    flush_rows: int = 200
    max_attempts: int = 6  # sends in all for a RETRY_SOON error without its own budget
    backoff_base: float = 2.0  # seconds, first wait when the provider names none
    backoff_cap: float = 300.0
    failure_window: int = 50
    failure_min: int = 20
    failure_threshold: float = 0.5
    idle_poll: float = 1.0  # longest sleep while waiting for retries
    # The pacing profile (limits.Pacing): a random wait before each send, messages per
    # rolling hour for the account, a new number's warm-up.
    jitter: tuple[float, float] = (0.0, 0.0)
    hourly_cap: int | None = None
    warmup: bool = False
    #: People per rolling 24 h on top of the provider's tier and the warm-up (the smallest
    #: applies); None: no cap of its own.
    daily_cap: int | None = None
    #: Ask the provider for its messaging-limit tier (Meta) when the run starts and when
    #: the tier holds the campaign (a tier may have been raised meanwhile).
    check_tier: bool = True
    #: While the caps seem far, claim without recounting them for at most this long (the
    #: account's other campaigns use the same room); near a cap every claim recounts.
    cap_recount: float = 5.0
    hold_poll: float = 10.0  # longest sleep while a cap holds the campaign

    @property
    def burst(self) -> float:
        """Tokens the bucket saves up: a worker each, at most a second's worth."""
        return min(self.in_flight, self.rate)

    @property
    def pacing(self) -> Pacing:
        return Pacing(self.rate, self.in_flight, self.jitter, self.hourly_cap, self.warmup)

    @classmethod
    def for_campaign(
        cls, campaign: Campaign, provider: Provider, **overrides: Any
    ) -> RunnerSettings:
        """The settings of ``campaign`` on ``provider``: the account kind's pace with the
        campaign's ``pacing`` on top (:meth:`Pacing.for_account`), then ``overrides``."""
        pacing = Pacing.for_account(provider.kind, provider.dialect, campaign.pacing)
        values: dict[str, Any] = {
            "rate": pacing.rate,
            "in_flight": pacing.in_flight,
            "jitter": pacing.jitter,
            "hourly_cap": pacing.hourly_cap,
            "warmup": pacing.warmup,
        }
        values.update(overrides)
        return cls(**values)


class CampaignRunner:
    """Works one campaign until it completes, pauses, fails or is stopped (module doc)."""

    def __init__(
        self,
        *,
        campaign: Campaign,
        repo: CampaignRepository,
        worker: DatabaseWorker,
        provider: Provider,
        template: Template | None,
        freeform: Template | None,
        settings: RunnerSettings,
        rng: random.Random | None = None,
        on_change: Callable[[int], None] = lambda _id: None,
        clock: Callable[[], datetime] = _utcnow,
        bucket: TokenBucket | None = None,
        peers: Callable[[], int] = lambda: 0,
    ) -> None:
        """``bucket``: the account's bucket, shared with its other campaigns (the engine's
        :class:`SharedPace`); a bucket of its own when None. ``peers``: how many other
        campaigns of the account are being sent now (while any is, the caps are
        recounted at every claim: their room is shared)."""
        assert campaign.id is not None
        self.campaign_id = campaign.id
        self.account_id = campaign.account_id
        self._clock = clock
        self._repo = repo
        self._worker = worker
        self._provider = provider
        self._template = template
        self._freeform = freeform
        self.settings = settings
        self._rng = rng or random.Random()
        self._on_change = on_change
        self._bucket = bucket or TokenBucket(settings.rate, burst=settings.burst)
        self._peers = peers
        # Claim ahead: rows the bucket releases within ~0.25 s may wait claimed for a
        # worker, so that claims (one fsync each) come in batches of that many rather than
        # one per finished request. None at a slow pace or with random waits (a row claimed
        # there could wait seconds), and never more than the requests in flight: a crash
        # turns claimed rows into "unknown".
        self._ahead = (
            0 if settings.jitter[1] > 0 else min(settings.in_flight, int(settings.rate * 0.25))
        )
        self._queue: asyncio.Queue[Message | None] = asyncio.Queue()
        self._results: list[SendOutcome] = []
        self._outstanding = 0
        self._slot = asyncio.Event()
        self._stopping = False
        self._stopped = asyncio.Event()  # set by stop(): wakes the paced waits
        self._hold_until: datetime | None = None
        self._recent: deque[bool] = deque(maxlen=settings.failure_window)
        # The caps (module doc of limits): the tier's people per 24 h from the provider,
        # the account's first send (warm-up day 0), and lower bounds of the room left.
        self._tier_limit: int | None = None
        self._first_send: datetime | None = None
        self._room_hour: int | None = None
        self._room_day: int | None = None
        self._counted_at: datetime | None = None  # when the caps were last recounted
        self._cap_hold: datetime | None = None  # no claims until then (a cap is reached)
        self._cap_noted: str | None = None  # the cap whose hold is on the timeline
        #: The unexpected error that stopped the runner (raised by :meth:`run` once the
        #: requests in flight are written).
        self.failure: Exception | None = None
        self.sent = 0  # requests made by this runner (for figures)
        self.jitter_waits = 0.0  # seconds of random waits drawn (for figures)

    def stop(self) -> None:
        """Stop claiming; :meth:`run` returns once the requests in flight are written."""
        self._stopping = True
        self._stopped.set()
        self._slot.set()

    # --- the loop ----------------------------------------------------------------------

    async def run(self) -> None:
        if self._capped:
            await self._learn_caps()
        workers = [asyncio.create_task(self._work()) for _ in range(self.settings.in_flight)]
        flusher = asyncio.create_task(self._flush_loop())
        try:
            await self._claim_loop()
        finally:
            self._stopping = True
            for _ in workers:
                self._queue.put_nowait(None)
            await asyncio.gather(*workers, return_exceptions=True)
            flusher.cancel()
            await asyncio.gather(flusher, return_exceptions=True)
            await self._flush()
        if self.failure is not None:
            raise self.failure
        await self._finish_if_done()

    async def _claim_loop(self) -> None:
        s = self.settings
        while not self._stopping:
            now = self._clock()
            if self._hold_until is not None and self._hold_until > now:
                await self._sleep(min((self._hold_until - now).total_seconds(), s.idle_poll))
                continue
            if self._cap_hold is not None:
                left = (self._cap_hold - self._clock()).total_seconds()
                if left > 0:
                    await self._sleep(min(left, s.hold_poll))
                    continue
                self._cap_hold = None
            free = s.in_flight + self._ahead - self._outstanding
            if free <= 0 or (self._outstanding and free < self._ahead):
                self._slot.clear()
                await self._slot.wait()
                continue
            claimed = await self._claim(min(free, s.claim_batch))
            if claimed:
                self._outstanding += len(claimed)
                for message in claimed:
                    self._queue.put_nowait(message)
                self._on_change(self.campaign_id)
                continue
            if self._cap_hold is not None:
                continue
            if self._outstanding:
                self._slot.clear()
                await self._slot.wait()
                continue
            await self._flush()
            campaign = await self._worker.run(self._repo.get, self.campaign_id)
            if campaign.status is not _C.SENDING:
                return  # paused, cancelled or failed in the database
            counts, next_retry = await self._worker.run(self._repo.open_work, self.campaign_id)
            if not any(counts.get(state, 0) for state in ("pending", "retry_wait", "sending")):
                return
            wait = s.idle_poll
            if next_retry is not None:
                wait = min(wait, max(0.01, (next_retry - self._clock()).total_seconds()))
            await self._sleep(wait)

    # --- the caps (hourly, tier, warm-up) ------------------------------------------------

    @property
    def _capped(self) -> bool:
        s = self.settings
        return (
            s.hourly_cap is not None
            or s.warmup
            or s.daily_cap is not None
            or (s.check_tier and self._provider.dialect is Dialect.META)
        )

    async def _learn_caps(self) -> None:
        """The provider's tier (Meta, from a health check now: the tier of the account's
        last check) and the account's first send (warm-up)."""
        s = self.settings
        if s.check_tier and self._provider.dialect is Dialect.META:
            try:
                health = await asyncio.wait_for(self._provider.check_health(), 30)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # keep the tier we knew: the sends will tell
                log.info("campaign %s: no messaging tier (%s)", self.campaign_id, error)
            else:
                if health.ok and "messaging_limit" in health.details:
                    self._tier_limit = daily_limit(health.details.get("messaging_limit"))
        if s.warmup and self._first_send is None:
            self._first_send = await self._worker.run(self._repo.first_send, self.account_id)

    def _daily_cap(self, now: datetime) -> tuple[int | None, str]:
        """People per rolling 24 h now, and which cap it is (``tier``: the provider's,
        ``campaign``: the campaign's own ``daily_cap``, ``warmup``)."""
        s = self.settings
        day = warmup_day(self._first_send, now)
        found: list[tuple[int, str]] = []
        if self._tier_limit is not None:
            found.append((self._tier_limit, "tier"))
        if s.daily_cap is not None:
            found.append((s.daily_cap, "campaign"))
        warm = s.pacing.daily_cap(None, day)
        if warm is not None:
            found.append((warm, "warmup"))
        if not found:
            return None, ""
        return min(found)

    async def _claim(self, limit: int) -> list[Message]:
        """Claim what may be sent now: a plain claim while the caps are far (their room
        known from the last recount, less what was claimed since) and no other campaign of
        the account is being sent (it takes from the same room), else a claim that
        recounts them; a cap reached holds claiming until it frees, with one timeline
        note per hold."""
        if not self._capped:
            return await self._worker.run(self._repo.claim, self.campaign_id, limit=limit)
        s = self.settings
        now = self._clock()
        if (
            self._counted_at is not None
            and (now - self._counted_at).total_seconds() < s.cap_recount
            and (self._room_hour is None or self._room_hour >= limit)
            and (self._room_day is None or self._room_day >= limit)
            and not self._peers()
        ):
            claimed = await self._worker.run(self._repo.claim, self.campaign_id, limit=limit)
            if self._room_hour is not None:
                self._room_hour -= len(claimed)
            if self._room_day is not None:
                self._room_day -= len(claimed)
            return claimed
        if s.warmup and self._first_send is None:
            self._first_send = await self._worker.run(self._repo.first_send, self.account_id)
        daily, daily_kind = self._daily_cap(now)
        if daily is None and s.hourly_cap is None:  # no tier known, no cap of its own
            return await self._worker.run(self._repo.claim, self.campaign_id, limit=limit)
        result = await self._worker.run(
            functools.partial(
                self._repo.claim_capped,
                self.campaign_id,
                limit=limit,
                account_id=self.account_id,
                hourly_cap=s.hourly_cap,
                daily_cap=daily,
                now=now,
            )
        )
        claimed = result.messages
        self._counted_at = now
        self._room_hour = (
            None if s.hourly_cap is None else s.hourly_cap - result.hourly_used - len(claimed)
        )
        self._room_day = None if daily is None else daily - result.daily_used - result.new_people
        if result.held_by is None:
            if (self._room_hour is None or self._room_hour > 0) and (
                self._room_day is None or self._room_day > 0
            ):
                self._cap_noted = None  # room again: the next hold is a new one
            return claimed
        if result.held_by == "hourly":
            kind, cap = "hourly", s.hourly_cap
        else:
            kind, cap = daily_kind, daily
        assert cap is not None
        self._counted_at = None  # recount when the hold ends
        if result.frees_at is None:
            # Requests in flight hold the room: look again once their results are in.
            self._cap_hold = now + timedelta(seconds=min(s.hold_poll, 4 * s.flush_seconds))
            return claimed
        resume = result.frees_at
        self._cap_hold = max(resume, now + timedelta(seconds=0.01))
        if kind == self._cap_noted:
            return claimed  # the same hold goes on: its note is on the timeline
        if kind == "tier" and s.check_tier and self._provider.dialect is Dialect.META:
            before = self._tier_limit
            await self._learn_caps()  # once per hold: a raised tier ends it at once
            if self._tier_limit != before:
                self._cap_hold = None
                return claimed
        self._cap_noted = kind
        await self._worker.run(
            functools.partial(
                self._repo.note,
                self.campaign_id,
                cause="engine",
                detail=cap_note(kind, cap, resume, now),
            )
        )
        self._on_change(self.campaign_id)
        return claimed

    async def _sleep(self, seconds: float) -> None:
        """Sleep, woken early by :meth:`stop`."""
        self._slot.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._slot.wait(), timeout=max(0.0, seconds))

    async def _jitter_wait(self, seconds: float) -> None:
        """The random wait before a send (gateways), cut short by :meth:`stop`."""
        self.jitter_waits += seconds
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), timeout=seconds)

    def _crashed(self, error: Exception) -> None:
        """An unexpected error (a bug, the database failing): stop, and let :meth:`run`
        raise it once the requests in flight are written."""
        log.error("campaign %s: the runner stops on an error", self.campaign_id, exc_info=error)
        if self.failure is None:
            self.failure = error
        self.stop()

    async def _work(self) -> None:
        try:
            await self._work_loop()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._crashed(error)

    async def _work_loop(self) -> None:
        jitter = self.settings.jitter
        while True:
            message = await self._queue.get()
            if message is None:
                return
            if not self._stopping:
                paced = await self._bucket.acquire(self._stopped)
                if paced and jitter[1] > 0:
                    await self._jitter_wait(self._rng.uniform(*jitter))
            if self._stopping:
                outcome = self._release(message)
            else:
                try:
                    outcome = await self._send(message)
                except asyncio.CancelledError:
                    raise
                except Exception as error:  # past the request: its outcome is unknown
                    self._crashed(error)
                    assert message.id is not None
                    outcome = SendOutcome(
                        message.id,
                        _M.UNKNOWN,
                        error_code="exception",
                        error_title="Outcome unknown",
                        error_detail=f"waapp hit an internal error while sending "
                        f"({type(error).__name__}: {error})",
                    )
            self._results.append(outcome)
            self._outstanding -= 1
            self._slot.set()
            if len(self._results) >= self.settings.flush_rows:
                await self._flush()

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.flush_seconds)
            await self._flush()

    async def _flush(self) -> None:
        if not self._results:
            return
        batch, self._results = self._results, []
        # Shielded: when run() cancels the flusher while this batch waits for the database
        # thread, the batch must still be written (the thread runs jobs in order, so the
        # final flush and the finish check come after it).
        await asyncio.shield(self._worker.run(self._repo.record_results, batch))
        self._on_change(self.campaign_id)

    #: Set by the engine: reconciles the unknown rows before the runner pauses on them.
    reconciler: Reconciler | None = None

    async def _finish_if_done(self) -> None:
        counts, _ = await self._worker.run(self._repo.open_work, self.campaign_id)
        if any(counts.get(state, 0) for state in ("pending", "retry_wait", "sending")):
            return
        unknown = counts.get(_M.UNKNOWN.value, 0)
        if unknown and self._stopped.is_set():
            # Stopped (the window quit, waapp run ended, a pause): the campaign stays as it
            # is; the next start reconciles these rows before anything else.
            return
        if unknown and self.reconciler is not None:
            # Once more before pausing: rows absent at the provider go back to the queue
            # (the engine then runs the campaign again), found ones take their state.
            await self.reconciler.run(self.campaign_id, wait=True)
            counts, _ = await self._worker.run(self._repo.open_work, self.campaign_id)
            if any(counts.get(state, 0) for state in ("pending", "retry_wait", "sending")):
                return
            unknown = counts.get(_M.UNKNOWN.value, 0)
        if unknown:
            change = await self._worker.run(
                self._repo.set_status,
                self.campaign_id,
                _C.PAUSED,
                cause="engine",
                detail=(
                    f"{unknown} recipient(s) have an unknown outcome: the request may or may "
                    "not have reached the provider. Resolve them (mark as sent, or send "
                    "again) to complete the campaign; they are never resent on their own."
                ),
                only_from={_C.SENDING},
            )
        else:
            change = await self._worker.run(
                self._repo.set_status,
                self.campaign_id,
                _C.COMPLETED,
                cause="engine",
                detail="every recipient reached a final state",
                only_from={_C.SENDING, _C.PAUSED},
            )
        if change is not None:
            self._on_change(self.campaign_id)

    # --- one message -------------------------------------------------------------------

    def _release(self, message: Message) -> SendOutcome:
        assert message.id is not None
        return SendOutcome(
            message.id, _M.RETRY_WAIT, next_attempt_at=self._clock(), refund_attempt=True
        )

    async def _request(self, message: Message) -> SendResult:
        assert message.id is not None
        reference = str(message.id)
        if message.route is Route.TEMPLATE:
            assert self._template is not None
            variables = template_variables(self._template, message.variables)
            return await self._provider.send_template(
                message.phone_e164, self._template, variables, reference=reference
            )
        text = message_text(
            Route.FREEFORM, message.variables, template=self._template, freeform=self._freeform
        )
        return await self._provider.send_text(message.phone_e164, text, reference=reference)

    async def _send(self, message: Message) -> SendOutcome:
        assert message.id is not None
        self.sent += 1
        try:
            result = await self._request(message)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a provider bug: the request may have left
            log.exception("send of message %s raised", message.id)
            return SendOutcome(
                message.id,
                _M.UNKNOWN,
                error_code="exception",
                error_title="Outcome unknown",
                error_detail=f"the send raised {type(error).__name__}: {error}",
            )
        if result.accepted:
            self._recent.append(False)
            return SendOutcome(message.id, _M.SENT, provider_message_id=result.provider_message_id)
        return await self._classify(message, result)

    async def _classify(self, message: Message, result: SendResult) -> SendOutcome:
        assert message.id is not None
        error = result.error
        if error is None:  # no id and no error: an answer we cannot trust either way
            return SendOutcome(
                message.id,
                _M.UNKNOWN,
                error_code="bad_response",
                error_title="Outcome unknown",
                error_detail="the provider answered without a message id",
            )
        entry = lookup(self._provider.dialect, error.code)
        detail = error.detail or entry.meaning
        now = self._clock()

        def failed(why: str = "") -> SendOutcome:
            assert message.id is not None
            self._recent.append(True)
            return SendOutcome(
                message.id,
                _M.FAILED,
                error_code=error.code,
                error_title=entry.title,
                error_detail=f"{detail}{why}",
            )

        if error.may_have_reached or entry.error_class is ErrorClass.UNKNOWN_OUTCOME:
            return SendOutcome(
                message.id,
                _M.UNKNOWN,
                error_code=error.code,
                error_title=entry.title,
                error_detail=detail,
            )
        cls = entry.error_class
        if cls in (ErrorClass.PAUSE_CAMPAIGN, ErrorClass.FAIL_CAMPAIGN):
            target = _C.PAUSED if cls is ErrorClass.PAUSE_CAMPAIGN else _C.FAILED
            await self._stop_campaign(
                target, f"{entry.title} ({error.code}): {entry.meaning} {entry.what_to_do}"
            )
            return SendOutcome(
                message.id,
                _M.RETRY_WAIT,
                next_attempt_at=now,
                error_code=error.code,
                error_title=entry.title,
                error_detail=detail,
                refund_attempt=True,
            )
        if cls is ErrorClass.NEVER:
            outcome = failed()
        elif cls is ErrorClass.NEEDS_TEMPLATE:
            if (
                message.route is Route.FREEFORM
                and self._template is not None
                and fits_template(self._template, message.variables)
            ):
                self._recent.append(False)
                return SendOutcome(
                    message.id,
                    _M.RETRY_WAIT,
                    next_attempt_at=now,
                    error_code=error.code,
                    error_title=entry.title,
                    error_detail=f"{detail} Re-routed to the template.",
                    route=Route.TEMPLATE,
                    refund_attempt=True,
                )
            outcome = failed(" The campaign has no approved template to send instead.")
        else:
            budget = entry.max_attempts or self.settings.max_attempts
            if cls is ErrorClass.RETRY_SOON and message.attempts >= budget:
                outcome = failed(f" Gave up after {message.attempts} attempts.")
            else:
                self._recent.append(True)
                outcome = SendOutcome(
                    message.id,
                    _M.RETRY_WAIT,
                    next_attempt_at=now + self._wait(message, entry, error.retry_after_seconds),
                    error_code=error.code,
                    error_title=entry.title,
                    error_detail=detail,
                )
                if entry.account_wide and outcome.next_attempt_at is not None:
                    hold = outcome.next_attempt_at
                    if self._hold_until is None or hold > self._hold_until:
                        self._hold_until = hold
        await self._check_failure_rate()
        return outcome

    def _wait(self, message: Message, entry: Any, retry_after: float | None) -> timedelta:
        s = self.settings
        if entry.error_class is ErrorClass.RETRY_LATER:
            seconds = entry.retry_after.total_seconds()
        else:
            base = entry.retry_after.total_seconds() if entry.retry_after else s.backoff_base
            seconds = min(base * 2 ** max(0, message.attempts - 1), s.backoff_cap)
            seconds *= self._rng.uniform(0.5, 1.5)
        if retry_after is not None:
            seconds = max(seconds, retry_after)
        return timedelta(seconds=seconds)

    async def _check_failure_rate(self) -> None:
        s = self.settings
        if len(self._recent) < s.failure_min:
            return
        failures = sum(self._recent)
        if failures / len(self._recent) > s.failure_threshold:
            self._recent.clear()
            await self._stop_campaign(
                _C.PAUSED,
                f"{failures} of the last {s.failure_window if failures else 0} messages "
                "failed: the campaign paused itself. Look at the failures, fix the cause, "
                "then resume.",
            )

    async def _stop_campaign(self, target: CampaignStatus, detail: str) -> None:
        if self._stopping:
            return
        self.stop()
        await self._worker.run(
            self._repo.set_status,
            self.campaign_id,
            target,
            cause="engine",
            detail=detail,
            only_from={_C.SENDING},
        )
        self._on_change(self.campaign_id)


ProviderFor = Callable[[int], Awaitable[Provider]]


def _recovery_note(count: int) -> str:
    return (
        f"{count} recipient(s) were being sent when waapp stopped; their outcome is unknown "
        "until waapp finds them at the provider (where it can look them up), the provider's "
        "status report arrives, or you resolve them. They are never resent blindly."
    )


@dataclass(frozen=True, slots=True)
class _Tools:
    """What the engine loads to send (or reconcile) one campaign."""

    provider: Provider
    template: Template | None
    freeform: Template | None
    reconciler: Reconciler


class CampaignEngine:
    """Runs a :class:`CampaignRunner` per campaign in ``sending``; explicit start/stop.

    :meth:`start` does the start-up recovery (rows left ``sending`` → ``unknown``, noted
    on each campaign's timeline) before anything is claimed, then resumes every campaign
    that is ``sending`` in the database.

    Unknown rows are reconciled (``reconcile.Reconciler``, where the provider can list what
    it sent) when a run starts — before anything is claimed — and once more before a
    runner would pause on them; when that queued rows again, the campaign runs again.
    A recovered campaign that is not sending (paused, failed) is reconciled at start.
    """

    def __init__(
        self,
        *,
        repo: CampaignRepository,
        templates: TemplateRepository,
        worker: DatabaseWorker,
        provider_for: ProviderFor,
        settings_overrides: dict[str, Any] | None = None,
        on_change: Callable[[int], None] = lambda _id: None,
    ) -> None:
        self._repo = repo
        self._templates = templates
        self._worker = worker
        self._provider_for = provider_for
        self._overrides = settings_overrides or {}
        self._on_change = on_change
        self._runners: dict[int, tuple[CampaignRunner | None, asyncio.Task[None]]] = {}
        self._stop_requested: set[int] = set()
        self.started = False
        #: How long after a row became unknown "not at the provider" is believed.
        self.reconcile_settle: timedelta = SETTLE
        self._reconcilers: dict[int, Reconciler] = {}
        #: The accounts' token buckets, one per account sending now (limits.SharedPace);
        #: its ``clock`` may be replaced before the first campaign runs.
        self.pace = SharedPace()
        #: How often :meth:`start`'s loop looks for campaigns another process started (0: never).
        self.adopt_interval = 3.0
        self._background: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        if self.started:
            return
        self.started = True
        moved = await self._worker.run(self._repo.recover_sending, _recovery_note)
        sending = await self._worker.run(self._repo.campaigns_in, _C.SENDING)
        for campaign_id in moved:
            if campaign_id not in sending:  # paused or failed meanwhile: not run, but checked
                task = asyncio.create_task(
                    self._reconcile_idle(campaign_id), name=f"reconcile-{campaign_id}"
                )
                self._background.add(task)
                task.add_done_callback(self._background.discard)
        for campaign_id in sending:
            self.run(campaign_id)
        if self.adopt_interval > 0:
            task = asyncio.create_task(self._adopt_loop(), name="adopt-campaigns")
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _adopt_loop(self) -> None:
        """Work the campaigns another process put in ``sending`` meanwhile
        (``waapp campaign send`` or ``resume`` without ``--wait`` while the window or
        ``waapp run`` sends: only one process sends from a data folder)."""
        while True:
            await asyncio.sleep(self.adopt_interval)
            try:
                for campaign_id in await self._worker.run(self._repo.campaigns_in, _C.SENDING):
                    if not self.running(campaign_id):
                        self.run(campaign_id)
                        self._on_change(campaign_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("looking for campaigns to send failed")

    async def _reconcile_idle(self, campaign_id: int) -> None:
        """Reconcile a campaign that is not running (a paused or failed one); a cancelled
        or finished campaign is left as it is."""
        try:
            campaign = await self._worker.run(self._repo.get, campaign_id)
            if campaign.status not in (_C.PAUSED, _C.FAILED):
                return
            reconciler = await self._reconciler(campaign)
            if reconciler is not None and reconciler.supported:
                await reconciler.run(campaign_id)
                self._on_change(campaign_id)
        except WaappError as error:
            log.warning("campaign %s: not reconciled: %s", campaign_id, error.message)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("campaign %s: reconciliation failed", campaign_id)

    async def _reconciler(self, campaign: Campaign) -> Reconciler | None:
        """A reconciler for ``campaign`` (None when the provider cannot look messages up);
        raises WaappError when its account or templates cannot be loaded."""
        reconciler = (await self._tools(campaign)).reconciler
        return reconciler if reconciler.supported else None

    async def _tools(self, campaign: Campaign) -> _Tools:
        """What sending ``campaign`` needs: its account's provider, its templates and a
        reconciler over them; raises WaappError when they cannot be loaded."""
        provider = await self._provider_for(campaign.account_id)
        template = (
            await self._worker.run(self._templates.get, campaign.template_id)
            if campaign.template_id is not None
            else None
        )
        freeform = (
            await self._worker.run(self._templates.get, campaign.freeform_template_id)
            if campaign.freeform_template_id is not None
            else None
        )
        reconciler = Reconciler(
            repo=self._repo,
            worker=self._worker,
            provider=provider,
            template=template,
            freeform=freeform,
            settle=self.reconcile_settle,
        )
        return _Tools(provider, template, freeform, reconciler)

    def running(self, campaign_id: int) -> bool:
        entry = self._runners.get(campaign_id)
        return entry is not None and not entry[1].done()

    def run(self, campaign_id: int) -> asyncio.Task[None]:
        """Work ``campaign_id`` (it must be ``sending`` in the database) unless already."""
        entry = self._runners.get(campaign_id)
        if entry is not None and not entry[1].done():
            return entry[1]
        self._stop_requested.discard(campaign_id)
        task = asyncio.create_task(self._run(campaign_id), name=f"campaign-{campaign_id}")
        self._runners[campaign_id] = (None, task)
        return task

    async def _run(self, campaign_id: int) -> None:
        try:
            await self._work(campaign_id)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            # A bug or a failing database: pause rather than be started again and again
            # by the adoption loop; the user resumes once the cause is gone.
            log.exception("campaign %s: the runner stopped on an error", campaign_id)
            why = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            try:
                change = await self._worker.run(
                    self._repo.set_status,
                    campaign_id,
                    _C.PAUSED,
                    cause="engine",
                    detail=(
                        f"waapp hit an internal error while sending ({why}); the campaign "
                        "is paused — resume it to try again; the log has the details"
                    ),
                    only_from={_C.SENDING},
                )
            except Exception:
                log.exception("campaign %s: could not be paused after the error", campaign_id)
            else:
                if change is not None:
                    self._on_change(campaign_id)

    async def _work(self, campaign_id: int) -> None:
        campaign = await self._worker.run(self._repo.get, campaign_id)
        try:
            tools = await self._tools(campaign)
        except WaappError as error:
            await self._worker.run(
                self._repo.set_status,
                campaign_id,
                _C.PAUSED,
                cause="engine",
                detail=f"cannot send: {error.message} {error.what_to_do}",
                only_from={_C.SENDING},
            )
            self._on_change(campaign_id)
            return
        provider, reconciler = tools.provider, tools.reconciler
        self._reconcilers[campaign_id] = reconciler
        if campaign_id in self._stop_requested:
            reconciler.halt()
        while True:
            # Unknown rows first: found ones take their state, absent ones are queued.
            await reconciler.run(campaign_id)
            requeued = reconciler.requeued_total
            settings = RunnerSettings.for_campaign(campaign, provider, **self._overrides)
            account_id = campaign.account_id
            bucket = self.pace.join(account_id, campaign_id, settings.rate, settings.burst)
            try:
                runner = CampaignRunner(
                    campaign=campaign,
                    repo=self._repo,
                    worker=self._worker,
                    provider=provider,
                    template=tools.template,
                    freeform=tools.freeform,
                    settings=settings,
                    on_change=self._on_change,
                    bucket=bucket,
                    peers=functools.partial(self.pace.others, account_id, campaign_id),
                )
                runner.reconciler = reconciler
                task = self._runners[campaign_id][1]
                self._runners[campaign_id] = (runner, task)
                if campaign_id in self._stop_requested:
                    runner.stop()
                await runner.run()
            finally:
                self.pace.leave(account_id, campaign_id)
            # The check before pausing queued rows again: send them.
            if campaign_id in self._stop_requested or reconciler.requeued_total == requeued:
                break
            campaign = await self._worker.run(self._repo.get, campaign_id)
            if campaign.status is not _C.SENDING:
                break

    async def stop_campaign(self, campaign_id: int) -> None:
        """Stop claiming for ``campaign_id`` and wait until its requests in flight are written."""
        entry = self._runners.get(campaign_id)
        if entry is None:
            return
        runner, task = entry
        self._stop_requested.add(campaign_id)
        reconciler = self._reconcilers.get(campaign_id)
        if reconciler is not None:
            reconciler.halt()
        if runner is not None:
            runner.stop()
        await asyncio.gather(task, return_exceptions=True)

    async def wait(self, campaign_id: int) -> None:
        entry = self._runners.get(campaign_id)
        if entry is not None:
            await asyncio.gather(entry[1], return_exceptions=True)

    async def stop(self) -> None:
        """Stop every runner cleanly; campaigns stay ``sending`` and resume at next start."""
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await asyncio.gather(*(self.stop_campaign(cid) for cid in list(self._runners)))
        self.started = False
