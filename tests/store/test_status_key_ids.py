"""The provider's second id of a message (``messages.provider_key_id``): WaSender sends
answer with a ``msgId`` while its status webhooks name the WhatsApp ``key.id``, which its
polled message info relates to the ``msgId``."""

from __future__ import annotations

from sqlalchemy import func, select

from tests.store.test_statuses import (
    D,
    add_account,
    add_campaign,
    add_messages,
    at,
    counted,
    row,
    status,
    stored_counters,
)
from waapp.core.ports import ProviderError, StatusUpdate
from waapp.store.database import Database
from waapp.store.schema import status_events
from waapp.store.statuses import IncomingEvent, StatusRepository


def poll(account_id: int, msg_id: str, delivery: D, seconds: float, key_id: str) -> IncomingEvent:
    update = StatusUpdate(msg_id, delivery, at(seconds), key_id=key_id)
    return IncomingEvent(account_id, update, at(seconds), "poll")


def repository(db: Database) -> StatusRepository:
    return StatusRepository(db.engine, clock=lambda: at(10_000))


def test_webhooks_before_the_key_is_known_are_merged_when_a_poll_teaches_it(
    db: Database,
) -> None:
    repo = repository(db)
    account = add_account(db, "Phone", "wasender")
    campaign = add_campaign(db, account)
    [m, other] = add_messages(db, campaign, [("sent", "100000"), ("sent", "100001")])

    early = repo.apply(
        [status(account, "3EB0AA", D.SENT, 1), status(account, "3EB0AA", D.DELIVERED, 4)]
    )
    assert (early.unmatched, early.applied) == (2, 0)
    assert row(db, m).state == "sent" and row(db, m).delivered_at is None

    learnt = repo.apply([poll(account, "100000", D.SENT, 30, "3EB0AA")])
    r = row(db, m)
    assert (r.state, r.provider_key_id) == ("delivered", "3EB0AA")
    # Dated by the webhooks the provider sent, not by the later poll.
    assert (r.sent_at, r.delivered_at) == (at(1), at(4))
    assert learnt.message_ids == (m,) and learnt.campaign_ids == (campaign,)
    assert learnt.unmatched == 0
    assert row(db, other).provider_key_id is None
    assert stored_counters(db, campaign) == {"delivered": 1, "sent": 1} == counted(db, campaign)

    # From now on the webhooks find the message by its key id.
    later = repo.apply([status(account, "3EB0AA", D.READ, 60)])
    assert (later.applied, later.unmatched, later.message_ids) == (1, 0, (m,))
    assert row(db, m).state == "read"
    assert stored_counters(db, campaign) == {"read": 1, "sent": 1} == counted(db, campaign)

    # Polling again changes nothing and does not replay the recorded webhooks.
    again = repo.apply([poll(account, "100000", D.READ, 90, "3EB0AA")])
    assert (again.applied, again.message_ids) == (0, ())


def test_the_poll_and_a_webhook_of_the_same_message_in_one_batch(db: Database) -> None:
    repo = repository(db)
    account = add_account(db, "Phone", "wasender")
    campaign = add_campaign(db, account)
    [m] = add_messages(db, campaign, [("sent", "100000")])
    summary = repo.apply(
        [poll(account, "100000", D.SENT, 10, "KEY1"), status(account, "KEY1", D.READ, 12)]
    )
    assert (summary.applied, summary.unmatched, summary.message_ids) == (1, 0, (m,))
    r = row(db, m)
    assert (r.state, r.provider_key_id, r.read_at) == ("read", "KEY1", at(12))
    assert stored_counters(db, campaign) == {"read": 1} == counted(db, campaign)
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(status_events)).scalar() == 2


def test_an_earlier_failure_comes_back_with_its_reason(db: Database) -> None:
    repo = repository(db)
    account = add_account(db, "Phone", "wasender")
    campaign = add_campaign(db, account)
    [m] = add_messages(db, campaign, [("sent", "7")])
    error = ProviderError("message_error", "Message failed", "WaSender reported status ERROR")
    repo.apply([status(account, "KEY7", D.FAILED, 3, error=error)])
    repo.apply([poll(account, "7", D.SENT, 20, "KEY7")])
    r = row(db, m)
    assert (r.state, r.error_code, r.error_title, r.error_detail) == (
        "failed",
        "message_error",
        "Message failed",
        "WaSender reported status ERROR",
    )
    assert r.failed_at == at(3)
    assert stored_counters(db, campaign) == {"failed": 1} == counted(db, campaign)


def test_another_accounts_key_id_is_never_matched(db: Database) -> None:
    repo = repository(db)
    mine = add_account(db, "Phone", "wasender")
    theirs = add_account(db, "Other phone", "wasender")
    [m] = add_messages(db, add_campaign(db, mine), [("sent", "1")])
    [n] = add_messages(db, add_campaign(db, theirs, "Theirs"), [("sent", "2")])
    repo.apply([status(theirs, "KEY", D.READ, 5)])  # recorded for the other account
    repo.apply([poll(mine, "1", D.SENT, 10, "KEY")])
    assert (row(db, m).state, row(db, m).provider_key_id) == ("sent", "KEY")
    stray = repo.apply([status(theirs, "KEY", D.DELIVERED, 30)])
    assert (stray.unmatched, stray.applied) == (1, 0)
    assert row(db, m).state == "sent" and row(db, n).state == "sent"


def test_a_row_keeps_the_first_key_id_it_learnt(db: Database) -> None:
    repo = repository(db)
    account = add_account(db, "Phone", "wasender")
    [m] = add_messages(db, add_campaign(db, account), [("sent", "1")])
    repo.apply([poll(account, "1", D.SENT, 10, "KEY-A")])
    repo.apply([poll(account, "1", D.SENT, 20, "KEY-B")])
    assert row(db, m).provider_key_id == "KEY-A"
    assert repo.apply([status(account, "KEY-B", D.READ, 30)]).unmatched == 1
    assert repo.apply([status(account, "KEY-A", D.READ, 30)]).applied == 1
