"""GroupRepository on a real SQLite file."""

from __future__ import annotations

import pytest

from waapp.core.entities import Contact
from waapp.core.errors import DuplicateName, NotFound, ValidationError
from waapp.core.ports import ContactQuery, GroupStore
from waapp.store.database import Database


@pytest.fixture
def contact_ids(db: Database) -> list[int]:
    db.contacts.add_many([Contact(phone_e164=f"+1555{i:07d}", name=f"C{i}") for i in range(1200)])
    return db.contacts.ids(ContactQuery())


def test_implements_the_port(db: Database) -> None:
    store: GroupStore = db.groups
    assert store is db.groups


def test_create_and_list_by_name_with_counts(db: Database, contact_ids: list[int]) -> None:
    zeta = db.groups.create("zeta")
    alpha = db.groups.create("  Alpha   team ")
    empty = db.groups.create("Middle")
    assert alpha.name == "Alpha team"
    assert (alpha.member_count, alpha.created_at is not None) == (0, True)
    assert zeta.id is not None and alpha.id is not None

    assert db.groups.add_members(zeta.id, contact_ids[:3]) == 3
    assert db.groups.add_members(alpha.id, contact_ids) == 1200

    listed = db.groups.list()
    assert [(g.name, g.member_count) for g in listed] == [
        ("Alpha team", 1200),
        ("Middle", 0),
        ("zeta", 3),
    ]
    assert listed[1] == empty


def test_names_are_unique_ignoring_case(db: Database) -> None:
    db.groups.create("Customers")
    with pytest.raises(DuplicateName, match="Customers"):
        db.groups.create("Customers")
    with pytest.raises(DuplicateName):
        db.groups.create("CUSTOMERS")
    with pytest.raises(ValidationError):
        db.groups.create("   ")
    assert len(db.groups.list()) == 1


def test_rename(db: Database) -> None:
    first = db.groups.create("Leads")
    other = db.groups.create("Clients")
    assert first.id is not None

    renamed = db.groups.rename(first.id, "Hot leads")
    assert (renamed.id, renamed.name) == (first.id, "Hot leads")
    assert db.groups.rename(first.id, "HOT LEADS").name == "HOT LEADS"  # its own name, new case

    with pytest.raises(DuplicateName):
        db.groups.rename(first.id, other.name.lower())
    with pytest.raises(NotFound):
        db.groups.rename(9999, "Whatever")
    assert [g.name for g in db.groups.list()] == ["Clients", "HOT LEADS"]


def test_add_members_counts_only_new_ones(db: Database, contact_ids: list[int]) -> None:
    group = db.groups.create("VIP")
    assert group.id is not None
    assert db.groups.add_members(group.id, contact_ids[:600]) == 600
    # 600 again + 600 new, one of them twice in the request.
    again = [*contact_ids, contact_ids[700]]
    assert db.groups.add_members(group.id, again) == 600
    assert db.groups.add_members(group.id, []) == 0
    assert db.groups.list()[0].member_count == 1200


def test_add_members_to_a_missing_group(db: Database, contact_ids: list[int]) -> None:
    with pytest.raises(NotFound, match="group"):
        db.groups.add_members(9999, contact_ids[:2])


def test_add_members_with_a_vanished_contact_adds_nothing(
    db: Database, contact_ids: list[int]
) -> None:
    group = db.groups.create("VIP")
    assert group.id is not None
    db.contacts.delete([contact_ids[1]])
    with pytest.raises(NotFound, match="One of these contacts"):
        db.groups.add_members(group.id, contact_ids[:10])
    assert db.groups.list()[0].member_count == 0


def test_remove_members(db: Database, contact_ids: list[int]) -> None:
    group = db.groups.create("VIP")
    assert group.id is not None
    db.groups.add_members(group.id, contact_ids[:1100])
    assert db.groups.remove_members(group.id, [*contact_ids[:700], contact_ids[1150]]) == 700
    assert db.groups.list()[0].member_count == 400
    assert db.contacts.count(ContactQuery()) == 1200  # removing never deletes contacts


def test_delete_keeps_the_contacts(db: Database, contact_ids: list[int]) -> None:
    group = db.groups.create("VIP")
    assert group.id is not None
    db.groups.add_members(group.id, contact_ids)
    db.groups.delete(group.id)
    assert db.groups.list() == []
    assert db.contacts.count(ContactQuery()) == 1200
    with pytest.raises(NotFound):
        db.groups.delete(group.id)


def test_groups_of(db: Database, contact_ids: list[int]) -> None:
    a = db.groups.create("b-side")
    b = db.groups.create("A-side")
    db.groups.create("Nobody")
    assert a.id is not None and b.id is not None
    db.groups.add_members(a.id, contact_ids[:2])
    db.groups.add_members(b.id, contact_ids[:1])

    mine = db.groups.groups_of(contact_ids[0])
    assert [(g.name, g.member_count) for g in mine] == [("A-side", 1), ("b-side", 2)]
    assert [g.name for g in db.groups.groups_of(contact_ids[1])] == ["b-side"]
    assert db.groups.groups_of(contact_ids[2]) == []
