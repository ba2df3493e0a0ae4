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
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from waapp.core.catalogue import Dialect
from waapp.core.entities import AccountKind

__all__ = [
    "WARMUP_STEPS",
    "Pacing",
    "TokenBucket",
    "daily_limit",
    "default_pace",
    "warmup_cap",
]


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; :meth:`acquire` waits for one.

    Waiters are served one at a time, in arrival order (a lock), so a burst of workers
    cannot overtake the rate.
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
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                self._refill()
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                await asyncio.sleep((1.0 - self._tokens) / self.rate)


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
