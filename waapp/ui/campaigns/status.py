"""How campaign and message statuses look: their words and colour kinds (theme.status_color)."""

from __future__ import annotations

from datetime import datetime, timedelta

from waapp.core.entities import MissedSchedulePolicy
from waapp.core.states import CampaignStatus, MessageState

_C = CampaignStatus
_M = MessageState

CAMPAIGN_LABELS: dict[CampaignStatus, str] = {
    _C.DRAFT: "Draft",
    _C.SCHEDULED: "Scheduled",
    _C.SENDING: "Sending",
    _C.PAUSED: "Paused",
    _C.COMPLETED: "Completed",
    _C.FAILED: "Failed",
    _C.CANCELLED: "Cancelled",
}

#: status_color kind per campaign status ("" = the normal text colour).
CAMPAIGN_KINDS: dict[CampaignStatus, str] = {
    _C.DRAFT: "muted",
    _C.SCHEDULED: "muted",
    _C.SENDING: "ok",
    _C.PAUSED: "warn",
    _C.COMPLETED: "ok",
    _C.FAILED: "bad",
    _C.CANCELLED: "muted",
}

MESSAGE_KINDS: dict[MessageState, str] = {
    _M.PENDING: "muted",
    _M.SENDING: "muted",
    _M.SENT: "ok",
    _M.DELIVERED: "ok",
    _M.READ: "ok",
    _M.FAILED: "bad",
    _M.RETRY_WAIT: "warn",
    _M.UNKNOWN: "warn",
    _M.CANCELLED: "muted",
    _M.SKIPPED: "muted",
}

#: Message states that count as "done" for a campaign's progress bar.
DONE_STATES = frozenset(
    {_M.SENT, _M.DELIVERED, _M.READ, _M.FAILED, _M.CANCELLED, _M.SKIPPED, _M.UNKNOWN}
)
#: Reached the phone: sent or further.
SENT_STATES = frozenset({_M.SENT, _M.DELIVERED, _M.READ})


def progress(counters: dict[str, int]) -> tuple[int, int]:
    """(done, total) from a campaign's counters."""
    total = sum(counters.values())
    done = sum(v for k, v in counters.items() if k in DONE_STATES)
    return done, total


def day_and_time(at: datetime) -> str:
    """“today at 14:30”, “tomorrow at 09:00”, “Fri 12 Jun 2026 at 09:00” (local time)."""
    local = at.astimezone()
    today = datetime.now().astimezone().date()
    if local.date() == today:
        day = "today"
    elif local.date() == today + timedelta(days=1):
        day = "tomorrow"
    else:
        day = local.strftime("%a %d %b %Y")
    return f"{day} at {local:%H:%M}"


def missed_words(policy: MissedSchedulePolicy, hours: int) -> str:
    """What happens to a scheduled campaign when waapp was closed at its time."""
    if policy is MissedSchedulePolicy.SEND_ANYWAY:
        return "it is sent as soon as waapp opens"
    if policy is MissedSchedulePolicy.ASK:
        return "waapp asks you first"
    return (
        f"it is sent if that is at most {hours} hour{'' if hours == 1 else 's'} late, "
        "otherwise it goes back to the drafts"
    )
