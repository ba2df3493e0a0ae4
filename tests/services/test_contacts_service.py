"""Contacts and groups use cases on a real store, no Qt."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, TypeVar

import pytest

from waapp.app import Services, open_services
from waapp.core.errors import DuplicateContact, DuplicateName, InvalidPhone, ValidationError
from waapp.core.ports import ContactQuery
from waapp.paths import DataPaths
from waapp.services.events import ContactsChanged, GroupsChanged

T = TypeVar("T")


def scenario(tmp_path: Path, body: Any) -> None:
    """Open the services, run ``body(services)``, close them — all on one fresh loop."""

    async def main() -> None:
        services = await open_services(DataPaths(tmp_path))
        try:
            await body(services)
        finally:
            await services.close()

    asyncio.run(main())


def test_add_normalises_with_the_default_country_and_publishes(tmp_path: Path) -> None:
    async def body(s: Services) -> None:
        events: list[object] = []
        s.bus.subscribe(ContactsChanged, events.append)
        await s.contacts.set_default_region("IN")
        contact = await s.contacts.add_contact(
            name="  Asha  ", phone="070330-09600", fields={" city ": " Pune ", "empty": " "}
        )
        assert (contact.name, contact.phone_e164, contact.fields) == (
            "Asha",
            "+917033009600",
            {"city": "Pune"},
        )
        assert events == [ContactsChanged((contact.id,))]

    scenario(tmp_path, body)


def test_invalid_and_duplicate_numbers_are_refused_plainly(tmp_path: Path) -> None:
    async def body(s: Services) -> None:
        with pytest.raises(InvalidPhone, match=r"not a usable WhatsApp number: .*country"):
            await s.contacts.add_contact(name="X", phone="7033009600")  # no default country
        await s.contacts.add_contact(name="Asha", phone="+917033009600")
        with pytest.raises(DuplicateContact, match="already belongs to Asha") as dup:
            await s.contacts.add_contact(name="Other", phone="07033009600", region="IN")
        assert dup.value.what_to_do
        with pytest.raises(ValidationError, match="built-in field"):
            await s.contacts.add_contact(name="Y", phone="+917033009601", fields={"Phone": "1"})
        assert await s.contacts.count(ContactQuery()) == 1

    scenario(tmp_path, body)


def test_update_sets_exact_group_membership(tmp_path: Path) -> None:
    async def body(s: Services) -> None:
        a = await s.contacts.create_group("A")
        b = await s.contacts.create_group("B")
        contact = await s.contacts.add_contact(name="C", phone="+447911123456", group_ids=[a.id])
        groups_events: list[object] = []
        s.bus.subscribe(GroupsChanged, groups_events.append)
        await s.contacts.update_contact(
            contact.id, name="C2", phone="+447911123456", fields={}, group_ids=[b.id]
        )
        assert [g.name for g in await s.contacts.groups_of(contact.id)] == ["B"]
        assert {g.name: g.member_count for g in await s.contacts.groups()} == {"A": 0, "B": 1}
        assert groups_events

    scenario(tmp_path, body)


def test_opt_out_needs_a_reason_and_opt_in_clears_it(tmp_path: Path) -> None:
    async def body(s: Services) -> None:
        c = await s.contacts.add_contact(name="C", phone="+447911123456")
        with pytest.raises(ValidationError, match="why"):
            await s.contacts.set_opt_out([c.id], opted_out=True, reason=" ")
        await s.contacts.set_opt_out([c.id], opted_out=True, reason="STOP by SMS")
        out = await s.contacts.get(c.id)
        assert (
            out.opted_out and out.opt_out_reason == "STOP by SMS" and out.opted_out_at is not None
        )
        await s.contacts.set_opt_out([c.id], opted_out=False)
        back = await s.contacts.get(c.id)
        assert not back.opted_out and back.opt_out_reason is None

    scenario(tmp_path, body)


def test_group_names_are_trimmed_unique_and_deleting_keeps_contacts(tmp_path: Path) -> None:
    async def body(s: Services) -> None:
        with pytest.raises(ValidationError):
            await s.contacts.create_group("   ")
        g = await s.contacts.create_group(" VIP ")
        assert g.name == "VIP"
        with pytest.raises(DuplicateName):
            await s.contacts.create_group("vip")
        c = await s.contacts.add_contact(name="C", phone="+447911123456")
        assert await s.contacts.add_to_group(g.id, [c.id]) == 1
        assert await s.contacts.add_to_group(g.id, [c.id]) == 0
        await s.contacts.delete_group(g.id)
        assert await s.contacts.count(ContactQuery()) == 1

    scenario(tmp_path, body)


def test_database_work_never_runs_on_the_loop_thread(tmp_path: Path) -> None:
    import threading

    async def body(s: Services) -> None:
        seen: list[str] = []
        original = s.db.contacts.count

        def spy(query: ContactQuery) -> int:
            seen.append(threading.current_thread().name)
            return original(query)

        s.db.contacts.count = spy  # type: ignore[method-assign]
        await s.contacts.count(ContactQuery())
        assert seen and seen[0].startswith("waapp-db") and seen[0] != threading.main_thread().name

    scenario(tmp_path, body)
