"""StatusRepository on real SQLite files: dedupe, forward-only merge, counters, inbound."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from waapp.core.entities import Contact
from waapp.core.ports import InboundText, ProviderError, StatusUpdate
from waapp.core.states import DeliveryStatus, MessageState
from waapp.store.database import Database
from waapp.store.schema import accounts, campaigns, inbound_messages, messages, status_events
from waapp.store.statuses import IncomingEvent, StatusRepository, recount

T0 = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)
D = DeliveryStatus
M = MessageState


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# --- seeding with Core ---------------------------------------------------------------------


def add_account(db: Database, name: str = "Meta", kind: str = "meta") -> int:
    with db.transaction() as conn:
        stmt = insert(accounts).values(kind=kind, name=name, settings={}, created_at=T0)
        return int(conn.execute(stmt.returning(accounts.c.id)).scalar_one())


def add_campaign(db: Database, account_id: int, name: str = "Spring") -> int:
    with db.transaction() as conn:
        stmt = insert(campaigns).values(
            name=name,
            account_id=account_id,
            window_policy="template_only",
            missed_schedule_policy="ask",
            status="sending",
            counters={},
            created_at=T0,
        )
        return int(conn.execute(stmt.returning(campaigns.c.id)).scalar_one())


def add_messages(
    db: Database, campaign_id: int, rows: Sequence[tuple[str, str | None]], *, count: bool = True
) -> list[int]:
    """``rows``: (state, provider id) per message; counters are set by a recount."""
    ids = []
    with db.transaction() as conn:
        for n, (state, provider_id) in enumerate(rows):
            stmt = insert(messages).values(
                campaign_id=campaign_id,
                phone_e164=f"+1555{campaign_id:03d}{n:04d}",
                route="template",
                state=state,
                provider_message_id=provider_id,
                updated_at=T0,
            )
            ids.append(int(conn.execute(stmt.returning(messages.c.id)).scalar_one()))
        if count:
            conn.execute(
                campaigns.update()
                .where(campaigns.c.id == campaign_id)
                .values(counters=recount(conn, campaign_id))
            )
    return ids


def row(db: Database, message_id: int) -> Any:
    with db.engine.connect() as conn:
        return conn.execute(select(messages).where(messages.c.id == message_id)).one()


def stored_counters(db: Database, campaign_id: int) -> dict[str, int]:
    return StatusRepository(db.engine).counters(campaign_id)


def counted(db: Database, campaign_id: int) -> dict[str, int]:
    with db.engine.connect() as conn:
        return recount(conn, campaign_id)


def status(
    account_id: int,
    provider_id: str,
    delivery: DeliveryStatus,
    seconds: float,
    *,
    error: ProviderError | None = None,
    reference: str | None = None,
    source: str = "webhook",
) -> IncomingEvent:
    update = StatusUpdate(provider_id, delivery, at(seconds), error=error, reference=reference)
    return IncomingEvent(account_id, update, at(seconds + 1), source)


def inbound(
    account_id: int,
    phone: str,
    body: str,
    seconds: float,
    *,
    provider_id: str | None = None,
    opt_out: str | None = None,
) -> IncomingEvent:
    text = InboundText(phone, body, at(seconds), provider_id)
    return IncomingEvent(account_id, text, at(seconds + 1), opt_out_reason=opt_out)


@pytest.fixture
def repo(db: Database) -> StatusRepository:
    return StatusRepository(db.engine, clock=lambda: at(10_000))


# --- the forward-only merge ------------------------------------------------------------------


def test_out_of_order_updates_end_at_the_furthest_state_with_each_step_dated(
    db: Database, repo: StatusRepository
) -> None:
    account = add_account(db)
    campaign = add_campaign(db, account)
    [m] = add_messages(db, campaign, [("sending", "wamid.1")])

    first = repo.apply([status(account, "wamid.1", D.READ, 30)])
    assert (first.applied, first.campaign_ids, first.message_ids) == (1, (campaign,), (m,))
    r = row(db, m)
    assert r.state == "read"
    # Never reported yet: implied by "read", dated with it.
    assert r.sent_at == r.delivered_at == r.read_at == at(30)

    late = repo.apply(
        [status(account, "wamid.1", D.DELIVERED, 20), status(account, "wamid.1", D.SENT, 10)]
    )
    assert (late.applied, late.ignored, late.campaign_ids) == (0, 2, ())
    r = row(db, m)
    assert r.state == "read"  # never downgraded
    assert (r.sent_at, r.delivered_at, r.read_at) == (at(10), at(20), at(30))
    assert stored_counters(db, campaign) == {"read": 1} == counted(db, campaign)


def test_within_a_batch_the_providers_order_wins(db: Database, repo: StatusRepository) -> None:
    account = add_account(db)
    campaign = add_campaign(db, account)
    [m] = add_messages(db, campaign, [("sent", "SM1")])
    summary = repo.apply(
        [
            status(account, "SM1", D.DELIVERED, 20),
            status(account, "SM1", D.FAILED, 5, error=ProviderError("63016", "Outside window")),
        ]
    )
    # Sorted by the provider's times, the failure came first, and failed is final for the
    # merge: the delivery receipt that arrived first in the batch does not override it.
    r = row(db, m)
    assert r.state == "failed"
    assert summary.applied == 1 and summary.ignored == 1


def test_duplicates_are_recorded_once_and_change_nothing(
    db: Database, repo: StatusRepository
) -> None:
    account = add_account(db)
    campaign = add_campaign(db, account)
    add_messages(db, campaign, [("sent", "wamid.A"), ("sent", "wamid.B")])
    batch = [
        status(account, "wamid.A", D.DELIVERED, 5),
        status(account, "wamid.A", D.DELIVERED, 5),  # the same update twice in one batch
        status(account, "wamid.B", D.READ, 6),
    ]
    first = repo.apply(batch)
    assert (first.statuses, first.recorded, first.applied, first.ignored) == (3, 2, 2, 1)
    again = repo.apply(batch)  # the provider retried the whole webhook
    assert (again.recorded, again.applied, again.ignored, again.message_ids) == (0, 0, 3, ())
    with db.engine.connect() as conn:
        assert conn.execute(select(status_events.c.id)).all().__len__() == 2
    assert stored_counters(db, campaign) == {"delivered": 1, "read": 1}


def test_a_late_failure_after_sent_is_kept_with_its_reason(
    db: Database, repo: StatusRepository
) -> None:
    account = add_account(db)
    campaign = add_campaign(db, account)
    sent, delivered = add_messages(db, campaign, [("sent", "w1"), ("delivered", "w2")])
    error = ProviderError("131026", "Message undeliverable", "Receiver is not on WhatsApp")
    summary = repo.apply(
        [
            status(account, "w1", D.FAILED, 50, error=error),
            status(account, "w2", D.FAILED, 50, error=error),
        ]
    )
    assert (summary.applied, summary.ignored) == (1, 1)
    r = row(db, sent)
    assert (r.state, r.error_code, r.error_title, r.error_detail, r.failed_at) == (
        "failed",
        "131026",
        "Message undeliverable",
        "Receiver is not on WhatsApp",
        at(50),
    )
    r = row(db, delivered)
    assert (r.state, r.error_code, r.failed_at) == ("delivered", None, None)
    assert stored_counters(db, campaign) == {"delivered": 1, "failed": 1} == counted(db, campaign)
    with db.engine.connect() as conn:
        raws = conn.execute(select(status_events.c.raw, status_events.c.error_code)).all()
    assert {code for _, code in raws} == {"131026"}
    assert all('"code":"131026"' in raw for raw, _ in raws)


def test_updates_for_rows_never_accepted_are_ignored(db: Database, repo: StatusRepository) -> None:
    account = add_account(db)
    campaign = add_campaign(db, account)
    ids = add_messages(
        db,
        campaign,
        [("pending", "x1"), ("cancelled", "x2"), ("skipped", "x3"), ("retry_wait", "x4")],
    )
    summary = repo.apply([status(account, f"x{n}", D.DELIVERED, 1) for n in range(1, 5)])
    assert (summary.applied, summary.ignored) == (0, 4)
    assert [row(db, i).state for i in ids] == ["pending", "cancelled", "skipped", "retry_wait"]


def test_unknown_ids_are_recorded_and_counted_unmatched(
    db: Database, repo: StatusRepository
) -> None:
    account = add_account(db)
    summary = repo.apply(
        [status(account, "wamid.nobody", D.DELIVERED, 1), status(account, "w2", D.READ, 2)]
    )
    assert (summary.unmatched, summary.recorded, summary.applied) == (2, 2, 0)
    events = repo.recent_events(10)
    assert [(e.provider_message_id, e.status) for e in events] == [
        ("w2", "read"),
        ("wamid.nobody", "delivered"),
    ]
    assert events[0].received_at == at(3) and events[0].source == "webhook"


def test_another_accounts_message_is_never_touched(db: Database, repo: StatusRepository) -> None:
    mine, theirs = add_account(db, "Mine"), add_account(db, "Theirs")
    [m] = add_messages(db, add_campaign(db, theirs), [("sent", "shared-id")])
    summary = repo.apply([status(mine, "shared-id", D.READ, 1)])
    assert summary.unmatched == 1 and row(db, m).state == "sent"


def test_our_echoed_reference_reconciles_a_row_without_provider_id(
    db: Database, repo: StatusRepository
) -> None:
    account, other = add_account(db), add_account(db, "Other")
    campaign = add_campaign(db, account)
    unknown, claimed, has_id = add_messages(
        db, campaign, [("unknown", None), ("sending", None), ("sent", "wamid.kept")]
    )
    summary = repo.apply(
        [
            status(account, "wamid.new", D.DELIVERED, 5, reference=str(unknown)),
            status(account, "wamid.c", D.SENT, 5, reference=f" {claimed} "),
            # A reference to a row that already has another provider id is not trusted.
            status(account, "wamid.other", D.READ, 5, reference=str(has_id)),
            # Nor a reference from another account, nor one that is not our id.
            status(other, "wamid.z", D.READ, 5, reference=str(unknown)),
            status(account, "wamid.q", D.READ, 5, reference="campaign-7"),
        ]
    )
    assert (summary.applied, summary.unmatched) == (2, 3)
    r = row(db, unknown)
    assert (r.state, r.provider_message_id, r.delivered_at) == ("delivered", "wamid.new", at(5))
    assert (row(db, claimed).state, row(db, claimed).provider_message_id) == ("sent", "wamid.c")
    assert (row(db, has_id).state, row(db, has_id).provider_message_id) == ("sent", "wamid.kept")
    # Later updates find the row by its new provider id.
    assert repo.apply([status(account, "wamid.new", D.READ, 9)]).applied == 1
    assert stored_counters(db, campaign) == counted(db, campaign)


def test_counters_that_cannot_take_the_delta_are_recounted(
    db: Database, repo: StatusRepository
) -> None:
    account = add_account(db)
    campaign = add_campaign(db, account)
    add_messages(db, campaign, [("sent", "a"), ("sent", "b"), ("pending", None)], count=False)
    repo.apply([status(account, "a", D.DELIVERED, 1)])  # counters were {}: "sent" would be -1
    assert stored_counters(db, campaign) == {"delivered": 1, "pending": 1, "sent": 1}


def test_events_of_a_vanished_account_and_invalid_events_do_not_fail_the_batch(
    db: Database, repo: StatusRepository
) -> None:
    account = add_account(db)
    [m] = add_messages(db, add_campaign(db, account), [("sent", "ok")])
    naive = IncomingEvent(account, StatusUpdate("n", D.READ, datetime(2025, 1, 1)), at(1))
    empty = IncomingEvent(account, StatusUpdate("", D.READ, at(1)), at(1))
    summary = repo.apply(
        [status(999, "gone", D.READ, 1), naive, empty, status(account, "ok", D.READ, 1)]
    )
    assert (summary.orphaned, summary.invalid, summary.applied) == (1, (naive, empty), 1)
    assert row(db, m).state == "read"


def test_a_batch_is_one_transaction(db: Database, repo: StatusRepository) -> None:
    account = add_account(db)
    campaign = add_campaign(db, account)
    [m] = add_messages(db, campaign, [("sent", "w")])
    # A real failure at the last statement of the batch: the counters update.
    with db.transaction() as conn:
        conn.exec_driver_sql(
            "CREATE TRIGGER boom BEFORE UPDATE OF counters ON campaigns "
            "BEGIN SELECT RAISE(ABORT, 'counters are on fire'); END"
        )
    with pytest.raises(Exception, match="counters are on fire"):
        repo.apply([status(account, "w", D.READ, 1)])
    assert row(db, m).state == "sent"
    assert repo.recent_events(5) == []


# --- counters against a recount, and never backwards, for random event streams -------------

_names = itertools.count()
_RANK = {"sending": 0, "unknown": 0, "sent": 1, "failed": 2, "delivered": 3, "read": 4}
_START_STATES = ["pending", "sending", "sent", "delivered", "read", "failed", "unknown", "skipped"]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    starts=st.lists(st.sampled_from(_START_STATES), min_size=1, max_size=12),
    stream=st.lists(
        st.tuples(
            st.integers(0, 14),  # message index; past the end: an unknown id
            st.sampled_from(list(DeliveryStatus)),
            st.integers(0, 5),  # time: collisions make duplicates
        ),
        max_size=60,
    ),
    cuts=st.lists(st.integers(1, 20), max_size=6),
)
def test_counters_equal_a_recount_and_no_status_moves_backwards(
    db: Database,
    starts: list[str],
    stream: list[tuple[int, DeliveryStatus, int]],
    cuts: list[int],
) -> None:
    repo = StatusRepository(db.engine)
    account = add_account(db, name=f"acct-{next(_names)}")
    campaign = add_campaign(db, account)
    ids = add_messages(
        db, campaign, [(state, f"c{campaign}-m{n}") for n, state in enumerate(starts)]
    )
    events = [status(account, f"c{campaign}-m{i}", d, t) for i, d, t in stream]
    before = {i: row(db, i).state for i in ids}
    # Apply in batches of random sizes.
    position = 0
    for size in [*cuts, len(events)]:
        repo.apply(events[position : position + size])
        after = {i: row(db, i).state for i in ids}
        for i in ids:
            if after[i] != before[i]:
                assert before[i] in _RANK and after[i] in _RANK
                assert _RANK[after[i]] > _RANK[before[i]], (before[i], after[i])
        before = after
        position += size
    assert stored_counters(db, campaign) == counted(db, campaign)


# --- inbound ------------------------------------------------------------------------------


def test_inbound_moves_last_inbound_forward_only_and_dedupes(
    db: Database, repo: StatusRepository
) -> None:
    account = add_account(db)
    asha = db.contacts.add(Contact(phone_e164="+917033009600", name="Asha"))
    first = repo.apply([inbound(account, "+917033009600", "hello", 100, provider_id="in-1")])
    assert (first.inbound, first.contact_ids, first.opted_out_ids) == (1, (asha.id,), ())
    assert db.contacts.get(asha.id or 0).last_inbound_at == at(100)

    older = repo.apply(
        [
            inbound(account, "+917033009600", "earlier", 50, provider_id="in-0"),
            inbound(account, "+917033009600", "hello", 100, provider_id="in-1"),  # redelivery
        ]
    )
    assert (older.inbound, older.inbound_duplicates, older.contact_ids) == (1, 1, ())
    assert db.contacts.get(asha.id or 0).last_inbound_at == at(100)  # not moved back
    with db.engine.connect() as conn:
        stored = conn.execute(
            select(inbound_messages.c.body, inbound_messages.c.contact_id).order_by(
                inbound_messages.c.received_at
            )
        ).all()
    assert stored == [("earlier", asha.id), ("hello", asha.id)]
    assert [m.body for m in repo.recent_inbound(5)] == ["hello", "earlier"]


def test_inbound_matches_the_wa_id_and_keeps_strangers(
    db: Database, repo: StatusRepository
) -> None:
    account = add_account(db)
    # Brazil: stored with the 9th digit; WhatsApp reports the number without it.
    ana = db.contacts.add(Contact(phone_e164="+5511987654321", wa_id="551187654321", name="Ana"))
    summary = repo.apply(
        [
            inbound(account, "+551187654321", "oi", 10, provider_id="a"),
            inbound(account, "+15550001111", "who?", 11, provider_id="b"),
        ]
    )
    assert (summary.inbound, summary.contact_ids) == (2, (ana.id,))
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(inbound_messages.c.from_phone, inbound_messages.c.contact_id).order_by(
                inbound_messages.c.id
            )
        ).all()
    assert rows == [("+551187654321", ana.id), ("+15550001111", None)]


def test_a_provider_clock_ahead_of_ours_cannot_open_the_window_in_the_future(
    db: Database, repo: StatusRepository
) -> None:
    account = add_account(db)
    c = db.contacts.add(Contact(phone_e164="+15550002222"))
    text = InboundText("+15550002222", "hi", at(5_000), "p")
    repo.apply([IncomingEvent(account, text, received_at=at(100))])
    assert db.contacts.get(c.id or 0).last_inbound_at == at(100)


def test_opt_out_keeps_the_first_date_and_reason(db: Database, repo: StatusRepository) -> None:
    account = add_account(db)
    c = db.contacts.add(Contact(phone_e164="+15550003333"))
    summary = repo.apply(
        [
            inbound(
                account,
                "+15550003333",
                "STOP",
                10,
                provider_id="1",
                opt_out='Replied "STOP" on WhatsApp',
            )
        ]
    )
    assert summary.opted_out_ids == (c.id,)
    again = repo.apply(
        [
            inbound(
                account,
                "+15550003333",
                "baja",
                20,
                provider_id="2",
                opt_out='Replied "baja" on WhatsApp',
            )
        ]
    )
    assert again.opted_out_ids == () and again.contact_ids == (c.id,)  # last_inbound moved
    stored = db.contacts.get(c.id or 0)
    assert (stored.opted_out_at, stored.opt_out_reason, stored.last_inbound_at) == (
        at(10),
        'Replied "STOP" on WhatsApp',
        at(20),
    )


# --- reads --------------------------------------------------------------------------------


def test_in_flight_lists_what_the_poller_should_ask_about(
    db: Database, repo: StatusRepository
) -> None:
    account, other = add_account(db), add_account(db, "Other")
    campaign = add_campaign(db, account)
    ids = add_messages(
        db,
        campaign,
        [
            ("sending", "p0"),
            ("sent", "p1"),
            ("unknown", "p2"),
            ("unknown", None),  # no provider id: nothing to ask
            ("delivered", "p4"),
            ("pending", None),
            ("sent", "p6"),
        ],
    )
    add_messages(db, add_campaign(db, other), [("sent", "elsewhere")])
    due = repo.in_flight(account, older_than=at(1), limit=10)
    assert [m.id for m in due] == [ids[0], ids[1], ids[2], ids[6]]
    assert due[1].state is MessageState.SENT and due[1].provider_message_id == "p1"
    assert repo.in_flight(account, older_than=T0, limit=10) == []  # changed too recently
    page = repo.in_flight(account, older_than=at(1), limit=2, after_id=ids[0])
    assert [m.id for m in page] == [ids[1], ids[2]]
    assert repo.in_flight(account, older_than=at(1), limit=10, newer_than=at(0)) == []
