"""Which campaign changes notify, and what they say: the pure decision (no Qt needed)."""

from __future__ import annotations

from datetime import UTC, datetime

from waapp.core.entities import Campaign, CampaignEvent
from waapp.core.states import CampaignStatus
from waapp.ui.campaigns.notices import REASON_CHARS, notice_for, remaining

_C = CampaignStatus
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def campaign(status: CampaignStatus, **counters: int) -> Campaign:
    return Campaign(name="Spring sale", account_id=1, status=status, counters=counters, id=7)


def change(
    to: CampaignStatus, cause: str, detail: str, frm: CampaignStatus = _C.SENDING
) -> CampaignEvent:
    return CampaignEvent(7, NOW, to, frm, cause, detail)


def test_a_finished_campaign_says_how_it_went() -> None:
    done = campaign(_C.COMPLETED, delivered=90, read=8, failed=2)
    notice = notice_for(done, _C.SENDING, change(_C.COMPLETED, "engine", "every recipient…"))
    assert notice is not None
    assert notice.campaign_id == 7
    assert notice.title == "Campaign finished"
    assert notice.text == "“Spring sale” is finished: 98 messages sent, 2 failed."
    assert notice.tone == "bad"
    clean = notice_for(campaign(_C.COMPLETED, sent=1), _C.SENDING, None)
    assert clean is not None and clean.text == "“Spring sale” is finished: 1 message sent."
    assert clean.tone == "ok"


def test_a_pause_by_the_engine_notifies_with_its_reason_in_one_short_sentence() -> None:
    detail = (
        "Authentication failed (190): The access token has expired or is not valid. "
        "Create a new token in Meta Business Settings and update the account."
    )
    notice = notice_for(campaign(_C.PAUSED), _C.SENDING, change(_C.PAUSED, "engine", detail))
    assert notice is not None and notice.title == "Campaign paused" and notice.tone == "warn"
    assert notice.text == (
        "“Spring sale” paused itself. Authentication failed (190): The access token has "
        "expired or is not valid."
    )
    spike = "12 of the last 20 messages failed: the campaign paused itself. Look at the failures."
    notice = notice_for(campaign(_C.PAUSED), _C.SENDING, change(_C.PAUSED, "engine", spike))
    assert notice is not None
    assert notice.text == "“Spring sale” paused itself. 12 of the last 20 messages failed."
    long = "x" * 500
    notice = notice_for(campaign(_C.PAUSED), _C.SENDING, change(_C.PAUSED, "engine", long))
    assert notice is not None and len(notice.text) < len("“Spring sale” paused itself. ") + 170
    assert notice.text.endswith("….")
    assert REASON_CHARS == 160


def test_a_failure_notifies() -> None:
    notice = notice_for(
        campaign(_C.FAILED),
        _C.SENDING,
        change(_C.FAILED, "engine", "Account blocked (368): The account is restricted."),
    )
    assert notice is not None and notice.title == "Campaign failed" and notice.tone == "bad"
    assert notice.text == (
        "“Spring sale” could not be sent. Account blocked (368): The account is restricted."
    )


def test_what_the_user_did_does_not_notify() -> None:
    paused = campaign(_C.PAUSED)
    assert notice_for(paused, _C.SENDING, change(_C.PAUSED, "user", "paused")) is None
    quit_note = "paused when waapp was quit; resume it to send the rest"
    assert notice_for(paused, _C.SENDING, change(_C.PAUSED, "user", quit_note)) is None
    # Starting, scheduling, cancelling: not worth a notification.
    for status in (_C.SENDING, _C.SCHEDULED, _C.CANCELLED, _C.DRAFT):
        assert notice_for(campaign(status), _C.PAUSED, change(status, "user", "")) is None
    # Nothing changed, or never seen before (the first look after start-up).
    assert notice_for(campaign(_C.COMPLETED), _C.COMPLETED, None) is None
    assert notice_for(campaign(_C.COMPLETED), None, None) is None


def test_a_pause_without_a_timeline_entry_still_says_where_to_look() -> None:
    notice = notice_for(campaign(_C.PAUSED), _C.SENDING, None)
    assert notice is not None
    assert notice.text == "“Spring sale” paused itself. Open it to see why."


def test_remaining_counts_what_is_not_sent_yet() -> None:
    c = campaign(_C.SENDING, pending=5, sending=2, retry_wait=1, sent=10, failed=1, unknown=3)
    assert remaining(c) == 8
