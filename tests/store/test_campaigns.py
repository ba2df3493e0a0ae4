"""The campaign repository on a real SQLite file: the ledger, the claim, results, counters."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from waapp.core.entities import Account, AccountKind, Campaign, Route
from waapp.core.errors import InvalidTransition
from waapp.core.states import CampaignStatus, MessageState
from waapp.store.campaigns import CampaignRepository, PlannedMessage, SendOutcome
from waapp.store.database import Database

_M = MessageState


def phone(i: int) -> str:
    return f"+1415{5550000 + i:07d}"


@pytest.fixture
def repo(db: Database) -> CampaignRepository:
    return CampaignRepository(db.engine, durable=db.durable)


def new_campaign(db: Database, repo: CampaignRepository, recipients: int = 5) -> int:
    account = db.accounts.add(Account(kind=AccountKind.META, name="Shop", settings={}))
    assert account.id is not None
    campaign = repo.add(Campaign(name="Orders", account_id=account.id))
    assert campaign.id is not None and campaign.status is CampaignStatus.DRAFT
    planned = [
        PlannedMessage(None, phone(i), Route.TEMPLATE, {"1": f"P{i}"}) for i in range(recipients)
    ] + [PlannedMessage(None, phone(99), Route.TEMPLATE, {}, "opted out: STOP")]
    repo.begin_sending(campaign.id, planned, cause="user", detail="started")
    return campaign.id


def counters_match(repo: CampaignRepository, campaign_id: int) -> dict[str, int]:
    recount = repo.recount(campaign_id)
    assert repo.get(campaign_id).counters == recount
    return recount


def test_the_ledger_is_frozen_once_with_variables_and_skips(
    db: Database, repo: CampaignRepository
) -> None:
    cid = new_campaign(db, repo)
    rows = repo.messages(cid)
    assert [(m.phone_e164, m.state, m.variables, m.attempts) for m in rows[:2]] == [
        (phone(0), _M.PENDING, {"1": "P0"}, 0),
        (phone(1), _M.PENDING, {"1": "P1"}, 0),
    ]
    assert (rows[-1].state, rows[-1].error_detail) == (_M.SKIPPED, "opted out: STOP")
    assert counters_match(repo, cid) == {"pending": 5, "skipped": 1}
    assert repo.get(cid).status is CampaignStatus.SENDING
    # A second start cannot insert the rows again (and sending cannot be "started").
    with pytest.raises(InvalidTransition):
        repo.begin_sending(
            cid, [PlannedMessage(None, phone(7), Route.TEMPLATE, {})], cause="u", detail=""
        )
    assert len(repo.messages(cid)) == 6


def test_claim_only_while_sending_and_durably_visible_to_another_connection(
    db: Database, repo: CampaignRepository, db_path: Path
) -> None:
    cid = new_campaign(db, repo)
    repo.set_status(cid, CampaignStatus.PAUSED, cause="user")
    assert repo.claim(cid, limit=10) == []
    assert counters_match(repo, cid) == {"pending": 5, "skipped": 1}
    repo.set_status(cid, CampaignStatus.SENDING, cause="user")
    claimed = repo.claim(cid, limit=3)
    assert [(m.phone_e164, m.state, m.attempts) for m in claimed] == [
        (phone(i), _M.SENDING, 1) for i in range(3)
    ]
    # Another connection (as another process would) sees the claim committed.
    other = sqlite3.connect(db_path)
    try:
        states = other.execute(
            "SELECT state, attempts FROM messages WHERE campaign_id = ? ORDER BY id", (cid,)
        ).fetchall()
    finally:
        other.close()
    assert states[:4] == [("sending", 1)] * 3 + [("pending", 0)]
    assert counters_match(repo, cid) == {"pending": 2, "sending": 3, "skipped": 1}
    # The next claim takes the rest; nothing is claimed twice.
    assert [m.phone_e164 for m in repo.claim(cid, limit=10)] == [phone(3), phone(4)]
    assert repo.claim(cid, limit=10) == []


def test_results_are_forward_only_and_retry_waits_until_due(
    db: Database, repo: CampaignRepository
) -> None:
    cid = new_campaign(db, repo, recipients=4)
    a, b, c, d = repo.claim(cid, limit=4)
    assert a.id and b.id and c.id and d.id
    later = datetime.now(UTC) + timedelta(hours=1)
    repo.record_results(
        [
            SendOutcome(a.id, _M.SENT, provider_message_id="wamid.A"),
            SendOutcome(b.id, _M.FAILED, error_code="131026", error_title="Not on WhatsApp"),
            SendOutcome(c.id, _M.RETRY_WAIT, next_attempt_at=later, error_code="130429"),
            SendOutcome(
                d.id, _M.RETRY_WAIT, next_attempt_at=datetime.now(UTC), refund_attempt=True
            ),
        ]
    )
    assert counters_match(repo, cid) == {"failed": 1, "retry_wait": 2, "sent": 1, "skipped": 1}
    # A late or repeated result for a row no longer sending changes nothing but a missing id.
    repo.record_results(
        [
            SendOutcome(a.id, _M.FAILED, error_code="x"),
            SendOutcome(b.id, _M.SENT, provider_message_id="wamid.B"),
        ]
    )
    rows = {m.id: m for m in repo.messages(cid)}
    assert (rows[a.id].state, rows[a.id].provider_message_id) == (_M.SENT, "wamid.A")
    assert (rows[b.id].state, rows[b.id].provider_message_id) == (_M.FAILED, "wamid.B")
    assert rows[d.id].attempts == 0  # given back: the request was never made
    assert counters_match(repo, cid) == {"failed": 1, "retry_wait": 2, "sent": 1, "skipped": 1}
    # Only the due retry is claimed; the one an hour away waits.
    assert [m.id for m in repo.claim(cid, limit=10)] == [d.id]
    assert counters_match(repo, cid) == {
        "failed": 1,
        "retry_wait": 1,
        "sending": 1,
        "sent": 1,
        "skipped": 1,
    }


def test_recovery_notes_the_rows_it_moved_in_the_same_transaction(
    db: Database, repo: CampaignRepository
) -> None:
    cid = new_campaign(db, repo, recipients=4)
    repo.claim(cid, limit=2)
    assert repo.recover_sending(lambda count: f"{count} were in flight") == {cid: 2}
    notes = [e for e in repo.events(cid) if e.cause == "recovery"]
    assert [e.detail for e in notes] == ["2 were in flight"]
    assert repo.recover_sending(lambda count: f"{count} were in flight") == {}  # nothing left
    assert len([e for e in repo.events(cid) if e.cause == "recovery"]) == 1


def test_counters_equal_a_recount_through_cancel_retry_and_recovery(
    db: Database, repo: CampaignRepository
) -> None:
    cid = new_campaign(db, repo, recipients=6)
    first = repo.claim(cid, limit=3)
    repo.record_results(
        [SendOutcome(m.id, _M.FAILED, error_code="131026") for m in first[:2] if m.id]
    )
    assert repo.recover_sending() == {cid: 1}  # the third was in flight: unknown
    assert counters_match(repo, cid) == {"failed": 2, "pending": 3, "skipped": 1, "unknown": 1}
    repo.set_status(cid, CampaignStatus.PAUSED, cause="user")
    assert repo.cancel(cid, cause="user") == 3
    assert counters_match(repo, cid) == {"cancelled": 3, "failed": 2, "skipped": 1, "unknown": 1}
    with pytest.raises(InvalidTransition):
        repo.retry_failed(cid, codes=None, cause="user")  # a cancelled campaign is final
    assert counters_match(repo, cid) == {"cancelled": 3, "failed": 2, "skipped": 1, "unknown": 1}
    unknown = repo.messages(cid, _M.UNKNOWN)
    assert repo.resolve_unknown(cid, [m.id for m in unknown if m.id], send_again=False) == 1
    assert counters_match(repo, cid) == {"cancelled": 3, "failed": 2, "sent": 1, "skipped": 1}
    timeline = [(e.to_status.value, e.cause) for e in repo.events(cid)]
    assert timeline[-2:] == [("paused", "user"), ("cancelled", "user")]
