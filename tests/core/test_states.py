"""The two state machines, exhaustively: every (from, to) pair is either allowed by the
table written here from architecture.md, or refused with a clear error."""

from __future__ import annotations

import itertools

import pytest

from waapp.core.errors import InvalidTransition
from waapp.core.states import (
    CampaignStatus as C,
)
from waapp.core.states import (
    DeliveryStatus as D,
)
from waapp.core.states import (
    MessageState as M,
)
from waapp.core.states import (
    check_campaign_transition,
    check_message_transition,
    merge_status,
)

CAMPAIGN_ALLOWED = {
    (C.DRAFT, C.SCHEDULED),
    (C.SCHEDULED, C.SENDING),
    (C.SCHEDULED, C.DRAFT),
    (C.SCHEDULED, C.CANCELLED),
    (C.SENDING, C.PAUSED),
    (C.SENDING, C.COMPLETED),
    (C.SENDING, C.FAILED),
    (C.SENDING, C.CANCELLED),
    (C.PAUSED, C.SENDING),
    (C.PAUSED, C.COMPLETED),
    (C.PAUSED, C.FAILED),
    (C.PAUSED, C.CANCELLED),
    (C.COMPLETED, C.SENDING),
    (C.FAILED, C.SENDING),  # "retry failed"
}

MESSAGE_ALLOWED = {
    (M.PENDING, M.SENDING),
    (M.PENDING, M.SKIPPED),
    (M.PENDING, M.CANCELLED),
    (M.RETRY_WAIT, M.SENDING),
    (M.RETRY_WAIT, M.FAILED),
    (M.RETRY_WAIT, M.CANCELLED),
    (M.SENDING, M.SENT),
    (M.SENDING, M.DELIVERED),
    (M.SENDING, M.READ),
    (M.SENDING, M.FAILED),
    (M.SENDING, M.RETRY_WAIT),
    (M.SENDING, M.UNKNOWN),
    (M.UNKNOWN, M.SENT),
    (M.UNKNOWN, M.DELIVERED),
    (M.UNKNOWN, M.READ),
    (M.UNKNOWN, M.FAILED),
    (M.UNKNOWN, M.PENDING),
    (M.UNKNOWN, M.CANCELLED),
    (M.SENT, M.DELIVERED),
    (M.SENT, M.READ),
    (M.SENT, M.FAILED),
    (M.DELIVERED, M.READ),
    (M.FAILED, M.PENDING),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(C, C)))
def test_campaign_transition_table(current: C, target: C) -> None:
    if (current, target) in CAMPAIGN_ALLOWED:
        assert check_campaign_transition(current, target) is target
    else:
        with pytest.raises(InvalidTransition) as refused:
            check_campaign_transition(current, target)
        assert f"that is {current.value} cannot become {target.value}" in str(refused.value)
        assert refused.value.what_to_do


@pytest.mark.parametrize(("current", "target"), list(itertools.product(M, M)))
def test_message_transition_table(current: M, target: M) -> None:
    if (current, target) in MESSAGE_ALLOWED:
        assert check_message_transition(current, target) is target
    else:
        with pytest.raises(InvalidTransition) as refused:
            check_message_transition(current, target)
        assert refused.value.current == current.value and refused.value.target == target.value


def test_refusal_names_what_is_allowed() -> None:
    with pytest.raises(InvalidTransition, match=r"can become: cancelled, draft, sending"):
        check_campaign_transition(C.SCHEDULED, C.COMPLETED)
    with pytest.raises(InvalidTransition, match=r"nothing \(it is final\)"):
        check_campaign_transition(C.CANCELLED, C.SENDING)


def test_final_states() -> None:
    assert {s for s in C if s.is_final} == {C.COMPLETED, C.FAILED, C.CANCELLED}
    assert {s for s in M if s.is_final} == {
        M.SENT,
        M.DELIVERED,
        M.READ,
        M.FAILED,
        M.CANCELLED,
        M.SKIPPED,
    }


# The forward-only merge, written out: (current, update) -> new state, None = ignored.
MERGE = {
    (M.SENDING, D.SENT): M.SENT,
    (M.SENDING, D.DELIVERED): M.DELIVERED,
    (M.SENDING, D.READ): M.READ,
    (M.SENDING, D.FAILED): M.FAILED,
    (M.UNKNOWN, D.SENT): M.SENT,
    (M.UNKNOWN, D.DELIVERED): M.DELIVERED,
    (M.UNKNOWN, D.READ): M.READ,
    (M.UNKNOWN, D.FAILED): M.FAILED,
    (M.SENT, D.DELIVERED): M.DELIVERED,
    (M.SENT, D.READ): M.READ,
    (M.SENT, D.FAILED): M.FAILED,
    (M.DELIVERED, D.READ): M.READ,
}


@pytest.mark.parametrize(("current", "update"), list(itertools.product(M, D)))
def test_merge_status_is_forward_only(current: M, update: D) -> None:
    assert merge_status(current, update) == MERGE.get((current, update))


def test_out_of_order_updates_end_at_the_furthest_state() -> None:
    for order in itertools.permutations([D.SENT, D.DELIVERED, D.READ]):
        state = M.SENDING
        for update in order:
            state = merge_status(state, update) or state
        assert state is M.READ, order


def test_read_is_never_downgraded_and_late_failure_after_sent_is_kept() -> None:
    assert merge_status(M.READ, D.DELIVERED) is None
    assert merge_status(M.SENT, D.FAILED) is M.FAILED
    assert merge_status(M.FAILED, D.DELIVERED) is None
    assert merge_status(M.DELIVERED, D.DELIVERED) is None  # duplicate
