"""Plain words for what Diagnostics shows: times, quality ratings, messaging limits,
session states and account kinds."""

from __future__ import annotations

import re
from datetime import datetime

from waapp.core.entities import AccountKind

KIND_NAMES = {
    AccountKind.SANDBOX: "Sandbox (built-in simulator)",
    AccountKind.TWILIO: "Twilio",
    AccountKind.META: "Meta Cloud API",
    AccountKind.KAPSO: "Kapso",
    AccountKind.WASENDER: "WaSender gateway",
}

#: Meta's quality rating → (words, colour kind of ``theme.status_color``).
QUALITY = {
    "GREEN": ("High (green)", "ok"),
    "YELLOW": ("Medium (yellow)", "warn"),
    "RED": ("Low (red)", "bad"),
    "UNKNOWN": ("Not rated yet", "muted"),
    "NA": ("Not rated yet", "muted"),
}

#: A WaSender session state → (words, colour kind).
SESSION = {
    "connected": ("Connected", "ok"),
    "connecting": ("Connecting…", "warn"),
    "need_scan": ("Needs a QR scan", "bad"),
    "disconnected": ("Disconnected", "bad"),
    "logged_out": ("Logged out", "bad"),
    "expired": ("Expired", "bad"),
}

TUNNEL = {
    "off": ("Not set up", "muted"),
    "stopped": ("Stopped", "muted"),
    "starting": ("Starting…", "warn"),
    "running": ("Running", "ok"),
    "failed": ("Stopped unexpectedly — restarting", "bad"),
}

_TIER = re.compile(r"^TIER_(\d+)(K?)$", re.IGNORECASE)


def kind_name(kind: AccountKind) -> str:
    return KIND_NAMES.get(kind, str(kind))


def quality(value: str) -> tuple[str, str]:
    return QUALITY.get(value.upper(), (value.title(), "muted"))


def session(value: str) -> tuple[str, str]:
    return SESSION.get(value.lower(), (value.replace("_", " ").capitalize(), "warn"))


def messaging_limit(value: str) -> str:
    """Meta's tier (``TIER_10K``) as the number of new people a day."""
    if value.upper() == "TIER_UNLIMITED":
        return "Unlimited"
    found = _TIER.match(value.strip())
    if found is None:
        return value
    people = int(found.group(1)) * (1000 if found.group(2) else 1)
    return f"{people:,} new people per 24 h".replace(",", " ")


def clock(at: datetime | None) -> str:
    """A local time: ``14:02:05`` today, ``12 May 14:02`` otherwise; ``—`` for None."""
    if at is None:
        return "—"
    local = at.astimezone()
    if local.date() == datetime.now().astimezone().date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%d %b %H:%M")


def ago(at: datetime | None, now: datetime) -> str:
    """``clock(at)`` with how long ago: ``14:02:05 (3 min ago)``; ``never`` for None."""
    if at is None:
        return "never"
    seconds = max(0, int((now - at).total_seconds()))
    if seconds < 60:
        rel = "just now" if seconds < 5 else f"{seconds} s ago"
    elif seconds < 3600:
        rel = f"{seconds // 60} min ago"
    elif seconds < 86400:
        rel = f"{seconds // 3600} h ago"
    else:
        rel = f"{seconds // 86400} d ago"
    return f"{clock(at)} ({rel})"
