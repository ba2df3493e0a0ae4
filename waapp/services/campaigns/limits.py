"""Sending limits: the token bucket (messages per second) and the pacing per provider kind.

A campaign's ``pacing`` (a JSON object in the store) overrides the account kind's defaults
key by key; :class:`Pacing` is the resolved profile the engine, the preflight and the
window all read:

- ``rate`` (messages per second) and ``in_flight`` (requests at once): the token bucket;
- ``jitter`` (``[min, max]`` seconds): a random extra wait before each send (gateways);
- ``hourly_cap``: messages per rolling hour for the account (gateways);
- ``warmup`` (bool): a new number's daily cap grows day by day (:data:`WARMUP_STEPS`);
- the daily unique-recipient tier is not a setting: it comes from the provider (Meta's
  ``messaging_limit_tier``), see :func:`daily_limit`.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from waapp.core.catalogue import Dialect
from waapp.core.entities import AccountKind

__all__ = [
    "DAY",
    "HOUR",
    "WARMUP_STEPS",
    "Pacing",
    "SharedPace",
    "TokenBucket",
    "cap_note",
    "daily_limit",
    "default_pace",
    "estimate_seconds",
    "expected_interval",
    "warmup_cap",
    "warmup_day",
]

#: The rolling windows of the hourly cap and of the daily unique-recipient caps.
HOUR = timedelta(hours=1)
DAY = timedelta(hours=24)


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; :meth:`acquire` waits for one.

    Waiters are served one at a time, in arrival order, so a burst of workers cannot
    overtake the rate; a waiter told to give up (``until``) leaves the line at once, even
    behind others (the bucket may be shared by several campaigns of one account:
    :class:`SharedPace`).
    """

    def __init__(
        self, rate: float, *, burst: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(1.0, burst)
        self._clock = clock
        self._tokens = self.burst
        self._at = clock()
        self._line: deque[asyncio.Future[None]] = deque()  # the waiters, first served first

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def retune(self, rate: float, burst: float) -> None:
        """Go on at another pace: what was saved stays (up to the new ``burst``)."""
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._refill()
        self.rate = rate
        self.burst = max(1.0, burst)
        self._tokens = min(self._tokens, self.burst)

    async def acquire(self, until: asyncio.Event | None = None) -> bool:
        """Wait for a token and take it (True). With ``until``: give up without a token
        (False) as soon as that event is set — a slow pace (one every 5 s) must not
        delay a pause, nor must the other waiters in line."""
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._line.append(turn)
        if self._line[0] is turn:
            turn.set_result(None)
        try:
            if not turn.done() and not await self._wait(turn, until, None):
                return False
            while True:
                self._refill()
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return True
                if not await self._wait(None, until, (1.0 - self._tokens) / self.rate):
                    return False
        finally:
            self._line.remove(turn)
            if self._line and not self._line[0].done():
                self._line[0].set_result(None)  # the next in line's turn

    @staticmethod
    async def _wait(
        turn: asyncio.Future[None] | None, until: asyncio.Event | None, timeout: float | None
    ) -> bool:
        """Wait for ``turn`` or ``timeout`` seconds; False as soon as ``until`` is set."""
        if until is None:
            if turn is not None:
                await turn
            else:
                await asyncio.sleep(timeout or 0.0)
            return True
        if until.is_set():
            return False
        stop = asyncio.ensure_future(until.wait())
        waits: set[asyncio.Future[Any]] = {stop}
        if turn is not None:
            waits.add(turn)
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        return not until.is_set()


class SharedPace:
    """The token buckets of the accounts sending now: one per account, shared by its
    campaigns, so that two campaigns of one account together keep the account's pace
    (a gateway allows one request per 5 s per account, not per campaign).

    While several campaigns of an account run, the bucket goes at the slowest of their
    rates (and the smallest burst); when one stops the others' pace applies again; when
    none runs the account's bucket is dropped, and the next campaign starts a fresh one.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._accounts: dict[int, tuple[TokenBucket, dict[int, tuple[float, float]]]] = {}

    def join(self, account_id: int, member: int, rate: float, burst: float) -> TokenBucket:
        """The bucket ``member`` (a campaign) of ``account_id`` takes its tokens from."""
        entry = self._accounts.get(account_id)
        if entry is None:
            bucket = TokenBucket(rate, burst=burst, clock=self.clock)
            self._accounts[account_id] = (bucket, {member: (rate, burst)})
            return bucket
        bucket, members = entry
        members[member] = (rate, burst)
        self._retune(bucket, members)
        return bucket

    def leave(self, account_id: int, member: int) -> None:
        entry = self._accounts.get(account_id)
        if entry is None:
            return
        bucket, members = entry
        members.pop(member, None)
        if members:
            self._retune(bucket, members)
        else:
            del self._accounts[account_id]

    def others(self, account_id: int, member: int) -> int:
        """How many other campaigns of ``account_id`` take tokens now."""
        entry = self._accounts.get(account_id)
        if entry is None:
            return 0
        return len(entry[1]) - (1 if member in entry[1] else 0)

    @staticmethod
    def _retune(bucket: TokenBucket, members: dict[int, tuple[float, float]]) -> None:
        bucket.retune(
            min(rate for rate, _ in members.values()), min(burst for _, burst in members.values())
        )


def default_pace(kind: AccountKind, dialect: Dialect) -> tuple[float, int]:
    """(messages per second, requests in flight) when the campaign names none."""
    pacing = Pacing.for_account(kind, dialect)
    return pacing.rate, pacing.in_flight


_TIER = re.compile(r"^TIER_(\d+)(K?)$", re.IGNORECASE)


def daily_limit(tier: str | None) -> int | None:
    """Meta's messaging-limit tier as new people per 24 h (None: unlimited or unknown)."""
    if not tier:
        return None
    found = _TIER.match(tier.strip())
    if found is None:
        return None
    return int(found.group(1)) * (1000 if found.group(2) else 1)


#: A new gateway number's cap on people messaged per rolling 24 h, by days since its first
#: send through waapp: (from day, cap). From the last step on there is no warm-up cap.
WARMUP_STEPS: tuple[tuple[int, int | None], ...] = (
    (0, 50),
    (2, 100),
    (4, 200),
    (7, 400),
    (14, None),
)


def warmup_cap(days_since_first_send: int | None) -> int | None:
    """The warm-up cap on a day (``None`` days: the number has never sent — day 0)."""
    day = max(0, days_since_first_send or 0)
    cap: int | None = None
    for start, step_cap in WARMUP_STEPS:
        if day >= start:
            cap = step_cap
    return cap


def warmup_day(first_send: datetime | None, now: datetime) -> int:
    """Days since the account's first send through waapp (0 on that day, or when it never
    sent)."""
    if first_send is None:
        return 0
    return max(0, (now - first_send) // DAY)


@dataclass(frozen=True, slots=True)
class Pacing:
    """A campaign's resolved pace (module doc). Build it with :meth:`for_account`."""

    rate: float  # messages per second
    in_flight: int  # requests at once
    jitter: tuple[float, float] = (0.0, 0.0)  # extra random wait before each send, seconds
    hourly_cap: int | None = None  # messages per rolling hour for the account
    warmup: bool = False  # a new number's daily cap grows day by day

    @property
    def gateway_like(self) -> bool:
        return self.jitter != (0.0, 0.0) or self.hourly_cap is not None or self.warmup

    @classmethod
    def defaults(cls, kind: AccountKind, dialect: Dialect) -> Pacing:
        """The pace when a campaign names none.

        Meta Cloud: 80 mps is a number's documented default throughput. Twilio: a WhatsApp
        sender takes 10 messages per second by default. WaSender (a WhatsApp-Web gateway):
        its account protection allows one request per 5 s; on top, a random 2–10 s wait,
        at most 120 messages an hour and a warm-up for a new number, because linked-device
        numbers that send fast and regularly get banned.
        """
        if dialect is Dialect.WASENDER:
            return cls(rate=0.2, in_flight=1, jitter=(2.0, 10.0), hourly_cap=120, warmup=True)
        if dialect is Dialect.TWILIO:
            return cls(rate=10.0, in_flight=10)
        return cls(rate=80.0, in_flight=16)

    @classmethod
    def for_account(
        cls,
        kind: AccountKind,
        dialect: Dialect,
        overrides: Mapping[str, Any] | None = None,
    ) -> Pacing:
        """The defaults of ``kind``/``dialect`` with a campaign's ``pacing`` keys on top
        (absent or ``None``/0 keys keep the default; a malformed value raises ValueError)."""
        base = cls.defaults(kind, dialect)
        o = dict(overrides or {})
        rate = float(o.get("rate") or base.rate)
        in_flight = int(o.get("in_flight") or base.in_flight)
        jitter = base.jitter
        if o.get("jitter") is not None:
            low, high = (float(v) for v in o["jitter"])
            jitter = (low, high)
        hourly_cap = base.hourly_cap
        if "hourly_cap" in o:
            hourly_cap = int(o["hourly_cap"]) if o["hourly_cap"] else None
        warmup = bool(o["warmup"]) if o.get("warmup") is not None else base.warmup
        if rate <= 0 or in_flight <= 0:
            raise ValueError("the rate and the requests in flight must be above 0")
        if jitter[0] < 0 or jitter[1] < jitter[0]:
            raise ValueError("the random wait must be 0 or more, its lowest first")
        if hourly_cap is not None and hourly_cap <= 0:
            raise ValueError("the hourly cap must be above 0")
        return cls(rate, in_flight, jitter, hourly_cap, warmup)

    def daily_cap(self, tier_limit: int | None, day: int) -> int | None:
        """People per rolling 24 h on warm-up ``day``: the smaller of the provider's tier
        (:func:`daily_limit`) and, with ``warmup``, :func:`warmup_cap` (None: no cap)."""
        caps = [tier_limit, warmup_cap(day) if self.warmup else None]
        known = [cap for cap in caps if cap is not None]
        return min(known) if known else None

    def to_json(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "in_flight": self.in_flight,
            "jitter": list(self.jitter),
            "hourly_cap": self.hourly_cap,
            "warmup": self.warmup,
        }

    def describe(self) -> str:
        """The pace in a sentence, e.g. “one every 5 s plus a random 2–10 s wait, at most
        120 an hour, warm-up for a new number”."""
        per = (
            f"{self.rate:g} per second"
            if self.rate >= 1
            else f"one every {1 / self.rate:g} seconds"
        )
        parts = [per]
        low, high = self.jitter
        if high > 0:
            parts.append(f"plus a random {low:g}–{high:g} s wait")
        if self.hourly_cap is not None:
            parts.append(f"at most {self.hourly_cap:,} an hour")
        if self.warmup:
            parts.append("warm-up for a new number")
        return ", ".join(parts)


def expected_interval(pacing: Pacing) -> float:
    """Average seconds between two sends at ``pacing`` (the requests themselves aside).

    Each of the ``in_flight`` workers takes a token, waits its random extra time, then
    sends; the bucket refills meanwhile. So a worker's cycle is at least ``in_flight / rate``
    and at least its random wait: one message every ``E[max(n / rate, U(low, high))] / n``
    seconds, and never faster than the bucket's ``1 / rate``.
    """
    n = pacing.in_flight
    floor = n / pacing.rate
    low, high = pacing.jitter
    if high <= low:
        cycle = max(floor, low)
    elif floor <= low:
        cycle = (low + high) / 2
    elif floor >= high:
        cycle = floor
    else:  # E[max(c, U)] for c inside [low, high]
        cycle = ((floor - low) * floor + (high - floor) * (high + floor) / 2) / (high - low)
    return max(1.0 / pacing.rate, cycle / n)


def estimate_seconds(
    count: int,
    pacing: Pacing,
    *,
    tier_limit: int | None = None,
    day: int = 0,
) -> float:
    """How long ``count`` messages to as many people take at ``pacing``: the pace with its
    random waits, the hourly cap (a full hour's worth, then the wait until the hour
    rolls on) and the daily people cap of the tier and the warm-up from ``day`` on (a
    full day's worth, then the next day). It assumes the account starts with the whole
    hour and day free."""
    interval = expected_interval(pacing)
    hourly = pacing.hourly_cap
    if hourly is not None and hourly * interval >= HOUR.total_seconds():
        hourly = None  # the pace alone never reaches the cap

    def within_day(n: int) -> float:
        if hourly is None or n <= hourly:
            return n * interval
        full_hours = math.ceil(n / hourly) - 1
        return full_hours * HOUR.total_seconds() + (n - full_hours * hourly) * interval

    seconds = 0.0
    remaining = count
    while True:
        cap = pacing.daily_cap(tier_limit, day)
        if cap is None or remaining <= cap:
            return seconds + within_day(remaining)
        if cap <= 0:  # a cap of nothing would never finish: count it as a day each
            cap = 1
        if not pacing.warmup or day >= WARMUP_STEPS[-1][0]:  # the cap stays: skip ahead
            days = math.ceil(remaining / cap) - 1
            return seconds + days * DAY.total_seconds() + within_day(remaining - days * cap)
        remaining -= cap
        seconds += DAY.total_seconds()
        day += 1


def cap_note(kind: str, cap: int, resume_at: datetime, now: datetime) -> str:
    """The timeline note when a cap holds a campaign (once per hold).

    ``kind``: ``hourly`` (messages per rolling hour), ``tier`` (the provider's people per
    24 h), ``campaign`` (the campaign's own people per 24 h) or ``warmup`` (a new number's
    people per 24 h). Times are shown in local time.
    """
    local = resume_at.astimezone()
    when = local.strftime("%H:%M")
    if local.date() != now.astimezone().date():
        when = f"{local.strftime('%d %b').lstrip('0')} at {when}"
    if kind == "hourly":
        what = f"The hourly cap of {cap:,} messages is reached"
    elif kind == "campaign":
        what = f"The campaign's daily limit of {cap:,} people in 24 hours is reached"
    elif kind == "warmup":
        what = (
            f"The warm-up limit of {cap:,} people in 24 hours for a new number is reached "
            "(it grows day by day to protect the number from a ban)"
        )
    else:
        what = (
            f"The number's daily limit of {cap:,} people in 24 hours (its WhatsApp "
            "messaging tier) is reached"
        )
    return f"{what}; sending continues at {when}."
