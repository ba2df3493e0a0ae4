"""How campaign and message statuses look: their words and colour kinds (theme.status_color)."""

from __future__ import annotations

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
