"""Shared pieces of the integration tests: providers built the way the app builds them,
pointed at an in-process Sandbox over loopback, and a fast, deterministic scenario."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from waapp.core.entities import AccountKind
from waapp.sandbox import settings as sb

#: Short delays, everything read, no replies, no shuffling: a test waits milliseconds.
FAST: dict[str, Any] = {
    "seed": 1,
    "delays_ms": {
        "queued": 0,
        "sent": [2, 6],
        "delivered": [2, 6],
        "read": [2, 6],
        "reply": [5, 10],
    },
    "read_rate": 1.0,
    "reply_rate": 0.0,
    "out_of_order_rate": 0.0,
    "duplicate_rate": 0.0,
    "meta_batch_window_ms": 0,
}

#: A customer who has never written: free-form messages to them break the 24 h rule.
NEVER_WROTE = "+14155550123"
#: A customer who writes first (the test opens the window).
WROTE = "+14155550177"


def account_settings(kind: AccountKind, url: str) -> dict[str, str]:
    """The settings of an account of ``kind`` served by the Sandbox at ``url``."""
    if kind is AccountKind.TWILIO:
        return {
            "account_sid": sb.DEFAULT_TWILIO_ACCOUNT_SID,
            "sender": sb.DEFAULT_TWILIO_SENDER,
            "base_url": url,
            "content_base_url": f"{url}/v1",
        }
    if kind in (AccountKind.META, AccountKind.KAPSO):
        return {
            "phone_number_id": sb.DEFAULT_META_PHONE_NUMBER_ID,
            "waba_id": sb.DEFAULT_META_WABA_ID,
            "base_url": url,
        }
    if kind is AccountKind.WASENDER:
        return {"base_url": url}
    raise ValueError(kind)


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout: float = 5.0, what: str = "condition"
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
