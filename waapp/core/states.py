"""The campaign and message state machines, as explicit transition tables.

A refused change raises :class:`~waapp.core.errors.InvalidTransition` naming what is allowed.
Provider status updates go through :func:`merge_status`, which only ever moves forward.
"""

from __future__ import annotations

from enum import StrEnum

from waapp.core.errors import InvalidTransition


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in _FINAL_CAMPAIGN


_C = CampaignStatus
_FINAL_CAMPAIGN = frozenset({_C.COMPLETED, _C.FAILED, _C.CANCELLED})

#: Every allowed campaign change. ``completed``/``failed`` → ``sending`` is "retry failed":
#: only the failed recipients are queued again, so it never re-sends a delivered message.
CAMPAIGN_TRANSITIONS: dict[CampaignStatus, frozenset[CampaignStatus]] = {
    _C.DRAFT: frozenset({_C.SCHEDULED}),
    _C.SCHEDULED: frozenset({_C.SENDING, _C.DRAFT, _C.CANCELLED}),
    _C.SENDING: frozenset({_C.PAUSED, _C.COMPLETED, _C.FAILED, _C.CANCELLED}),
    # paused → completed: the in-flight requests drained and were the last ones.
    _C.PAUSED: frozenset({_C.SENDING, _C.COMPLETED, _C.FAILED, _C.CANCELLED}),
    _C.COMPLETED: frozenset({_C.SENDING}),
    _C.FAILED: frozenset({_C.SENDING}),
    _C.CANCELLED: frozenset(),
}


class MessageState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    RETRY_WAIT = "retry_wait"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"

    @property
    def is_final(self) -> bool:
        """Final for the campaign: nothing more will be *sent* for this recipient.

        ``sent`` and ``delivered`` may still move forward on status updates, but the engine
        has nothing left to do for them.
        """
        return self in _FINAL_MESSAGE


_M = MessageState
_FINAL_MESSAGE = frozenset({_M.SENT, _M.DELIVERED, _M.READ, _M.FAILED, _M.CANCELLED, _M.SKIPPED})

MESSAGE_TRANSITIONS: dict[MessageState, frozenset[MessageState]] = {
    _M.PENDING: frozenset({_M.SENDING, _M.SKIPPED, _M.CANCELLED}),
    _M.RETRY_WAIT: frozenset({_M.SENDING, _M.FAILED, _M.CANCELLED}),
    # The claim: from here the request may have left. A timeout after the request was
    # written is UNKNOWN, never RETRY_WAIT (reliability.md §1).
    # DELIVERED/READ straight from SENDING: the provider's receipt can overtake our own
    # write of the send result.
    _M.SENDING: frozenset({_M.SENT, _M.DELIVERED, _M.READ, _M.FAILED, _M.RETRY_WAIT, _M.UNKNOWN}),
    # Reconciled by the provider's word, or decided by the user ("mark as sent" / "send again").
    _M.UNKNOWN: frozenset({_M.SENT, _M.DELIVERED, _M.READ, _M.FAILED, _M.PENDING, _M.CANCELLED}),
    _M.SENT: frozenset({_M.DELIVERED, _M.READ, _M.FAILED}),
    _M.DELIVERED: frozenset({_M.READ}),
    _M.READ: frozenset(),
    # "Retry failed" puts a failed recipient back in the queue.
    _M.FAILED: frozenset({_M.PENDING}),
    _M.CANCELLED: frozenset(),
    _M.SKIPPED: frozenset(),
}


def check_campaign_transition(current: CampaignStatus, target: CampaignStatus) -> CampaignStatus:
    """Return ``target`` if ``current -> target`` is allowed, else raise InvalidTransition."""
    allowed = CAMPAIGN_TRANSITIONS[current]
    if target not in allowed:
        raise InvalidTransition("campaign", current.value, target.value, frozenset(allowed))
    return target


def check_message_transition(current: MessageState, target: MessageState) -> MessageState:
    """Return ``target`` if ``current -> target`` is allowed, else raise InvalidTransition."""
    allowed = MESSAGE_TRANSITIONS[current]
    if target not in allowed:
        raise InvalidTransition("message", current.value, target.value, frozenset(allowed))
    return target


class DeliveryStatus(StrEnum):
    """What a provider reports about a message it accepted (webhook or poll)."""

    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


_STATUS_TARGET = {
    DeliveryStatus.SENT: _M.SENT,
    DeliveryStatus.DELIVERED: _M.DELIVERED,
    DeliveryStatus.READ: _M.READ,
    DeliveryStatus.FAILED: _M.FAILED,
}

# The progress order of an accepted message. FAILED outranks SENT (a late failure is kept)
# but not DELIVERED/READ: a delivery receipt is proof, a later "failed" is noise.
_RANK = {_M.SENDING: 0, _M.UNKNOWN: 0, _M.SENT: 1, _M.FAILED: 2, _M.DELIVERED: 3, _M.READ: 4}


def merge_status(current: MessageState, update: DeliveryStatus) -> MessageState | None:
    """The state after applying a provider status update, or ``None`` to ignore it.

    Forward-only: ``read`` is never downgraded to ``delivered``; duplicates and stale
    updates are ignored; updates for rows that were never accepted (pending, retry_wait,
    cancelled, skipped) are ignored.
    """
    target = _STATUS_TARGET[update]
    if current not in _RANK or current == target:
        return None
    if target not in MESSAGE_TRANSITIONS[current]:
        return None
    if _RANK[target] <= _RANK[current]:
        return None
    return target
