"""Sending limits: the token bucket (messages per second) and the default pace per provider."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from waapp.core.catalogue import Dialect
from waapp.core.entities import AccountKind

__all__ = ["TokenBucket", "default_pace"]


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
    """(messages per second, requests in flight) when the campaign names none.

    Meta Cloud: 80 mps is the documented default throughput of a number; Twilio: its
    concurrency limit is per account, so fewer in flight; WaSender: one message every
    5 s (its account protection), one at a time.
    """
    if dialect is Dialect.WASENDER:
        return 0.2, 1
    if dialect is Dialect.TWILIO:
        return 20.0, 10
    return 80.0, 16
