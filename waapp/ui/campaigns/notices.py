"""Which campaign changes deserve a desktop notification, and what it says (no Qt here).

A notification is for what happens while the user looks elsewhere: a campaign finished,
paused itself (the engine's cause, not the user's own pause) or failed. Everything else —
starting, a pause the user asked for, a cancel — the user did and already knows.
"""

from __future__ import annotations

from dataclasses import dataclass

from waapp.core.entities import Campaign, CampaignEvent
from waapp.core.states import CampaignStatus, MessageState

__all__ = ["Notice", "notice_for", "remaining"]

_C = CampaignStatus
_M = MessageState

#: How long a reason may be in a notification (the campaign view has the whole of it).
REASON_CHARS = 160

#: Causes that are the user's own doing (``pause(detail=…)`` from the window or the tray).
USER_CAUSES = frozenset({"user"})


@dataclass(frozen=True, slots=True)
class Notice:
    campaign_id: int
    title: str
    text: str
    tone: str  # "ok", "warn" or "bad" (theme.status_color kinds)


def remaining(campaign: Campaign) -> int:
    """Recipients not sent to yet (waiting, being sent, or waiting to be retried)."""
    c = campaign.counters
    return c.get(_M.PENDING, 0) + c.get(_M.SENDING, 0) + c.get(_M.RETRY_WAIT, 0)


def _short(reason: str) -> str:
    """The first sentence of ``reason``, cut to :data:`REASON_CHARS`."""
    text = " ".join(reason.split())
    for stop in (": the campaign", ". "):
        head, found, _tail = text.partition(stop)
        if found and len(head) > 20:
            text = head
            break
    text = text.rstrip(". ")
    if len(text) > REASON_CHARS:
        text = text[: REASON_CHARS - 1].rstrip() + "…"
    return text[:1].upper() + text[1:] + "."


def _n(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


def notice_for(
    campaign: Campaign, before: CampaignStatus | None, change: CampaignEvent | None
) -> Notice | None:
    """The notification for ``campaign`` now that its status moved from ``before`` (None: not
    seen before, so nothing to tell) by ``change`` (its last status change on the
    timeline), or None when this change needs none."""
    if campaign.id is None or before is None or before is campaign.status:
        return None
    cause = change.cause if change is not None and change.to_status is campaign.status else ""
    detail = change.detail if change is not None and change.to_status is campaign.status else ""
    name = f"“{campaign.name}”"
    counts = campaign.counters
    if campaign.status is _C.COMPLETED:
        sent = sum(counts.get(s, 0) for s in (_M.SENT, _M.DELIVERED, _M.READ))
        failed = counts.get(_M.FAILED, 0)
        text = f"{name} is finished: {_n(sent, 'message', 'messages')} sent"
        text += f", {failed:,} failed." if failed else "."
        return Notice(campaign.id, "Campaign finished", text, "bad" if failed else "ok")
    if campaign.status is _C.PAUSED and cause not in USER_CAUSES:
        reason = _short(detail) if detail else "Open it to see why."
        return Notice(campaign.id, "Campaign paused", f"{name} paused itself. {reason}", "warn")
    if campaign.status is _C.FAILED and cause not in USER_CAUSES:
        reason = _short(detail) if detail else "Open it to see why."
        return Notice(campaign.id, "Campaign failed", f"{name} could not be sent. {reason}", "bad")
    return None
