"""Words for the campaign timeline shared by the service and the scheduler."""

from __future__ import annotations

from datetime import datetime

__all__ = ["local_time"]


def local_time(at: datetime) -> str:
    """A time in the user's local time, as ``limits.cap_note`` shows it:
    "Fri 12 Jun 2026 at 09:00"."""
    local = at.astimezone()
    return f"{local:%a} {local.day} {local:%b %Y} at {local:%H:%M}"
