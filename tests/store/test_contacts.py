"""ContactRepository on a real SQLite file."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from waapp.core.entities import Contact
from waapp.core.errors import DuplicateContact, NotFound
from waapp.core.ports import ContactQuery, ContactSort, ContactStore
from waapp.store.contacts import ContactRepository
from waapp.store.database import Database
from waapp.store.schema import accounts, campaigns, contact_groups, messages

T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


def _ticking_clock(start: datetime = T0) -> Callable[[], datetime]:
    """A clock that moves one minute per call: deterministic created/updated times."""
    ticks = iter(range(1_000_000))
    return lambda: start + timedelta(minutes=next(ticks))


@pytest.fixture
def repo(db: Database) -> ContactRepository:
    return ContactRepository(db.engine, clock=_ticking_clock())


def _add(repo: ContactRepository, phone: str, name: str = "", **kw: object) -> Contact:
    return repo.add(Contact(phone_e164=phone, name=name, **kw))  # type: ignore[arg-type]  # test shorthand


def _names(repo: ContactRepository, query: ContactQuery) -> list[str]:
    return [c.name for c in repo.get_many(repo.ids(query))]


def test_implements_the_port(db: Database) -> None:
    store: ContactStore = db.contacts
    assert isinstance(store, ContactRepository)


# --- add, get, find ----------------------------------------------------------------------


def test_add_then_get_and_find(repo: ContactRepository) -> None:
    added = repo.add(
        Contact(
            phone_e164="+5511987654321",
            name="Ana Souza",
            fields={"city": "São Paulo", "plan": "gold"},
            wa_id="551187654321",
        )
    )
    assert added.id is not None
    assert added.created_at == T0
    assert added.updated_at == T0

    got = repo.get(added.id)
    assert got == added
    assert repo.find_by_phone("+5511987654321") == added
    assert repo.find_by_phone("+5511000000000") is None


def test_add_keeps_a_given_created_at(repo: ContactRepository) -> None:
    then = datetime(2020, 6, 1, tzinfo=UTC)
    added = _add(repo, "+15550000001", created_at=then)
    assert added.created_at == then
    assert added.updated_at == T0


def test_add_a_taken_number_names_the_owner(repo: ContactRepository) -> None:
    first = _add(repo, "+15550000001", "Bob")
    with pytest.raises(DuplicateContact) as raised:
        _add(repo, "+15550000001", "Robert")
    assert raised.value.existing_id == first.id
    assert raised.value.existing_name == "Bob"
    assert "Bob" in str(raised.value)
    assert repo.count(ContactQuery()) == 1


def test_get_a_missing_contact(repo: ContactRepository) -> None:
    with pytest.raises(NotFound):
        repo.get(12345)


# --- update ------------------------------------------------------------------------------


def test_update_saves_every_field(repo: ContactRepository) -> None:
    contact = _add(repo, "+15550000001", "Bob")
    assert contact.id is not None
    opted = datetime(2024, 2, 2, tzinfo=UTC)
    contact.name = "Bobby"
    contact.phone_e164 = "+15550000002"
    contact.fields = {"team": "blue"}
    contact.wa_id = "15550000002"
    contact.opted_out_at = opted
    contact.opt_out_reason = "asked"

    saved = repo.update(contact)

    assert saved == repo.get(contact.id)
    assert (saved.name, saved.phone_e164, saved.fields) == (
        "Bobby",
        "+15550000002",
        {"team": "blue"},
    )
    assert (saved.wa_id, saved.opted_out_at, saved.opt_out_reason) == (
        "15550000002",
        opted,
        "asked",
    )
    assert saved.created_at == T0
    assert saved.updated_at == T0 + timedelta(minutes=1)


def test_update_to_another_contacts_number(repo: ContactRepository) -> None:
    alice = _add(repo, "+15550000001", "Alice")
    bob = _add(repo, "+15550000002", "Bob")
    bob.phone_e164 = alice.phone_e164
    with pytest.raises(DuplicateContact) as raised:
        repo.update(bob)
    assert raised.value.existing_id == alice.id
    assert raised.value.existing_name == "Alice"
    assert bob.id is not None and repo.get(bob.id).phone_e164 == "+15550000002"


def test_update_keeping_its_own_number(repo: ContactRepository) -> None:
    alice = _add(repo, "+15550000001", "Alice")
    alice.name = "Alice B."
    assert repo.update(alice).name == "Alice B."


def test_update_a_deleted_contact(repo: ContactRepository) -> None:
    contact = _add(repo, "+15550000001")
    assert contact.id is not None
    repo.delete([contact.id])
    with pytest.raises(NotFound):
        repo.update(contact)


# --- add_many ----------------------------------------------------------------------------


def test_add_many_inserts_all(repo: ContactRepository) -> None:
    batch = [
        Contact(phone_e164=f"+1555000{i:04d}", name=f"C{i}", fields={"n": str(i)})
        for i in range(1200)
    ]
    assert repo.add_many(batch) == 1200
    assert repo.add_many([]) == 0
    stored = repo.find_by_phone("+15550000042")
    assert stored is not None
    assert (stored.name, stored.fields, stored.created_at) == ("C42", {"n": "42"}, T0)


def test_add_many_refuses_a_number_already_stored_and_writes_nothing(
    repo: ContactRepository,
) -> None:
    owner = _add(repo, "+15550000003", "Owner")
    batch = [Contact(phone_e164=f"+155500000{i:02d}") for i in range(1, 10)]
    with pytest.raises(DuplicateContact) as raised:
        repo.add_many(batch)
    assert raised.value.phone_e164 == "+15550000003"
    assert raised.value.existing_id == owner.id
    assert repo.count(ContactQuery()) == 1


def test_add_many_refuses_a_number_twice_in_the_batch(repo: ContactRepository) -> None:
    batch = [
        Contact(phone_e164="+15550000001", name="First"),
        Contact(phone_e164="+15550000002"),
        Contact(phone_e164="+15550000001", name="Again"),
    ]
    with pytest.raises(DuplicateContact) as raised:
        repo.add_many(batch)
    assert raised.value.existing_id == 0
    assert raised.value.existing_name == "First"
    assert repo.count(ContactQuery()) == 0


# --- delete, cascades --------------------------------------------------------------------


def test_delete_many_in_batches(repo: ContactRepository) -> None:
    repo.add_many([Contact(phone_e164=f"+1555{i:07d}") for i in range(2100)])
    ids = repo.ids(ContactQuery(sort=ContactSort.PHONE))
    assert repo.delete([*ids[:1500], 999_999]) == 1500
    assert repo.ids(ContactQuery(sort=ContactSort.PHONE)) == ids[1500:]


def test_deleting_a_contact_leaves_its_groups_and_unlinks_its_messages(db: Database) -> None:
    contact = db.contacts.add(Contact(phone_e164="+15550000001", name="Gone"))
    keep = db.contacts.add(Contact(phone_e164="+15550000002", name="Kept"))
    assert contact.id is not None and keep.id is not None
    group = db.groups.create("VIP")
    assert group.id is not None
    db.groups.add_members(group.id, [contact.id, keep.id])
    with db.transaction() as conn:
        account = conn.execute(
            insert(accounts)
            .values(kind="sandbox", name="Sandbox", settings={}, created_at=T0)
            .returning(accounts.c.id)
        ).scalar_one()
        campaign = conn.execute(
            insert(campaigns)
            .values(
                name="Spring",
                account_id=account,
                window_policy="template_only",
                missed_schedule_policy="ask",
                status="draft",
                created_at=T0,
            )
            .returning(campaigns.c.id)
        ).scalar_one()
        conn.execute(
            insert(messages).values(
                campaign_id=campaign,
                contact_id=contact.id,
                phone_e164=contact.phone_e164,
                route="template",
                state="sent",
                updated_at=T0,
            )
        )

    assert db.contacts.delete([contact.id]) == 1

    assert [g.member_count for g in db.groups.list()] == [1]
    with db.engine.connect() as conn:
        assert conn.execute(select(contact_groups.c.contact_id)).scalars().all() == [keep.id]
        row = conn.execute(select(messages.c.contact_id, messages.c.phone_e164)).one()
    assert tuple(row) == (None, "+15550000001")  # the ledger keeps the message, unlinked


# --- opt-out -----------------------------------------------------------------------------


def test_set_opt_out_and_back_in(repo: ContactRepository) -> None:
    repo.add_many([Contact(phone_e164=f"+1555{i:07d}") for i in range(1100)])
    ids = repo.ids(ContactQuery(sort=ContactSort.PHONE))
    first_time = datetime(2024, 5, 1, tzinfo=UTC)

    assert repo.set_opt_out(ids[:1000], opted_out=True, reason="STOP", at=first_time) == 1000
    # Again, later, with another reason: the ones already out keep their time and reason.
    assert repo.set_opt_out(ids[:1050], opted_out=True, reason="asked", at=None) == 50

    out = repo.get_many(repo.ids(ContactQuery(opted_out=True, sort=ContactSort.PHONE)))
    assert len(out) == 1050
    assert {(c.opted_out_at, c.opt_out_reason) for c in out[:1000]} == {(first_time, "STOP")}
    assert {c.opt_out_reason for c in out[1000:]} == {"asked"}
    assert all(c.opted_out for c in out)
    assert repo.count(ContactQuery(opted_out=False)) == 50

    assert repo.set_opt_out(ids, opted_out=False, reason=None, at=None) == 1050
    back = repo.get(ids[0])
    assert (back.opted_out_at, back.opt_out_reason) == (None, None)
    assert repo.count(ContactQuery(opted_out=True)) == 0


def test_set_opt_out_refuses_a_naive_time(repo: ContactRepository) -> None:
    contact = _add(repo, "+15550000001")
    assert contact.id is not None
    with pytest.raises(ValueError, match="naive"):
        repo.set_opt_out([contact.id], opted_out=True, reason=None, at=datetime(2024, 1, 1))


# --- search and filters ------------------------------------------------------------------


@pytest.fixture
def people(repo: ContactRepository) -> ContactRepository:
    for phone, name, fields in [
        ("+917033009600", "Priya Sharma", {"city": "Mumbai"}),
        ("+14155550100", "alice Walker", {"city": "San Francisco", "plan": "gold"}),
        ("+447700900123", "ÉLODIE Martin", {"city": "Paris"}),
        ("+5511987654321", "100% Cotton Ltd", {}),
        ("+5511987650000", "100 Cotton Ltd", {"note": "50%_off"}),
        ("+15550001111", "a_b", {}),
        ("+15550002222", "axb", {"city": "Pune"}),
        ("+15550003333", "back\\slash", {}),
    ]:
        _add(repo, phone, name, fields=fields)
    return repo


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("ALICE", ["alice Walker"]),
        ("walk", ["alice Walker"]),
        ("élodie", ["ÉLODIE Martin"]),
        ("Élodie MART", ["ÉLODIE Martin"]),
        ("+91 70330 09600", ["Priya Sharma"]),  # as typed, with spaces
        ("91-7033", ["Priya Sharma"]),
        ("7033009600", ["Priya Sharma"]),
        ("+4477", ["ÉLODIE Martin"]),
        ("mumbai", ["Priya Sharma"]),  # a custom field value
        ("GOLD", ["alice Walker"]),
        ("city", []),  # field names are not searched, only values
        ("100%", ["100% Cotton Ltd"]),  # % is a character, not a wildcard
        ("%", ["100 Cotton Ltd", "100% Cotton Ltd"]),  # the second by its field "50%_off"
        ("a_b", ["a_b"]),  # _ is a character, not a wildcard
        ("%_", ["100 Cotton Ltd"]),
        ("k\\s", ["back\\slash"]),
        ("  ", None),  # blank: everything
    ],
)
def test_search(people: ContactRepository, search: str, expected: list[str] | None) -> None:
    query = ContactQuery(search=search)
    found = sorted(_names(people, query))
    if expected is None:
        assert len(found) == people.count(ContactQuery()) == 8
    else:
        assert found == sorted(expected)
    assert people.count(query) == len(found)


def test_filters_combine(db: Database, people: ContactRepository) -> None:
    everyone = {c.name: c.id or 0 for c in people.get_many(people.ids(ContactQuery()))}
    group = db.groups.create("Cotton")
    assert group.id is not None
    db.groups.add_members(group.id, [everyone["100% Cotton Ltd"], everyone["100 Cotton Ltd"]])
    people.set_opt_out([everyone["100 Cotton Ltd"]], opted_out=True, reason=None, at=None)

    def names(**kw: object) -> list[str]:
        return _names(people, ContactQuery(**kw))  # type: ignore[arg-type]  # test shorthand

    assert names(group_id=group.id) == ["100 Cotton Ltd", "100% Cotton Ltd"]
    assert names(group_id=group.id, opted_out=False) == ["100% Cotton Ltd"]
    assert names(group_id=group.id, opted_out=True) == ["100 Cotton Ltd"]
    assert names(group_id=group.id, search="%") == ["100 Cotton Ltd", "100% Cotton Ltd"]
    assert names(opted_out=True, search="priya") == []
    assert people.count(ContactQuery(group_id=group.id, opted_out=False)) == 1


# --- sorting -----------------------------------------------------------------------------


@pytest.fixture
def sortable(db: Database) -> ContactRepository:
    """Four contacts added in the order d, b, a, c (so created = d < b < a < c) and then
    updated in the order a, d (updated: b < c < a < d); ties on name ("Same")."""
    repo = ContactRepository(db.engine, clock=_ticking_clock())
    day = timedelta(days=1)
    d = _add(repo, "+15550000004", "same", last_inbound_at=T0 + 2 * day)
    b = _add(repo, "+15550000002", "Bravo", opted_out_at=T0 + day)
    a = _add(repo, "+15550000001", "alpha", last_inbound_at=T0 + day, opted_out_at=T0 + 3 * day)
    c = _add(repo, "+15550000003", "Same")
    repo.update(a)
    repo.update(d)
    assert [x.id for x in (d, b, a, c)] == sorted(x.id for x in (d, b, a, c) if x.id)
    return repo


def _phones_in(repo: ContactRepository, sort: ContactSort, descending: bool) -> str:
    ids = repo.ids(ContactQuery(sort=sort, descending=descending))
    return "".join(c.phone_e164[-1] for c in repo.get_many(ids))


@pytest.mark.parametrize(
    ("sort", "ascending", "descending"),
    [
        # NOCASE: "alpha" < "Bravo" < "same" = "Same" (id breaks the tie: 4 was added first)
        (ContactSort.NAME, "1243", "3421"),
        (ContactSort.PHONE, "1234", "4321"),
        (ContactSort.CREATED, "4213", "3124"),
        (ContactSort.UPDATED, "2314", "4132"),
        # Contacts without a value come last in both directions (among them: by id).
        (ContactSort.LAST_INBOUND, "1423", "4132"),
        (ContactSort.OPTED_OUT, "2143", "1234"),
    ],
)
def test_sort_orders(
    sortable: ContactRepository, sort: ContactSort, ascending: str, descending: str
) -> None:
    assert _phones_in(sortable, sort, descending=False) == ascending
    assert _phones_in(sortable, sort, descending=True) == descending


# --- ids and get_many at size ------------------------------------------------------------


def test_ids_and_get_many_keep_the_order_across_batches(repo: ContactRepository) -> None:
    # Names in an order unrelated to insertion (and to id), with repeats to exercise ties.
    repo.add_many(
        [Contact(phone_e164=f"+1555{i:07d}", name=f"n{(i * 7919) % 1000:04d}") for i in range(2600)]
    )
    ids = repo.ids(ContactQuery())
    assert len(ids) == 2600
    contacts = repo.get_many(ids)
    keys = [(c.name, c.id) for c in contacts]
    assert keys == sorted(keys)

    backwards = repo.get_many(ids[::-1])
    assert [c.id for c in backwards] == ids[::-1]

    with_missing = [ids[5], 10_000_000, ids[2000], ids[1]]
    assert [c.id for c in repo.get_many(with_missing)] == [ids[5], ids[2000], ids[1]]
    assert repo.get_many([]) == []


# --- field names -------------------------------------------------------------------------


def test_field_names(people: ContactRepository) -> None:
    assert people.field_names() == ["city", "note", "plan"]


def test_field_names_of_an_empty_book(repo: ContactRepository) -> None:
    assert repo.field_names() == []
